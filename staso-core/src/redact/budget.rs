//! Payload budgets: cutting a JSON document down to a byte budget while keeping it valid JSON.
//!
//! The cut is made on the document's text in one pass, never by parsing it into a `Value` first,
//! so a 50 MB input costs one scan of at most `budget` bytes of output and no tree: items are
//! copied whole while they fit, then the item that does not fit is dropped (or, when it is a
//! string, cut on a UTF-8 and escape boundary), a marker saying how many bytes were cut takes its
//! place, and the open arrays and objects are closed.

use serde_json::Value;

/// The key of the entry that marks a cut inside an object.
pub(crate) const MARKER_KEY: &str = "staso.truncated";
const MARKER_HEAD: &str = "…[staso: ";
const MARKER_TAIL: &str = " bytes cut]";
/// Longest marker text (a `u64` has at most 20 digits).
const MARKER_MAX: usize = MARKER_HEAD.len() + 20 + MARKER_TAIL.len();
/// Room kept free at every step for the widest marker: `,"staso.truncated":"<marker>"`.
const RESERVE: usize = 1 + MARKER_KEY.len() + 3 + 2 + MARKER_MAX;
/// A string is cut inside only when at least this much of it can be kept.
const MIN_STRING_KEEP: usize = 16;
/// With this much room left (or an eighth of the budget, when less), a string that does not fit
/// is cut inside and a container entered; with less, the item is dropped whole.
const ENTER_MIN: usize = 1024;
/// How far ahead the end of a container is looked for (to copy it whole).
const LOOKAHEAD: usize = 64 * 1024;
/// How far a string cut may move back to end before a word (so no half token, such as the
/// first digits of a card number, is left before the marker).
const WORD_BACKOFF: usize = 256;
/// Smallest budget a cut aims for: below it only the marker would fit.
pub(crate) const MIN_TARGET: usize = 2 * RESERVE;

/// The marker text for `cut` bytes: `…[staso: 48213 bytes cut]`.
pub(crate) fn marker(cut: usize) -> String {
    format!("{MARKER_HEAD}{cut}{MARKER_TAIL}")
}

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

/// One open array or object of the output.
struct Frame {
    object: bool,
    items: usize,
}

/// Copies a JSON document item by item until the budget is reached.
struct Walker<'a> {
    text: &'a str,
    src: &'a [u8],
    pos: usize,
    out: String,
    stack: Vec<Frame>,
    budget: usize,
}

impl<'a> Walker<'a> {
    fn new(text: &'a str, budget: usize) -> Self {
        Walker {
            text,
            src: text.as_bytes(),
            pos: 0,
            out: String::with_capacity(budget),
            stack: Vec::new(),
            budget,
        }
    }

