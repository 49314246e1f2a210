//! The built-in secret scrubbers (`ConfigBuilder::scrub_secrets`): one hand-written pass over
//! each string that replaces emails, card numbers, bearer tokens, API keys and `key=…` secrets
//! with markers, plus the rule that redacts the values of fields named like a secret.
//!
//! Written by hand rather than with `regex`: the patterns are simple, one scan finds all of
//! them at once, and the crate stays free of a regex engine (it runs on the worker thread
//! either way).
//!
//! This file walks JSON values (field names, nested values, numbers that look like card
//! numbers); [`text`] scans one string for the patterns.

mod text;

use serde_json::{Map, Value};

pub(crate) use text::text;
use text::{CARD, card_number, find};

/// The value of a field whose name looks like a secret.
pub(crate) const FIELD: &str = "[REDACTED:field]";

/// Field names (lowercased, `-` read as `_`) whose values are secrets, matched as substrings.
const SECRET_FIELDS: [&str; 10] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "private_key",
    "credential",
];
/// like secrets. Returns whether anything changed.
pub(crate) fn value(v: &mut Value) -> bool {
    let mut changed = false;
    // An explicit stack: captured values can nest deeper than the thread's stack allows.
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(v) = stack.pop() {
        if let Value::Number(n) = &*v {
            if n.as_u64().is_some_and(card_number) {
                *v = Value::String(CARD.to_owned());
                changed = true;
            }
            continue;
        }
        match v {
            Value::String(s) => {
                if let Some(clean) = text(s) {
                    *s = clean;
                    changed = true;
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                if map.keys().any(|k| text(k).is_some()) {
                    *map = scrub_keys(std::mem::take(map));
                    changed = true;
                }
                for (k, field) in map.iter_mut() {
                    if redact_field(k, field) {
                        changed = true;
                    } else {
                        stack.push(field);
                    }
                }
            }
            _ => {}
        }
    }
    changed
}

/// Scrubs `v`, the value of a field named `key` (a metadata entry): redacted whole when the
/// name looks like a secret's, else scrubbed as any value. Returns whether anything changed.
pub(crate) fn entry(key: &str, v: &mut Value) -> bool {
    redact_field(key, v) || value(v)
}

/// `map` with its keys scrubbed; a key that becomes equal to an earlier one gets a ` #n` suffix
/// instead of replacing it.
fn scrub_keys(map: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let mut k = text(&k).unwrap_or(k);
        let base = k.clone();
        let mut n = 2;
        while out.contains_key(&k) {
            k = format!("{base} #{n}");
            n += 1;
        }
        out.insert(k, v);
    }
    out
}

/// Redacts `field` when `key` names a secret; returns whether it did. Nulls and empty strings
/// stay; under a name that only says `token`, numbers and booleans stay too (token counts such
/// as `time_to_first_token`).
fn redact_field(key: &str, field: &mut Value) -> bool {
    let Some(strong) = secret_field(key) else {
        return false;
    };
    let keep = match field {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == FIELD,
        Value::Number(_) | Value::Bool(_) => !strong,
        _ => false,
    };
    if keep {
        return false;
    }
    *field = Value::String(FIELD.to_owned());
    true
}

/// `Some(strong)` when `key` looks like a secret's name: `strong` unless it only contains
/// `token` (not `tokens`, `token_count` or `tokenizer`, which are about counting).
fn secret_field(key: &str) -> Option<bool> {
    let k = key.as_bytes();
    if SECRET_FIELDS.iter().any(|w| contains_name(k, w)) {
        return Some(true);
    }
    let token = contains_name(k, "token")
        && !contains_name(k, "tokens")
        && !contains_name(k, "token_count")
        && !contains_name(k, "tokenizer");
    token.then_some(false)
}

/// Whether `key` contains `word` (lowercase, `_` for a separator), ignoring ASCII case and
/// reading `-` as `_`, without allocating.
fn contains_name(key: &[u8], word: &str) -> bool {
    let w = word.as_bytes();
    let norm = |b: u8| {
        if b == b'-' {
            b'_'
        } else {
            b.to_ascii_lowercase()
        }
    };
    key.len() >= w.len()
        && key
            .windows(w.len())
            .any(|win| win.iter().zip(w).all(|(a, b)| norm(*a) == *b))
}

/// Whether an unescaped JSON document may hold something the scrubbers change (a pattern, or a
/// field name that looks like a secret). `false` means scrubbing it would change nothing, so it
/// need not be parsed. Escaped text is always looked at closely.
pub(crate) fn may_change_doc(doc: &str) -> bool {
    doc.contains('\\') || find(doc.as_bytes(), 0, 0).is_some() || has_secret_word(doc.as_bytes())
}

