//! The bench's spans: trace groups for direct store writes, and request body templates of both
//! ingest routes whose trace ids are rewritten per request.

use staso_server::store::traces::{CheckedGroup, CheckedSpan};
use staso_wire::ingest::WireSpan;

use crate::BoxResult;

fn span(i: usize, parent: Option<String>, start_us: i64) -> WireSpan {
    let mut s = WireSpan::empty(format!("00000000-0000-0000-0000-{:012x}", i + 1));
    s.parent_span_id = parent;
    s.name = if i == 0 {
        "agent run".into()
    } else {
        format!("step_{i}")
    };
    s.kind = if i == 0 {
        "agent"
    } else if i.is_multiple_of(3) {
        "llm"
    } else {
        "tool"
    }
    .into();
    s.timestamp = iso(start_us);
    s.duration_ms = 12.5;
    s.status = if i == 7 { "error" } else { "ok" }.into();
    if s.kind == "llm" {
        s.model = "gpt-4o-mini".into();
        s.provider = "openai".into();
        s.input_tokens = 420;
        s.output_tokens = 64;
        s.total_tokens = 484;
    }
    s.input = r#"{"question":"What is the refund policy for order 1234?","limit":5}"#.into();
    s.output = r#"{"answer":"Orders can be refunded within 30 days of delivery."}"#.into();
    s.attributes =
        r#"{"code.filepath":"src/agent.rs","code.lineno":42,"code.function":"step"}"#.into();
    s.agent_name = "support-agent".into();
    s.agent_version = "1.0.0".into();
    s.user_id = "user-1".into();
    s
}

