//! Misuse of the attributes is a compile error pointing at the offending token.

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
