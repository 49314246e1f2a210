//! Payload budgets: cutting a JSON document down to a byte budget while keeping it valid JSON.
//!
//! The cut is made on the document's text in one pass, never by parsing it into a `Value` first,
//! so a 50 MB input costs one scan of at most `budget` bytes of output and no tree: items are
//! copied whole while they fit, then the item that does not fit is dropped (or, when it is a
//! string, cut on a UTF-8 and escape boundary), a marker saying how many bytes were cut takes its
//! place, and the open arrays and objects are closed.

mod marker;
mod walker;

use serde_json::Value;

use marker::MARKER_MAX;
pub(crate) use marker::{MIN_TARGET, marker};
use walker::Walker;

/// `doc` (JSON text) cut to at most `budget` bytes (at least [`MIN_TARGET`]), still valid JSON,
/// with a marker where content was removed. Text that is not JSON is kept as a JSON string, cut
/// the same way.
pub(crate) fn truncate_json(doc: &str, budget: usize) -> String {
    let budget = budget.max(MIN_TARGET);
    if doc.len() <= budget {
        return doc.to_owned();
    }
    match Walker::new(doc, budget).run() {
        Some(out) => out,
        None => truncate_as_string(doc, budget),
    }
}

/// An upper bound of the length of `v` serialized as compact JSON (exact except for floats,
/// counted as 24 bytes, and control characters, counted as `\u00XX`).
pub(crate) fn json_len_bound(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(b) => 4 + usize::from(!*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                digits(u)
            } else if let Some(i) = n.as_i64() {
                1 + digits(i.unsigned_abs())
            } else {
                24
            }
        }
        Value::String(s) => str_len_bound(s),
        Value::Array(a) => {
            2 + a.len().saturating_sub(1) + a.iter().map(json_len_bound).sum::<usize>()
        }
        Value::Object(m) => {
            2 + m.len().saturating_sub(1)
                + m.iter()
                    .map(|(k, v)| str_len_bound(k) + 1 + json_len_bound(v))
                    .sum::<usize>()
        }
    }
}

fn digits(mut u: u64) -> usize {
    let mut n = 1;
    while u >= 10 {
        u /= 10;
        n += 1;
    }
    n
}

