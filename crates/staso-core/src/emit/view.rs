//! Serialization of records straight into the ingest body: a [`SpanView`] borrows its record and
//! the client's settings and writes the wire span field by field (ids and timestamps formatted on
//! the stack), so the worker builds no intermediate `WireSpan` per span.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::attributes::Attributes;
use super::json::JsonWriter;
use super::{EmitContext, input_allowed};
use crate::ids::{IdText, TraceId};
use crate::kind::SpanKind;
use crate::record::SpanRecord;
use crate::time::{TimestampText, duration_ms, wall_clock};

/// One record as its wire span (PROTOCOL.md §2.1), under the client's capture policy.
pub struct SpanView<'a> {
    record: &'a SpanRecord,
    ctx: &'a EmitContext,
    span_id: Result<IdText, &'a str>,
}

impl<'a> SpanView<'a> {
    /// A view of `record` under `ctx`.
    pub fn new(record: &'a SpanRecord, ctx: &'a EmitContext) -> Self {
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

/// What a span's wire fields resolve to under the policy, computed once for either writer so
/// the serde path and the fast path cannot disagree.
struct Resolved<'a> {
    /// `None`: the name is withheld and replaced by `"<kind> span"`.
    name: Option<&'a str>,
    parent: Option<IdText>,
    timestamp: TimestampText,
    duration_ms: f64,
    provider: Cow<'a, str>,
    usage_available: Option<bool>,
    input: &'a str,
    output: &'a str,
    attributes: Attributes<'a>,
    error_message: Option<&'a str>,
    session_id: &'a str,
    agent_name: &'a str,
    user_id: &'a str,
}

impl<'a> SpanView<'a> {
    fn resolve(&self) -> Resolved<'a> {
        let (r, ctx) = (self.record, self.ctx);
        let policy = &ctx.policy;
        let (attributes, provider) = Attributes::build(r, ctx);
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
            parent: r.parent_span_id.map(|p| p.text()),
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
                .filter(|_| input_allowed(policy, r.kind))
                .unwrap_or(""),
            output: r.output.as_deref().filter(|_| policy.output).unwrap_or(""),
            attributes,
            error_message: r.error_message.as_deref().filter(|_| policy.all_on()),
            session_id: r.session_id.as_deref().unwrap_or(&ctx.default_session),
            agent_name: r.agent_name.as_deref().unwrap_or(&ctx.agent_name),
            user_id: r.user_id.as_deref().unwrap_or(""),
        }
    }

    /// Writes the wire span with the fast writer: the same bytes serde_json writes for `self`.
    fn write(&self, w: &mut JsonWriter<'_>) -> Result<(), serde_json::Error> {
        let (r, ctx) = (self.record, self.ctx);
        let v = self.resolve();
        // Static keys and escape-free values (ids, timestamps, enum strings, numbers) are raw;
        // anything a user can set goes through the escaper.
        w.raw("{\"span_id\":");
        match &self.span_id {
            Ok(id) => w.plain_str(id.as_str()),
            Err(id) => w.str(id),
        }
        w.raw(",\"parent_span_id\":");
        match &v.parent {
            Some(p) => w.plain_str(p.as_str()),
            None => w.raw("null"),
        }
        w.raw(",\"name\":");
        match v.name {
            Some(name) => w.str(name),
            None => {
                w.raw("\"");
                w.raw(r.kind.as_str());
                w.raw(" span\"");
            }
        }
        w.raw(",\"kind\":");
        w.plain_str(r.kind.as_str());
        w.raw(",\"timestamp\":");
        w.plain_str(v.timestamp.as_str());
        w.raw(",\"duration_ms\":");
        w.f64(v.duration_ms)?;
        w.raw(",\"status\":");
        w.plain_str(r.status.as_str());
        w.raw(",\"model\":");
        w.str(&r.model);
        w.raw(",\"provider\":");
        w.str(&v.provider);
        w.raw(",\"requested_model\":");
        w.str(&r.requested_model);
        w.raw(",\"usage_available\":");
        w.opt_bool(v.usage_available);
        w.raw(",\"reasoning_effort\":");
        w.str(&r.reasoning_effort);
        w.raw(",\"input_tokens\":");
        w.u64(r.input_tokens);
        w.raw(",\"output_tokens\":");
        w.u64(r.output_tokens);
        w.raw(",\"total_tokens\":");
        w.u64(r.total_tokens);
        w.raw(",\"input\":");
        w.str(v.input);
        w.raw(",\"output\":");
        w.str(v.output);
        // The document is a string: written escaped in place, no intermediate String.
        w.raw(",\"attributes\":\"");
        v.attributes.write(&mut w.embedded())?;
        w.raw("\",\"error_message\":");
        w.opt_str(v.error_message);
        w.raw(",\"session_id\":");
        w.str(v.session_id);
        w.raw(",\"agent_name\":");
        w.str(v.agent_name);
        w.raw(",\"agent_id\":");
        w.str(&ctx.agent_id);
        w.raw(",\"agent_version\":");
        w.str(&ctx.agent_version);
        w.raw(",\"user_id\":");
        w.str(v.user_id);
        w.raw(",\"capture\":");
        let p = &ctx.policy;
        let state = |on: bool| if on { "\"captured\"" } else { "\"suppressed\"" };
        w.raw("{\"request\":");
        w.raw(state(p.request));
        w.raw(",\"system_prompt\":");
        w.raw(state(p.system_prompt));
        w.raw(",\"tool_schema\":");
        w.raw(state(p.tool_schema));
        w.raw(",\"tool_arguments\":");
        w.raw(state(p.tool_arguments));
        w.raw(",\"output\":");
        w.raw(state(p.output));
        w.raw("}}");
        Ok(())
    }
}

