//! Annotations: scores, labels and flags attached to a trace or one of its spans after the fact
//! (PROTOCOL.md §5).
//!
//! [`annotate`](crate::annotate) and [`Annotation::send`] validate at the call and hand the annotation to the
//! client's delivery worker, the thread that also sends spans (`exporters/staso/annotations.rs`). They
//! never block and never do I/O, so they are safe in sync and async code alike. The worker posts
//! each annotation to `POST {base_url}/v1/traces/{trace_id}/annotations` with the retry policy of
//! ingest, and counts it in [`DeliveryReport::annotations`](crate::report::DeliveryReport), so
//! `flush` and `shutdown` wait for annotations as they do for spans.
//!
//! Differences from the official SDK, which posts synchronously, once, from the caller's thread:
//! - delivery is in the background with retries, and covered by `flush`/`shutdown`;
//! - the value is typed ([`AnnotationValue`]), so `data_type` always matches it;
//! - validation (name, trace id, finite number) happens even without a client;
//! - a disabled client (`enabled(false)`) sends nothing (it has no transport): the annotation is
//!   dropped with a debug log and counted nowhere. Without any client a warning is logged, as §5.1
//!   says.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use staso_wire::annotation::AnnotationRequest;

/// The wire `data_type` of an annotation, decided by its [`AnnotationValue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnotationDataType {
    /// A number (`"numeric"`).
    Numeric,
    /// A label (`"categorical"`).
    Categorical,
    /// A flag (`"boolean"`).
    Boolean,
}

impl AnnotationDataType {
    /// The wire string: `"numeric"`, `"categorical"` or `"boolean"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AnnotationDataType::Numeric => "numeric",
            AnnotationDataType::Categorical => "categorical",
            AnnotationDataType::Boolean => "boolean",
        }
    }
}

impl fmt::Display for AnnotationDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of an annotation; its variant decides the wire `data_type`.
///
/// Built with `From` from the natural Rust types: numbers become [`Numeric`](Self::Numeric),
/// strings [`Categorical`](Self::Categorical), `bool` [`Boolean`](Self::Boolean).
///
/// ```
/// use staso_core::{AnnotationDataType, AnnotationValue};
///
/// assert_eq!(AnnotationValue::from(0.9), AnnotationValue::Numeric(0.9));
/// assert_eq!(AnnotationValue::from(3_u64).data_type(), AnnotationDataType::Numeric);
/// assert_eq!(AnnotationValue::from("good").data_type(), AnnotationDataType::Categorical);
/// assert_eq!(AnnotationValue::from(true).data_type(), AnnotationDataType::Boolean);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AnnotationValue {
    /// `data_type: "numeric"`. Must be finite when sent.
    Numeric(f64),
    /// `data_type: "categorical"`.
    Categorical(String),
    /// `data_type: "boolean"`.
    Boolean(bool),
}

impl AnnotationValue {
    /// The wire `data_type` of this value.
    pub const fn data_type(&self) -> AnnotationDataType {
        match self {
            AnnotationValue::Numeric(_) => AnnotationDataType::Numeric,
            AnnotationValue::Categorical(_) => AnnotationDataType::Categorical,
            AnnotationValue::Boolean(_) => AnnotationDataType::Boolean,
        }
    }

    /// The wire `value`: a JSON number, string or bool. A non-finite number becomes `null`
    /// (sending one is refused at the call, see [`AnnotationError::NonFiniteValue`]).
    pub fn to_json(&self) -> Value {
        match self {
            AnnotationValue::Numeric(v) => serde_json::Number::from_f64(*v)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            AnnotationValue::Categorical(s) => Value::String(s.clone()),
            AnnotationValue::Boolean(b) => Value::Bool(*b),
        }
    }
}

macro_rules! numeric_from_lossless {
    ($($t:ty),*) => { $(impl From<$t> for AnnotationValue {
        fn from(v: $t) -> Self { AnnotationValue::Numeric(f64::from(v)) }
    })* };
}
numeric_from_lossless!(f64, f32, i8, i16, i32, u8, u16, u32);

macro_rules! numeric_from_wide {
    ($($t:ty),*) => { $(impl From<$t> for AnnotationValue {
        /// Converted to the nearest `f64` (exact up to 2^53 in magnitude): the wire value is a
        /// JSON number, which the service reads as a double.
        fn from(v: $t) -> Self { AnnotationValue::Numeric(v as f64) }
    })* };
}
numeric_from_wide!(i64, u64, isize, usize);

impl From<bool> for AnnotationValue {
    fn from(v: bool) -> Self {
        AnnotationValue::Boolean(v)
    }
}

impl From<&str> for AnnotationValue {
    fn from(v: &str) -> Self {
        AnnotationValue::Categorical(v.to_owned())
    }
}

impl From<&String> for AnnotationValue {
    fn from(v: &String) -> Self {
        AnnotationValue::Categorical(v.clone())
    }
}

impl From<String> for AnnotationValue {
    fn from(v: String) -> Self {
        AnnotationValue::Categorical(v)
    }
}

impl From<Cow<'_, str>> for AnnotationValue {
    fn from(v: Cow<'_, str>) -> Self {
        AnnotationValue::Categorical(v.into_owned())
    }
}

/// Why an annotation call was refused. Delivery problems are never errors of the call (they are
/// logged and counted in the [`DeliveryReport`](crate::report::DeliveryReport)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// The annotation name is empty.
    #[error("annotation name must not be empty")]
    EmptyName,
    /// The trace id is empty.
    #[error("annotation {name:?}: trace_id must not be empty")]
    EmptyTraceId {
        /// The annotation's name.
        name: String,
    },
    /// A numeric value is NaN or infinite, which JSON cannot carry.
    #[error("annotation {name:?}: numeric value must be finite, got {value}")]
    NonFiniteValue {
        /// The annotation's name.
        name: String,
        /// The value, as text (`NaN`, `inf`, `-inf`).
        value: String,
    },
}

