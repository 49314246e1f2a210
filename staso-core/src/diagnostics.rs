//! The SDK's own stderr logger. staso logs through the `log` facade; a program without a logger
//! would never see the diagnostics it asked for with `Config::debug`, so `init` installs this one
//! then — and only then: `log` allows one logger per process, and a program's own always wins.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Writes the `staso*` targets' records at `Debug` and above to stderr; ignores everything else
/// (the program's other crates did not ask for anything).
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Debug && is_staso(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            // This is the logger: stderr is where its lines go.
            eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// `staso`, `staso_core::…`, `staso_wire::…`: the SDK's module paths (the default targets).
fn is_staso(target: &str) -> bool {
    target
        .strip_prefix("staso")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
}

/// Installs the stderr logger if no `log` logger is installed yet; returns whether it did.
/// `log::set_logger` fails when a logger exists, which is exactly the "never replace the
/// program's logger" check, without a race.
pub(crate) fn install_stderr_logger_if_none() -> bool {
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_err() {
        return false;
    }
    if log::max_level() < LevelFilter::Debug {
        log::set_max_level(LevelFilter::Debug);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_staso;

    #[test]
    fn only_the_sdk_targets_are_shown() {
        for t in [
            "staso",
            "staso_core::client",
            "staso_wire::ingest",
            "staso::x",
        ] {
            assert!(is_staso(t), "{t}");
        }
        for t in ["stasox", "reqwest::connect", "my_app", ""] {
            assert!(!is_staso(t), "{t}");
        }
    }
}
