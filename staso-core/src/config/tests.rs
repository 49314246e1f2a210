//! Resolution and validation through the public builder (PROTOCOL.md §1.1–§1.4).

use std::time::Duration;

use super::test_support::{TempDir, env_of};
use super::*;

const KEY: &str = "sk-test-0123456789";

fn base() -> ConfigBuilder {
    Config::builder().api_key(KEY).agent_name("my-agent")
}

fn build(b: ConfigBuilder, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    b.build_with_env(env_of(pairs))
}

fn ok(b: ConfigBuilder, pairs: &[(&str, &str)]) -> Config {
    build(b, pairs).unwrap()
}

#[test]
fn defaults() {
    let c = ok(base(), &[]);
    assert_eq!(c.api_key(), KEY);
    assert_eq!(c.agent_name(), "my-agent");
    assert_eq!(c.agent_id(), "ace91cbe-ed51-50a2-9489-56df86b8725e");
    assert_eq!(c.agent_version(), "");
    assert_eq!(c.base_url(), "https://api.staso.ai");
    assert_eq!(c.batch_size(), 100);
    assert_eq!(c.flush_interval(), Duration::from_secs(5));
    assert_eq!(c.max_queue_size(), 10_000);
    assert!(c.enabled());
    assert!(!c.debug());
    assert_eq!(c.environment(), "default");
    assert_eq!(c.workspace_slug(), "default");
    assert_eq!(c.capture_policy(), CapturePolicy::ALL);
    assert!(c.capture_messages());
    assert!(c.capture_git());
    assert_eq!(c.vcs(), None);
}

#[test]
fn explicit_values_win_over_env() {
    let env = [
        ("STASO_API_KEY", "env-key"),
        ("STASO_AGENT_NAME", "env-agent"),
        ("STASO_AGENT_VERSION", "env-v"),
        ("STASO_BASE_URL", "https://env.example"),
        ("STASO_DEBUG", "true"),
        ("STASO_ENVIRONMENT", "env-env"),
        ("STASO_WORKSPACE_SLUG", "env-ws"),
        ("STASO_CAPTURE_OUTPUT", "true"),
    ];
    let c = ok(
        base()
            .agent_version("v2")
            .base_url("https://api.example.com/prefix/")
            .debug(false)
            .environment("prod")
            .workspace_slug("acme")
            .batch_size(7)
            .flush_interval(Duration::from_millis(250))
            .max_queue_size(9)
            .capture_output(false)
            .capture_git(false),
        &env,
    );
    assert_eq!(
        (c.api_key(), c.agent_name(), c.agent_version()),
        (KEY, "my-agent", "v2")
    );
    assert_eq!(c.base_url(), "https://api.example.com/prefix");
    assert!(!c.debug());
    assert_eq!((c.environment(), c.workspace_slug()), ("prod", "acme"));
    assert_eq!((c.batch_size(), c.max_queue_size()), (7, 9));
    assert_eq!(c.flush_interval(), Duration::from_millis(250));
    assert!(!c.capture_policy().output);
    assert!(!c.capture_git());
}

#[test]
fn env_fills_unset_values() {
    let c = ok(
        Config::builder(),
        &[
            ("STASO_API_KEY", "env-key"),
            ("STASO_AGENT_NAME", "a"),
            ("STASO_AGENT_VERSION", "1.2.3"),
            ("STASO_BASE_URL", "http://localhost:8080/"),
            ("STASO_DEBUG", "TRUE"),
            ("STASO_ENVIRONMENT", "staging"),
            ("STASO_WORKSPACE_SLUG", "team"),
            ("STASO_CAPTURE_MESSAGES", "off"),
        ],
    );
    assert_eq!(
        (c.api_key(), c.agent_name(), c.agent_version()),
        ("env-key", "a", "1.2.3")
    );
    assert_eq!(c.agent_id(), "936ec2e7-9865-5b53-9e7e-111ed1ab77e9");
    assert_eq!(c.base_url(), "http://localhost:8080");
    assert!(c.debug());
    assert_eq!((c.environment(), c.workspace_slug()), ("staging", "team"));
    assert!(!c.capture_messages());
    assert!(c.capture_policy().output);
}

