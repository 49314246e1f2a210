//! Runtime validation of an enabled configuration (PROTOCOL.md §1.2), in the official SDK's order.
//!
//! The base URL is checked by hand rather than with the `url` crate: we only need the scheme, the
//! authority and whether a query or fragment exists, and `url` would pull IDNA tables into every build.
//! The split follows Python's `urlsplit`, except that a few degenerate inputs it lets through are
//! rejected (whitespace, an empty `@`, `?` or `#`, a non-numeric port), since they cannot make a
//! working ingest URL anyway.

use std::net::IpAddr;
use std::time::Duration;

use super::ConfigError;
use super::mask::{MAX_BUDGET_BYTES, MIN_BUDGET_BYTES};

/// Api keys that are obviously copied from an example (compared trimmed and case-insensitively).
const PLACEHOLDER_KEYS: [&str; 6] = [
    "change-me",
    "changeme",
    "your-api-key",
    "your_api_key",
    "replace-me",
    "placeholder",
];

/// The values §1.2 checks.
pub(crate) struct RuntimeSettings<'a> {
    pub(crate) api_key: &'a str,
    pub(crate) base_url: &'a str,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) max_queue_size: usize,
}

/// Returns the first failing rule, in the order the official SDK checks them.
pub(crate) fn validate(s: &RuntimeSettings<'_>) -> Result<(), ConfigError> {
    check_api_key(s.api_key)?;
    check_base_url(s.base_url)?;
    validate_limits(s.batch_size, s.flush_interval, s.max_queue_size)
}

/// The numeric rules alone (also what an OTLP-only configuration checks).
pub(crate) fn validate_limits(
    batch_size: usize,
    flush_interval: Duration,
    max_queue_size: usize,
) -> Result<(), ConfigError> {
    if !(1..=500).contains(&batch_size) {
        return Err(ConfigError::BatchSizeOutOfRange { value: batch_size });
    }
    if flush_interval.is_zero() {
        return Err(ConfigError::FlushIntervalNotPositive);
    }
    if max_queue_size == 0 {
        return Err(ConfigError::MaxQueueSizeNotPositive);
    }
    Ok(())
}

/// A payload budget given to `field` (a setter or env var name) as `value`: a byte count in
/// `MIN_BUDGET_BYTES..=MAX_BUDGET_BYTES`.
pub(crate) fn check_budget(field: &'static str, value: usize) -> Result<usize, ConfigError> {
    if (MIN_BUDGET_BYTES..=MAX_BUDGET_BYTES).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::InvalidPayloadBudget {
            field,
            value: value.to_string(),
        })
    }
}

/// A budget env var's value (trimmed), checked like a setter's.
pub(crate) fn parse_budget_env(var: &'static str, raw: &str) -> Result<usize, ConfigError> {
    match raw.trim().parse::<usize>() {
        Ok(n) => check_budget(var, n),
        Err(_) => Err(ConfigError::InvalidPayloadBudget {
            field: var,
            value: format!("{raw:?}"),
        }),
    }
}

fn check_api_key(key: &str) -> Result<(), ConfigError> {
    let key = key.trim();
    if key.is_empty() || PLACEHOLDER_KEYS.iter().any(|p| key.eq_ignore_ascii_case(p)) {
        return Err(ConfigError::PlaceholderApiKey);
    }
    Ok(())
}

/// Absolute http(s) with a host; then no userinfo, query or fragment; then http only for loopback.
pub(crate) fn check_base_url(url: &str) -> Result<(), ConfigError> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::BaseUrlNotAbsolute);
    }
    let (scheme, rest) = url.split_once(':').ok_or(ConfigError::BaseUrlNotAbsolute)?;
    let is_http = scheme.eq_ignore_ascii_case("http");
    if !is_http && !scheme.eq_ignore_ascii_case("https") {
        return Err(ConfigError::BaseUrlNotAbsolute);
    }
    let after_slashes = rest
        .strip_prefix("//")
        .ok_or(ConfigError::BaseUrlNotAbsolute)?;
    let authority_end = after_slashes
        .find(['/', '?', '#'])
        .unwrap_or(after_slashes.len());
    let (authority, tail) = after_slashes.split_at(authority_end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, host_port)) => (Some(user), host_port),
        None => (None, authority),
    };
    let host = split_host(host_port).ok_or(ConfigError::BaseUrlNotAbsolute)?;
    if userinfo.is_some() || tail.contains(['?', '#']) {
        return Err(ConfigError::BaseUrlHasExtras);
    }
    if is_http && !is_loopback(host) {
        return Err(ConfigError::BaseUrlInsecure {
            host: host.to_owned(),
        });
    }
    Ok(())
}

/// The host of `host[:port]` or `[v6][:port]` (brackets removed); `None` when the host is missing or
/// malformed or the port is not a number.
fn split_host(host_port: &str) -> Option<&str> {
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (inside, port)
    } else {
        if host_port.contains([']', '[']) {
            return None;
        }
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    match port {
        // `host:` is allowed, as by urlsplit.
        None | Some("") => Some(host),
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok() => Some(host),
        Some(_) => None,
    }
}

