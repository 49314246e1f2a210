//! A hand-written JSON writer for the ingest body. It produces exactly the bytes serde_json's
//! compact serializer produces for the same values, but appends static keys and values known to
//! need no escaping (ids, timestamps, enum strings, numbers) as they are, and escapes user strings
//! a word at a time instead of a byte at a time.
//!
//! The `attributes` field is a JSON document embedded as a string. Rather than writing the
//! document and then escaping it a second time, its strings are written *twice-escaped* directly
//! (`"` becomes `\"`, a quote inside a value becomes `\\\"`): see [`Nesting::Embedded`].

use serde_json::Value;

/// How deep the writer is in string embedding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nesting {
    /// Writing the body itself.
    Body,
    /// Writing a document that is itself the content of a body string (`attributes`): every
    /// quote and escape sequence the document contains is escaped once more.
    Embedded,
}

/// Appends JSON to a byte buffer.
pub(super) struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    nesting: Nesting,
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Flags (high bit of the byte) the bytes of `w` that JSON requires escaping: control bytes,
/// `"` and `\`. Borrows in the subtractions can flag false positives, but only in bytes above a
/// true match, so the lowest flag is always exact (bytes are read little-endian).
fn special_mask(w: u64) -> u64 {
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGHS
}

/// The eight lowercase hex digits of `x`, most significant first, computed a word at a time
/// instead of a table lookup per nibble.
fn hex8(x: u32) -> [u8; 8] {
    // Spread the nibbles so that nibble i of `x` sits alone in byte i.
    let mut v = u64::from(x);
    v = (v | v << 16) & 0x0000_ffff_0000_ffff;
    v = (v | v << 8) & 0x00ff_00ff_00ff_00ff;
    v = (v | v << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in the bytes holding 10..=15 (n + 6 carries into bit 4 exactly then), which need
    // `'a' - '0' - 10` = 39 more than a digit.
    let letters = ((v + ONES * 6) >> 4) & ONES;
    (v + ONES * u64::from(b'0') + letters * 39).to_be_bytes()
}

fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// The index of the first byte at or after `i` that needs escaping, or `b.len()`.
fn next_special(b: &[u8], mut i: usize) -> usize {
    while let Some(word) = b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let m = special_mask(u64::from_le_bytes(*word));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if i >= b.len() {
        return b.len();
    }
    // Fewer than eight bytes left: read the last word of the string and shift out the bytes
    // already scanned (they may hold the special byte just escaped, whose borrows could flag
    // later bytes falsely), filling with spaces, which need no escaping.
    if let Some(last) = b.last_chunk::<8>() {
        let shift = 8 * (8 - (b.len() - i)) as u32;
        let w = (u64::from_le_bytes(*last) >> shift) | ((ONES * 0x20) << (64 - shift));
        let m = special_mask(w);
        return if m == 0 {
            b.len()
        } else {
            i + (m.trailing_zeros() / 8) as usize
        };
    }
    // A string shorter than a word.
    while let Some(&c) = b.get(i) {
        if needs_escape(c) {
            return i;
        }
        i += 1;
    }
    i
}

impl<'a> JsonWriter<'a> {
    /// A writer appending to `out` at body level.
    pub(super) fn new(out: &'a mut Vec<u8>) -> Self {
        JsonWriter {
            out,
            nesting: Nesting::Body,
        }
    }

    /// A writer for a document embedded as a string of the body (the caller writes the quotes
    /// around it at body level).
    pub(super) fn embedded(&mut self) -> JsonWriter<'_> {
        JsonWriter {
            out: self.out,
            nesting: Nesting::Embedded,
        }
    }

    /// Appends `s` as is: punctuation, static keys and text known to need no escaping. At
    /// embedded level it must not contain `"` or `\`.
    #[inline]
    pub(super) fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Appends `body` at body level, `embedded` inside an embedded document: the two forms of
    /// one static fragment, escaped ahead of time.
    #[inline]
    pub(super) fn by_level(&mut self, body: &str, embedded: &str) {
        let s = match self.nesting {
            Nesting::Body => body,
            Nesting::Embedded => embedded,
        };
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Appends JSON already written (by a writer at the same level) as is.
    #[inline]
    pub(super) fn bytes(&mut self, json: &[u8]) {
        self.out.extend_from_slice(json);
    }

    /// A quoted 8-4-4-4-12 id: lowercase hex of the 128-bit value, as `IdText` formats it,
    /// written straight into the buffer (quotes included at body level: one copy).
    pub(super) fn id(&mut self, v: u128) {
        let [a, b, c, d] = [96, 64, 32, 0].map(|shift| hex8((v >> shift) as u32));
        let mut text = [b'-'; 38];
        text[0] = b'"';
        text[37] = b'"';
        text[1..9].copy_from_slice(&a);
        text[10..14].copy_from_slice(&b[..4]);
        text[15..19].copy_from_slice(&b[4..]);
        text[20..24].copy_from_slice(&c[..4]);
        text[25..29].copy_from_slice(&c[4..]);
        text[29..37].copy_from_slice(&d);
        match self.nesting {
            Nesting::Body => self.out.extend_from_slice(&text),
            Nesting::Embedded => {
                self.quote();
                self.out.extend_from_slice(&text[1..37]);
                self.quote();
            }
        }
    }

    #[inline]
    fn quote(&mut self) {
        match self.nesting {
            Nesting::Body => self.out.push(b'"'),
            Nesting::Embedded => self.out.extend_from_slice(b"\\\""),
        }
    }

    /// A string known to need no escaping (ids, timestamps, enum strings), quoted.
    pub(super) fn plain_str(&mut self, s: &str) {
        debug_assert!(!s.bytes().any(needs_escape));
        self.quote();
        self.raw(s);
        self.quote();
    }

    /// Bytes known to need no escaping (a formatted timestamp), quoted.
    pub(super) fn plain_bytes(&mut self, b: &[u8]) {
        debug_assert!(!b.iter().copied().any(needs_escape));
        self.quote();
        self.out.extend_from_slice(b);
        self.quote();
    }

    /// A string, quoted and escaped as serde_json escapes it.
    pub(super) fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.is_empty() {
            // Most optional text fields of a span are empty: skip the scan.
            self.quote();
            self.quote();
            return;
        }
        // Enough for the common string that needs no escaping, so it never regrows mid-way.
        self.out.reserve(b.len() + 4);
        self.quote();
        let mut i = 0;
        loop {
            let j = next_special(b, i);
            self.out.extend_from_slice(&b[i..j]);
            let Some(&c) = b.get(j) else { break };
            self.escape_byte(c);
            i = j + 1;
        }
        self.quote();
    }

    /// `null` or the string.
    pub(super) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    /// serde_json's escape of one byte (short escapes where JSON has them, else `\u00XX` in
    /// lowercase hex), escaped again at embedded level.
    fn escape_byte(&mut self, c: u8) {
        let unicode;
        let once: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => {
                unicode = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 0xf)],
                ];
                &unicode
            }
        };
        match self.nesting {
            Nesting::Body => self.out.extend_from_slice(once),
            Nesting::Embedded => {
                for &e in once {
                    match e {
                        b'\\' => self.out.extend_from_slice(b"\\\\"),
                        b'"' => self.out.extend_from_slice(b"\\\""),
                        _ => self.out.push(e),
                    }
                }
            }
        }
    }

    /// An unsigned integer in decimal.
    pub(super) fn u64(&mut self, mut v: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[i..]);
    }

    /// `true` or `false`.
    pub(super) fn bool(&mut self, v: bool) {
        self.raw(if v { "true" } else { "false" });
    }

    /// `null`, `true` or `false`.
    pub(super) fn opt_bool(&mut self, v: Option<bool>) {
        match v {
            Some(v) => self.bool(v),
            None => self.raw("null"),
        }
    }

    /// A float, through serde_json so its shortest-representation formatting (and `null` for
    /// non-finite values) stays byte-identical.
    pub(super) fn f64(&mut self, v: f64) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut *self.out, &v)
    }

    /// A JSON value (metadata). Strings go through the fast escaper; numbers through serde_json,
    /// which owns their formatting.
    pub(super) fn value(&mut self, v: &Value) -> Result<(), serde_json::Error> {
        match v {
            Value::Null => self.raw("null"),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => serde_json::to_writer(&mut *self.out, n)?,
            Value::String(s) => self.str(s),
            Value::Array(items) => {
                self.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.value(item)?;
                }
                self.out.push(b']');
            }
            Value::Object(map) => {
                self.out.push(b'{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.str(k);
                    self.out.push(b':');
                    self.value(item)?;
                }
                self.out.push(b'}');
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod equivalence;

#[cfg(test)]
mod tests {
    use super::*;

    /// Random text biased towards the bytes that need escaping, placed at every offset of a word.
    fn text(rng: &mut fastrand::Rng) -> String {
        const PICKS: &[char] = &[
            '"', '\\', '/', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1f}', '\u{7f}', 'é',
            '😀', '\u{2028}', ' ', '!', '#', '[', ']', '{', '}', '<', '>',
        ];
        let len = rng.usize(0..40);
        (0..len)
            .map(|_| match rng.u8(0..4) {
                0 => PICKS[rng.usize(..PICKS.len())],
                1 => rng.char(..),
                _ => rng.alphanumeric(),
            })
            .collect()
    }

    #[test]
    fn strings_match_serde_json_at_both_levels() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut escaped_something = 0;
        for _ in 0..20_000 {
            let s = text(&mut rng);
            let expected = serde_json::to_string(&s).unwrap_or_else(|e| panic!("{e}"));
            let mut out = Vec::new();
            JsonWriter::new(&mut out).str(&s);
            assert_eq!(out, expected.as_bytes(), "{s:?}");
            if expected.len() != s.len() + 2 {
                escaped_something += 1;
            }
            // Embedded: the string inside a document that is itself a string.
            let twice = serde_json::to_string(&expected).unwrap_or_else(|e| panic!("{e}"));
            let mut out = b"\"".to_vec();
            JsonWriter::new(&mut out).embedded().str(&s);
            out.push(b'"');
            assert_eq!(out, twice.as_bytes(), "{s:?}");
        }
        assert!(escaped_something > 10_000, "{escaped_something}");
    }

    #[test]
    fn every_byte_at_every_offset_escapes_like_serde_json() {
        for c in 0..=0x7fu8 {
            for len in 1..=20 {
                for at in 0..len {
                    let mut s = "abcdefghijklmnopqrst"[..len].to_owned();
                    s.replace_range(at..=at, char::from(c).encode_utf8(&mut [0; 4]));
                    let mut out = Vec::new();
                    JsonWriter::new(&mut out).str(&s);
                    assert_eq!(Ok(out), serde_json::to_vec(&s).map_err(|e| e.to_string()));
                }
            }
        }
    }

    #[test]
    fn ids_match_id_text() {
        let mut rng = fastrand::Rng::with_seed(3);
        for v in [0, 1, u128::MAX, u128::from(u64::MAX)]
            .into_iter()
            .chain((0..1000).map(|_| rng.u128(..)))
        {
            let mut out = Vec::new();
            JsonWriter::new(&mut out).id(v);
            let expected = format!("\"{}\"", crate::ids::IdText::new(v).as_str());
            assert_eq!(out, expected.as_bytes());
        }
    }

    #[test]
    fn integers_match() {
        for v in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            JsonWriter::new(&mut out).u64(v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }
}
