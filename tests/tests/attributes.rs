//! What the three attributes record: kinds, names, inputs, outputs, tags, metadata, code location,
//! nesting and agent-name inheritance — on free fns, methods, generics and `impl Trait`.

mod common;

use common::{attrs, json, setup};
use serde::Serialize;
use serde_json::json as j;

#[staso::tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[staso::agent]
fn run_agent(question: &str) -> String {
    let sum = add(2, 3);
    format!("{question} -> {sum}")
}

#[test]
fn agent_calling_tool_matches_the_reference_shape() {
    let h = setup();
    assert_eq!(run_agent("what is 2+3?"), "what is 2+3? -> 5");
    assert_eq!(
        h.render(),
        "agent run_agent [ok] in={\"agent_name\":\"run_agent\",\"question\":\"what is 2+3?\"} out={\"result\":\"what is 2+3? -> 5\"}\n  tool add [ok] in={\"a\":2,\"b\":3} out={\"result\":5}\n"
    );
    let agent = h.by_name("run_agent");
    let tool = h.by_name("add");
    assert_eq!(tool.trace_id, agent.trace_id);
    assert_eq!(
        tool.span.parent_span_id.as_deref(),
        Some(agent.span.span_id.as_str())
    );
    assert_eq!(agent.span.parent_span_id, None);
    assert_eq!(agent.span.kind, "agent");
    assert_eq!(tool.span.kind, "tool");
    assert_eq!(
        tool.span.agent_name, "run_agent",
        "tools inherit the agent name"
    );
    assert_eq!(agent.span.agent_name, "run_agent");
    let a = attrs(&tool);
    assert_eq!(a["tool_name"], "add");
    assert_eq!(a["code.function"], "add");
    assert!(
        a["code.filepath"]
            .as_str()
            .is_some_and(|p| p.ends_with("tests/attributes.rs") && p.starts_with('/')),
        "{a}"
    );
    assert!(a["code.lineno"].as_u64().is_some_and(|l| l > 0));
    let agent_attrs = attrs(&agent);
    assert!(agent_attrs.get("tool_name").is_none());
    assert_eq!(agent.span.agent_id, staso::generate_agent_id("demo"));
}

#[staso::trace(kind = "retriever", tags = ["rag", "faq"], metadata = { "index": "faq-v2", "k": 4 * 2 })]
fn retrieve(q: &str) -> Vec<String> {
    vec![q.to_uppercase()]
}

#[staso::trace]
fn plain_step() {}

#[test]
fn trace_kind_tags_and_metadata() {
    let h = setup();
    retrieve("refund");
    plain_step();
    let r = h.by_name("retrieve");
    assert_eq!(r.span.kind, "retriever");
    assert_eq!(json(&r.span.input), j!({"q": "refund"}));
    assert_eq!(json(&r.span.output), j!({"result": ["REFUND"]}));
    let a = attrs(&r);
    assert_eq!(a["tags"], j!(["rag", "faq"]));
    assert_eq!(a["index"], "faq-v2");
    assert_eq!(a["k"], 8);
    assert!(
        a.get("tool_name").is_none(),
        "#[trace] never sets tool_name"
    );
    let p = h.by_name("plain_step");
    assert_eq!(p.span.kind, "chain");
    assert_eq!(p.span.input, "", "no arguments: empty input");
    assert_eq!(
        json(&p.span.output),
        j!({"result": null}),
        "unit output is still recorded"
    );
    assert_eq!(
        p.span.agent_name, "demo",
        "outside any agent: the configured agent name"
    );
}

#[staso::tool(name = "lookup-user")]
fn renamed(id: u32) -> u32 {
    id
}

#[test]
fn name_option_renames_span_and_tool_name() {
    let h = setup();
    renamed(7);
    let s = h.by_name("lookup-user");
    assert_eq!(attrs(&s)["tool_name"], "lookup-user");
    assert_eq!(attrs(&s)["code.function"], "renamed");
}

#[derive(Serialize, Debug, Clone)]
struct Query {
    text: String,
}

struct Planner {
    calls: u32,
}

impl Planner {
    #[staso::agent(name = "planner")]
    fn plan(&mut self, q: &Query) -> usize {
        self.calls += 1;
        self.step(q.text.len())
    }

    #[staso::trace]
    fn step(&self, n: usize) -> usize {
        n * 2
    }

    #[staso::tool]
    fn consume(self, extra: u32) -> u32 {
        self.calls + extra
    }

    #[staso::trace]
    async fn later(&self, n: u32) -> u32 {
        tokio::task::yield_now().await;
        n + self.calls
    }
}

#[test]
fn methods_with_self_ref_mut_and_value() {
    let h = setup();
    let mut p = Planner { calls: 0 };
    assert_eq!(p.plan(&Query { text: "abc".into() }), 6);
    assert_eq!(p.calls, 1);
    assert_eq!(p.consume(10), 11);
    let plan = h.by_name("planner");
    let step = h.by_name("step");
    assert_eq!(
        step.span.parent_span_id.as_deref(),
        Some(plan.span.span_id.as_str())
    );
    assert_eq!(step.span.agent_name, "planner");
    let input = json(&plan.span.input);
    assert_eq!(input["agent_name"], "planner");
    assert_eq!(input["q"], j!({"text": "abc"}));
    assert!(
        input.get("self").is_some(),
        "self is captured like any other argument"
    );
    assert_eq!(json(&h.by_name("consume").span.output), j!({"result": 11}));
}