#[test]
fn empty_explicit_strings_fall_back_like_python() {
    let env = [
        ("STASO_API_KEY", "env-key"),
        ("STASO_AGENT_NAME", "env-agent"),
        ("STASO_AGENT_VERSION", "env-v"),
        ("STASO_BASE_URL", "https://env.example"),
        ("STASO_ENVIRONMENT", "env-env"),
        ("STASO_WORKSPACE_SLUG", "env-ws"),
    ];
    let b = Config::builder()
        .api_key("")
        .agent_name("")
        .base_url("")
        .environment("")
        .workspace_slug("");
    let c = ok(b.clone(), &env);
    assert_eq!((c.api_key(), c.agent_name()), ("env-key", "env-agent"));
    assert_eq!(
        (c.base_url(), c.environment(), c.workspace_slug()),
        ("https://env.example", "env-env", "env-ws")
    );
    // agent_version is the exception: an explicit "" wins.
    let c = ok(b.clone().agent_version(""), &env);
    assert_eq!(c.agent_version(), "");
    // Without env, the defaults apply.
    let c = ok(b.api_key(KEY).agent_name("n"), &[]);
    assert_eq!(
        (c.base_url(), c.environment(), c.workspace_slug()),
        ("https://api.staso.ai", "default", "default")
    );
}

#[test]
fn empty_env_values() {
    // environment / workspace_slug: "" from the env is kept.
    let c = ok(
        base(),
        &[("STASO_ENVIRONMENT", ""), ("STASO_WORKSPACE_SLUG", "")],
    );
    assert_eq!((c.environment(), c.workspace_slug()), ("", ""));
    // base_url: "" from the env is kept and then fails validation...
    let err = build(base(), &[("STASO_BASE_URL", "")]).unwrap_err();
    assert_eq!(err, ConfigError::BaseUrlNotAbsolute);
    // ...but is accepted as-is when disabled.
    assert_eq!(
        ok(base().enabled(false), &[("STASO_BASE_URL", "")]).base_url(),
        ""
    );
    // api_key / agent_name: "" from the env counts as missing.
    let err = build(Config::builder().agent_name("n"), &[("STASO_API_KEY", "")]).unwrap_err();
    assert_eq!(err, ConfigError::MissingApiKey);
    let err = build(Config::builder().api_key(KEY), &[("STASO_AGENT_NAME", "")]).unwrap_err();
    assert_eq!(err, ConfigError::MissingAgentName);
}

#[test]
fn missing_required_fields_name_them() {
    let err = build(Config::builder().agent_name("n"), &[]).unwrap_err();
    assert_eq!(err.field(), "api_key");
    assert!(
        err.to_string().contains("api_key is required")
            && err.to_string().contains("STASO_API_KEY")
    );
    let err = build(Config::builder().api_key(KEY), &[]).unwrap_err();
    assert_eq!(err.field(), "agent_name");
    assert!(err.to_string().contains("agent_name is required"));
    // A disabled configuration builds without key or name (a deliberate deviation), and a
    // malformed capture variable is ignored there too.
    let cfg = build(
        Config::builder().enabled(false),
        &[("STASO_CAPTURE_REQUEST", "maybe")],
    )
    .expect("disabled config builds");
    assert!(!cfg.enabled());
    assert_eq!(cfg.api_key(), "");
    assert!(cfg.capture_policy().all_on());
}

#[test]
fn debug_env_is_lowercased_not_trimmed() {
    for (raw, want) in [
        ("1", true),
        ("true", true),
        ("True", true),
        (" true", false),
        ("yes", false),
        ("", false),
    ] {
        assert_eq!(ok(base(), &[("STASO_DEBUG", raw)]).debug(), want, "{raw:?}");
    }
    assert!(ok(base().debug(true), &[("STASO_DEBUG", "0")]).debug());
}

#[test]
fn validation_errors_surface_from_build() {
    let cases: [(ConfigBuilder, &str, &str); 9] = [
        (base().api_key("  "), "api_key", "placeholder"),
        (base().api_key("Change-Me"), "api_key", "placeholder"),
        (
            base().base_url("ftp://x.io"),
            "base_url",
            "absolute HTTP(S) URL",
        ),
        (
            base().base_url("https://user:pw@x.io"),
            "base_url",
            "credentials",
        ),
        (
            base().base_url("http://example.com"),
            "base_url",
            "HTTPS outside loopback",
        ),
        (base().batch_size(0), "batch_size", "between 1 and 500"),
        (base().batch_size(501), "batch_size", "between 1 and 500"),
        (
            base().flush_interval(Duration::ZERO),
            "flush_interval",
            "must be positive",
        ),
        (
            base().max_queue_size(0),
            "max_queue_size",
            "must be positive",
        ),
    ];
    for (b, field, problem) in cases {
        let err = build(b, &[]).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.field(), field, "{msg}");
        assert!(msg.starts_with(field) && msg.contains(problem), "{msg}");
        assert!(!msg.contains(KEY) && !msg.contains("pw"), "{msg}");
    }
}

