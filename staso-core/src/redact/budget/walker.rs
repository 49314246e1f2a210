//! The one-pass cut of a JSON document's text ([`Walker`]): items copied whole while they fit,
//! the first that does not fit dropped or (a string) cut on a character, escape and word boundary,
//! a marker in its place, the open containers closed.

use super::marker::{MARKER_KEY, MARKER_MAX, RESERVE, marker};

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

/// One open array or object of the output.
struct Frame {
    object: bool,
    items: usize,
}

/// Copies a JSON document item by item until the budget is reached.
pub(super) struct Walker<'a> {
    text: &'a str,
    src: &'a [u8],
    pos: usize,
    out: String,
    stack: Vec<Frame>,
    budget: usize,
}

impl<'a> Walker<'a> {
    pub(super) fn new(text: &'a str, budget: usize) -> Self {
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
    pub(super) fn run(mut self) -> Option<String> {
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