fn str_len_bound(s: &str) -> usize {
    2 + s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// `v` cut to `budget` bytes of JSON when it is larger; returns whether it was cut.
pub(crate) fn truncate_value(v: &mut Value, budget: usize) -> bool {
    if json_len_bound(v) <= budget {
        return false;
    }
    let Ok(text) = serde_json::to_string(v) else {
        return false;
    };
    if text.len() <= budget {
        return false;
    }
    let cut = truncate_json(&text, budget);
    *v = serde_json::from_str(&cut).unwrap_or(Value::String(cut));
    true
}

/// Text that is not JSON, kept as a JSON string of at most `budget` bytes.
fn truncate_as_string(text: &str, budget: usize) -> String {
    let mut out = String::with_capacity(budget.min(text.len() + 2));
    out.push('"');
    let mut consumed = 0;
    let mut buf = [0u8; 4];
    for (i, c) in text.char_indices() {
        let piece: std::borrow::Cow<'_, str> = match c {
            '"' => "\\\"".into(),
            '\\' => "\\\\".into(),
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32).into(),
            c => (*c.encode_utf8(&mut buf)).to_owned().into(),
        };
        if out.len() + piece.len() + MARKER_MAX + 1 > budget {
            break;
        }
        out.push_str(&piece);
        consumed = i + c.len_utf8();
    }
    if consumed < text.len() {
        out.push_str(&marker(text.len() - consumed));
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
    }

    #[test]
    fn small_documents_are_kept() {
        let doc = r#"{"a":[1,2,3],"b":"x"}"#;
        assert_eq!(truncate_json(doc, 1024), doc);
    }

    #[test]
    fn long_string_is_cut_inside_with_the_count() {
        let doc = format!(r#"{{"text":"{}"}}"#, "ab ".repeat(10_000));
        let out = truncate_json(&doc, 2000);
        assert!(out.len() <= 2000, "{}", out.len());
        let v = parse(&out);
        let text = v["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("ab ab "));
        let cut: usize = text
            .rsplit("[staso: ")
            .next()
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // Kept text + cut bytes = the original string content (the closing `"}` is cut too).
        let kept = text.find('…').unwrap_or(0);
        assert_eq!(kept + cut, "ab ".repeat(10_000).len() + 2);
        // Cut before a word, not inside one.
        assert!(text[..kept].ends_with(' '), "{}", &text[kept - 5..kept]);
    }

    #[test]
    fn arrays_and_objects_drop_trailing_items() {
        let arr = format!(
            "[{}]",
            (0..10_000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let out = truncate_json(&arr, 1500);
        assert!(out.len() <= 1500);
        let v = parse(&out);
        let items = v.as_array().cloned().unwrap_or_default();
        assert_eq!(items[0], 0);
        assert_eq!(items[100], 100);
        let last = items.last().and_then(Value::as_str).unwrap_or_default();
        assert!(
            last.starts_with("…[staso: ") && last.ends_with(" bytes cut]"),
            "{last}"
        );

        let obj = format!(
            "{{{}}}",
            (0..5_000)
                .map(|i| format!("\"k{i}\":{{\"n\":[{i}]}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let out = truncate_json(&obj, 1024);
        assert!(out.len() <= 1024);
        let v = parse(&out);
        assert_eq!(v["k0"]["n"][0], 0);
        // The marker sits in the innermost object the cut happened in.
        assert!(out.contains("\"staso.truncated\":\"…[staso: "), "{out}");
    }

    #[test]
    fn nested_cut_closes_every_container() {
        let doc = format!("{{\"a\":[[{{\"b\":\"{}\"}}]],\"c\":1}}", "z".repeat(5000));
        let out = truncate_json(&doc, 1024);
        assert!(out.len() <= 1024);
        let v = parse(&out);
        assert!(
            v["a"][0][0]["b"]
                .as_str()
                .is_some_and(|s| s.contains("bytes cut"))
        );
        assert!(v.get("c").is_none());
    }

    #[test]
    fn multibyte_characters_and_escapes_are_never_split() {
        for filler in [
            "é",
            "日本",
            "🦀",
            "\\n",
            "\\u00e9",
            "\\ud83e\\udd80",
            "\\\"",
        ] {
            for budget in 1024..1100 {
                let doc = format!("[\"{}\"]", filler.repeat(2000));
                let out = truncate_json(&doc, budget);
                assert!(out.len() <= budget);
                let v = parse(&out);
                assert!(v[0].as_str().is_some_and(|s| s.contains("bytes cut")));
            }
        }
    }

    #[test]
    fn card_digits_are_not_left_half_cut() {
        let doc = format!("\"{}4111 1111 1111 1111 tail\"", "x ".repeat(480));
        for budget in 1024..1060 {
            let out = truncate_json(&doc, budget);
            let kept = parse(&out).as_str().unwrap_or_default().to_owned();
            let kept = &kept[..kept.find('…').unwrap_or(0)];
            assert!(!kept.contains("4111"), "{budget}: {kept}");
        }
    }

    #[test]
    fn not_json_becomes_a_cut_string() {
        let out = truncate_json(&format!("not json {}", "\"q\" ".repeat(1000)), 1024);
        assert!(out.len() <= 1024);
        assert!(
            parse(&out)
                .as_str()
                .is_some_and(|s| s.starts_with("not json \"q\""))
        );
    }

    #[test]
    fn value_bound_is_an_upper_bound() {
        let v = parse(r#"{"a":[1,-20,3.5,true,false,null,"q\"\\\n"],"é":{"x":""}}"#);
        let exact = serde_json::to_string(&v).unwrap_or_default().len();
        assert!(json_len_bound(&v) >= exact);
        assert!(json_len_bound(&v) <= exact + 40);
        let mut big = Value::String("y".repeat(5000));
        assert!(truncate_value(&mut big, 1024));
        assert!(serde_json::to_string(&big).unwrap_or_default().len() <= 1024);
        let mut small = Value::from(vec![1, 2, 3]);
        assert!(!truncate_value(&mut small, 1024));
    }
}