#[test]
fn disabled_skips_validation_but_resolves() {
    let c = ok(
        base()
            .enabled(false)
            .api_key("changeme")
            .base_url("http://example.com/")
            .batch_size(0)
            .flush_interval(Duration::ZERO)
            .max_queue_size(0),
        &[("STASO_ENVIRONMENT", "dev")],
    );
    assert!(!c.enabled());
    assert_eq!(
        (c.api_key(), c.base_url(), c.environment()),
        ("changeme", "http://example.com", "dev")
    );
    assert_eq!((c.batch_size(), c.max_queue_size()), (0, 0));
    // A malformed capture variable still fails an enabled configuration.
    let err = build(base(), &[("STASO_CAPTURE_REQUEST", "maybe")]).unwrap_err();
    assert_eq!(err.field(), "STASO_CAPTURE_REQUEST");
}

#[test]
fn base_url_forms() {
    for url in [
        "http://localhost",
        "http://127.0.0.5",
        "http://[::1]",
        "https://x.io/a/b",
    ] {
        assert_eq!(ok(base().base_url(url), &[]).base_url(), url);
    }
    assert_eq!(
        ok(base().base_url("http://[::1]:8080//"), &[]).base_url(),
        "http://[::1]:8080"
    );
    for url in ["https://x.io?q", "https://x.io#f", "https://user:pw@x"] {
        assert_eq!(
            build(base().base_url(url), &[]).unwrap_err(),
            ConfigError::BaseUrlHasExtras,
            "{url}"
        );
    }
}

#[test]
fn capture_resolution_through_the_builder() {
    let c = ok(base().capture_messages(false), &[]);
    assert_eq!(
        c.capture_policy(),
        CapturePolicy {
            request: false,
            system_prompt: false,
            ..CapturePolicy::ALL
        }
    );
    assert!(!c.capture_messages());

    let c = ok(
        base().capture_messages(false).capture_system_prompt(true),
        &[],
    );
    assert!(!c.capture_policy().request && c.capture_policy().system_prompt);
    assert!(!c.capture_messages());

    let c = ok(
        base(),
        &[
            ("STASO_CAPTURE_MESSAGES", "0"),
            ("STASO_CAPTURE_SYSTEM_PROMPT", "1"),
        ],
    );
    assert_eq!(
        (c.capture_policy().request, c.capture_policy().system_prompt),
        (false, true)
    );

    let c = ok(
        base()
            .capture_request(false)
            .capture_tool_schema(false)
            .capture_tool_arguments(false)
            .capture_output(false),
        &[
            ("STASO_CAPTURE_REQUEST", "on"),
            ("STASO_CAPTURE_TOOL_SCHEMA", "bogus"),
        ],
    );
    let expected = CapturePolicy {
        request: false,
        system_prompt: true,
        tool_schema: false,
        tool_arguments: false,
        output: false,
    };
    assert_eq!(c.capture_policy(), expected);

    // A malformed legacy var fails whenever the legacy setter was not called...
    let err = build(
        base().capture_request(true).capture_system_prompt(true),
        &[("STASO_CAPTURE_MESSAGES", "")],
    )
    .unwrap_err();
    assert_eq!(err.field(), "STASO_CAPTURE_MESSAGES");
    assert!(err.to_string().contains("1/0, true/false, yes/no, on/off"));
    // ...and is ignored when it was.
    assert!(
        build(
            base().capture_messages(true),
            &[("STASO_CAPTURE_MESSAGES", "")]
        )
        .is_ok()
    );
}

#[test]
fn debug_output_hides_the_key() {
    let c = ok(base(), &[]);
    let s = format!("{c:?}");
    assert!(!s.contains(KEY), "{s}");
    assert!(s.contains("***") && s.contains("my-agent"));
    let s = format!("{:?}", base());
    assert!(!s.contains(KEY) && s.contains("***"), "{s}");
}

#[test]
fn detect_vcs_respects_capture_git() {
    let mut c = ok(base().capture_git(false), &[]);
    c.set_vcs(Some(VcsInfo {
        commit_sha: "x".into(),
        branch: String::new(),
        repo_url: String::new(),
        is_dirty: false,
    }));
    c.detect_vcs();
    assert_eq!(c.vcs(), None);
    // With capture_git on, detection runs against the real process; whatever it finds must be complete.
    let mut c = ok(base(), &[]);
    c.detect_vcs();
    if let Some(v) = c.vcs() {
        assert!(!v.commit_sha.is_empty());
    }
}

#[test]
fn detect_vcs_with_build_info_in_temp_dir() {
    let dir = TempDir::new("config-build-info");
    std::fs::write(
        dir.path().join(".staso-build-info"),
        r#"{"commit_sha":"c0ffee","branch":"main"}"#,
    )
    .unwrap();
    let env = env_of(&[("STASO_VCS_COMMIT_SHA", "from-env")]);
    assert_eq!(
        detect_vcs_with(env, dir.path()).map(|v| v.commit_sha),
        Some("from-env".into())
    );
}
