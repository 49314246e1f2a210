//! Misuse of the attributes is a compile error pointing at the offending token; correct use
//! compiles without a warning in the user's crate (`ui/pass/`, under `#![deny(warnings)]`).

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.pass("ui/pass/*.rs");
}