fn iso(us: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn hyphenated(v: u128) -> String {
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn trace_id(n: u64) -> String {
    hyphenated(u128::from(n) << 64 | 0xbeec)
}

/// Traces of `per_trace` spans (a root and its children), trace `n` for each `n` in `ids`.
pub fn groups(
    ids: impl Iterator<Item = u64>,
    per_trace: usize,
    ws: &dyn Fn(u64) -> String,
    sessions: u64,
) -> Vec<CheckedGroup> {
    let base_us = 1_764_000_000_000_000i64;
    ids.map(|n| {
        let start = base_us + n as i64 * 1000;
        let root = "00000000-0000-0000-0000-000000000001".to_owned();
        let spans = (0..per_trace)
            .map(|i| {
                let at = start + i as i64 * 10;
                let mut s = span(i, (i > 0).then(|| root.clone()), at);
                s.session_id = format!("conv-{}", n % sessions.max(1));
                CheckedSpan {
                    span: s,
                    start_us: at,
                }
            })
            .collect();
        CheckedGroup {
            trace_id: trace_id(n),
            environment: "bench".into(),
            workspace_slug: ws(n),
            spans,
        }
    })
    .collect()
}

/// The high 64 bits of every trace id in a body template, overwritten per request.
const MARKER: u64 = 0xfeed_face_cafe_beef;
pub const BODY_SPANS: usize = 500;

/// How far the times of request `n + 1` are after those of request `n`, µs: the template's
/// traces start within 0.5 s.
const REQUEST_SHIFT_US: i64 = 500_000;

/// A body template and where its trace ids' marker and its times sit.
pub struct Template {
    body: Vec<u8>,
    at: Vec<usize>,
    /// Offset and value (µs) of every timestamp: RFC 3339 text (JSON) or fixed64 ns (protobuf).
    times: Vec<(usize, i64)>,
    pub json: bool,
}

/// What the requests of a run look like.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    /// As an SDK sends: random trace ids, times advancing from request to request.
    Fresh,
    /// The template replayed: trace ids counting up, the same times in every request (the
    /// workload of the first measurements; new traces land between old ones in every time index).
    Replay,
}

impl Template {
    pub fn staso(per_trace: usize) -> BoxResult<Self> {
        let gs = groups(
            0..(BODY_SPANS / per_trace) as u64,
            per_trace,
            &|_| "default".into(),
            1000,
        );
        let req = staso_wire::ingest::IngestRequest {
            traces: gs
                .into_iter()
                .enumerate()
                .map(|(i, g)| staso_wire::ingest::TraceGroup {
                    trace_id: hyphenated(u128::from(MARKER) << 64 | i as u128),
                    timestamp: g.spans[0].span.timestamp.clone(),
                    environment: g.environment,
                    workspace_slug: g.workspace_slug,
                    spans: g.spans.into_iter().map(|c| c.span).collect(),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&req)?;
        // Timestamps in the order the body holds them: each group's, then its spans'.
        let mut times = Vec::new();
        let mut from = 0;
        for g in &req.traces {
            for (text, us) in std::iter::once((&g.timestamp, parse_iso(&g.timestamp))).chain(
                g.spans
                    .iter()
                    .map(|s| (&s.timestamp, parse_iso(&s.timestamp))),
            ) {
                let at = from
                    + find(&body[from..], text.as_bytes())
                        .first()
                        .ok_or("timestamp not in body")?;
                times.push((at, us));
                from = at + text.len();
            }
        }
        Ok(Template {
            at: find(&body, b"feedface-cafe-beef"),
            times,
            body,
            json: true,
        })
    }

    pub fn otlp(per_trace: usize) -> BoxResult<Self> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let kv = |k: &str, v: Av| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        };
        let str = |v: &str| Av::StringValue(v.into());
        let mut spans = Vec::new();
        for t in 0..(BODY_SPANS / per_trace) as u64 {
            let trace = (u128::from(MARKER) << 64 | u128::from(t))
                .to_be_bytes()
                .to_vec();
            for i in 0..per_trace as u64 {
                let start = 1_764_000_000_000_000_000u64 + t * 1_000_000 + i * 10_000;
                let mut attributes = vec![
                    kv(
                        "gen_ai.operation.name",
                        str(if i == 0 {
                            "invoke_agent"
                        } else {
                            "execute_tool"
                        }),
                    ),
                    kv("gen_ai.agent.name", str("support-agent")),
                    // The conversations of the Staso template (`groups`: trace n in `conv-{n % 1000}`).
                    kv("session.id", str(&format!("conv-{}", t % 1000))),
                    kv(
                        "input.value",
                        str(
                            r#"{"question":"What is the refund policy for order 1234?","limit":5}"#,
                        ),
                    ),
                    kv(
                        "output.value",
                        str(r#"{"answer":"Orders can be refunded within 30 days of delivery."}"#),
                    ),
                    kv("code.file.path", str("src/agent.rs")),
                    kv("code.line.number", Av::IntValue(42)),
                ];
                if i % 3 == 0 && i > 0 {
                    attributes.push(kv("gen_ai.response.model", str("gpt-4o-mini")));
                    attributes.push(kv("gen_ai.usage.input_tokens", Av::IntValue(420)));
                    attributes.push(kv("gen_ai.usage.output_tokens", Av::IntValue(64)));
                }
                spans.push(Span {
                    trace_id: trace.clone(),
                    span_id: (i + 1).to_be_bytes().to_vec(),
                    parent_span_id: if i == 0 {
                        vec![]
                    } else {
                        1u64.to_be_bytes().to_vec()
                    },
                    name: if i == 0 {
                        "agent run".into()
                    } else {
                        format!("step_{i}")
                    },
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 12_500_000,
                    attributes,
                    ..Default::default()
                });
            }
        }
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", str("support-agent"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let body = req.encode_to_vec();
        // fixed64 start and end times: every 8 bytes whose value lies in the template's window.
        let window = 1_764_000_000_000_000_000u64..1_764_000_010_000_000_000;
        let times = (0..body.len().saturating_sub(7))
            .filter_map(|at| {
                let v = u64::from_le_bytes(body[at..at + 8].try_into().ok()?);
                window.contains(&v).then_some((at, (v / 1000) as i64))
            })
            .collect();
        Ok(Template {
            at: find(&body, &MARKER.to_be_bytes()),
            times,
            body,
            json: false,
        })
    }

    /// The body of request number `n`: its number (replay) or a random value (fresh) in every
    /// trace id, and (fresh) its times moved `n` × [`REQUEST_SHIFT_US`] later.
    pub fn fill(&self, n: u64, workload: Workload, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.body);
        let id = match workload {
            Workload::Fresh => splitmix64(n),
            Workload::Replay => n,
        };
        for &at in &self.at {
            if self.json {
                let h = format!("{id:016x}");
                out[at..at + 8].copy_from_slice(&h.as_bytes()[..8]);
                out[at + 9..at + 13].copy_from_slice(&h.as_bytes()[8..12]);
                out[at + 14..at + 18].copy_from_slice(&h.as_bytes()[12..]);
            } else {
                out[at..at + 8].copy_from_slice(&id.to_be_bytes());
            }
        }
        if workload == Workload::Replay {
            return;
        }
        let shift = n as i64 * REQUEST_SHIFT_US;
        for &(at, us) in &self.times {
            if self.json {
                let text = iso(us + shift);
                out[at..at + text.len()].copy_from_slice(text.as_bytes());
            } else {
                let ns = (us + shift) as u64 * 1000
                    + u64::from_le_bytes(self.body[at..at + 8].try_into().unwrap_or_default())
                        % 1000;
                out[at..at + 8].copy_from_slice(&ns.to_le_bytes());
            }
        }
    }
}

/// A well-mixed 64-bit value of `n` (SplitMix64), so trace ids are as scattered as random ones.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn parse_iso(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
        .unwrap_or_default()
}

fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}
