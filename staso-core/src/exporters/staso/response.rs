//! What an ingest response means: the acknowledgement check (PROTOCOL.md §3.3), the failure a
//! status maps to and `Retry-After` as the retry rule reads it (§3.4, decision 6).

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::delivery::accounting::Failure;
use crate::report::DeliveryFailureKind;

/// `Retry-After` as the retry rule sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum RetryAfter {
    /// No header, or an empty one.
    Absent,
    /// A number of seconds (negative and NaN read as 0).
    Seconds(f64),
    /// Present but not a number of seconds (e.g. an HTTP date).
    Unusable,
}

/// The failure a status maps to when the response is not a valid acknowledgement (§3.4).
/// Any status below 400 lands here only with a bad acknowledgement (1xx/3xx included: redirects
/// are not followed).
pub(crate) fn failure_for_status(status: u16) -> Failure {
    match status {
        401 => (DeliveryFailureKind::InvalidKey, false),
        402 => (DeliveryFailureKind::PlanExpired, false),
        403 => (DeliveryFailureKind::Forbidden, false),
        429 => (DeliveryFailureKind::RateLimited, true),
        s if s >= 500 => (DeliveryFailureKind::BackendUnavailable, true),
        _ => (DeliveryFailureKind::MalformedResponse, false),
    }
}

/// `Retry-After` as a float number of seconds, negative (and NaN) clamped to 0, like the official
/// SDK's `max(0.0, float(raw))`. An empty header counts as absent.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> RetryAfter {
    let Some(raw) = headers.get(reqwest::header::RETRY_AFTER) else {
        return RetryAfter::Absent;
    };
    let Ok(text) = raw.to_str() else {
        return RetryAfter::Unusable;
    };
    let text = text.trim();
    if text.is_empty() {
        return RetryAfter::Absent;
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_nan() || v <= 0.0 => RetryAfter::Seconds(0.0),
        Ok(v) => RetryAfter::Seconds(v),
        Err(_) => RetryAfter::Unusable,
    }
}

/// The all-or-nothing acknowledgement of §3.3: a JSON object whose `accepted` is the integer
/// number of trace groups sent, `rejected` and `spans_dropped` the integer 0, and `receipt_id`
/// the request's `Idempotency-Key`. Floats and booleans are not integers.
pub(crate) fn ack_matches(body: &[u8], groups: usize, key: &str) -> bool {
    let Ok(Value::Object(ack)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let integer_is = |field: &str, want: u64| matches!(ack.get(field), Some(Value::Number(n)) if n.is_u64() && n.as_u64() == Some(want));
    integer_is("accepted", groups as u64)
        && integer_is("rejected", 0)
        && integer_is("spans_dropped", 0)
        && matches!(ack.get("receipt_id"), Some(Value::String(r)) if r == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn ack_must_match_exactly() {
        let k = "5b698a89-e0dc-4a77-8756-a2d2d07aa338";
        let ok = format!(r#"{{"accepted":2,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#);
        assert!(ack_matches(ok.as_bytes(), 2, k));
        assert!(!ack_matches(ok.as_bytes(), 3, k));
        assert!(!ack_matches(ok.as_bytes(), 2, "other"));
        for bad in [
            format!(r#"{{"accepted":2.0,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":true,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":1,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":2,"rejected":1,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":2,"rejected":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":2,"rejected":0,"spans_dropped":0.0,"receipt_id":"{k}"}}"#),
            format!(r#"[{{"accepted":2,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}]"#),
            "ok".to_owned(),
            String::new(),
        ] {
            assert!(!ack_matches(bad.as_bytes(), 2, k), "{bad}");
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        use DeliveryFailureKind as K;
        assert_eq!(failure_for_status(401), (K::InvalidKey, false));
        assert_eq!(failure_for_status(402), (K::PlanExpired, false));
        assert_eq!(failure_for_status(403), (K::Forbidden, false));
        assert_eq!(failure_for_status(429), (K::RateLimited, true));
        assert_eq!(failure_for_status(500), (K::BackendUnavailable, true));
        assert_eq!(failure_for_status(503), (K::BackendUnavailable, true));
        assert_eq!(failure_for_status(404), (K::MalformedResponse, false));
        assert_eq!(failure_for_status(302), (K::MalformedResponse, false));
        assert_eq!(failure_for_status(200), (K::MalformedResponse, false));
    }

    #[test]
    fn retry_after_parses_like_the_official_sdk() {
        let parse = |v: &str| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(reqwest::header::RETRY_AFTER, v);
            }
            parse_retry_after(&h)
        };
        assert_eq!(parse_retry_after(&HeaderMap::new()), RetryAfter::Absent);
        assert_eq!(parse("2"), RetryAfter::Seconds(2.0));
        assert_eq!(parse(" 0.25 "), RetryAfter::Seconds(0.25));
        assert_eq!(parse("-3"), RetryAfter::Seconds(0.0));
        assert_eq!(parse("61"), RetryAfter::Seconds(61.0));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), RetryAfter::Unusable);
        assert_eq!(parse(""), RetryAfter::Absent);
    }
}
