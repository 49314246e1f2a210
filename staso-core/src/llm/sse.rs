//! An incremental server-sent-events splitter (the WHATWG event-stream format: `event:` and
//! `data:` lines, an empty line ends an event). Written by hand because it must run per chunk
//! without copying whole events when the chunk holds them, and must stay bounded.

/// One event larger than this is dropped (the stream keeps flowing to the caller).
const MAX_EVENT_BYTES: usize = 4 << 20;

/// Splits a byte stream into events; only a partial line and the current event's data are kept.
///
/// ```
/// use staso_core::llm::SseParser;
/// let mut p = SseParser::default();
/// let mut seen = Vec::new();
/// p.feed(b"event: a\ndata: {\"x\"", |e, d| seen.push((e.map(str::to_owned), d.to_owned())));
/// p.feed(b":1}\n\ndata: [DONE]\n\n", |e, d| seen.push((e.map(str::to_owned), d.to_owned())));
/// assert_eq!(seen, vec![(Some("a".into()), "{\"x\":1}".into()), (None, "[DONE]".into())]);
/// ```
#[derive(Debug, Default)]
pub struct SseParser {
    /// A line not yet ended by `\n`.
    partial: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    oversized: bool,
}

impl SseParser {
    /// Feeds bytes; `on_event(event_name, data)` runs for each complete event.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_event: impl FnMut(Option<&str>, &str)) {
        if !self.partial.is_empty() {
            match memchr(bytes) {
                None => {
                    self.push_partial(bytes);
                    return;
                }
                Some(i) => {
                    self.push_partial(&bytes[..i]);
                    let line = std::mem::take(&mut self.partial);
                    self.line(&line, &mut on_event);
                    bytes = &bytes[i + 1..];
                }
            }
        }
        while let Some(i) = memchr(bytes) {
            self.line(&bytes[..i], &mut on_event);
            bytes = &bytes[i + 1..];
        }
        self.push_partial(bytes);
    }

    /// Ends the stream: a last event without its empty line is still delivered.
    pub fn finish(&mut self, mut on_event: impl FnMut(Option<&str>, &str)) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, &mut on_event);
        }
        self.line(b"", &mut on_event);
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        if self.partial.len() + bytes.len() > MAX_EVENT_BYTES {
            self.oversized = true;
            self.partial.clear();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(Option<&str>, &str)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.has_data && !self.oversized {
                let event = (!self.event.is_empty()).then_some(self.event.as_str());
                on_event(event, &self.data);
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            self.oversized = false;
            return;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() > MAX_EVENT_BYTES {
                    self.oversized = true;
                    return;
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            _ => {}
        }
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}
