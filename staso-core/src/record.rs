//! `SpanRecord`: a finished (or provisional) span as handed to the exporter.
//!
//! The record holds typed fields and `'static` references; turning it into wire JSON (ids to
//! strings, attributes map, capture policy) happens later, on the worker thread (see `serialize`).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use crate::time::Tick;

use crate::ids::{SpanId, TraceId};
use crate::kind::{SpanKind, SpanStatus};
use crate::shared_str::SharedStr;

/// Capture buffers above this capacity are not kept for reuse (bounds the record pool's memory).
pub(crate) const MAX_SPARE_BUFFER: usize = 512;

/// Which attribute produced a span; decides `tool_name`, the input's `agent_name` key and agent
/// propagation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `#[staso::agent]`.
    Agent,
    /// `#[staso::tool]`.
    Tool,
    /// `#[staso::trace]`.
    Trace,
}

/// What sampling decided for a record's trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SampleState {
    /// Sent (the default, and every trace when sampling is off).
    #[default]
    Kept,
    /// Dropped by head sampling; tail rules decide when the root ends (the delivery side holds
    /// the trace's spans until then).
    Held,
    /// Dropped by head sampling: only the root has a record, which is counted and never sent.
    Dropped,
}

/// The static description of one instrumented fn, built by the attribute macro as a `static`.
#[derive(Debug)]
pub struct CallSite {
    /// Span name (`name = "…"` or the fn name).
    pub name: &'static str,
    /// Span kind.
    pub kind: SpanKind,
    /// Which attribute.
    pub role: Role,
    /// `tags = […]`.
    pub tags: &'static [&'static str],
    /// The fn's name (`code.function`).
    pub function: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// Line of the fn item's first attribute or `fn` keyword.
    pub line: u32,
    /// `env!("CARGO_MANIFEST_DIR")` of the crate that holds the fn.
    pub manifest_dir: &'static str,
    /// `capture_input = …`.
    pub capture_input: bool,
    /// `capture_output = …`.
    pub capture_output: bool,
    /// Absolute form of `file`, computed once, off the hot path.
    pub abs_file: OnceLock<String>,
}

