//! Capturing arbitrary values without trait bounds, by autoref specialization (DESIGN.md §1).
//!
//! `(&&&Probe(&v)).staso_capture(buf)` writes `v` as JSON when it implements `Serialize`, else its
//! `Debug` text as a JSON string, else a `"<type name>"` placeholder. Method resolution picks the
//! arm at the call site's types; in a generic fn it sees only the declared bounds.
//!
//! The same trick classifies a return value: `(&&OutcomeProbe(&ret)).staso_split()` yields the
//! `Ok`/`Err` halves of a `Result` and treats anything else as a plain `Ok` value, and
//! `(&&&ErrProbe(e)).staso_error()` describes an error through `Display`, else `Debug`, else its
//! type name.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::{self, Debug, Display, Write as _};

use serde::Serialize;

use crate::{pool, thread_state};

/// An empty buffer for a capture: a recycled one when this thread has one, else a new one with
/// room for a few small arguments.
#[inline]
fn capture_buffer() -> Vec<u8> {
    thread_state::with(|s| pool::spare_buffer(&s.pool))
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(64))
}

/// A JSON object under construction, written straight into the buffer that will be sent.
#[derive(Debug, Default)]
pub struct CaptureBuf {
    buf: Vec<u8>,
    fields: usize,
}

impl CaptureBuf {
    /// An empty object buffer.
    pub fn new() -> Self {
        // A recycled buffer when this thread has one (see `pool`), else room for a few small
        // arguments, so a typical capture allocates at most once.
        CaptureBuf {
            buf: capture_buffer(),
            fields: 0,
        }
    }

    /// Starts the next field of the object: writes the separator and `"name":`.
    pub fn key(&mut self, name: &str) -> &mut Self {
        let open = if self.fields == 0 { b'{' } else { b',' };
        self.fields += 1;
        // Argument names are identifiers: no escaping needed, so skip the serializer and write
        // the key in three appends into room reserved once.
        if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let buf = &mut self.buf;
            buf.reserve(name.len() + 4);
            buf.extend_from_slice(&[open, b'"']);
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(b"\":");
        } else {
            self.buf.push(open);
            write_json_str(&mut self.buf, name);
            self.buf.push(b':');
        }
        self
    }

    /// Starts the next field with a key already written as JSON text with its colon
    /// (`"name":`); the caller vouches that it is valid JSON.
    #[doc(hidden)]
    pub fn key_json(&mut self, key: &str) -> &mut Self {
        let open = if self.fields == 0 { b'{' } else { b',' };
        self.fields += 1;
        self.buf.reserve(key.len() + 1);
        self.buf.push(open);
        self.buf.extend_from_slice(key.as_bytes());
        self
    }

    /// Writes a JSON string value.
    pub fn str_value(&mut self, s: &str) {
        write_json_str(&mut self.buf, s);
    }

    /// Writes any serializable value; on a serializer error writes a placeholder string instead.
    pub fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) {
        let mark = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut self.buf, v) {
            self.buf.truncate(mark);
            log::debug!("staso: capture of a value failed: {e}");
            let placeholder = format!("<unserializable {}: {e}>", std::any::type_name::<T>());
            write_json_str(&mut self.buf, &placeholder);
        }
    }

    /// Number of fields written.
    pub fn len(&self) -> usize {
        self.fields
    }

    /// No field was written.
    pub fn is_empty(&self) -> bool {
        self.fields == 0
    }

    /// Closes the object. `None` when it has no field (an empty input is sent as `""`).
    pub fn finish(mut self) -> Option<String> {
        if self.fields == 0 {
            return None;
        }
        self.buf.push(b'}');
        // Only JSON text and `write_json_str` output went in: valid UTF-8 by construction.
        String::from_utf8(self.buf).ok()
    }

    /// Builds `{"result": <value>}` from a value already captured by a probe.
    pub fn result(write: impl FnOnce(&mut CaptureBuf)) -> Option<String> {
        let mut b = CaptureBuf::new();
        // `b.key("result")`, written as one constant.
        b.buf.extend_from_slice(b"{\"result\":");
        b.fields = 1;
        write(&mut b);
        b.finish()
    }
}

fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly as JSON requires; writing a &str cannot fail.
    if serde_json::to_writer(&mut *buf, s).is_err() {
        buf.extend_from_slice(b"\"\"");
    }
}

/// Wraps a reference for capture.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// Arm 1: `Serialize` values become JSON.
pub trait CaptureViaSerialize {
    /// Writes the value.
    fn staso_capture(&self, out: &mut CaptureBuf);
}