impl Serialize for SpanView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, ctx) = (self.record, self.ctx);
        let v = self.resolve();
        let name: Cow<'_, str> = match v.name {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("{} span", r.kind)),
        };
        let mut st = s.serialize_struct("WireSpan", 26)?;
        st.serialize_field("span_id", self.span_id())?;
        st.serialize_field("parent_span_id", &v.parent.as_ref().map(IdText::as_str))?;
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
        st.serialize_field("session_id", v.session_id)?;
        st.serialize_field("agent_name", v.agent_name)?;
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
    pub ctx: &'a EmitContext,
}

struct Group<'a> {
    trace_id: TraceId,
    records: &'a [&'a SpanRecord],
    ctx: &'a EmitContext,
}

struct Spans<'a> {
    records: &'a [&'a SpanRecord],
    ctx: &'a EmitContext,
}

impl Serialize for Spans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.records.iter().map(|r| SpanView::new(r, self.ctx)))
    }
}

impl Group<'_> {
    /// The group timestamp: the smallest span timestamp is the earliest start, since every
    /// timestamp has the same format.
    fn timestamp(&self) -> Option<TimestampText> {
        let earliest = self.records.iter().map(|r| r.start).min();
        earliest.map(|t| TimestampText::new(wall_clock(t)))
    }

    fn write(&self, w: &mut JsonWriter<'_>) -> Result<(), serde_json::Error> {
        w.raw("{\"trace_id\":");
        w.plain_str(self.trace_id.text().as_str());
        w.raw(",\"timestamp\":");
        w.plain_str(self.timestamp().as_ref().map_or("", TimestampText::as_str));
        w.raw(",\"environment\":");
        w.str(&self.ctx.environment);
        w.raw(",\"workspace_slug\":");
        w.str(&self.ctx.workspace_slug);
        w.raw(",\"spans\":[");
        for (i, r) in self.records.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            SpanView::new(r, self.ctx).write(w)?;
        }
        w.raw("]}");
        Ok(())
    }
}

impl Serialize for Group<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let timestamp = self.timestamp();
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

impl TraceBatch<'_> {
    /// Appends the body to `out` with the hand-written writer: byte for byte what
    /// `serde_json::to_writer(out, self)` writes, several times faster (static keys are copied,
    /// strings escaped a word at a time, the attributes document escaped in place).
    ///
    /// # Errors
    /// Only what serde_json reports while formatting a number; never in practice.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let mut w = JsonWriter::new(out);
        w.raw("{\"traces\":[");
        for (i, (trace_id, records)) in self.groups.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            Group {
                trace_id: *trace_id,
                records,
                ctx: self.ctx,
            }
            .write(&mut w)?;
        }
        w.raw("]}");
        Ok(())
    }
}
