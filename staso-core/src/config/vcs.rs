//! VCS context detection (PROTOCOL.md §1.5): STASO env, then CI platform env, then the git CLI, then a
//! `.staso-build-info` file. The first source that yields a commit wins.

use std::path::Path;

use super::git;

/// The commit a process runs from, attached to every root span as `vcs.*` metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcsInfo {
    /// Commit hash (40 hex chars from the git CLI; whatever the source gave otherwise).
    pub commit_sha: String,
    /// Branch name, `""` when unknown or detached.
    pub branch: String,
    /// Repository URL (or CI slug), `""` when unknown.
    pub repo_url: String,
    /// Uncommitted changes in the work tree (only the git CLI can tell; false otherwise).
    pub is_dirty: bool,
}

/// A CI platform: (guard var, sha var, branch var, repo var), in detection order.
type Platform = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const PLATFORMS: [Platform; 10] = [
    (
        "GITHUB_ACTIONS",
        "GITHUB_SHA",
        Some("GITHUB_REF_NAME"),
        Some("GITHUB_REPOSITORY"),
    ),
    (
        "VERCEL",
        "VERCEL_GIT_COMMIT_SHA",
        Some("VERCEL_GIT_COMMIT_REF"),
        Some("VERCEL_GIT_REPO_SLUG"),
    ),
    (
        "RAILWAY_ENVIRONMENT",
        "RAILWAY_GIT_COMMIT_SHA",
        Some("RAILWAY_GIT_BRANCH"),
        None,
    ),
    ("HEROKU_SLUG_COMMIT", "HEROKU_SLUG_COMMIT", None, None),
    (
        "GITLAB_CI",
        "CI_COMMIT_SHA",
        Some("CI_COMMIT_BRANCH"),
        Some("CI_PROJECT_URL"),
    ),
    (
        "CIRCLECI",
        "CIRCLE_SHA1",
        Some("CIRCLE_BRANCH"),
        Some("CIRCLE_REPOSITORY_URL"),
    ),
    (
        "BITBUCKET_COMMIT",
        "BITBUCKET_COMMIT",
        Some("BITBUCKET_BRANCH"),
        Some("BITBUCKET_GIT_HTTP_ORIGIN"),
    ),
    (
        "CODEBUILD_BUILD_ID",
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        None,
        Some("CODEBUILD_SOURCE_REPO_URL"),
    ),
    (
        "NETLIFY",
        "COMMIT_REF",
        Some("BRANCH"),
        Some("REPOSITORY_URL"),
    ),
    (
        "TF_BUILD",
        "BUILD_SOURCEVERSION",
        Some("BUILD_SOURCEBRANCH"),
        Some("BUILD_REPOSITORY_URI"),
    ),
];

/// Name of the file `python -m staso.build_info` writes for container builds.
const BUILD_INFO_FILE: &str = ".staso-build-info";

/// Runs §1.5 detection with `env` as the environment and `cwd` as the directory for the git CLI and
/// the build-info file. The git subprocesses themselves inherit the real process environment.
pub fn detect_vcs_with<F: Fn(&str) -> Option<String>>(env: F, cwd: &Path) -> Option<VcsInfo> {
    let found = from_staso_env(&env)
        .or_else(|| from_platform_env(&env))
        .or_else(|| from_git_cli(cwd))
        .or_else(|| from_build_info(cwd));
    match &found {
        Some(v) => log::debug!(
            "staso: vcs commit {} on branch {:?}",
            v.commit_sha,
            v.branch
        ),
        None => log::debug!("staso: no vcs context detected"),
    }
    found
}

