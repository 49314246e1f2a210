//! The git CLI source of VCS detection (PROTOCOL.md §1.5 step 3): four `git` commands, each bounded
//! by a 5 s timeout, where any failure means "no value".

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Per-command bound, as in the official SDK.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest pause between two polls of a running git process.
const MAX_POLL: Duration = Duration::from_millis(20);

/// Runs `git <args>` in `cwd` and returns its trimmed stdout, or `None` on a spawn failure, a nonzero
/// exit or the timeout (the process is then killed).
pub(super) fn run_git(args: &[&str], cwd: &Path) -> Option<String> {
    run_with_timeout(Command::new("git").args(args).current_dir(cwd), GIT_TIMEOUT)
}

fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Keep `git status` from taking the index lock, so detection never races the user's own git.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .spawn()
        .map_err(|e| log::debug!("staso: cannot run {cmd:?}: {e}"))
        .ok()?;
    // Drain stdout on a helper thread so a large output cannot fill the pipe and stall the child.
    let (tx, rx) = mpsc::channel();
    if let Some(mut stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = tx.send(stdout.read_to_end(&mut buf).map(|_| buf));
        });
    }
    if !wait_until(&mut child, deadline)? {
        log::debug!("staso: {cmd:?} timed out after {timeout:?}");
        return None;
    }
    // The child has exited; its output arrives once the pipe closes (a grandchild could hold it open,
    // so this wait is bounded too).
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let bytes = rx.recv_timeout(remaining).ok()?.ok()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// Polls `child` until it exits or `deadline` passes. `Some(true)`: exited with success; `Some(false)`:
/// timed out (and killed); `None`: failed or could not be waited on.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<bool> {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success().then_some(true),
            Ok(None) => {}
            Err(e) => {
                log::debug!("staso: waiting for git failed: {e}");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Some(false);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::TempDir;
    use crate::config::vcs::from_git_cli;

    fn git_available() -> bool {
        run_with_timeout(Command::new("git").arg("--version"), GIT_TIMEOUT).is_some()
    }

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=staso",
                "-c",
                "user.email=t@staso.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?} failed");
    }

    #[test]
    fn reads_a_real_repository() {
        if !git_available() {
            eprintln!("git not found; skipping");
            return;
        }
        let dir = TempDir::new("git-cli");
        let p = dir.path();
        git(p, &["init", "-q"]);
        git(p, &["symbolic-ref", "HEAD", "refs/heads/feature/x"]);
        git(
            p,
            &[
                "remote",
                "add",
                "origin",
                "https://bot:s3cret@github.com/o/r.git",
            ],
        );
        std::fs::write(p.join("a.txt"), "a").unwrap();
        git(p, &["add", "a.txt"]);
        git(p, &["commit", "-q", "-m", "init"]);

        let info = from_git_cli(p).expect("a repository with a commit");
        assert_eq!(info.commit_sha.len(), 40);
        assert!(info.commit_sha.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(info.branch, "feature/x");
        assert_eq!(info.repo_url, "https://github.com/o/r.git");
        assert!(!info.is_dirty);

        std::fs::write(p.join("b.txt"), "b").unwrap();
        assert!(from_git_cli(p).unwrap().is_dirty);

        git(p, &["checkout", "-q", "--detach"]);
        let detached = from_git_cli(p).unwrap();
        assert_eq!(
            (detached.branch.as_str(), detached.commit_sha),
            ("", info.commit_sha)
        );
    }

    #[test]
    fn repository_without_commits_or_remote() {
        if !git_available() {
            return;
        }
        let dir = TempDir::new("git-empty");
        git(dir.path(), &["init", "-q"]);
        // `rev-parse HEAD` fails before the first commit.
        assert_eq!(from_git_cli(dir.path()), None);
    }

    #[test]
    fn missing_binary_and_nonzero_exit_give_none() {
        let dir = TempDir::new("git-missing");
        let mut missing = Command::new("staso-no-such-binary-4f2a");
        assert_eq!(run_with_timeout(&mut missing, GIT_TIMEOUT), None);
        if git_available() {
            assert_eq!(run_git(&["no-such-subcommand-x"], dir.path()), None);
        }
    }

    #[cfg(unix)]
    #[test]
    fn slow_commands_are_killed_at_the_timeout() {
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 5"]);
        assert_eq!(run_with_timeout(&mut cmd, Duration::from_millis(200)), None);
        assert!(start.elapsed() < Duration::from_secs(3));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo '  out  '"]);
        assert_eq!(
            run_with_timeout(&mut cmd, GIT_TIMEOUT).as_deref(),
            Some("out")
        );
    }
}
