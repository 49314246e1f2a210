//! The wire's `input`, `output` and `attributes` are JSON documents embedded as strings. The official
//! SDK may put bare `NaN`/`Infinity` tokens inside them (PROTOCOL.md §9.1 item 8), which is not JSON;
//! reading them back turns those tokens into `null` rather than losing the whole document.

use serde_json::Value;

/// Parses an embedded document: `""` is `null`; invalid JSON that is valid once non-finite number
/// tokens become `null` is read that way; anything else is returned as the raw string.
pub fn parse(s: &str) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    if let Ok(v) = serde_json::from_str(s) {
        return v;
    }
    serde_json::from_str(&null_out_non_finite(s)).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// Replaces the tokens `NaN`, `Infinity` and `-Infinity` outside string literals by `null`.
fn null_out_non_finite(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.push_str("null");
            rest = &rest[t.len()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_python_non_finite_tokens_as_null() {
        assert_eq!(parse(""), Value::Null);
        assert_eq!(parse("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(
            parse("{\"a\": NaN, \"b\": [-Infinity, \"NaN\"]}"),
            json!({"a": null, "b": [null, "NaN"]})
        );
        assert_eq!(parse("not json"), json!("not json"));
    }
}