/// One annotation of a trace, or of one span of it.
///
/// Build it with [`Annotation::new`], add a span id or a comment, and [`send`](Self::send) it;
/// [`annotate`](crate::annotate) is the short form without them.
///
/// ```no_run
/// use staso_core::Annotation;
///
/// # fn ids() -> (String, String) { Default::default() }
/// let (trace_id, span_id) = ids();
/// Annotation::new(&trace_id, "helpfulness", 0.9)
///     .span_id(&span_id)
///     .comment("reviewed by QA")
///     .send()?;
/// Annotation::new(&trace_id, "resolved", true).send()?;
/// # Ok::<(), staso_core::AnnotationError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// The annotated trace (8-4-4-4-12 for traces of this SDK; any non-empty id is accepted).
    pub trace_id: String,
    /// The annotated span; `None` annotates the whole trace.
    pub span_id: Option<String>,
    /// Annotation name (non-empty).
    pub name: String,
    /// Value; decides the `data_type`.
    pub value: AnnotationValue,
    /// Optional free-text comment.
    pub comment: Option<String>,
}

impl Annotation {
    /// A trace-scoped annotation without a comment.
    pub fn new(
        trace_id: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<AnnotationValue>,
    ) -> Self {
        Annotation {
            trace_id: trace_id.into(),
            span_id: None,
            name: name.into(),
            value: value.into(),
            comment: None,
        }
    }

    /// Scopes the annotation to one span of the trace. An empty id leaves it trace-scoped.
    #[must_use]
    pub fn span_id(mut self, span_id: impl Into<String>) -> Self {
        self.span_id = Some(span_id.into());
        self
    }

    /// Adds a comment. An empty comment is not sent.
    #[must_use]
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// The wire `data_type` (from the value).
    pub fn data_type(&self) -> AnnotationDataType {
        self.value.data_type()
    }

    /// Checks what [`send`](Self::send) checks: a non-empty name and trace id, a finite number.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), AnnotationError> {
        if self.name.is_empty() {
            return Err(AnnotationError::EmptyName);
        }
        if self.trace_id.is_empty() {
            return Err(AnnotationError::EmptyTraceId {
                name: self.name.clone(),
            });
        }
        if let AnnotationValue::Numeric(v) = self.value
            && !v.is_finite()
        {
            return Err(AnnotationError::NonFiniteValue {
                name: self.name.clone(),
                value: v.to_string(),
            });
        }
        Ok(())
    }

    /// The JSON body of `POST /v1/traces/{trace_id}/annotations`: `name`, `value`, `data_type`,
    /// and `span_id`/`comment` only when non-empty (§5.3).
    pub fn to_request(&self) -> AnnotationRequest {
        let non_empty = |s: &Option<String>| s.as_ref().filter(|s| !s.is_empty()).cloned();
        AnnotationRequest {
            name: self.name.clone(),
            value: self.value.to_json(),
            data_type: self.data_type().as_str().to_owned(),
            span_id: non_empty(&self.span_id),
            comment: non_empty(&self.comment),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_span_and_comment_only_when_non_empty() {
        let a = Annotation::new("t", "q", 0.5);
        let body = serde_json::to_value(a.to_request()).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({"name": "q", "value": 0.5, "data_type": "numeric"})
        );
        let a = Annotation::new("t", "ok", true).span_id("").comment("");
        let body = serde_json::to_value(a.to_request()).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({"name": "ok", "value": true, "data_type": "boolean"})
        );
        let a = Annotation::new("t", "label", "good")
            .span_id("s1")
            .comment("c");
        let body = serde_json::to_value(a.to_request()).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({"name": "label", "value": "good", "data_type": "categorical",
                               "span_id": "s1", "comment": "c"})
        );
    }

    #[test]
    fn validation_rules() {
        assert_eq!(
            Annotation::new("t", "", 1).validate(),
            Err(AnnotationError::EmptyName)
        );
        assert!(matches!(
            Annotation::new("", "n", 1).validate(),
            Err(AnnotationError::EmptyTraceId { .. })
        ));
        assert!(matches!(
            Annotation::new("t", "n", f64::NAN).validate(),
            Err(AnnotationError::NonFiniteValue { .. })
        ));
        assert!(matches!(
            Annotation::new("t", "n", f64::NEG_INFINITY).validate(),
            Err(AnnotationError::NonFiniteValue { .. })
        ));
        assert_eq!(Annotation::new("t", "n", u64::MAX).validate(), Ok(()));
    }

    #[test]
    fn numbers_of_every_width_are_numeric() {
        assert_eq!(AnnotationValue::from(7_i64), AnnotationValue::Numeric(7.0));
        assert_eq!(
            AnnotationValue::from(7_usize),
            AnnotationValue::Numeric(7.0)
        );
        assert_eq!(
            AnnotationValue::from(-2_isize),
            AnnotationValue::Numeric(-2.0)
        );
        assert_eq!(
            AnnotationValue::from(1.5_f32),
            AnnotationValue::Numeric(1.5)
        );
        assert_eq!(
            AnnotationValue::from(Cow::Borrowed("x")),
            AnnotationValue::Categorical("x".into())
        );
        assert_eq!(AnnotationDataType::Categorical.to_string(), "categorical");
    }
}
