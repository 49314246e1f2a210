//! The worker's fast path from a [`TraceBatch`] to ingest body bytes, with [`JsonWriter`]. It
//! writes exactly what the `Serialize` impls of `view.rs` make serde_json write (those remain the
//! reference; `json/equivalence.rs` compares the two), field by field in wire order.

use super::ExportSettings;
use super::attributes::Entry;
use super::json::JsonWriter;
use super::view::{TraceBatch, group_timestamp, resolve_in};
use crate::record::SpanRecord;
use crate::time::TimestampText;

/// The pieces of every group and span that depend only on the client's settings, escaped once
/// per body instead of once per span.
struct Prepared {
    /// `,"environment":…,"workspace_slug":…,"spans":[`
    group_fields: Vec<u8>,
    /// The default session id, quoted and escaped.
    default_session: Vec<u8>,
    /// The configured agent name, quoted and escaped.
    default_agent_name: Vec<u8>,
    /// `,"agent_id":…,"agent_version":…,"user_id":`
    agent_fields: Vec<u8>,
    /// `,"capture":{…}}`: the capture map and the end of the span.
    capture_tail: Vec<u8>,
}

impl Prepared {
    fn new(ctx: &ExportSettings) -> Self {
        let piece = |write: &dyn Fn(&mut JsonWriter<'_>)| {
            let mut out = Vec::new();
            write(&mut JsonWriter::new(&mut out));
            out
        };
        Prepared {
            group_fields: piece(&|w| {
                w.raw(",\"environment\":");
                w.str(&ctx.environment);
                w.raw(",\"workspace_slug\":");
                w.str(&ctx.workspace_slug);
                w.raw(",\"spans\":[");
            }),
            default_session: piece(&|w| w.str(&ctx.default_session)),
            default_agent_name: piece(&|w| w.str(&ctx.agent_name)),
            agent_fields: piece(&|w| {
                w.raw(",\"agent_id\":");
                w.str(&ctx.agent_id);
                w.raw(",\"agent_version\":");
                w.str(&ctx.agent_version);
                w.raw(",\"user_id\":");
            }),
            capture_tail: piece(&|w| {
                let p = &ctx.policy;
                let state = |on: bool| if on { "\"captured\"" } else { "\"suppressed\"" };
                w.raw(",\"capture\":{\"request\":");
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
            }),
        }
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
        let prepared = Prepared::new(self.ctx);
        let mut w = JsonWriter::new(out);
        // One attribute buffer for the whole body instead of an allocation per span.
        let mut scratch = Vec::new();
        w.raw("{\"traces\":[");
        for (i, (trace_id, records)) in self.groups.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            w.raw("{\"trace_id\":");
            w.id(trace_id.0);
            w.raw(",\"timestamp\":");
            w.plain_bytes(
                group_timestamp(records)
                    .as_ref()
                    .map_or(&[][..], TimestampText::as_bytes),
            );
            w.bytes(&prepared.group_fields);
            for (i, r) in records.iter().enumerate() {
                if i > 0 {
                    w.raw(",");
                }
                write_span(&mut w, r, self.ctx, &prepared, &mut scratch)?;
            }
            w.raw("]}");
        }
        w.raw("]}");
        Ok(())
    }
}

/// One wire span. Static keys and escape-free values (ids, timestamps, enum strings, numbers)
/// are appended as they are; anything a user can set goes through the escaper.
fn write_span<'a>(
    w: &mut JsonWriter<'_>,
    r: &'a SpanRecord,
    ctx: &'a ExportSettings,
    prepared: &Prepared,
    scratch: &mut Vec<Entry<'a>>,
) -> Result<(), serde_json::Error> {
    let v = resolve_in(r, ctx, std::mem::take(scratch));
    w.raw("{\"span_id\":");
    match &r.wire_span_id {
        Some(id) => w.str(id),
        None => w.id(u128::from(r.span_id.0)),
    }
    w.raw(",\"parent_span_id\":");
    match r.parent_span_id {
        Some(p) => w.id(u128::from(p.0)),
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
    w.plain_bytes(v.timestamp.as_bytes());
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
    match v.session_id {
        Some(s) => w.str(s),
        None => w.bytes(&prepared.default_session),
    }
    w.raw(",\"agent_name\":");
    match v.agent_name {
        Some(s) => w.str(s),
        None => w.bytes(&prepared.default_agent_name),
    }
    w.bytes(&prepared.agent_fields);
    w.str(v.user_id);
    w.bytes(&prepared.capture_tail);
    *scratch = v.attributes.into_scratch();
    Ok(())
}
