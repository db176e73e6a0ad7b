//! Compile-time behaviour of the macros: what compiles, and the exact error of what does not.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("../tests/ui/pass/*.rs");
    t.compile_fail("../tests/ui/fail/*.rs");
}
