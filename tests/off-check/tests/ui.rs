//! With staso's `off` feature (this target needs `--features off`), misuse of the attributes is
//! still a compile error at the offending token, as in the normal build (`tests/ui/` of
//! staso-tests).

#[test]
fn bad_arguments_still_fail_at_their_token() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}
