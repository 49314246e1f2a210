//! Serialization of records straight into the ingest body: a [`SpanView`] borrows its record and
//! the client's settings and writes the wire span field by field (ids and timestamps formatted on
//! the stack), so the worker builds no intermediate `WireSpan` per span.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::attributes::{Attributes, Entry};
use crate::config::{ExportSettings, input_allowed};
use crate::ids::{IdText, TraceId};
use crate::kind::SpanKind;
use crate::record::SpanRecord;
use crate::time::{TimestampText, duration_ms, wall_clock};

/// One record as its wire span (PROTOCOL.md §2.1), under the client's capture policy.
pub struct SpanView<'a> {
    record: &'a SpanRecord,
    ctx: &'a ExportSettings,
    span_id: Result<IdText, &'a str>,
}

impl<'a> SpanView<'a> {
    /// A view of `record` under `ctx`.
    pub fn new(record: &'a SpanRecord, ctx: &'a ExportSettings) -> Self {
        let span_id = match &record.wire_span_id {
            Some(id) => Err(id.as_str()),
            None => Ok(record.span_id.text()),
        };
        SpanView {
            record,
            ctx,
            span_id,
        }
    }

    /// The wire span id.
    pub fn span_id(&self) -> &str {
        match &self.span_id {
            Ok(t) => t.as_str(),
            Err(s) => s,
        }
    }
}

/// What a span's wire fields resolve to under the policy, computed by one function for both
/// writers (this `Serialize` impl and the fast path in `body.rs`) so they cannot disagree.
pub(super) struct Resolved<'a> {
    /// `None`: the name is withheld and replaced by `"<kind> span"`.
    pub(super) name: Option<&'a str>,
    pub(super) timestamp: TimestampText,
    pub(super) duration_ms: f64,
    pub(super) provider: Cow<'a, str>,
    pub(super) usage_available: Option<bool>,
    pub(super) input: &'a str,
    pub(super) output: &'a str,
    pub(super) attributes: Attributes<'a>,
    pub(super) error_message: Option<&'a str>,
    /// `None`: the client's default session.
    pub(super) session_id: Option<&'a str>,
    /// `None`: the configured agent name.
    pub(super) agent_name: Option<&'a str>,
    pub(super) user_id: &'a str,
}

/// Resolves the policy-dependent fields of `r` under `ctx`.
pub(super) fn resolve<'a>(r: &'a SpanRecord, ctx: &'a ExportSettings) -> Resolved<'a> {
    resolve_in(r, ctx, Vec::new())
}

/// [`resolve`] with the attributes built into `scratch`, a buffer the caller reuses from span to
/// span (taken back with `Attributes::into_scratch`).
pub(super) fn resolve_in<'a>(
    r: &'a SpanRecord,
    ctx: &'a ExportSettings,
    scratch: Vec<Entry<'a>>,
) -> Resolved<'a> {
    let policy = &ctx.policy;
    let (attributes, provider) = Attributes::build_in(r, ctx, scratch);
    let usage_available = if r.provisional {
        Some(false)
    } else {
        r.usage_available.or(if r.kind == SpanKind::Llm {
            Some(false)
        } else {
            None
        })
    };
    Resolved {
        name: (policy.request || r.kind == SpanKind::Tool).then_some(&*r.name),
        timestamp: TimestampText::new(wall_clock(r.start)),
        duration_ms: if r.provisional {
            0.0
        } else {
            duration_ms(r.duration)
        },
        provider,
        usage_available,
        input: r
            .input
            .as_deref()
            .filter(|_| r.input_prefiltered || input_allowed(policy, r.kind))
            .unwrap_or(""),
        output: r.output.as_deref().filter(|_| policy.output).unwrap_or(""),
        attributes,
        error_message: r.error_message.as_deref().filter(|_| policy.all_on()),
        session_id: r.session_id.as_deref(),
        agent_name: r.agent_name.as_deref(),
        user_id: r.user_id.as_deref().unwrap_or(""),
    }
}

