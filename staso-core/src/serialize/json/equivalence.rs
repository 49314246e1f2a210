//! Property test: for many generated batches, the hand-written writer's bytes equal serde_json's
//! bytes for the same `TraceBatch` (the `Serialize` impls are the reference).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Map, Number, Value};

use crate::config::ExportSettings;
use crate::config::{CapturePolicy, VcsInfo};
use crate::ids::{SpanId, TraceId};
use crate::kind::{SpanKind, SpanStatus};
use crate::record::{CallSite, Role, SpanRecord};
use crate::serialize::TraceBatch;

/// Text biased towards what needs escaping: quotes, backslashes, control bytes, non-ASCII.
fn text(rng: &mut fastrand::Rng) -> String {
    const PICKS: &[char] = &[
        '"', '\\', '/', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1}', '\u{1f}', '\u{7f}', 'é',
        '😀', '\u{2028}', '\u{2029}', '\u{feff}', ' ', '{', '}', ':', ',',
    ];
    let len = match rng.u8(0..8) {
        0 => 0,
        1 => rng.usize(40..200),
        _ => rng.usize(0..24),
    };
    (0..len)
        .map(|_| match rng.u8(0..6) {
            0 => PICKS[rng.usize(..PICKS.len())],
            1 => rng.char(..),
            _ => rng.alphanumeric(),
        })
        .collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn number(rng: &mut fastrand::Rng) -> Number {
    match rng.u8(0..5) {
        0 => Number::from(rng.u64(..)),
        1 => Number::from(rng.i64(..)),
        2 => Number::from(rng.u8(..)),
        _ => {
            let f = match rng.u8(0..4) {
                0 => f64::from_bits(rng.u64(..)),
                1 => rng.f64() * 1e-9,
                2 => -0.0,
                _ => (rng.f64() * 1e6).round() / 100.0,
            };
            Number::from_f64(f).unwrap_or_else(|| Number::from(0u8))
        }
    }
}