/// Removes every `user[:pass]@` that directly follows `http://` or `https://` — the official SDK's
/// `re.sub(r"(https?://)[^/@]+@", r"\1", url)`, written out to avoid a regex dependency.
///
/// ```
/// use staso_core::config::strip_credentials;
/// assert_eq!(strip_credentials("https://u:tok@github.com/o/r.git"), "https://github.com/o/r.git");
/// ```
pub fn strip_credentials(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while !rest.is_empty() {
        let scheme_len = if rest.starts_with("https://") {
            8
        } else if rest.starts_with("http://") {
            7
        } else {
            0
        };
        if scheme_len > 0 {
            let after = &rest[scheme_len..];
            let run = after.find(['/', '@']).unwrap_or(after.len());
            if run > 0 && after[run..].starts_with('@') {
                out.push_str(&rest[..scheme_len]);
                rest = &after[run + 1..];
                continue;
            }
        }
        // No match here: keep one char and try again at the next position, as a regex scan does.
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// Detection from `git` run in `cwd`; `None` unless `git rev-parse HEAD` prints exactly 40 characters.
pub(super) fn from_git_cli(cwd: &Path) -> Option<VcsInfo> {
    let commit_sha =
        git::run_git(&["rev-parse", "HEAD"], cwd).filter(|s| s.chars().count() == 40)?;
    let branch = git::run_git(&["rev-parse", "--abbrev-ref", "HEAD"], cwd)
        .filter(|b| b != "HEAD") // detached HEAD
        .unwrap_or_default();
    let repo_url = git::run_git(&["config", "--get", "remote.origin.url"], cwd)
        .map(|u| strip_credentials(&u))
        .unwrap_or_default();
    let is_dirty = git::run_git(&["status", "--porcelain"], cwd).is_some_and(|s| !s.is_empty());
    Some(VcsInfo {
        commit_sha,
        branch,
        repo_url,
        is_dirty,
    })
}

/// A set, non-empty variable.
fn non_empty(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    env(var).filter(|v| !v.is_empty())
}

/// `STASO_VCS_*`. The repo URL is deliberately *not* stripped of credentials, as in the official SDK.
fn from_staso_env(env: &dyn Fn(&str) -> Option<String>) -> Option<VcsInfo> {
    let commit_sha = non_empty(env, "STASO_VCS_COMMIT_SHA")?;
    Some(VcsInfo {
        commit_sha,
        branch: env("STASO_VCS_BRANCH").unwrap_or_default(),
        repo_url: env("STASO_VCS_REPO_URL").unwrap_or_default(),
        is_dirty: false,
    })
}

/// The first platform whose guard var and sha var are both non-empty.
fn from_platform_env(env: &dyn Fn(&str) -> Option<String>) -> Option<VcsInfo> {
    PLATFORMS.iter().find_map(|&(guard, sha, branch, repo)| {
        non_empty(env, guard)?;
        let commit_sha = non_empty(env, sha)?;
        let read = |var: Option<&str>| var.and_then(env).unwrap_or_default();
        Some(VcsInfo {
            commit_sha,
            branch: read(branch),
            repo_url: strip_credentials(&read(repo)),
            is_dirty: false,
        })
    })
}

/// `.staso-build-info` in `cwd`: a JSON object with a non-empty string `commit_sha`. Non-string
/// `branch`/`repo_url` values count as absent.
fn from_build_info(cwd: &Path) -> Option<VcsInfo> {
    let path = cwd.join(BUILD_INFO_FILE);
    if !path.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| log::debug!("staso: cannot read {}: {e}", path.display()))
        .ok()?;
    let data: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| log::debug!("staso: {} is not JSON: {e}", path.display()))
        .ok()?;
    let field = |key: &str| {
        data.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let commit_sha = field("commit_sha");
    if commit_sha.is_empty() {
        return None;
    }
    Some(VcsInfo {
        commit_sha,
        branch: field("branch"),
        repo_url: field("repo_url"),
        is_dirty: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{TempDir, env_of};

    fn vcs(commit_sha: &str, branch: &str, repo_url: &str) -> VcsInfo {
        VcsInfo {
            commit_sha: commit_sha.into(),
            branch: branch.into(),
            repo_url: repo_url.into(),
            is_dirty: false,
        }
    }

    #[test]
    fn strip_credentials_matches_the_sdk_regex() {
        for (input, want) in [
            (
                "https://user:pass@github.com/o/r.git",
                "https://github.com/o/r.git",
            ),
            ("http://tok@gitlab.com/o/r", "http://gitlab.com/o/r"),
            ("https://github.com/o/r.git", "https://github.com/o/r.git"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("ssh://git@github.com/o/r", "ssh://git@github.com/o/r"),
            ("https://@host/x", "https://@host/x"),
            ("https://host/p@q", "https://host/p@q"),
            ("HTTPS://u@host", "HTTPS://u@host"),
            ("https://a@b@host", "https://b@host"),
            ("x https://a@h y http://b:c@i", "x https://h y http://i"),
            ("http://h/http://u@v", "http://h/http://v"),
            ("", ""),
            ("ünï https://ü@h", "ünï https://h"),
        ] {
            assert_eq!(strip_credentials(input), want, "{input}");
        }
    }

    #[test]
    fn staso_env_wins_and_keeps_credentials() {
        let env = env_of(&[
            ("STASO_VCS_COMMIT_SHA", "abc123"),
            ("STASO_VCS_BRANCH", "release"),
            ("STASO_VCS_REPO_URL", "https://u:tok@example.com/r"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "def456"),
        ]);
        let dir = TempDir::new("vcs-staso-env");
        assert_eq!(
            detect_vcs_with(env, dir.path()),
            Some(vcs("abc123", "release", "https://u:tok@example.com/r"))
        );
    }

    #[test]
    fn empty_staso_sha_falls_through() {
        let env = env_of(&[
            ("STASO_VCS_COMMIT_SHA", ""),
            ("STASO_VCS_BRANCH", "x"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "def456"),
        ]);
        assert_eq!(from_staso_env(&env), None);
        assert_eq!(
            from_platform_env(&env).map(|v| v.commit_sha),
            Some("def456".into())
        );
    }

    #[test]
    fn github_actions_strips_credentials() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_REF_NAME", "main"),
            (
                "GITHUB_REPOSITORY",
                "https://x-access-token:ghs_secret@github.com/o/r",
            ),
        ]);
        let dir = TempDir::new("vcs-github");
        assert_eq!(
            detect_vcs_with(env, dir.path()),
            Some(vcs(
                "0123456789abcdef0123456789abcdef01234567",
                "main",
                "https://github.com/o/r"
            ))
        );
    }

    #[test]
    fn platform_needs_guard_and_sha() {
        // Guard without sha, and sha without guard, do not match; the next platform is tried.
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("VERCEL_GIT_COMMIT_SHA", "v1"),
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_SHA", "g1"),
            ("CI_PROJECT_URL", "https://gitlab.com/o/r"),
        ]);
        assert_eq!(
            from_platform_env(&env),
            Some(vcs("g1", "", "https://gitlab.com/o/r"))
        );
        let env = env_of(&[("GITHUB_ACTIONS", ""), ("GITHUB_SHA", "s")]);
        assert_eq!(from_platform_env(&env), None);
    }

    #[test]
    fn platforms_without_branch_or_repo_vars() {
        let env = env_of(&[("HEROKU_SLUG_COMMIT", "h1"), ("BRANCH", "ignored")]);
        assert_eq!(from_platform_env(&env), Some(vcs("h1", "", "")));
        let env = env_of(&[
            ("RAILWAY_ENVIRONMENT", "production"),
            ("RAILWAY_GIT_COMMIT_SHA", "r1"),
            ("RAILWAY_GIT_BRANCH", "main"),
        ]);
        assert_eq!(from_platform_env(&env), Some(vcs("r1", "main", "")));
    }

    #[test]
    fn build_info_file_is_the_last_resort() {
        let dir = TempDir::new("vcs-build-info");
        let path = dir.path().join(BUILD_INFO_FILE);
        let write = |s: &str| std::fs::write(&path, s).unwrap();

        write(r#"{"commit_sha":"feed","branch":"b","repo_url":"https://u:p@h/r"}"#);
        assert_eq!(
            from_build_info(dir.path()),
            Some(vcs("feed", "b", "https://u:p@h/r"))
        );
        if from_git_cli(dir.path()).is_none() {
            assert_eq!(
                detect_vcs_with(env_of(&[]), dir.path()),
                Some(vcs("feed", "b", "https://u:p@h/r"))
            );
        }
        write(r#"{"commit_sha":"feed","branch":null}"#);
        assert_eq!(from_build_info(dir.path()), Some(vcs("feed", "", "")));
        for bad in [
            r#"{"commit_sha":""}"#,
            r#"{"branch":"b"}"#,
            "[1]",
            "not json",
            r#"{"commit_sha":7}"#,
        ] {
            write(bad);
            assert_eq!(from_build_info(dir.path()), None, "{bad}");
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_build_info(dir.path()), None);
    }
}