fn has_secret_word(b: &[u8]) -> bool {
    const WORDS: [&[u8]; 9] = [
        b"pass",
        b"secret",
        b"token",
        b"api_key",
        b"api-key",
        b"apikey",
        b"authorization",
        b"cookie",
        b"credential",
    ];
    (0..b.len()).any(|i| {
        matches!(b[i] | 0x20, b'p' | b's' | b't' | b'a' | b'c')
            && WORDS.iter().any(|w| {
                b.get(i..i + w.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(w))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::text::EMAIL;
    use super::*;
    use serde_json::json;

    fn scrub(s: &str) -> String {
        text(s).unwrap_or_else(|| s.to_owned())
    }

    #[test]
    fn emails() {
        assert_eq!(
            scrub("mail ann.lee+x@mail.example.com now"),
            "mail [REDACTED:email] now"
        );
        assert_eq!(scrub("<bob@ex.io>."), "<[REDACTED:email]>.");
        for keep in [
            "a@b",
            "user@localhost",
            "@handle",
            "x@y.c",
            "x@.com",
            "1@2.34",
        ] {
            assert_eq!(text(keep), None, "{keep}");
        }
    }

    #[test]
    fn cards_are_luhn_checked() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500 0000 0000 0004",
            "378282246310005",
            "6011111111111117",
        ] {
            assert_eq!(
                scrub(&format!("card {card}.")),
                "card [REDACTED:card].",
                "{card}"
            );
        }
        for keep in [
            // A 16-digit order id failing Luhn.
            "order 4111111111111112",
            // Epoch milliseconds, a 12-digit number, a date, a phone number.
            "at 1700000000000",
            "n 411111111111",
            "2024-01-15",
            "+1 415-555-0134",
            // Inside a longer word or number.
            "id X4111111111111111",
            "4111111111111111a",
            "41111111111111111111111",
        ] {
            assert_eq!(text(keep), None, "{keep}");
        }
        // A trailing group that does not belong to the card.
        assert_eq!(scrub("4111 1111 1111 1111 2222"), "[REDACTED:card] 2222");
    }

    #[test]
    fn bearer_tokens_and_jwts() {
        assert_eq!(
            scrub("Authorization: Bearer abc.DEF-123_xyz=="),
            "Authorization: [REDACTED:bearer_token]"
        );
        assert_eq!(scrub("bearer   0123456789"), "[REDACTED:bearer_token]");
        assert_eq!(text("the bearer of bad news"), None);
        assert_eq!(text("Bearer short"), None);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(scrub(&format!("jwt={jwt}")), "jwt=[REDACTED:jwt]");
    }

    #[test]
    fn api_keys_by_prefix() {
        for key in [
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz-0123456789",
            "sk_live_51HaBcDeFgHiJkLmN",
            "ak_live_0123456789abcdef",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "xoxb-1234567890-abcdefghij",
            "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
            "glpat-abcdefghij0123456789",
        ] {
            assert_eq!(
                scrub(&format!("use {key} here")),
                "use [REDACTED:api_key] here",
                "{key}"
            );
        }
        for keep in [
            "task-abcdefghijklmnopqrstuvwxyz012345",
            "sk-short",
            "AKIA1234",
            "ghp_short",
            "risk-assessment-for-the-whole-quarter",
            "xoxb-",
        ] {
            assert_eq!(text(keep), None, "{keep}");
        }
    }

    #[test]
    fn secrets_after_key_or_token() {
        assert_eq!(
            scrub("GET /x?api_key=0123456789abcdef0123&page=2"),
            "GET /x?api_key=[REDACTED:secret]&page=2"
        );
        assert_eq!(
            scrub("token: dGhpcyBpcyBhIHNlY3JldCB0b2tlbg=="),
            "token: [REDACTED:secret]"
        );
        assert_eq!(
            scrub("password=hunter2 ok"),
            "password=[REDACTED:secret] ok"
        );
        assert_eq!(
            scrub(r#"{"secret": "s3"}"#),
            r#"{"secret": "[REDACTED:secret]"}"#
        );
        for keep in [
            "key=value",
            "max_tokens=1024",
            "monkey: banana",
            "token=abc",
        ] {
            assert_eq!(text(keep), None, "{keep}");
        }
    }

    #[test]
    fn fields_named_like_secrets() {
        let mut v = json!({
            "user": "ann",
            "Password": "hunter2",
            "db": {"passwd": ["a"], "x-api-key": {"k": 1}, "API_KEY": "zzz"},
            "headers": [{"Authorization": "Basic abc"}, {"Set-Cookie": "sid=1"}],
            "access_token": "opaque",
            "max_tokens": 512,
            "input_tokens": "12",
            "time_to_first_token": 0.5,
            "session_secret": null,
            "client_secret": "",
        });
        assert!(value(&mut v));
        assert_eq!(
            v,
            json!({
                "user": "ann",
                "Password": FIELD,
                "db": {"passwd": FIELD, "x-api-key": FIELD, "API_KEY": FIELD},
                "headers": [{"Authorization": FIELD}, {"Set-Cookie": FIELD}],
                "access_token": FIELD,
                "max_tokens": 512,
                "input_tokens": "12",
                "time_to_first_token": 0.5,
                "session_secret": null,
                "client_secret": "",
            })
        );
        let mut clean = json!({"a": [1, "two", {"b": true}]});
        assert!(!value(&mut clean));
    }

    #[test]
    fn values_keys_and_numbers() {
        let mut v = json!({"ann@ex.com": 1, "bob@ex.com": {"card": 4111111111111111u64, "n": 4111111111111112u64}});
        assert!(value(&mut v));
        assert_eq!(
            v,
            json!({EMAIL: 1, format!("{EMAIL} #2"): {"card": CARD, "n": 4111111111111112u64}})
        );
    }

    #[test]
    fn doc_precheck_is_conservative() {
        assert!(!may_change_doc(r#"{"q":"what is the weather","n":3}"#));
        assert!(may_change_doc(r#"{"q":"mail a@b.io"}"#));
        assert!(may_change_doc(r#"{"Password":"x"}"#));
        assert!(may_change_doc(r#"{"q":"line\nbreak"}"#));
        assert!(may_change_doc("[4111111111111111]"));
    }

    #[test]
    fn non_ascii_text_around_matches() {
        assert_eq!(scrub("é ann@ex.com 日本"), "é [REDACTED:email] 日本");
        assert_eq!(
            scrub("日本sk-abcdefghijklmnopqrstuvwxyz"),
            "日本[REDACTED:api_key]"
        );
    }
}
