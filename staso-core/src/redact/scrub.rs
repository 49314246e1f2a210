//! The built-in secret scrubbers (`ConfigBuilder::scrub_secrets`): one hand-written pass over
//! each string that replaces emails, card numbers, bearer tokens, API keys and `key=…` secrets
//! with markers, plus the rule that redacts the values of fields named like a secret.
//!
//! Written by hand rather than with `regex`: the patterns are simple, one scan finds all of
//! them at once, and the crate stays free of a regex engine (it runs on the worker thread
//! either way).

use serde_json::{Map, Value};

const EMAIL: &str = "[REDACTED:email]";
const CARD: &str = "[REDACTED:card]";
const BEARER: &str = "[REDACTED:bearer_token]";
const API_KEY: &str = "[REDACTED:api_key]";
const JWT: &str = "[REDACTED:jwt]";
const SECRET: &str = "[REDACTED:secret]";
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

/// Names before `=`/`:` whose value is a secret; the first four take any value, the others one
/// of at least [`MIN_ASSIGNED_SECRET`] characters (`key=…` is too common otherwise).
const ASSIGNED_NAMES: [&str; 9] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "key",
    "token",
    "auth",
    "credential",
    "signature",
];
const MIN_ASSIGNED_SECRET: usize = 16;

/// Known API key prefixes: the key's body characters and its shortest length.
struct KeyPattern {
    prefix: &'static [u8],
    body: fn(u8) -> bool,
    min_body: usize,
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn alnum_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
fn upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

const KEY_PATTERNS: &[KeyPattern] = &[
    // OpenAI (`sk-…`, `sk-proj-…`) and Anthropic (`sk-ant-…`).
    KeyPattern {
        prefix: b"sk-",
        body: alnum_dash,
        min_body: 20,
    },
    // Stripe-style live/test keys, and Staso's.
    KeyPattern {
        prefix: b"sk_live_",
        body: alnum,
        min_body: 12,
    },
    KeyPattern {
        prefix: b"sk_test_",
        body: alnum,
        min_body: 12,
    },
    KeyPattern {
        prefix: b"rk_live_",
        body: alnum,
        min_body: 12,
    },
    KeyPattern {
        prefix: b"ak_live_",
        body: alnum,
        min_body: 12,
    },
    KeyPattern {
        prefix: b"ak_test_",
        body: alnum,
        min_body: 12,
    },
    // AWS access key ids.
    KeyPattern {
        prefix: b"AKIA",
        body: upper_alnum,
        min_body: 16,
    },
    KeyPattern {
        prefix: b"ASIA",
        body: upper_alnum,
        min_body: 16,
    },
    // GitHub.
    KeyPattern {
        prefix: b"ghp_",
        body: alnum,
        min_body: 20,
    },
    KeyPattern {
        prefix: b"gho_",
        body: alnum,
        min_body: 20,
    },
    KeyPattern {
        prefix: b"ghu_",
        body: alnum,
        min_body: 20,
    },
    KeyPattern {
        prefix: b"ghs_",
        body: alnum,
        min_body: 20,
    },
    KeyPattern {
        prefix: b"github_pat_",
        body: alnum_dash,
        min_body: 20,
    },
    // Slack.
    KeyPattern {
        prefix: b"xoxb-",
        body: alnum_dash,
        min_body: 10,
    },
    KeyPattern {
        prefix: b"xoxp-",
        body: alnum_dash,
        min_body: 10,
    },
    KeyPattern {
        prefix: b"xoxa-",
        body: alnum_dash,
        min_body: 10,
    },
    // Google API keys, GitLab, Hugging Face.
    KeyPattern {
        prefix: b"AIza",
        body: alnum_dash,
        min_body: 30,
    },
    KeyPattern {
        prefix: b"glpat-",
        body: alnum_dash,
        min_body: 20,
    },
    KeyPattern {
        prefix: b"hf_",
        body: alnum,
        min_body: 30,
    },
];

/// Scrubs every string, key and card-like number in `v`, and redacts the values of fields named
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

/// `s` with every secret pattern replaced by its marker; `None` when nothing matched.
pub(crate) fn text(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some((start, end, marker)) = find(b, from, copied) {
        let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
        // Matches start and end at ASCII bytes: always char boundaries.
        o.push_str(&s[copied..start]);
        o.push_str(marker);
        copied = end;
        from = end;
    }
    out.map(|mut o| {
        o.push_str(&s[copied..]);
        o
    })
}

/// The first match at or after `from` as `(start, end, marker)`; an email's local part may start
/// before `from` but not before `floor`.
fn find(b: &[u8], from: usize, floor: usize) -> Option<(usize, usize, &'static str)> {
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        if c == b'@' {
            if let Some((start, end)) = email_at(b, i, floor) {
                return Some((start, end, EMAIL));
            }
        } else if c.is_ascii_alphanumeric()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && let Some(hit) = token_at(b, i)
        {
            return Some(hit);
        }
        i += 1;
    }
    None
}

/// A pattern starting at the word start `i`.
fn token_at(b: &[u8], i: usize) -> Option<(usize, usize, &'static str)> {
    let c = b[i];
    if c.is_ascii_digit()
        && let Some(end) = card_at(b, i)
    {
        return Some((i, end, CARD));
    }
    if (c == b'B' || c == b'b')
        && let Some(end) = bearer_at(b, i)
    {
        return Some((i, end, BEARER));
    }
    if c == b'e'
        && let Some(end) = jwt_at(b, i)
    {
        return Some((i, end, JWT));
    }
    for p in KEY_PATTERNS {
        if p.prefix[0] == c && b[i..].starts_with(p.prefix) {
            let body = run(b, i + p.prefix.len(), p.body);
            let end = i + p.prefix.len() + body;
            if body >= p.min_body && !b.get(end).is_some_and(|x| x.is_ascii_alphanumeric()) {
                return Some((i, end, API_KEY));
            }
        }
    }
    assigned_at(b, i).map(|(start, end)| (start, end, SECRET))
}

