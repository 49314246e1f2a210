//! What happens to captured content before it leaves the process: the user's mask callback with
//! its [`MaskContext`], the built-in secret scrubbers and the payload budgets. Resolved here,
//! applied on each exporter's worker thread (`redact/`), never on the thread that made the span.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::kind::SpanKind;

/// Default per-field budget: 1 MiB of JSON per input, output or metadata value. Ordinary prompts
/// and completions (a 200k-token context is about 800 KB of text) pass untouched; anything larger
/// is almost always an accidental dump (a file, an embedding matrix, a base64 image).
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1024 * 1024;
/// Default per-span budget: 4 MiB of input, output and metadata together, so a span stays well
/// under the 16 MiB ingest body limit of `staso-server` and the common 4 MiB message limit of OTLP
/// collectors even after JSON escaping.
pub const DEFAULT_MAX_SPAN_BYTES: usize = 4 * 1024 * 1024;
/// Smallest budget accepted: below this the cut marker leaves no room for content.
pub const MIN_BUDGET_BYTES: usize = 1024;
/// Largest budget accepted (1 GiB): anything above is a typo, not a limit.
pub const MAX_BUDGET_BYTES: usize = 1024 * 1024 * 1024;

/// The mask callback: changes a captured value in place (see [`ConfigBuilder::mask`]).
///
/// [`ConfigBuilder::mask`]: super::ConfigBuilder::mask
pub type MaskFn = dyn Fn(&mut serde_json::Value, &MaskContext<'_>) + Send + Sync;

/// Which part of a span a masked value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaskField<'a> {
    /// The span's input (a fn's arguments, an LLM call's prompt).
    Input,
    /// The span's output (a fn's return value, an LLM call's completion).
    Output,
    /// One metadata value, with its key.
    Metadata {
        /// The metadata key.
        key: &'a str,
    },
    /// The error message, as a JSON string.
    Error,
}

impl MaskField<'_> {
    /// `"input"`, `"output"`, `"metadata"` or `"error"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MaskField::Input => "input",
            MaskField::Output => "output",
            MaskField::Metadata { .. } => "metadata",
            MaskField::Error => "error",
        }
    }
}

/// Where a value handed to the mask callback comes from: the span's kind and name and the field.
///
/// ```
/// use staso_core::{MaskContext, MaskField, SpanKind};
/// let ctx = MaskContext::new(SpanKind::Tool, "lookup", MaskField::Metadata { key: "email" });
/// assert_eq!(ctx.kind(), SpanKind::Tool);
/// assert_eq!(ctx.name(), "lookup");
/// assert_eq!(ctx.field().as_str(), "metadata");
/// assert_eq!(ctx.metadata_key(), Some("email"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskContext<'a> {
    kind: SpanKind,
    name: &'a str,
    field: MaskField<'a>,
}

impl<'a> MaskContext<'a> {
    /// A context (the SDK builds these; public for testing a mask function on its own).
    pub fn new(kind: SpanKind, name: &'a str, field: MaskField<'a>) -> Self {
        MaskContext { kind, name, field }
    }

    /// The span's kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The span's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The field the value comes from.
    pub fn field(&self) -> MaskField<'a> {
        self.field
    }

    /// The metadata key, when the value is a metadata value.
    pub fn metadata_key(&self) -> Option<&'a str> {
        match self.field {
            MaskField::Metadata { key } => Some(key),
            _ => None,
        }
    }
}

/// What exporters do to captured content before serializing it: the mask, the scrubbers and the
/// budgets of a [`Config`](super::Config). Part of [`ExportSettings`](super::ExportSettings).
#[derive(Clone)]
pub struct ContentPolicy {
    pub(crate) mask: Option<Arc<MaskFn>>,
    pub(crate) scrub_secrets: bool,
    pub(crate) max_field_bytes: usize,
    pub(crate) max_span_bytes: usize,
    /// When a mask panic was last logged (ms since the client started; `u64::MAX`: never), so
    /// the warning is rate-limited per client across its exporters.
    pub(crate) panic_logged: Arc<AtomicU64>,
}

impl ContentPolicy {
    /// A policy with a mask (or none), the scrubbers on or off, and these budgets (not
    /// validated: a budget below [`MIN_BUDGET_BYTES`] is raised to it).
    pub fn new(
        mask: Option<Arc<MaskFn>>,
        scrub_secrets: bool,
        max_field_bytes: usize,
        max_span_bytes: usize,
    ) -> Self {
        ContentPolicy {
            mask,
            scrub_secrets,
            max_field_bytes: max_field_bytes.max(MIN_BUDGET_BYTES),
            max_span_bytes: max_span_bytes.max(MIN_BUDGET_BYTES),
            panic_logged: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }

    /// Whether a mask callback is set.
    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// Whether the built-in scrubbers run.
    pub fn scrub_secrets(&self) -> bool {
        self.scrub_secrets
    }

    /// Bytes of JSON kept per input, output or metadata value.
    pub fn max_field_bytes(&self) -> usize {
        self.max_field_bytes
    }

    /// Bytes of JSON kept per span (input, output and metadata together).
    pub fn max_span_bytes(&self) -> usize {
        self.max_span_bytes
    }
}

impl Default for ContentPolicy {
    /// No mask, no scrubbers, the default budgets.
    fn default() -> Self {
        ContentPolicy::new(None, false, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_SPAN_BYTES)
    }
}

impl fmt::Debug for ContentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentPolicy")
            .field("mask", &self.mask.as_ref().map(|_| format_args!("<fn>")))
            .field("scrub_secrets", &self.scrub_secrets)
            .field("max_field_bytes", &self.max_field_bytes)
            .field("max_span_bytes", &self.max_span_bytes)
            .finish()
    }
}