impl CallSite {
    /// `code.filepath`: `file!()` made absolute when it is relative (decision 8). `file!()` is
    /// relative to the workspace root, which is the manifest dir or one of its ancestors: the
    /// first ancestor under which the file exists wins, else the manifest dir.
    pub fn filepath(&self) -> &str {
        self.abs_file.get_or_init(|| {
            let file = std::path::Path::new(self.file);
            if file.is_absolute() || self.manifest_dir.is_empty() {
                return self.file.to_owned();
            }
            let manifest = std::path::Path::new(self.manifest_dir);
            manifest
                .ancestors()
                .map(|dir| dir.join(file))
                .find(|p| p.exists())
                .unwrap_or_else(|| manifest.join(file))
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// A span as the exporter receives it.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id; `None` for roots.
    pub parent_span_id: Option<SpanId>,
    /// Name.
    pub name: Cow<'static, str>,
    /// Kind.
    pub kind: SpanKind,
    /// Start, on the monotonic clock (converted to wall clock at serialization).
    pub start: Tick,
    /// Elapsed time (zero for provisional snapshots).
    pub duration: Duration,
    /// Status.
    pub status: SpanStatus,
    /// Resolved model.
    pub model: String,
    /// Provider.
    pub provider: String,
    /// First non-empty model set.
    pub requested_model: String,
    /// Whether the provider returned usage (`None` → the kind's default).
    pub usage_available: Option<bool>,
    /// Reasoning effort.
    pub reasoning_effort: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Total tokens.
    pub total_tokens: u64,
    /// Input JSON document, already gated by the capture policy.
    pub input: Option<String>,
    /// The input was filtered per capture category by whoever set it (an LLM call's prompt,
    /// gated by `request`; PROTOCOL.md §2.5's "FilteredLLMInput"): sent without the kind's rule
    /// (`llm` input otherwise needs every category on).
    pub input_prefiltered: bool,
    /// Output JSON document, already gated by the capture policy.
    pub output: Option<String>,
    /// Metadata set at runtime (attribute `metadata = {…}` values, then `set_metadata` calls).
    pub metadata: Vec<(Cow<'static, str>, serde_json::Value)>,
    /// Tags added at runtime (`add_tag`, `LlmCall::tags`), sent after the attribute's own.
    pub tags: Vec<String>,
    /// Error message (sent only when every capture category is on).
    pub error_message: Option<String>,
    /// Type name of the recorded error or panic (`exception.type`).
    pub exception_type: Option<Cow<'static, str>>,
    /// Conversation id; `None` → the client's default session id.
    pub session_id: Option<SharedStr>,
    /// Agent name; `None` → the configured agent name.
    pub agent_name: Option<SharedStr>,
    /// User id; `None` → `""`.
    pub user_id: Option<SharedStr>,
    /// A provisional root snapshot (PROTOCOL.md §2.6).
    pub provisional: bool,
    /// What sampling decided for the trace.
    pub sample: SampleState,
    /// The attribute call site, for `code.*`, `tool_name` and tags.
    pub site: Option<&'static CallSite>,
    /// The wire span id when it is not the 64-bit form of `span_id`: guard decision spans carry a
    /// full UUIDv5 (PROTOCOL.md §2.2, §6.6). `span_id` then holds its low 64 bits.
    pub wire_span_id: Option<String>,
}

impl SpanRecord {
    /// A fresh record with the given identity; everything else at its default.
    pub fn new(
        trace_id: TraceId,
        span_id: SpanId,
        parent_span_id: Option<SpanId>,
        name: Cow<'static, str>,
        kind: SpanKind,
        start: Tick,
    ) -> Self {
        SpanRecord {
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start,
            duration: Duration::ZERO,
            status: SpanStatus::Ok,
            model: String::new(),
            provider: String::new(),
            requested_model: String::new(),
            usage_available: None,
            reasoning_effort: String::new(),
            input_tokens: 0,
            output_tokens: 0,
            total_tokens: 0,
            input: None,
            input_prefiltered: false,
            output: None,
            metadata: Vec::new(),
            tags: Vec::new(),
            error_message: None,
            exception_type: None,
            session_id: None,
            agent_name: None,
            user_id: None,
            provisional: false,
            sample: SampleState::Kept,
            site: None,
            wire_span_id: None,
        }
    }

    /// Makes a recycled record blank again: what [`SpanRecord::new`] would build, with a zero
    /// identity and the old start (see `pool`). Strings and the metadata list are dropped, except
    /// for a small metadata buffer and small capture strings, which are kept for the next spans.
    pub(crate) fn reset(&mut self) {
        // Destructured without `..`: a new field does not compile until it is reset here too.
        let SpanRecord {
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start: _,
            duration,
            status,
            model,
            provider,
            requested_model,
            usage_available,
            reasoning_effort,
            input_tokens,
            output_tokens,
            total_tokens,
            input,
            input_prefiltered,
            output,
            metadata,
            tags,
            error_message,
            exception_type,
            session_id,
            agent_name,
            user_id,
            provisional,
            sample,
            site,
            wire_span_id,
        } = self;
        *trace_id = TraceId(0);
        *span_id = SpanId(0);
        *parent_span_id = None;
        *name = Cow::Borrowed("");
        *kind = SpanKind::Custom;
        *duration = Duration::ZERO;
        *status = SpanStatus::Ok;
        *model = String::new();
        *provider = String::new();
        *requested_model = String::new();
        *usage_available = None;
        *reasoning_effort = String::new();
        *input_tokens = 0;
        *output_tokens = 0;
        *total_tokens = 0;
        // Small capture strings stay, emptied, for `pool::take` to move to the taking thread's
        // spare buffers; `take` leaves `input` and `output` as `None`.
        for capture in [input, output] {
            match capture {
                Some(s) if s.capacity() <= MAX_SPARE_BUFFER => s.clear(),
                _ => *capture = None,
            }
        }
        if metadata.capacity() > 8 {
            *metadata = Vec::new();
        } else {
            metadata.clear();
        }
        *input_prefiltered = false;
        if !tags.is_empty() {
            *tags = Vec::new();
        }
        *error_message = None;
        *exception_type = None;
        *session_id = None;
        *agent_name = None;
        *user_id = None;
        *provisional = false;
        *sample = SampleState::Kept;
        *site = None;
        *wire_span_id = None;
    }

    /// Gives a blank record (fresh from [`SpanRecord::new`] or [`SpanRecord::reset`]) its
    /// identity, writing only the fields a blank record does not already hold.
    #[inline]
    pub(crate) fn init_blank(
        &mut self,
        trace_id: TraceId,
        span_id: SpanId,
        parent_span_id: Option<SpanId>,
        name: Cow<'static, str>,
        kind: SpanKind,
        start: Tick,
    ) {
        self.trace_id = trace_id;
        self.span_id = span_id;
        self.parent_span_id = parent_span_id;
        self.name = name;
        self.kind = kind;
        self.start = start;
    }

    /// Sets (or replaces, keeping its position) a metadata key.
    pub fn set_metadata(&mut self, key: Cow<'static, str>, value: serde_json::Value) {
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
    }

    /// Sets the model; the first non-empty model also becomes `requested_model`.
    pub fn set_model(&mut self, model: String) {
        if self.requested_model.is_empty() && !model.is_empty() {
            self.requested_model = model.clone();
        }
        self.model = model;
    }

    /// The provisional snapshot of this (root) record: same identity, zero duration,
    /// `usage_available: false`.
    pub fn provisional_snapshot(&self) -> SpanRecord {
        let mut snap = self.clone();
        snap.provisional = true;
        snap.duration = Duration::ZERO;
        snap.usage_available = Some(false);
        snap.output = None;
        snap
    }
}
