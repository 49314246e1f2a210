//! The terminal progress bar of [`EvalOptions::progress_bar`](super::EvalOptions::progress_bar)
//! (feature `progress`).

use std::io::Write;
use std::sync::Mutex;

use std::sync::Arc;

use super::eval_types::{EvalOptions, EvalProgress};

/// Cells in the drawn bar.
const WIDTH: usize = 30;

/// One line of the bar, e.g. `[###.......] 12/40 passed 10 errors 1` (no `\r`, no newline).
/// `done` is clamped to `total`; an empty evaluation draws a full bar.
pub(crate) fn render_bar(
    done: usize,
    total: usize,
    passed: usize,
    errors: usize,
    width: usize,
) -> String {
    let done = done.min(total);
    let filled = (done * width).checked_div(total).unwrap_or(width);
    format!(
        "[{}{}] {done}/{total} passed {passed} errors {errors}",
        "#".repeat(filled),
        ".".repeat(width - filled)
    )
}

/// A progress callback that redraws the bar on stderr, ending the line after the last entry.
/// Its counts start over whenever an evaluation reports its first entry, so options reused for
/// several evaluations draw one bar each.
pub(crate) fn bar_callback() -> impl Fn(&EvalProgress<'_>) + Send + Sync + 'static {
    let counts = Mutex::new((0usize, 0usize));
    move |p: &EvalProgress<'_>| {
        let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
        if p.completed <= 1 {
            *c = (0, 0);
        }
        c.0 += usize::from(p.result.passed);
        c.1 += usize::from(p.result.error.is_some());
        let line = render_bar(p.completed, p.total, c.0, c.1, WIDTH);
        let end = if p.completed >= p.total { "\n" } else { "" };
        let mut err = std::io::stderr().lock();
        // Drawing is best effort: a closed or full stderr must not disturb the evaluation.
        let _ = write!(err, "\r{line}{end}");
        let _ = err.flush();
    }
}

impl EvalOptions {
    /// Draws a one-line progress bar on stderr (`[###....] 12/40 passed 10 errors 1`), redrawn
    /// after every finished entry and ended with a newline after the last. A callback set
    /// earlier with [`on_progress`](Self::on_progress) is still called, before the bar; one set
    /// later replaces both. Only with the cargo feature `progress`.
    pub fn progress_bar(mut self) -> Self {
        let bar = bar_callback();
        self.on_progress = Some(match self.on_progress.take() {
            Some(prev) => Arc::new(move |p: &EvalProgress<'_>| {
                prev(p);
                bar(p);
            }),
            None => Arc::new(bar),
        });
        self
    }
}

#[cfg(all(test, feature = "progress"))]
mod tests {
    use super::render_bar;

    #[test]
    fn renders_partial_bar() {
        assert_eq!(
            render_bar(12, 40, 10, 1, 10),
            "[###.......] 12/40 passed 10 errors 1"
        );
    }

    #[test]
    fn renders_empty_and_full_bars() {
        assert_eq!(render_bar(0, 4, 0, 0, 4), "[....] 0/4 passed 0 errors 0");
        assert_eq!(render_bar(4, 4, 3, 1, 4), "[####] 4/4 passed 3 errors 1");
    }

    #[test]
    fn clamps_overflow_and_handles_zero_total() {
        assert_eq!(render_bar(9, 4, 4, 0, 4), "[####] 4/4 passed 4 errors 0");
        assert_eq!(render_bar(0, 0, 0, 0, 3), "[###] 0/0 passed 0 errors 0");
        assert_eq!(render_bar(1, 2, 1, 0, 0), "[] 1/2 passed 1 errors 0");
    }
}
