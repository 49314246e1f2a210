//! The capture step of an instrumented fn's span: the attribute's capture closure writes the
//! input arguments and metadata into a [`Capture`], only when the span records; a panicking
//! `Serialize` impl drops what it was writing, never the user's call.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::capture::CaptureBuf;
use crate::record::{CallSite, Role, SpanRecord};

/// What the capture closure of an attribute writes into: the input object and metadata.
pub struct Capture<'a> {
    input: Option<CaptureBuf>,
    record: &'a mut SpanRecord,
}

impl Capture<'_> {
    /// Whether the input is captured (capture_input on, category allowed).
    #[inline]
    pub fn wants_input(&self) -> bool {
        self.input.is_some()
    }

    /// Starts the input field `name` and returns the buffer to write its value into.
    pub fn arg(&mut self, name: &str) -> Option<&mut CaptureBuf> {
        self.input.as_mut().map(|b| b.key(name))
    }

    /// [`arg`](Self::arg) for a key the macro already wrote as JSON text with its colon
    /// (`"name":`): argument names are identifiers, which need no escaping.
    #[doc(hidden)]
    pub fn arg_json(&mut self, key: &'static str) -> Option<&mut CaptureBuf> {
        self.input.as_mut().map(|b| b.key_json(key))
    }

    /// Sets a metadata key from the attribute's `metadata = {…}`.
    pub fn meta<T: serde::Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        let v = serde_json::to_value(value).unwrap_or_else(|e| {
            serde_json::Value::String(format!(
                "<unserializable {}: {e}>",
                std::any::type_name::<T>()
            ))
        });
        self.record.set_metadata(Cow::Borrowed(key), v);
    }
}

/// The input buffer of a site that captures its input (an agent's starts with its name).
fn input_buffer(site: &'static CallSite) -> CaptureBuf {
    let mut b = CaptureBuf::new();
    if site.role == Role::Agent {
        b.key("agent_name").str_value(site.name);
    }
    b
}

/// Runs the capture closure with an input buffer and stores the finished input document.
pub(super) fn capture_input(
    site: &'static CallSite,
    record: &mut SpanRecord,
    capture: impl FnOnce(&mut Capture<'_>),
) {
    let mut cap = Capture {
        input: Some(input_buffer(site)),
        record,
    };
    // A panicking Serialize impl must not break the user's call: drop the input instead.
    let captured = catch_unwind(AssertUnwindSafe(|| {
        capture(&mut cap);
        cap.input.take()
    }));
    match captured {
        Ok(buf) => record.input = buf.and_then(CaptureBuf::finish),
        Err(_) => log::debug!(
            "staso: input capture of {} panicked; input dropped",
            site.name
        ),
    }
}

/// Runs the capture closure without an input buffer: it can only set metadata.
pub(super) fn capture_metadata(
    site: &'static CallSite,
    record: &mut SpanRecord,
    capture: impl FnOnce(&mut Capture<'_>),
) {
    let mut cap = Capture {
        input: None,
        record,
    };
    if catch_unwind(AssertUnwindSafe(|| capture(&mut cap))).is_err() {
        log::debug!("staso: metadata of {} panicked", site.name);
    }
}