/// `localhost` in any case, or an IP literal in 127.0.0.0/8 or `::1`.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<'a>(api_key: &'a str, base_url: &'a str) -> RuntimeSettings<'a> {
        RuntimeSettings {
            api_key,
            base_url,
            batch_size: 100,
            flush_interval: Duration::from_secs(5),
            max_queue_size: 10_000,
        }
    }

    #[test]
    fn accepts_good_settings() {
        assert_eq!(
            validate(&settings("sk-live", "https://api.staso.ai")),
            Ok(())
        );
    }

    #[test]
    fn rejects_blank_and_placeholder_keys() {
        for key in [
            "",
            "   ",
            "change-me",
            " CHANGEME ",
            "Your-Api-Key",
            "your_api_key",
            "REPLACE-ME",
            "placeholder",
        ] {
            let err = validate(&settings(key, "https://api.staso.ai")).unwrap_err();
            assert_eq!(err, ConfigError::PlaceholderApiKey, "{key:?}");
            assert_eq!(err.field(), "api_key");
            assert!(err.to_string().contains("placeholder"));
        }
        assert_eq!(
            validate(&settings("change-me-later", "https://x.io")),
            Ok(())
        );
    }

    #[test]
    fn loopback_http_is_allowed() {
        for url in [
            "http://localhost",
            "http://LocalHost:8080",
            "http://127.0.0.1:4318",
            "http://127.0.0.5",
            "http://[::1]",
            "http://[::1]:9000/prefix",
            "HTTP://localhost/",
            "https://api.staso.ai:443/v2/",
            "https://example.com:",
        ] {
            assert_eq!(check_base_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn non_loopback_http_is_rejected() {
        for (url, host) in [
            ("http://example.com", "example.com"),
            ("http://10.0.0.1", "10.0.0.1"),
            ("http://[::2]", "::2"),
            ("http://localhost.evil.com", "localhost.evil.com"),
        ] {
            let err = check_base_url(url).unwrap_err();
            assert_eq!(
                err,
                ConfigError::BaseUrlInsecure {
                    host: host.to_owned()
                },
                "{url}"
            );
            assert_eq!(err.field(), "base_url");
            assert!(err.to_string().contains("must use HTTPS outside loopback"));
        }
    }

    #[test]
    fn extras_are_rejected_without_echoing_the_url() {
        for url in [
            "https://user:pw@x.io",
            "https://user@x.io",
            "https://@x.io",
            "https://x.io?q=1",
            "https://x.io/p?q",
            "https://x.io#f",
            "https://x.io/#",
            "http://user:pw@localhost",
        ] {
            let err = check_base_url(url).unwrap_err();
            assert_eq!(err, ConfigError::BaseUrlHasExtras, "{url}");
            assert!(!err.to_string().contains("pw"));
            assert!(
                err.to_string()
                    .contains("credentials, a query, or a fragment")
            );
        }
    }

    #[test]
    fn non_absolute_urls_are_rejected() {
        for url in [
            "",
            "api.staso.ai",
            "ftp://x.io",
            "https:x.io",
            "https:///v1",
            "https://",
            "https://:443",
            "https://user@",
            "https:// x.io",
            "https://x.io:abc",
            "https://x.io:99999",
            "http://::1",
            "http://[::1",
            "http://[nope]",
        ] {
            let err = check_base_url(url).unwrap_err();
            assert_eq!(err, ConfigError::BaseUrlNotAbsolute, "{url}");
            assert!(err.to_string().contains("absolute HTTP(S) URL"));
        }
    }

    #[test]
    fn numeric_limits() {
        for (bs, want) in [(0, false), (1, true), (500, true), (501, false)] {
            let s = RuntimeSettings {
                batch_size: bs,
                ..settings("k", "https://x.io")
            };
            assert_eq!(validate(&s).is_ok(), want, "{bs}");
            if !want {
                let err = validate(&s).unwrap_err();
                assert_eq!(err.field(), "batch_size");
                assert!(err.to_string().contains("between 1 and 500"));
            }
        }
        let s = RuntimeSettings {
            flush_interval: Duration::ZERO,
            ..settings("k", "https://x.io")
        };
        let err = validate(&s).unwrap_err();
        assert_eq!(
            (err.field(), err.to_string().contains("must be positive")),
            ("flush_interval", true)
        );
        let s = RuntimeSettings {
            flush_interval: Duration::from_nanos(1),
            ..settings("k", "https://x.io")
        };
        assert_eq!(validate(&s), Ok(()));
        let s = RuntimeSettings {
            max_queue_size: 0,
            ..settings("k", "https://x.io")
        };
        let err = validate(&s).unwrap_err();
        assert_eq!(
            (err.field(), err.to_string().contains("must be positive")),
            ("max_queue_size", true)
        );
    }

    #[test]
    fn payload_budgets_name_the_setter_and_value() {
        assert_eq!(check_budget("max_field_bytes", 1024), Ok(1024));
        assert_eq!(check_budget("max_span_bytes", 1 << 30), Ok(1 << 30));
        for bad in [0, 1023, (1 << 30) + 1, usize::MAX] {
            let err = check_budget("max_field_bytes", bad).unwrap_err();
            assert_eq!(err.field(), "max_field_bytes");
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
        assert_eq!(parse_budget_env("STASO_MAX_SPAN_BYTES", " 4096 "), Ok(4096));
        for raw in ["", "1MiB", "-5", "12.5", "0"] {
            let err = parse_budget_env("STASO_MAX_SPAN_BYTES", raw).unwrap_err();
            assert_eq!(err.field(), "STASO_MAX_SPAN_BYTES", "{raw}");
            assert!(err.to_string().contains("between 1024"), "{err}");
        }
    }

    #[test]
    fn first_failure_wins_in_sdk_order() {
        let s = RuntimeSettings {
            batch_size: 0,
            ..settings("changeme", "ftp://x")
        };
        assert_eq!(validate(&s), Err(ConfigError::PlaceholderApiKey));
        let s = RuntimeSettings {
            batch_size: 0,
            ..settings("k", "ftp://x")
        };
        assert_eq!(validate(&s), Err(ConfigError::BaseUrlNotAbsolute));
    }
}
