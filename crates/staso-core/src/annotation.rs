//! Annotations on spans: the typed value and, until the annotation transport lands (issue
//! "Annotations, Guard, Datasets"), a bounded per-client queue that keeps them (never a silent
//! no-op: they are counted and readable through `Client::pending_annotations`).

use std::sync::Mutex;

/// The value of an annotation; its variant decides the wire `data_type`.
#[derive(Clone, Debug, PartialEq)]
pub enum AnnotationValue {
    /// `data_type: "numeric"`.
    Numeric(f64),
    /// `data_type: "categorical"`.
    Categorical(String),
    /// `data_type: "boolean"`.
    Boolean(bool),
}

impl AnnotationValue {
    /// The wire `data_type` string.
    pub fn data_type(&self) -> &'static str {
        match self {
            AnnotationValue::Numeric(_) => "numeric",
            AnnotationValue::Categorical(_) => "categorical",
            AnnotationValue::Boolean(_) => "boolean",
        }
    }
}

macro_rules! numeric_from {
    ($($t:ty),*) => { $(impl From<$t> for AnnotationValue {
        fn from(v: $t) -> Self { AnnotationValue::Numeric(f64::from(v)) }
    })* };
}
numeric_from!(f64, f32, i8, i16, i32, u8, u16, u32);

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

impl From<String> for AnnotationValue {
    fn from(v: String) -> Self {
        AnnotationValue::Categorical(v)
    }
}

/// One annotation of a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// Trace id.
    pub trace_id: String,
    /// Span id.
    pub span_id: Option<String>,
    /// Annotation name (non-empty).
    pub name: String,
    /// Value.
    pub value: AnnotationValue,
    /// Optional comment.
    pub comment: Option<String>,
}

/// Most annotations a client keeps before counting the rest as dropped.
pub const MAX_PENDING_ANNOTATIONS: usize = 10_000;

/// The bounded queue of annotations waiting for delivery.
#[derive(Default)]
pub(crate) struct PendingAnnotations {
    items: Mutex<(Vec<Annotation>, u64)>,
}

impl PendingAnnotations {
    pub(crate) fn push(&self, a: Annotation) -> bool {
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.len() >= MAX_PENDING_ANNOTATIONS {
            g.1 += 1;
            if g.1.is_power_of_two() {
                log::warn!("staso: annotation queue full; {} annotations dropped", g.1);
            }
            return false;
        }
        g.0.push(a);
        true
    }

    pub(crate) fn snapshot(&self) -> Vec<Annotation> {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }
}

/// An annotation call with an empty name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation name must not be empty")]
pub struct EmptyAnnotationName;