fn value(rng: &mut fastrand::Rng, depth: u8) -> Value {
    match rng.u8(0..if depth > 2 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => Value::Number(number(rng)),
        3 => Value::String(text(rng)),
        4 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.usize(0..4))
                .map(|_| (text(rng), value(rng, depth + 1)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Metadata keys: some that the capture policy filters or keeps, `provider` (the provider
/// fallback), the call-site keys (replaced in place), and random ones.
fn key(rng: &mut fastrand::Rng) -> Cow<'static, str> {
    const KEYS: &[&str] = &[
        "provider",
        "tool_name",
        "code.lineno",
        "guard.reason",
        "synthetic_content",
        "guard.input",
        "stop_reason",
        "vcs.branch",
    ];
    if rng.bool() {
        Cow::Borrowed(KEYS[rng.usize(..KEYS.len())])
    } else {
        Cow::Owned(text(rng))
    }
}

fn site(rng: &mut fastrand::Rng) -> &'static CallSite {
    let tags: Vec<&'static str> = (0..rng.usize(0..3)).map(|_| leak(text(rng))).collect();
    Box::leak(Box::new(CallSite {
        name: leak(text(rng)),
        kind: SpanKind::ALL[rng.usize(..SpanKind::ALL.len())],
        role: [Role::Agent, Role::Tool, Role::Trace][rng.usize(..3)],
        tags: Box::leak(tags.into_boxed_slice()),
        function: leak(text(rng)),
        file: leak(text(rng)),
        line: rng.u32(..),
        // Empty: `filepath()` returns `file` as is, without looking at the file system.
        manifest_dir: "",
        capture_input: rng.bool(),
        capture_output: rng.bool(),
        abs_file: OnceLock::new(),
    }))
}

fn opt_text(rng: &mut fastrand::Rng) -> Option<String> {
    rng.bool().then(|| text(rng))
}

fn record(rng: &mut fastrand::Rng, trace: u128) -> SpanRecord {
    let start = crate::time::now() + Duration::from_micros(rng.u64(..10_000_000));
    let parent = rng.bool().then(|| SpanId(rng.u64(..)));
    let kind = SpanKind::ALL[rng.usize(..SpanKind::ALL.len())];
    let mut r = SpanRecord::new(
        TraceId(trace),
        SpanId(rng.u64(..)),
        parent,
        Cow::Owned(text(rng)),
        kind,
        start,
    );
    r.duration = Duration::from_nanos(rng.u64(..100_000_000_000));
    r.status = [SpanStatus::Ok, SpanStatus::Error, SpanStatus::Timeout][rng.usize(..3)];
    r.model = text(rng);
    r.provider = if rng.bool() { String::new() } else { text(rng) };
    r.requested_model = text(rng);
    r.usage_available = [None, Some(true), Some(false)][rng.usize(..3)];
    r.reasoning_effort = text(rng);
    r.input_tokens = rng.u64(..);
    r.output_tokens = rng.u64(..1000);
    r.total_tokens = rng.u64(..);
    r.input = opt_text(rng);
    r.output = opt_text(rng);
    for _ in 0..rng.usize(0..6) {
        r.set_metadata(key(rng), value(rng, 0));
    }
    r.error_message = opt_text(rng);
    r.exception_type = rng
        .bool()
        .then(|| Cow::Owned(format!("{}::{}", text(rng), text(rng))));
    r.session_id = opt_text(rng).map(Into::into);
    r.agent_name = opt_text(rng).map(Into::into);
    r.user_id = opt_text(rng).map(Into::into);
    r.site = rng.bool().then(|| site(rng));
    r.wire_span_id = rng.u8(0..5).eq(&0).then(|| text(rng));
    if parent.is_none() && rng.u8(0..3) == 0 {
        r = r.provisional_snapshot();
    }
    r
}

fn context(rng: &mut fastrand::Rng) -> ExportSettings {
    let policy = if rng.bool() {
        CapturePolicy::ALL
    } else {
        CapturePolicy {
            request: rng.bool(),
            system_prompt: rng.bool(),
            tool_schema: rng.bool(),
            tool_arguments: rng.bool(),
            output: rng.bool(),
        }
    };
    ExportSettings {
        policy,
        agent_id: text(rng),
        agent_name: text(rng),
        agent_version: text(rng),
        environment: text(rng),
        workspace_slug: text(rng),
        default_session: text(rng),
        content: Default::default(),
        vcs: rng.bool().then(|| VcsInfo {
            commit_sha: text(rng),
            branch: text(rng),
            repo_url: text(rng),
            is_dirty: rng.bool(),
        }),
    }
}

#[test]
fn writer_bytes_equal_serde_json_bytes() {
    let mut rng = fastrand::Rng::with_seed(0x0005_7a50);
    let (mut spans, mut double_escapes, mut withheld_names, mut provisional) = (0, 0, 0, 0);
    for _ in 0..600 {
        let ctx = context(&mut rng);
        let records: Vec<Vec<SpanRecord>> = (0..rng.usize(0..4))
            .map(|_| {
                let trace = rng.u128(..);
                (0..rng.usize(0..6))
                    .map(|_| record(&mut rng, trace))
                    .collect()
            })
            .collect();
        let batch = TraceBatch {
            groups: records
                .iter()
                .map(|g| {
                    (
                        g.first().map_or(TraceId(0), |r| r.trace_id),
                        g.iter().collect(),
                    )
                })
                .collect(),
            ctx: &ctx,
        };
        let expected = serde_json::to_vec(&batch).unwrap_or_else(|e| panic!("{e}"));
        let mut actual = b"prefix".to_vec();
        batch
            .write_json(&mut actual)
            .unwrap_or_else(|e| panic!("{e}"));
        let actual = actual.strip_prefix(b"prefix").unwrap_or_default();
        if actual != expected {
            let at = actual
                .iter()
                .zip(&expected)
                .take_while(|(a, b)| a == b)
                .count();
            panic!(
                "first difference at byte {at}:\n  writer: {}\n  serde:  {}",
                String::from_utf8_lossy(&actual[at.saturating_sub(80)..]),
                String::from_utf8_lossy(&expected[at.saturating_sub(80)..]),
            );
        }
        let body = String::from_utf8_lossy(&expected);
        spans += records.iter().map(Vec::len).sum::<usize>();
        double_escapes += body.matches("\\\\\\\"").count();
        withheld_names += body.matches(" span\"").count();
        provisional += body.matches("staso.provisional_root").count();
    }
    // The generator really produced the cases the writer must get right.
    let counts = (spans, double_escapes, withheld_names, provisional);
    assert!(spans > 2_000, "{counts:?}");
    assert!(double_escapes > 500, "{counts:?}");
    assert!(withheld_names > 100, "{counts:?}");
    assert!(provisional > 50, "{counts:?}");
}
