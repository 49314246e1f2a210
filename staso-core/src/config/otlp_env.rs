//! The standard `OTEL_*` variables of the OTLP exporter specification, read through an injectable
//! env (so tests never touch the process environment).
//!
//! Signal-specific variables (`OTEL_EXPORTER_OTLP_TRACES_*`) win over the general ones.

use std::net::IpAddr;
use std::time::Duration;

use super::ConfigError;

/// The OTLP payload encoding (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `http/protobuf` (the default).
    #[default]
    HttpProtobuf,
    /// `http/json`: the OTLP JSON mapping (hex ids, 64-bit integers as strings, enums as numbers).
    HttpJson,
}

impl OtlpProtocol {
    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }
}

/// Request body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpCompression {
    /// Uncompressed (the default).
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

/// The OTLP variables as found.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtlpEnv {
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full traces URL, used as is.
    pub(crate) traces_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: a base URL; `/v1/traces` is appended.
    pub(crate) endpoint: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocol: Option<OtlpProtocol>,
    pub(crate) compression: Option<OtlpCompression>,
    pub(crate) timeout: Option<Duration>,
    /// `OTEL_EXPORTER_OTLP_INSECURE`: plain HTTP allowed to a host that is not loopback.
    pub(crate) insecure: Option<bool>,
    pub(crate) service_name: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
}

impl OtlpEnv {
    /// Reads and checks every variable.
    pub(crate) fn read(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        // The traces-specific variable, else the general one, with the name that was used.
        let pick = |traces: &'static str, general: &'static str| {
            get(traces)
                .map(|v| (traces, v))
                .or_else(|| get(general).map(|v| (general, v)))
        };
        let protocol = match pick(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ) {
            None => None,
            Some((_, v)) if v == "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            Some((_, v)) if v == "http/json" => Some(OtlpProtocol::HttpJson),
            // `grpc` included: sending HTTP to a gRPC port would fail on every batch.
            Some((var, value)) => return Err(ConfigError::InvalidOtelEnv { var, value }),
        };
        let compression = match pick(
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ) {
            None => None,
            Some((_, v)) if v.eq_ignore_ascii_case("gzip") => Some(OtlpCompression::Gzip),
            Some((_, v)) if v.eq_ignore_ascii_case("none") => Some(OtlpCompression::None),
            Some((var, value)) => return Err(ConfigError::InvalidOtelEnv { var, value }),
        };
        let timeout = match pick(
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ) {
            None => None,
            Some((var, value)) => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
                _ => return Err(ConfigError::InvalidOtelEnv { var, value }),
            },
        };
        let insecure = match pick(
            "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
            "OTEL_EXPORTER_OTLP_INSECURE",
        ) {
            None => None,
            Some((_, v)) if v.eq_ignore_ascii_case("true") => Some(true),
            Some((_, v)) if v.eq_ignore_ascii_case("false") => Some(false),
            // Strict: a typo must not decide whether spans travel in clear text.
            Some((var, value)) => return Err(ConfigError::InvalidOtelEnv { var, value }),
        };
        let headers = match pick(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ) {
            None => Vec::new(),
            // The value is not echoed: headers usually carry credentials.
            Some((var, v)) => parse_pairs(&v).ok_or(ConfigError::InvalidOtelEnv {
                var,
                value: "<hidden>".into(),
            })?,
        };
        let resource_attributes = match get("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(v) => parse_pairs(&v).ok_or_else(|| ConfigError::InvalidOtelEnv {
                var: "OTEL_RESOURCE_ATTRIBUTES",
                value: v.clone(),
            })?,
        };
        Ok(OtlpEnv {
            traces_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            headers,
            protocol,
            compression,
            timeout,
            insecure,
            service_name: get("OTEL_SERVICE_NAME"),
            resource_attributes,
        })
    }

    /// Whether an OTLP endpoint variable is set.
    pub(crate) fn endpoint_set(&self) -> bool {
        self.traces_endpoint.is_some() || self.endpoint.is_some()
    }

    /// The traces URL the variables give, if any.
    pub(crate) fn traces_url(&self) -> Option<String> {
        match (&self.traces_endpoint, &self.endpoint) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(base)) => Some(traces_url_from_base(base, false)),
            (None, None) => None,
        }
    }
}

/// `base` + `/v1/traces` (one slash). With `keep_full`, a URL that already ends with
/// `/v1/traces` is kept as it is (for endpoints given in code).
pub(crate) fn traces_url_from_base(base: &str, keep_full: bool) -> String {
    let base = base.trim_end_matches('/');
    if keep_full && base.ends_with("/v1/traces") {
        return base.to_owned();
    }
    format!("{base}/v1/traces")
}