impl<T: Serialize + ?Sized> CaptureViaSerialize for &&Probe<'_, T> {
    fn staso_capture(&self, out: &mut CaptureBuf) {
        out.serialize_value(self.0);
    }
}

/// Arm 2: `Debug` values become their `{:?}` text.
pub trait CaptureViaDebug {
    /// Writes the value.
    fn staso_capture(&self, out: &mut CaptureBuf);
}

impl<T: Debug + ?Sized> CaptureViaDebug for &Probe<'_, T> {
    fn staso_capture(&self, out: &mut CaptureBuf) {
        let mut s = String::new();
        if write!(s, "{:?}", self.0).is_err() {
            s = format!("<{}>", std::any::type_name::<T>());
        }
        out.str_value(&s);
    }
}

/// Arm 3: anything else becomes `"<type name>"`.
pub trait CaptureViaTypeName {
    /// Writes the placeholder.
    fn staso_capture(&self, out: &mut CaptureBuf);
}

impl<T: ?Sized> CaptureViaTypeName for Probe<'_, T> {
    fn staso_capture(&self, out: &mut CaptureBuf) {
        out.str_value(&format!("<{}>", std::any::type_name::<T>()));
    }
}

/// Wraps a return value for classification.
pub struct OutcomeProbe<'a, T: ?Sized>(pub &'a T);

/// `Result` return values: split into the Ok value and the error.
pub trait SplitResult<'a> {
    /// The Ok type.
    type Ok: ?Sized;
    /// The error type.
    type Err: ?Sized;
    /// The two halves.
    fn staso_split(&self) -> Result<&'a Self::Ok, &'a Self::Err>;
}

impl<'a, T, E> SplitResult<'a> for &OutcomeProbe<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;
    fn staso_split(&self) -> Result<&'a T, &'a E> {
        self.0.as_ref()
    }
}

/// Any other return value: always Ok.
pub trait SplitPlain<'a> {
    /// The value's type.
    type Ok: ?Sized;
    /// Never constructed.
    type Err;
    /// The value as `Ok`.
    fn staso_split(&self) -> Result<&'a Self::Ok, &'a Infallible>;
}

impl<'a, T: ?Sized> SplitPlain<'a> for OutcomeProbe<'a, T> {
    type Ok = T;
    type Err = Infallible;
    fn staso_split(&self) -> Result<&'a T, &'a Infallible> {
        Ok(self.0)
    }
}

/// A recorded error: its message and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The error's `Display` (else `Debug`, else type) text.
    pub message: String,
    /// `std::any::type_name` of the error (shortened when serialized).
    pub type_name: Cow<'static, str>,
}

/// Wraps an error for description.
pub struct ErrProbe<'a, E: ?Sized>(pub &'a E);

/// Errors with `Display`.
pub trait ErrViaDisplay {
    /// Describes the error.
    fn staso_error(&self) -> ErrorInfo;
}

impl<E: Display + ?Sized> ErrViaDisplay for &&ErrProbe<'_, E> {
    fn staso_error(&self) -> ErrorInfo {
        ErrorInfo {
            message: self.0.to_string(),
            type_name: Cow::Borrowed(std::any::type_name::<E>()),
        }
    }
}

/// Errors with only `Debug`.
pub trait ErrViaDebug {
    /// Describes the error.
    fn staso_error(&self) -> ErrorInfo;
}

impl<E: Debug + ?Sized> ErrViaDebug for &ErrProbe<'_, E> {
    fn staso_error(&self) -> ErrorInfo {
        ErrorInfo {
            message: format!("{:?}", self.0),
            type_name: Cow::Borrowed(std::any::type_name::<E>()),
        }
    }
}

/// Any other error type.
pub trait ErrViaTypeName {
    /// Describes the error.
    fn staso_error(&self) -> ErrorInfo;
}

impl<E: ?Sized> ErrViaTypeName for ErrProbe<'_, E> {
    fn staso_error(&self) -> ErrorInfo {
        let name = std::any::type_name::<E>();
        ErrorInfo {
            message: name.to_owned(),
            type_name: Cow::Borrowed(name),
        }
    }
}

/// What a finished call produced, as the span records it.
#[derive(Debug, Default)]
pub enum Outcome {
    /// Returned normally; the output JSON (`{"result": …}`) when it is captured.
    Ok(Option<String>),
    /// Returned `Err`.
    Err(ErrorInfo),
    /// Not recorded (the span does not record).
    #[default]
    Skipped,
}

