//! Timestamps: the wire carries Python `isoformat` strings (RFC 3339 with `+00:00`); the store keeps
//! them verbatim plus microseconds since the epoch for ordering and filtering.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Microseconds since the Unix epoch of an RFC 3339 timestamp, or `None` when it does not parse.
pub fn parse_micros(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// Parses a query-parameter time: RFC 3339, or a number of seconds since the epoch.
pub fn parse_query_time(s: &str) -> Option<i64> {
    if let Some(us) = parse_micros(s) {
        return Some(us);
    }
    let secs: f64 = s.trim().parse().ok()?;
    if !secs.is_finite() {
        return None;
    }
    // Seconds to micros; the cast saturates, which is the right clamp for absurd values.
    Some((secs * 1_000_000.0) as i64)
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_isoformat_with_and_without_fraction() {
        assert_eq!(
            parse_micros("1970-01-01T00:00:01.000002+00:00"),
            Some(1_000_002)
        );
        assert_eq!(parse_micros("1970-01-01T00:00:01+00:00"), Some(1_000_000));
        assert_eq!(parse_micros("yesterday"), None);
        assert_eq!(parse_query_time("2"), Some(2_000_000));
    }
}
