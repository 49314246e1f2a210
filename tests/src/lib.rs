//! End-to-end tests of staso-rs live in `tests/` beside this file; this library holds what they
//! share, so no test suite writes its own fake server or logger:
//!
//! - [`http`]: a purpose-built HTTP/1.1 server on 127.0.0.1 that records every request and answers
//!   with whatever a closure returns, faults included (a delay, a held answer, no answer).
//! - [`logs`]: every log line of a test binary, captured in memory.
//! - [`chromium`]: headless Chromium for the web UI's tests (DOM after scripts, screenshots), and
//!   [`cdp`]: the same browser driven over the DevTools protocol (clicks, forms).
//!
//! `http`, `logs` and `chromium` are independent leaves (`cdp` builds on `chromium`); the suites'
//! own helpers (`tests/support/`, `tests/otlp_support/`, `tests/guard_common/`) are thin layers
//! over them.

pub mod cdp;
pub mod chromium;
pub mod http;
pub mod logs;
