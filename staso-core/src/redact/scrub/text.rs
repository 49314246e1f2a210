//! The secret patterns of one string: emails, card numbers (Luhn-checked), bearer tokens, JWTs,
//! known API key prefixes and `name=value` secrets, found in one left-to-right scan.

pub(super) const EMAIL: &str = "[REDACTED:email]";
pub(super) const CARD: &str = "[REDACTED:card]";
const BEARER: &str = "[REDACTED:bearer_token]";
const API_KEY: &str = "[REDACTED:api_key]";
const JWT: &str = "[REDACTED:jwt]";
const SECRET: &str = "[REDACTED:secret]";

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
pub(super) fn find(b: &[u8], from: usize, floor: usize) -> Option<(usize, usize, &'static str)> {
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
pub(super) fn card_number(n: u64) -> bool {
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
