//! Headless Chromium for the web UI's tests: the DOM after the page's scripts ran
//! (`--dump-dom` with a virtual time budget) and screenshots. Each run gets a fresh profile
//! directory and is killed after a deadline.
//!
//! [`Chromium::find`] looks for `$CHROMIUM`, then `chromium`, `chromium-browser`,
//! `google-chrome` on the `PATH`; [`Chromium::required`] says whether a missing browser must
//! fail the test (`STASO_REQUIRE_CHROMIUM` set, as `.ci/run` does once it installed Debian's
//! `chromium`) rather than skip it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest a single browser run may take.
const DEADLINE: Duration = Duration::from_secs(90);

/// A Chromium executable.
#[derive(Debug, Clone)]
pub struct Chromium {
    exe: PathBuf,
}

/// Why a browser run failed.
#[derive(Debug)]
pub enum ChromiumError {
    /// It could not be started or waited for.
    Io(std::io::Error),
    /// It ran past [`DEADLINE`] and was killed.
    Timeout,
    /// It exited unsuccessfully; its stderr.
    Failed(String),
}

impl std::fmt::Display for ChromiumError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChromiumError::Io(e) => write!(f, "chromium: {e}"),
            ChromiumError::Timeout => write!(f, "chromium: no answer within {DEADLINE:?}"),
            ChromiumError::Failed(err) => write!(f, "chromium failed: {err}"),
        }
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl Chromium {
    /// The browser, when one is installed.
    pub fn find() -> Option<Chromium> {
        if let Some(p) = std::env::var_os("CHROMIUM").map(PathBuf::from)
            && p.is_file()
        {
            return Some(Chromium { exe: p });
        }
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|n| on_path(n))
            .map(|exe| Chromium { exe })
    }

    /// The executable.
    pub(crate) fn exe(&self) -> &Path {
        &self.exe
    }

    /// Whether a missing browser fails the test (`STASO_REQUIRE_CHROMIUM` is set and not `0`).
    pub fn required() -> bool {
        std::env::var("STASO_REQUIRE_CHROMIUM").is_ok_and(|v| !v.is_empty() && v != "0")
    }

    fn run(&self, extra: &[String], url: &str) -> Result<Output, ChromiumError> {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "staso-chromium-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let mut cmd = Command::new(&self.exe);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(ChromiumError::Io)?;
        let pid = child.id();
        // Wait on another thread so a hung browser can be killed at the deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let started = Instant::now();
        let out = match rx.recv_timeout(DEADLINE) {
            Ok(r) => r.map_err(ChromiumError::Io),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                Err(ChromiumError::Timeout)
            }
        };
        let _ = std::fs::remove_dir_all(&profile);
        let out = out?;
        if !out.status.success() {
            return Err(ChromiumError::Failed(format!(
                "{} after {:?}: {}",
                out.status,
                started.elapsed(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(out)
    }

    /// The serialized DOM of `url` once its scripts ran.
    pub fn dump_dom(&self, url: &str) -> Result<String, ChromiumError> {
        let out = self.run(&["--dump-dom".to_owned()], url)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A PNG of `url` at 1400×900 written to `path` (its directory is created).
    pub fn screenshot(&self, url: &str, path: &Path) -> Result<(), ChromiumError> {
        self.screenshot_sized(url, path, (1400, 900))
    }

    /// A PNG of `url` in a window of `(width, height)` written to `path`.
    pub fn screenshot_sized(
        &self,
        url: &str,
        path: &Path,
        (width, height): (u32, u32),
    ) -> Result<(), ChromiumError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(ChromiumError::Io)?;
        }
        self.run(
            &[
                format!("--screenshot={}", path.display()),
                format!("--window-size={width},{height}"),
            ],
            url,
        )?;
        if path.is_file() {
            Ok(())
        } else {
            Err(ChromiumError::Failed(format!(
                "no screenshot at {}",
                path.display()
            )))
        }
    }
}