/// Shortens a `std::any::type_name` by dropping module paths: `my_app::errors::PaymentError` →
/// `PaymentError`, `alloc::boxed::Box<dyn core::error::Error>` → `Box<dyn Error>`.
pub fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// Writes a panic payload as a message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

/// Python truthiness of a JSON value, which decides whether input/output is sent (§2.4).
fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

/// Serializes a manually set input/output value, `None` when it is falsy (§2.4).
pub fn document(v: &serde_json::Value) -> Option<String> {
    if truthy(v) {
        serde_json::to_string(v).ok()
    } else {
        None
    }
}

/// `value` as JSON; an unserializable value becomes a string saying so (the span keeps going).
pub(crate) fn json_value<T: Serialize + ?Sized>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| {
        serde_json::Value::String(format!(
            "<unserializable {}: {e}>",
            short_type_name(std::any::type_name::<T>())
        ))
    })
}

#[cfg(test)]
// The extra borrows select the specialization arm; they are not needless.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Query {
        q: &'static str,
    }
    #[derive(Debug)]
    struct DebugOnly {
        #[allow(dead_code)]
        x: u8,
    }
    struct Opaque;

    fn capture<F: FnOnce(&mut CaptureBuf)>(f: F) -> String {
        let mut b = CaptureBuf::new();
        b.key("v");
        f(&mut b);
        b.finish().unwrap_or_default()
    }

    #[test]
    fn picks_the_best_arm() {
        assert_eq!(
            capture(|b| (&&&Probe(&"hi")).staso_capture(b)),
            r#"{"v":"hi"}"#
        );
        assert_eq!(
            capture(|b| (&&&Probe(&Query { q: "x" })).staso_capture(b)),
            r#"{"v":{"q":"x"}}"#
        );
        assert_eq!(
            capture(|b| (&&&Probe(&DebugOnly { x: 1 })).staso_capture(b)),
            r#"{"v":"DebugOnly { x: 1 }"}"#
        );
        let s = capture(|b| (&&&Probe(&Opaque)).staso_capture(b));
        assert!(s.contains("Opaque>"), "{s}");
        assert_eq!(
            capture(|b| (&&&Probe(&f64::NAN)).staso_capture(b)),
            r#"{"v":null}"#
        );
    }

    #[test]
    fn generic_fn_sees_only_declared_bounds() {
        fn cap<T: Debug>(v: &[T]) -> String {
            capture(|b| (&&&Probe(v)).staso_capture(b))
        }
        assert_eq!(cap(&[1, 2]), r#"{"v":"[1, 2]"}"#);
    }

    #[test]
    fn serializer_errors_become_placeholders() {
        let mut m = std::collections::HashMap::new();
        m.insert((1, 2), 3);
        let s = capture(|b| (&&&Probe(&m)).staso_capture(b));
        assert!(s.starts_with(r#"{"v":"<unserializable"#), "{s}");
        assert!(serde_json::from_str::<serde_json::Value>(&s).is_ok());
    }

    #[test]
    fn results_split_and_errors_describe() {
        let r: Result<u8, std::io::Error> = Err(std::io::Error::other("disk"));
        match (&&OutcomeProbe(&r)).staso_split() {
            Ok(_) => panic!("expected Err"),
            Err(e) => {
                let info = (&&&ErrProbe(e)).staso_error();
                assert_eq!(info.message, "disk");
                assert_eq!(short_type_name(&info.type_name), "Error");
            }
        }
        let plain = 5u32;
        assert!(matches!((&&OutcomeProbe(&plain)).staso_split(), Ok(5)));
        #[derive(Debug)]
        struct E;
        assert_eq!((&&&ErrProbe(&E)).staso_error().message, "E");
    }

    #[test]
    fn short_names() {
        assert_eq!(
            short_type_name("my_app::errors::PaymentError"),
            "PaymentError"
        );
        assert_eq!(
            short_type_name("alloc::boxed::Box<dyn core::error::Error>"),
            "Box<dyn Error>"
        );
        assert_eq!(short_type_name("&str"), "&str");
    }

    #[test]
    fn keys_are_escaped_when_needed() {
        let mut b = CaptureBuf::new();
        b.key("plain_1").str_value("x");
        b.key("we\"ird").str_value("y");
        assert_eq!(
            b.finish().as_deref(),
            Some(r#"{"plain_1":"x","we\"ird":"y"}"#)
        );
    }

    #[test]
    fn empty_object_is_none() {
        assert_eq!(CaptureBuf::new().finish(), None);
    }
}
