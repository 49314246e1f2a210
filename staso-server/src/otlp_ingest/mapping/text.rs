//! The text forms of a mapped span's ids, start time and JSON payloads, written directly: these
//! run for every span of a request (the `format!` and full `Value` parses they replace were about
//! a quarter of the OTLP route's CPU). `IgnoredAny` would check less than a `Value` parse (it
//! accepts lone surrogate escapes and numbers out of range), hence [`is_json`]'s own visitor.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `8-4-4-4-12` hyphenated lowercase hex of 16 bytes (a trace id).
pub(super) fn hyphenated(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// An 8-byte OTLP span id in the staso form: a UUID whose first 8 bytes are zero.
pub(super) fn span_id_text(b: &[u8; 8]) -> String {
    let mut full = [0u8; 16];
    for (to, from) in full[8..].iter_mut().zip(b) {
        *to = *from;
    }
    hyphenated(&full)
}

/// Python's `isoformat()` of a UTC time in ns: `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00` (the
/// fraction only when the µs are not zero), as the SDKs write span timestamps.
pub(super) fn isoformat(ns: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).ok()?;
    // u64 ns end in year 2554: four digits.
    let year = u32::try_from(t.year()).ok()?;
    let mut out = String::with_capacity(32);
    digits(&mut out, year, 4);
    for (sep, n) in [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        out.push(sep);
        digits(&mut out, u32::from(n), 2);
    }
    let micros = t.microsecond();
    if micros != 0 {
        out.push('.');
        digits(&mut out, micros, 6);
    }
    out.push_str("+00:00");
    Some(out)
}

/// The last `width` decimal digits of `n`, zero-padded.
fn digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = n / 10u32.pow(place) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Whether `text` is one JSON document that [`serde_json::Value`] accepts, without building the
/// `Value`: the same deserializer visits the same tokens (strings decoded and checked, numbers
/// parsed and range-checked as a `Value` would), only nothing is kept.
pub(super) fn is_json(text: &str) -> bool {
    serde_json::from_str::<JsonCheck>(text).is_ok()
}

/// A JSON value read and dropped as it is read.
struct JsonCheck;

impl<'de> Deserialize<'de> for JsonCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = JsonCheck;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_i64<E>(self, _: i64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_u64<E>(self, _: u64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_str<E>(self, _: &str) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_unit<E>(self) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_none<E>(self) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsonCheck, D::Error> {
        JsonCheck::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonCheck, A::Error> {
        while seq.next_element::<JsonCheck>()?.is_some() {}
        Ok(JsonCheck)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonCheck, A::Error> {
        // Keys are strings (decoded and checked as the `Value`'s keys are).
        while map.next_key::<KeyCheck>()?.is_some() {
            map.next_value::<JsonCheck>()?;
        }
        Ok(JsonCheck)
    }
}

/// An object key, read as a string and dropped.
struct KeyCheck;

impl<'de> Deserialize<'de> for KeyCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyCheck;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, _: &str) -> Result<KeyCheck, E> {
                Ok(KeyCheck)
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_as_the_sdks_write_them() {
        assert_eq!(
            hyphenated(&[
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
                0x32, 0x10
            ]),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            span_id_text(&[0xab; 8]),
            "00000000-0000-0000-abab-abababababab"
        );
        assert_eq!(
            isoformat(1_000_000_123).as_deref(),
            Some("1970-01-01T00:00:01+00:00")
        );
        assert_eq!(
            isoformat(1_764_000_000_123_456_789).as_deref(),
            Some("2025-11-24T16:00:00.123456+00:00")
        );
        assert_eq!(
            isoformat(u64::MAX).as_deref(),
            Some("2554-07-21T23:34:33.709551+00:00")
        );
        assert_eq!(
            isoformat(1_000_000_001_000).as_deref(),
            Some("1970-01-01T00:16:40.000001+00:00")
        );
    }

    /// Exactly the documents `serde_json::Value` accepts, also where skipping a value would
    /// accept more (a lone surrogate escape, a number out of range).
    #[test]
    fn json_check_agrees_with_value() {
        for text in [
            r#"{"a":[1,2.5,-3e2,true,null,"x\"y"],"b":{}}"#,
            "\"plain\"",
            "12",
            " [ ] ",
            r#"{"a":1}x"#,
            r#"{"a":"\ud800"}"#,
            r#""\ud83d\ude00""#,
            "1e400",
            "-1e999",
            "[1,]",
            "{\"a\":\"tab\there\"}",
            r#"{"a" 1}"#,
            "",
            "nul",
            r#"{"a":1,"a":2}"#,
            &"[".repeat(200),
            &format!("{}{}", "[".repeat(100), "]".repeat(100)),
        ] {
            let value = serde_json::from_str::<serde_json::Value>(text).is_ok();
            assert_eq!(is_json(text), value, "{text:?}");
        }
    }
}
