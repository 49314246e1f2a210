//! Without `staso::init`: `llm_trace` is a configuration error, `start_trace` still runs its
//! closure, and the current span is a no-op. (Its own test binary: no test here installs a client.)

use staso::{Error, LlmCall, Span};

#[test]
fn llm_trace_needs_init_and_start_trace_runs_anyway() {
    let err = staso::llm_trace("x", LlmCall::new("m", "p")).expect_err("no client");
    assert!(matches!(err, Error::Configuration(_)), "{err:?}");
    assert_eq!(err.status_code(), None);
    assert!(err.to_string().contains("staso::init"), "{err}");

    let v = staso::start_trace("t", |t| {
        assert!(!t.is_recording());
        assert!(!Span::current().is_recording());
        Span::current().record_llm(LlmCall::new("m", "p").tokens(1, 1));
        3
    });
    assert_eq!(v, 3);
    let r: Result<u8, String> = staso::try_start_trace("t", |_| Err("no".to_owned()));
    assert_eq!(r, Err("no".to_owned()));
}
