//! Every log line of a test binary, captured in memory, so a test can assert on what was logged
//! (and on what never is, such as an API key).

use std::sync::{Mutex, Once};

use log::{LevelFilter, Log, Metadata, Record};

/// The log lines of this test binary so far, each as `LEVEL target: message`.
///
/// The first call installs the capturing logger at `Trace`; lines logged before it are not
/// captured. The lines of every test of the binary land in the same list, so look for what your
/// test alone logs.
///
/// ```
/// let logs = staso_tests::logs::captured_logs();
/// log::warn!(target: "demo", "disk almost full");
/// let lines = logs.lock().unwrap_or_else(|e| e.into_inner());
/// assert!(lines.iter().any(|l| l == "WARN demo: disk almost full"));
/// ```
pub fn captured_logs() -> &'static Mutex<Vec<String>> {
    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(LevelFilter::Trace);
    });
    &CAPTURE.0
}

struct Capture(Mutex<Vec<String>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn flush(&self) {}
}