#[tokio::test]
async fn async_method() {
    let h = setup();
    let p = Planner { calls: 2 };
    assert_eq!(p.later(1).await, 3);
    assert_eq!(json(&h.by_name("later").span.output), j!({"result": 3}));
}

#[staso::trace]
fn generic_sum<T: Into<i64> + Copy + std::fmt::Debug>(items: &[T]) -> i64 {
    items.iter().map(|&x| x.into()).sum()
}

#[staso::trace]
fn generic_opaque<T>(value: T) -> usize {
    std::mem::size_of_val(&value)
}

struct Opaque;

#[staso::trace]
fn evens(limit: u32, label: impl AsRef<str> + std::fmt::Debug) -> impl Iterator<Item = u32> {
    let _ = label.as_ref();
    (0..limit).filter(|n| n % 2 == 0)
}

#[test]
fn generics_and_impl_trait() {
    let h = setup();
    assert_eq!(generic_sum(&[1i32, 2, 3]), 6);
    assert_eq!(generic_opaque(Opaque), 0);
    assert_eq!(evens(5, "x").collect::<Vec<_>>(), vec![0, 2, 4]);
    assert_eq!(
        json(&h.by_name("generic_sum").span.input),
        j!({"items": "[1, 2, 3]"}),
        "T: Debug only → Debug text"
    );
    let opaque = json(&h.by_name("generic_opaque").span.input);
    assert!(
        opaque["value"]
            .as_str()
            .is_some_and(|s| s.starts_with('<') && s.contains("Opaque")),
        "{opaque}"
    );
    let ev = h.by_name("evens");
    assert_eq!(json(&ev.span.input), j!({"limit": 5, "label": "\"x\""}));
    assert!(
        json(&ev.span.output)["result"]
            .as_str()
            .is_some_and(|s| s.contains("Filter")),
        "{}",
        ev.span.output
    );
}

#[derive(Debug)]
struct NotFound(u32);
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no row {}", self.0)
    }
}

#[staso::tool]
fn find(id: u32) -> Result<u32, NotFound> {
    if id == 0 {
        return Err(NotFound(id));
    }
    let parsed: u32 = "41".parse().map_err(|_| NotFound(id))?;
    Ok(parsed + 1)
}

#[staso::trace]
fn early(flag: bool) -> &'static str {
    if flag {
        return "early";
    }
    "late"
}

#[test]
fn early_return_and_question_mark() {
    let h = setup();
    assert_eq!(find(3).ok(), Some(42));
    assert_eq!(early(true), "early");
    assert_eq!(early(false), "late");
    let outs: Vec<_> = h
        .all_named("early")
        .iter()
        .map(|s| json(&s.span.output))
        .collect();
    assert_eq!(outs, vec![j!({"result": "early"}), j!({"result": "late"})]);
    assert_eq!(
        json(&h.by_name("find").span.output),
        j!({"result": 42}),
        "only the Ok value is recorded"
    );
}

#[staso::agent(name = "outer")]
fn outer_agent() -> String {
    inner_agent()
}

#[staso::agent(name = "inner")]
fn inner_agent() -> String {
    add(1, 1);
    staso::span("manual", staso::SpanKind::Custom, |_| ());
    "ok".into()
}

#[test]
fn innermost_agent_name_wins_and_is_restored() {
    let h = setup();
    outer_agent();
    plain_step();
    assert_eq!(h.by_name("add").span.agent_name, "inner");
    assert_eq!(h.by_name("manual").span.agent_name, "inner");
    assert_eq!(h.by_name("inner").span.agent_name, "inner");
    assert_eq!(h.by_name("outer").span.agent_name, "outer");
    assert_eq!(h.by_name("plain_step").span.agent_name, "demo");
    let outer = h.by_name("outer");
    let inner = h.by_name("inner");
    assert_eq!(
        inner.span.parent_span_id.as_deref(),
        Some(outer.span.span_id.as_str())
    );
}

#[test]
fn roots_emit_a_provisional_snapshot_first() {
    let h = setup();
    run_agent("q");
    let all = h.spans.spans();
    let agent_records: Vec<_> = all.iter().filter(|s| s.span.name == "run_agent").collect();
    assert_eq!(agent_records.len(), 2, "snapshot + final");
    let snap = agent_records[0];
    assert!(snap.span.is_provisional_root());
    assert_eq!(snap.span.duration_ms, 0.0);
    assert_eq!(snap.span.usage_available, Some(false));
    assert_eq!(snap.span.output, "");
    assert_eq!(
        json(&snap.span.input)["question"],
        "q",
        "the snapshot carries the input"
    );
    assert_eq!(snap.span.span_id, agent_records[1].span.span_id);
    assert!(!agent_records[1].span.is_provisional_root());
    assert!(
        all.iter()
            .filter(|s| s.span.name == "add")
            .all(|s| !s.span.is_provisional_root()),
        "children: no snapshot"
    );
    assert_eq!(
        all.first().map(|s| s.span.name.as_str()),
        Some("run_agent"),
        "snapshot precedes children"
    );
}

#[test]
fn ids_have_the_wire_formats() {
    let h = setup();
    run_agent("q");
    let s = h.by_name("add");
    assert!(s.span.span_id.starts_with("00000000-0000-0000-") && s.span.span_id.len() == 36);
    assert_eq!(s.trace_id.len(), 36);
    assert_eq!(s.trace_id.matches('-').count(), 4);
    assert!(s.span.timestamp.ends_with("+00:00"));
    assert!(
        s.span.session_id.len() == 36,
        "default session id is a UUID: {}",
        s.span.session_id
    );
}