/// Length of the run of bytes matching `ok` from `at`.
fn run(b: &[u8], at: usize, ok: impl Fn(u8) -> bool) -> usize {
    b.get(at..)
        .map_or(0, |rest| rest.iter().take_while(|x| ok(**x)).count())
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn email_at(b: &[u8], at: usize, floor: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > floor && at - start < 64 && is_local(b[start - 1]) {
        start -= 1;
    }
    while start < at && b[start] == b'.' {
        start += 1;
    }
    if start == at {
        return None;
    }
    let domain = run(b, at + 1, |x| {
        x.is_ascii_alphanumeric() || x == b'.' || x == b'-'
    });
    let mut end = at + 1 + domain.min(255);
    while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let dom = &b[at + 1..end];
    let labels_ok = !dom.is_empty() && dom.split(|x| *x == b'.').all(|l| !l.is_empty());
    let tld = dom.rsplit(|x| *x == b'.').next().unwrap_or_default();
    let dotted = dom.contains(&b'.');
    (labels_ok && dotted && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
        .then_some((start, end))
}

/// `Bearer <token>` (any case, a token of at least 8 characters).
fn bearer_at(b: &[u8], i: usize) -> Option<usize> {
    let word = b.get(i..i + 6)?;
    if !word.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let spaces = run(b, i + 6, |x| x == b' ' || x == b'\t');
    if spaces == 0 {
        return None;
    }
    let start = i + 6 + spaces;
    let token = run(b, start, |x| {
        x.is_ascii_alphanumeric() || b"-._~+/=".contains(&x)
    });
    (token >= 8).then_some(start + token)
}

/// A JSON Web Token: `eyJ…`, three base64url parts.
fn jwt_at(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let b64 = |x: u8| x.is_ascii_alphanumeric() || x == b'-' || x == b'_';
    let head = run(b, i, b64);
    if head < 10 || b.get(i + head) != Some(&b'.') {
        return None;
    }
    let body_at = i + head + 1;
    let body = run(b, body_at, b64);
    if body < 10 || b.get(body_at + body) != Some(&b'.') {
        return None;
    }
    let sig_at = body_at + body + 1;
    Some(sig_at + run(b, sig_at, b64))
}

/// A card number from the word start `i`: 13–19 digits in groups separated by single spaces or
/// dashes, starting with 2–6 (the card networks' ranges; keeps epoch-millisecond timestamps and
/// most ids out), passing the Luhn check, not followed by a letter or digit. Returns its end.
fn card_at(b: &[u8], i: usize) -> Option<usize> {
    if !(b'2'..=b'6').contains(&b[i]) {
        return None;
    }
    let mut digits = [0u8; 19];
    let mut n = 0;
    let mut j = i;
    // (end, digits so far) after each whole group.
    let mut ends: [(usize, usize); 19] = [(0, 0); 19];
    let mut groups = 0;
    'groups: loop {
        while let Some(d) = b.get(j).filter(|x| x.is_ascii_digit()) {
            if n == 19 {
                break 'groups;
            }
            digits[n] = d - b'0';
            n += 1;
            j += 1;
        }
        ends[groups] = (j, n);
        groups += 1;
        let sep = b.get(j).is_some_and(|x| *x == b' ' || *x == b'-');
        if sep && groups < 19 && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
        } else {
            break;
        }
    }
    ends[..groups].iter().rev().find_map(|&(end, count)| {
        let free = !b.get(end).is_some_and(|x| x.is_ascii_alphanumeric());
        (free && (13..=19).contains(&count) && luhn(&digits[..count])).then_some(end)
    })
}

/// Whether a JSON integer looks like a card number (the rules of [`card_at`]).
fn card_number(n: u64) -> bool {
    let s = n.to_string();
    s.len() >= 13
        && (b'2'..=b'6').contains(&s.as_bytes()[0])
        && luhn(&s.bytes().map(|d| d - b'0').collect::<Vec<_>>())
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `name=value` / `name: value` where the name ends like a secret's: the value's range.
fn assigned_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let name_len = run(b, i, |x| {
        x.is_ascii_alphanumeric() || x == b'_' || x == b'-' || x == b'.'
    })
    .min(64);
    let name = &b[i..i + name_len];
    let mut j = i + name_len;
    if matches!(b.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    j += run(b, j, |x| x == b' ').min(3);
    if !matches!(b.get(j), Some(b'=' | b':')) {
        return None;
    }
    let any_length = ASSIGNED_NAMES
        .iter()
        .position(|n| {
            name.len() >= n.len() && name[name.len() - n.len()..].eq_ignore_ascii_case(n.as_bytes())
        })
        .map(|k| k < 4)?;
    j += 1;
    j += run(b, j, |x| x == b' ').min(3);
    if matches!(b.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    let value = run(b, j, |x| {
        x.is_ascii_alphanumeric() || b"+/=_-.~%".contains(&x)
    });
    let long_enough = if any_length {
        value >= 1
    } else {
        value >= MIN_ASSIGNED_SECRET
    };
    long_enough.then_some((j, j + value))
}

#[cfg(test)]
mod tests {
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
