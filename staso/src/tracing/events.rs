//! `tracing` events kept on a span: each a small JSON object (level, target, message, fields,
//! time), at most `max_events` per span, the rest counted.
//!
//! A bridged span keeps its list beside it and writes it once, when it closes. A staso span the
//! bridge does not own (an instrumented fn's) can only be changed through `Span::current()`,
//! whose metadata setter replaces a key: the list is kept here, in a bounded table keyed by span
//! id, and written again after each kept event.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ::tracing::Event;
use ::tracing::field::{Field, Visit};
use serde_json::{Map, Value};

use crate::{Span, SpanId};

/// Metadata key of the kept events.
pub(crate) const EVENTS_KEY: &str = "events";
/// Metadata key of the number of events past the limit.
pub(crate) const DROPPED_KEY: &str = "events_dropped";

/// Longest text kept for a message or a field value, in bytes (longer is cut, marked with `…`).
const MAX_TEXT: usize = 1024;
/// Fields kept per event, besides the message.
const MAX_FIELDS: usize = 16;
/// Staso spans (not bridged) whose events are tracked at once; the oldest is forgotten past it.
const MAX_TRACKED_SPANS: usize = 256;

/// The events of one span.
#[derive(Default)]
pub(crate) struct EventList {
    pub(crate) kept: Vec<Value>,
    pub(crate) dropped: u64,
}

impl EventList {
    /// Whether one more event fits in `max`.
    pub(crate) fn has_room(&self, max: usize) -> bool {
        self.kept.len() < max
    }

    /// Writes the list onto a span the bridge owns (once, at its end).
    pub(crate) fn write_to(&self, span: &Span) {
        if !self.kept.is_empty() {
            span.set_metadata(EVENTS_KEY, Value::Array(self.kept.clone()));
        }
        if self.dropped > 0 {
            span.set_metadata(DROPPED_KEY, self.dropped);
        }
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Collects an event's message and fields.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    fields: Map<String, Value>,
    /// Fields past [`MAX_FIELDS`].
    skipped: usize,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => cut(s),
                other => other.to_string(),
            });
        } else if self.fields.len() < MAX_FIELDS {
            let value = match value {
                Value::String(s) => Value::String(cut(s)),
                other => other,
            };
            self.fields.insert(field.name().to_owned(), value);
        } else {
            self.skipped += 1;
        }
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// An event as kept in a span's metadata:
/// `{"level", "target", "message", "fields", "timestamp_ms"}` (no `fields` when there are none).
pub(crate) fn event_json(event: &Event<'_>) -> Value {
    let mut f = EventFields::default();
    event.record(&mut f);
    let meta = event.metadata();
    let mut obj = Map::new();
    obj.insert("level".into(), meta.level().as_str().into());
    obj.insert("target".into(), meta.target().into());
    obj.insert("message".into(), f.message.unwrap_or_default().into());
    if !f.fields.is_empty() {
        obj.insert("fields".into(), Value::Object(f.fields));
    }
    if f.skipped > 0 {
        obj.insert("fields_skipped".into(), f.skipped.into());
    }
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    obj.insert("timestamp_ms".into(), ms.into());
    Value::Object(obj)
}

/// The event lists of staso spans the bridge does not own, oldest first.
#[derive(Default)]
struct Tracked {
    lists: HashMap<SpanId, EventList>,
    order: VecDeque<SpanId>,
}

static TRACKED: Mutex<Option<Tracked>> = Mutex::new(None);

fn tracked() -> MutexGuard<'static, Option<Tracked>> {
    TRACKED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `event` on the current staso span `span` (a span owned elsewhere, changed through
/// [`Span::current`]): appends it and writes the whole list, or counts it past `max`. The dropped
/// count is written at 1, 2, 4, … drops, so a span flooded with events costs its change table a
/// few entries, not one per event (the count is then a lower bound).
pub(crate) fn keep_on_current(span: SpanId, max: usize, event: &Event<'_>) {
    let handle = Span::current();
    if !handle.is_recording() {
        return;
    }
    enum Write {
        Events(Value),
        Dropped(u64),
    }
    // Built before the lock: formatting runs user `Debug` impls, which may log themselves.
    let json = event_json(event);
    let write = {
        let mut guard = tracked();
        let t = guard.get_or_insert_with(Tracked::default);
        if !t.lists.contains_key(&span) {
            if t.order.len() >= MAX_TRACKED_SPANS
                && let Some(oldest) = t.order.pop_front()
            {
                t.lists.remove(&oldest);
            }
            t.order.push_back(span);
        }
        let list = t.lists.entry(span).or_default();
        if list.has_room(max) {
            list.kept.push(json);
            Some(Write::Events(Value::Array(list.kept.clone())))
        } else {
            list.dropped += 1;
            list.dropped
                .is_power_of_two()
                .then_some(Write::Dropped(list.dropped))
        }
    };
    match write {
        Some(Write::Events(v)) => handle.set_metadata(EVENTS_KEY, v),
        Some(Write::Dropped(n)) => handle.set_metadata(DROPPED_KEY, n),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let s = cut("é".repeat(MAX_TEXT));
        assert!(s.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(s.ends_with('…'));
        assert_eq!(cut("short".into()), "short");
    }
}