    fn ws(&mut self) {
        while self
            .src
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Whether `extra` more bytes (plus one closer per open container and the marker reserve)
    /// still fit.
    fn fits(&self, extra: usize) -> bool {
        self.out.len() + extra + self.stack.len() + RESERVE <= self.budget
    }

    /// Bytes an item with a prefix of `prefix_len` may still take.
    fn room(&self, prefix_len: usize) -> usize {
        self.budget
            .saturating_sub(self.out.len() + self.stack.len() + prefix_len + RESERVE)
    }

    /// The least room for which a string is cut inside or a container entered, rather than
    /// dropped whole.
    fn enter_min(&self) -> usize {
        (self.budget / 8).clamp(MIN_STRING_KEEP, ENTER_MIN)
    }

    /// The end of the array or object opening at `start` when it ends within `limit` bytes.
    fn container_end(&self, start: usize, limit: usize) -> Option<usize> {
        let end = self.src.len().min(start.saturating_add(limit));
        let mut depth = 0usize;
        let mut i = start;
        while i < end {
            match self.src[i] {
                b'"' => {
                    i += 1;
                    while i < end && self.src[i] != b'"' {
                        i += if self.src[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    /// `None`: the text is not JSON.
    fn run(mut self) -> Option<String> {
        self.ws();
        let mut top_done = false;
        while !top_done {
            let item_start = self.pos;
            // The item's key (objects), as raw JSON text with its quotes.
            let mut key_range = None;
            if let Some(frame) = self.stack.last() {
                let object = frame.object;
                let items = frame.items;
                let closer = if object { b'}' } else { b']' };
                if self.peek()? == closer {
                    self.pos += 1;
                    self.out.push(closer as char);
                    self.stack.pop();
                    top_done = self.stack.is_empty();
                    self.ws();
                    continue;
                }
                if items > 0 {
                    (self.peek()? == b',').then_some(())?;
                    self.pos += 1;
                    self.ws();
                }
                if object {
                    (self.peek()? == b'"').then_some(())?;
                    let key_start = self.pos;
                    self.pos = self.string_end(self.pos)?;
                    key_range = Some((key_start, self.pos));
                    self.ws();
                    (self.peek()? == b':').then_some(())?;
                    self.pos += 1;
                    self.ws();
                }
            }
            // The item's prefix as output: a comma, and for objects the key with its colon.
            let comma = self.stack.last().is_some_and(|f| f.items > 0);
            let text = self.text;
            let key = key_range.map_or("", |(a, b)| &text[a..b]);
            let prefix_len = usize::from(comma) + key.len() + usize::from(!key.is_empty());
            let value_start = self.pos;
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    // A container that fits whole is copied whole; one that does not is entered
                    // only when enough room is left to be worth it (else it is dropped, so an
                    // array of small items ends with whole items and the marker).
                    let room = self.room(prefix_len);
                    if let Some(end) = self.container_end(value_start, room.min(LOOKAHEAD)) {
                        self.emit_prefix(comma, key);
                        self.out.push_str(&self.text[value_start..end]);
                        self.pos = end;
                        top_done = self.stack.is_empty();
                        if let Some(f) = self.stack.last_mut() {
                            f.items += 1;
                        }
                        self.ws();
                        continue;
                    }
                    if !self.fits(prefix_len + 2) || room < self.enter_min() {
                        return Some(self.cut(item_start, comma, key, None));
                    }
                    self.emit_prefix(comma, key);
                    self.out.push(open as char);
                    if let Some(f) = self.stack.last_mut() {
                        f.items += 1;
                    }
                    self.stack.push(Frame {
                        object: open == b'{',
                        items: 0,
                    });
                    self.pos += 1;
                }
                b'"' => {
                    let end = self.string_end(value_start)?;
                    if !self.fits(prefix_len + end - value_start) {
                        return Some(self.cut(item_start, comma, key, Some((value_start, end))));
                    }
                    self.emit_prefix(comma, key);
                    self.out.push_str(&self.text[value_start..end]);
                    self.pos = end;
                    top_done = self.stack.is_empty();
                    if let Some(f) = self.stack.last_mut() {
                        f.items += 1;
                    }
                }
                _ => {
                    let end = self.scalar_end(value_start)?;
                    if !self.fits(prefix_len + end - value_start) {
                        return Some(self.cut(item_start, comma, key, None));
                    }
                    self.emit_prefix(comma, key);
                    self.out.push_str(&self.text[value_start..end]);
                    self.pos = end;
                    top_done = self.stack.is_empty();
                    if let Some(f) = self.stack.last_mut() {
                        f.items += 1;
                    }
                }
            }
            self.ws();
        }
        // The whole document fit after all (only whitespace was over the budget).
        Some(self.out)
    }

    fn emit_prefix(&mut self, comma: bool, key: &str) {
        if comma {
            self.out.push(',');
        }
        if !key.is_empty() {
            self.out.push_str(key);
            self.out.push(':');
        }
    }

    /// Ends the output at the item starting at `item_start` (its comma included): a string
    /// value is cut inside when enough of it fits, anything else is replaced by the marker;
    /// then every open container is closed.
    fn cut(
        mut self,
        item_start: usize,
        comma: bool,
        key: &str,
        string: Option<(usize, usize)>,
    ) -> String {
        let in_object = self.stack.last().is_some_and(|f| f.object);
        let prefix_len = usize::from(comma) + key.len() + usize::from(!key.is_empty());
        let string_cut = string.and_then(|(start, end)| {
            let room = self
                .budget
                .checked_sub(self.out.len() + self.stack.len() + prefix_len + 2 + MARKER_MAX)?;
            (room >= self.enter_min())
                .then(|| (start, string_cut_point(self.src, start + 1, end - 1, room)))
        });
        match string_cut {
            Some((start, at)) => {
                self.emit_prefix(comma, key);
                self.out.push_str(&self.text[start..at]);
                self.out.push_str(&marker(self.src.len() - at));
                self.out.push('"');
            }
            None => {
                let m = marker(self.src.len() - item_start);
                if comma {
                    self.out.push(',');
                }
                if in_object {
                    self.out.push('"');
                    self.out.push_str(MARKER_KEY);
                    self.out.push_str("\":");
                }
                self.out.push('"');
                self.out.push_str(&m);
                self.out.push('"');
            }
        }
        while let Some(f) = self.stack.pop() {
            self.out.push(if f.object { '}' } else { ']' });
        }
        self.out
    }

    /// The position after the closing quote of the string opening at `start`.
    fn string_end(&self, start: usize) -> Option<usize> {
        let mut i = start + 1;
        loop {
            match *self.src.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
    }

    /// The end of a number or literal starting at `start`.
    fn scalar_end(&self, start: usize) -> Option<usize> {
        let rest = &self.src[start..];
        for lit in [&b"true"[..], b"false", b"null"] {
            if rest.starts_with(lit) {
                return Some(start + lit.len());
            }
        }
        let n = rest
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        (n > 0 && rest[0] != b'+').then_some(start + n)
    }
}

/// Where to cut the raw string content `src[start..end]` to keep at most `room` bytes: on a
/// character and escape boundary (a surrogate pair counts as one), moved back to the end of the
/// last word when that is at most [`WORD_BACKOFF`] bytes back.
fn string_cut_point(src: &[u8], start: usize, end: usize, room: usize) -> usize {
    let limit = start.saturating_add(room).min(end);
    let mut i = start;
    // The last boundary whose preceding unit is not part of a word.
    let mut word_end = start;
    let mut prev_digit = false;
    while i < end {
        let b = src[i];
        let unit = if b == b'\\' {
            match src.get(i + 1) {
                Some(b'u') => {
                    let high = src
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                        .is_some_and(|v| (0xD800..0xDC00).contains(&v));
                    if high && src.get(i + 6..i + 8) == Some(b"\\u") {
                        12
                    } else {
                        6
                    }
                }
                _ => 2,
            }
        } else {
            utf8_len(b)
        };
        if i + unit > limit {
            break;
        }
        let word = unit == 1 && (is_word_byte(b) || (b == b' ' && prev_digit));
        prev_digit = unit == 1 && b.is_ascii_digit();
        i += unit;
        if !word {
            word_end = i;
        }
    }
    if i - word_end <= WORD_BACKOFF {
        word_end
    } else {
        i
    }
}

/// Bytes that make up words, emails, keys and numbers: a cut does not end inside a run of them.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"@._%+-/=:~".contains(&b)
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
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