impl Serialize for SpanView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, ctx) = (self.record, self.ctx);
        let v = resolve(r, ctx);
        let parent = r.parent_span_id.map(|p| p.text());
        let name: Cow<'_, str> = match v.name {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("{} span", r.kind)),
        };
        let mut st = s.serialize_struct("WireSpan", 26)?;
        st.serialize_field("span_id", self.span_id())?;
        st.serialize_field("parent_span_id", &parent.as_ref().map(IdText::as_str))?;
        st.serialize_field("name", &name)?;
        st.serialize_field("kind", r.kind.as_str())?;
        st.serialize_field("timestamp", v.timestamp.as_str())?;
        st.serialize_field("duration_ms", &v.duration_ms)?;
        st.serialize_field("status", r.status.as_str())?;
        st.serialize_field("model", &r.model)?;
        st.serialize_field("provider", &v.provider)?;
        st.serialize_field("requested_model", &r.requested_model)?;
        st.serialize_field("usage_available", &v.usage_available)?;
        st.serialize_field("reasoning_effort", &r.reasoning_effort)?;
        st.serialize_field("input_tokens", &r.input_tokens)?;
        st.serialize_field("output_tokens", &r.output_tokens)?;
        st.serialize_field("total_tokens", &r.total_tokens)?;
        st.serialize_field("input", v.input)?;
        st.serialize_field("output", v.output)?;
        st.serialize_field("attributes", &v.attributes.to_json())?;
        st.serialize_field("error_message", &v.error_message)?;
        st.serialize_field("session_id", v.session_id.unwrap_or(&ctx.default_session))?;
        st.serialize_field("agent_name", v.agent_name.unwrap_or(&ctx.agent_name))?;
        st.serialize_field("agent_id", &ctx.agent_id)?;
        st.serialize_field("agent_version", &ctx.agent_version)?;
        st.serialize_field("user_id", v.user_id)?;
        st.serialize_field("capture", &ctx.policy.wire_map())?;
        st.end()
    }
}

/// A whole ingest body (PROTOCOL.md §3.2): records already coalesced and grouped per trace, in
/// order of first appearance.
pub struct TraceBatch<'a> {
    /// `(trace id, its records in order)`.
    pub groups: Vec<(TraceId, Vec<&'a SpanRecord>)>,
    /// The client's settings.
    pub ctx: &'a ExportSettings,
}

struct Group<'a> {
    trace_id: TraceId,
    records: &'a [&'a SpanRecord],
    ctx: &'a ExportSettings,
}

struct Spans<'a> {
    records: &'a [&'a SpanRecord],
    ctx: &'a ExportSettings,
}

impl Serialize for Spans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.records.iter().map(|r| SpanView::new(r, self.ctx)))
    }
}

/// The timestamp of a group: the smallest span timestamp is the earliest start, since every
/// timestamp has the same format.
pub(super) fn group_timestamp(records: &[&SpanRecord]) -> Option<TimestampText> {
    let earliest = records.iter().map(|r| r.start).min();
    earliest.map(|t| TimestampText::new(wall_clock(t)))
}

impl Serialize for Group<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let timestamp = group_timestamp(self.records);
        let mut st = s.serialize_struct("TraceGroup", 5)?;
        st.serialize_field("trace_id", self.trace_id.text().as_str())?;
        st.serialize_field(
            "timestamp",
            timestamp.as_ref().map_or("", TimestampText::as_str),
        )?;
        st.serialize_field("environment", &self.ctx.environment)?;
        st.serialize_field("workspace_slug", &self.ctx.workspace_slug)?;
        st.serialize_field(
            "spans",
            &Spans {
                records: self.records,
                ctx: self.ctx,
            },
        )?;
        st.end()
    }
}

impl Serialize for TraceBatch<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Traces<'b>(&'b TraceBatch<'b>);
        impl Serialize for Traces<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.groups.iter().map(|(trace_id, records)| Group {
                    trace_id: *trace_id,
                    records,
                    ctx: self.0.ctx,
                }))
            }
        }
        let mut st = s.serialize_struct("IngestRequest", 1)?;
        st.serialize_field("traces", &Traces(self))?;
        st.end()
    }
}