/// An absolute `http`/`https` URL with a host; plain `http` only to a loopback host
/// (`127.0.0.0/8`, `::1`, `localhost`) unless `insecure` allows it: spans and the headers (often
/// a backend's token) would cross the network in clear text. The messages do not repeat the
/// whole URL (it may carry credentials), only its scheme, host and port.
pub(crate) fn check_endpoint(url: &str, insecure: bool) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::InvalidOtlpEndpoint {
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidOtlpEndpoint {
            reason: format!("scheme `{}` is not http or https", parsed.scheme()),
        });
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => {
            return Err(ConfigError::InvalidOtlpEndpoint {
                reason: "no host".into(),
            });
        }
    };
    if parsed.scheme() == "http" && !insecure && !is_loopback(host) {
        let endpoint = match parsed.port() {
            Some(port) => format!("http://{host}:{port}"),
            None => format!("http://{host}"),
        };
        return Err(ConfigError::InsecureOtlpEndpoint { endpoint });
    }
    Ok(())
}

/// `localhost`, or an IP literal in `127.0.0.0/8` or `::1` (the URL parser has lowercased the
/// host and kept IPv6 brackets).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `key1=value1,key2=value2` with percent-encoded values (the W3C Baggage-like format of
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`). `None` when an entry has no `=`
/// or an empty key. Written by hand: it is a few lines, and no crate in the tree exposes it.
pub(crate) fn parse_pairs(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, v) = entry.split_once('=')?;
        let k = percent_decode(k.trim())?;
        if k.is_empty() {
            return None;
        }
        out.push((k, percent_decode(v.trim())?));
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn pairs_are_split_and_decoded() {
        assert_eq!(
            parse_pairs("a=1, b = x%20y ,,c=%3D"),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "=".into())
            ])
        );
        assert_eq!(parse_pairs("novalue"), None);
        assert_eq!(parse_pairs("=v"), None);
        assert_eq!(parse_pairs("k=%zz"), None);
    }

    #[test]
    fn traces_variables_win_and_urls_are_built() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ];
        let e = OtlpEnv::read(&env_of(&vars)).unwrap();
        assert_eq!(
            e.traces_url().as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(e.protocol, Some(OtlpProtocol::HttpProtobuf));
        assert_eq!(e.compression, Some(OtlpCompression::Gzip));
        assert_eq!(e.timeout, Some(Duration::from_millis(2500)));
        let vars = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:1/custom",
        )];
        let e = OtlpEnv::read(&env_of(&vars)).unwrap();
        assert_eq!(e.traces_url().as_deref(), Some("http://127.0.0.1:1/custom"));
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_headers() {
        let vars = [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        let err = OtlpEnv::read(&env_of(&vars)).unwrap_err();
        assert_eq!(err.field(), "OTEL_EXPORTER_OTLP_PROTOCOL");
        let vars = [("OTEL_EXPORTER_OTLP_HEADERS", "secret-token")];
        let err = OtlpEnv::read(&env_of(&vars)).unwrap_err();
        assert!(!err.to_string().contains("secret-token"), "{err}");
        assert!(check_endpoint("ftp://x", true).is_err());
        assert!(check_endpoint("not a url", true).is_err());
        assert!(check_endpoint("http://collector:4318/v1/traces", true).is_ok());
        let vars = [("OTEL_EXPORTER_OTLP_INSECURE", "yes")];
        let err = OtlpEnv::read(&env_of(&vars)).unwrap_err();
        assert_eq!(err.field(), "OTEL_EXPORTER_OTLP_INSECURE");
    }

    #[test]
    fn plain_http_is_refused_outside_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:4318/v1/traces",
            "http://127.9.8.7/v1/traces",
            "http://[::1]:4318/v1/traces",
            "http://LOCALHOST:4318/v1/traces",
            "https://otel.example.com/v1/traces",
            "https://10.0.0.1/v1/traces",
        ] {
            assert_eq!(check_endpoint(url, false), Ok(()), "{url}");
        }
        for (url, endpoint) in [
            (
                "http://user:pw@collector:4318/v1/traces?token=t",
                "http://collector:4318",
            ),
            ("http://10.0.0.1/v1/traces", "http://10.0.0.1"),
            (
                "http://[2001:db8::1]:4318/v1/traces",
                "http://[2001:db8::1]:4318",
            ),
            (
                "http://localhost.example.com/v1/traces",
                "http://localhost.example.com",
            ),
        ] {
            let err = check_endpoint(url, false).unwrap_err();
            assert_eq!(
                err,
                ConfigError::InsecureOtlpEndpoint {
                    endpoint: endpoint.into()
                },
                "{url}"
            );
            let text = err.to_string();
            assert!(
                text.contains(endpoint) && !text.contains("pw") && !text.contains("token"),
                "{text}"
            );
            assert!(
                text.contains("OTEL_EXPORTER_OTLP_INSECURE=true")
                    && text.contains("OtlpSettings::insecure(true)"),
                "{text}"
            );
            assert_eq!(err.field(), "otlp_endpoint");
            assert_eq!(check_endpoint(url, true), Ok(()), "{url}");
        }
    }

    #[test]
    fn the_insecure_variables_are_read_traces_first() {
        let read = |vars: &[(&str, &str)]| OtlpEnv::read(&env_of(vars)).unwrap().insecure;
        assert_eq!(read(&[]), None);
        assert_eq!(read(&[("OTEL_EXPORTER_OTLP_INSECURE", "TRUE")]), Some(true));
        assert_eq!(
            read(&[
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false"),
            ]),
            Some(false)
        );
    }
}
