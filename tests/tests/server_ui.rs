//! staso-server's web UI in a real headless Chromium: an agent run ingested through the SDK's
//! transport, then the trace list, the trace page's waterfall and detail panel, a score added
//! through the page's form, an escalation approved, the conversation, agents, datasets and
//! prompts pages, each saved as a screenshot under `target/ui-screenshots/`. The key form of a
//! server that asks for a key, and the list's polling fragment, are checked over HTTP.
//!
//! Without Chromium the browser test prints a note and passes, unless `STASO_REQUIRE_CHROMIUM`
//! is set (`.ci/run` sets it once Chromium is installed); then it fails.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use staso::{LlmCall, Span, SpanKind};
use staso_tests::chromium::Chromium;

const KEY: &str = "ak_ui";
const XSS: &str = "<script>document.body.dataset.pwned='1'</script>";
const POLICY: &str = r#"{"mode": "enforce", "rules": [
  {"name": "big-refund", "tool": "refund", "action": "escalate",
   "when": [{"pointer": "/amount", "greater_than": 100}], "reason": "large refund"}]}"#;

#[derive(Debug)]
struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

#[staso::trace(kind = "retriever", tags = ["rag", "<b>kb</b>"])]
fn retrieve(q: &str) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(15));
    vec![q.to_uppercase()]
}

#[staso::trace(kind = "llm")]
fn plan(q: &str) -> String {
    std::thread::sleep(Duration::from_millis(60));
    // gpt-4o: 1,000 uncached + 200 cached input, 300 output; no cost of its own: priced.
    Span::current().record_llm(
        LlmCall::new("gpt-4o-2024-08-06", "openai")
            .tokens(1_200, 300)
            .cache_read_tokens(200)
            .time_to_first_token(Duration::from_millis(180))
            .prompt(json!([{"role": "user", "content": q}]))
            .completion("look it up"),
    );
    "look it up".to_owned()
}

#[staso::tool]
fn charge(cents: u64) -> Result<String, Declined> {
    let _ = cents;
    std::thread::sleep(Duration::from_millis(5));
    Err(Declined)
}

#[staso::trace(kind = "llm")]
fn reply(q: &str) -> String {
    std::thread::sleep(Duration::from_millis(30));
    // Carries its own cost, which is kept.
    Span::current().record_llm(
        LlmCall::new("claude-haiku-4-5", "anthropic")
            .tokens(400, 100)
            .cost_usd(0.0042)
            .completion(format!("answer to {q}")),
    );
    format!("answer to {q}")
}

#[staso::agent(name = "support-agent")]
fn answer(q: &str) -> String {
    retrieve(q);
    plan(q);
    let _ = charge(500);
    let hostile = Span::start(XSS, SpanKind::Tool);
    hostile.end();
    reply(q)
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn api(base: &str, path: &str) -> Value {
    http()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn api_post(base: &str, path: &str, body: &Value) -> Value {
    http()
        .post(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .json(body)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Posts a form as the page would (same Origin); returns the status and `Location`.
fn form_post(base: &str, path: &str, fields: &[(&str, &str)], origin: &str) -> (u16, String) {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", staso_server::ui::html::url_enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = http()
        .post(format!("{base}{path}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", origin)
        .body(body)
        .send()
        .expect("form post");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (r.status().as_u16(), location)
}

/// The attributes of every `<a class="wf-row…">` of a serialized DOM, in document order.
fn waterfall_rows(dom: &str) -> Vec<HashMap<String, String>> {
    let mut rows = Vec::new();
    for piece in dom.split("<a class=\"wf-row").skip(1) {
        let tag = format!("class=\"wf-row{}", &piece[..piece.find('>').unwrap_or(0)]);
        let mut attrs = HashMap::new();
        let mut rest = tag.as_str();
        while let Some(eq) = rest.find("=\"") {
            let name = rest[..eq].rsplit(' ').next().unwrap_or("").to_owned();
            let after = &rest[eq + 2..];
            let end = after.find('"').unwrap_or(after.len());
            attrs.insert(name, after[..end].to_owned());
            rest = &after[(end + 1).min(after.len())..];
        }
        rows.push(attrs);
    }
    rows
}

/// The inner HTML of the element with `id` (up to the first closing tag of its name: enough for
/// the UI's leaf elements), in a serialized DOM.
fn by_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!(" id=\"{id}\"");
    let Some(at) = dom.find(&marker) else {
        panic!("no element #{id} in the page");
    };
    let open = dom[..at].rfind('<').unwrap_or(0);
    let tag = &dom[open + 1..at];
    let tag = tag.split(' ').next().unwrap_or(tag);
    let start = at + dom[at..].find('>').map_or(0, |i| i + 1);
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .map_or(dom.len(), |i| start + i);
    &dom[start..end]
}

/// An ingest body (PROTOCOL.md §2) of one trace with one root span.
fn wire_batch(trace_id: &str, workspace: &str, name: &str, at: &str, agent: &str) -> Value {
    json!({"traces": [{"trace_id": trace_id, "timestamp": at, "environment": "default",
        "workspace_slug": workspace, "spans": [{"span_id": "s1", "parent_span_id": null,
        "name": name, "kind": "agent", "timestamp": at, "duration_ms": 3.0, "status": "ok",
        "model": "", "provider": "", "requested_model": "", "usage_available": null,
        "reasoning_effort": "", "input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
        "input": "", "output": "", "attributes": "{}", "error_message": null,
        "session_id": "", "agent_name": agent, "agent_id": "", "agent_version": "",
        "user_id": ""}]}]})
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("ui-screenshots")
}

struct Run {
    server: staso_server::RunningServer,
    trace_id: String,
}

fn ingest_run() -> Run {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .guard_policy(staso_server::Policy::from_json(POLICY).expect("policy"))
        .start()
        .expect("server starts");
    let config = staso::Config::builder()
        .api_key(KEY)
        .agent_name("support-bot")
        .base_url(server.base_url())
        .capture_git(false)
        .build()
        .expect("config");
    let client = staso::init(config).expect("init");
    staso::conversation!("conv-ui", user_id = "user-ui", {
        answer("where is my order?");
        answer("refund it");
    });
    let report = client.shutdown(Duration::from_secs(15));
    assert!(report.ok(), "{report:?}");
    let list = api(server.base_url(), "/v1/traces?session_id=conv-ui");
    let traces = list["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 2, "{list}");
    // Newest first: the first turn is the second row.
    let trace_id = traces[1]["trace_id"].as_str().expect("trace id").to_owned();
    Run { server, trace_id }
}

#[test]
fn read_api_prices_spans_and_keeps_reported_costs() {
    let run = ingest_run();
    let base = run.server.base_url();
    let trace = api(base, &format!("/v1/traces/{}", run.trace_id));
    let cost_of = |name: &str| {
        trace["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .map(|s| s["cost_usd"].clone())
            .unwrap_or_else(|| panic!("no span {name}: {trace}"))
    };
    let priced = (1_000.0 * 2.5 + 200.0 * 1.25 + 300.0 * 10.0) / 1e6;
    let planned = cost_of("plan").as_f64().expect("priced");
    assert!((planned - priced).abs() < 1e-12, "{planned} != {priced}");
    assert_eq!(cost_of("reply"), json!(0.0042));
    assert_eq!(cost_of("charge"), Value::Null);
    let total = trace["cost_usd"].as_f64().expect("trace cost");
    assert!((total - (priced + 0.0042)).abs() < 1e-12, "{total}");
    let list = api(base, "/v1/traces?session_id=conv-ui");
    for t in list["traces"].as_array().into_iter().flatten() {
        assert!(
            (t["cost_usd"].as_f64().unwrap_or(0.0) - total).abs() < 1e-12,
            "{t}"
        );
        assert_eq!(t["total_tokens"], 1_500 + 500, "{t}");
    }
    let conv = api(base, "/v1/conversations/conv-ui");
    assert!(conv["traces"][0]["cost_usd"].is_number(), "{conv}");
}

#[test]
fn web_ui_in_headless_chromium() {
    let Some(chromium) = Chromium::find() else {
        assert!(
            !Chromium::required(),
            "STASO_REQUIRE_CHROMIUM is set but no chromium was found"
        );
        eprintln!("note: chromium not installed; the web UI browser test is skipped");
        return;
    };
    let run = ingest_run();
    let base = run.server.base_url().to_owned();
    let tid = run.trace_id.clone();
    let shots = screenshots();
    let dom = |path: &str| {
        chromium
            .dump_dom(&format!("{base}{path}"))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let shot = |path: &str, file: &str| {
        chromium
            .screenshot(&format!("{base}{path}"), &shots.join(file))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    };

    // The trace list: both turns, newest first, with agent, status, spans, tokens and cost.
    let list = dom("/");
    let rows: Vec<&str> = list.split("<tr data-trace-id=\"").skip(1).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert!(rows[1].starts_with(&tid), "oldest last");
    for r in &rows {
        assert!(
            r.contains(">support-agent<") && r.contains(">error<"),
            "{r}"
        );
        assert!(
            r.contains(">6<") && r.contains(">2,000<"),
            "spans, tokens: {r}"
        );
        assert!(r.contains(">$0.00995<"), "cost: {r}");
    }
    assert!(list.contains("live · updated"), "the list polled its rows");
    shot("/", "trace-list.png");

    // The trace page: one bar per span in tree order, nested, the failed tool marked.
    let page = dom(&format!("/traces/{tid}"));
    let bars = waterfall_rows(&page);
    let shape: Vec<(String, String, bool)> = bars
        .iter()
        .map(|b| {
            (
                b["data-name"].clone(),
                b["data-depth"].clone(),
                b["class"].contains("error"),
            )
        })
        .collect();
    let escaped = XSS.replace('<', "&lt;").replace('>', "&gt;");
    let want: Vec<(String, String, bool)> = [
        ("support-agent", "0", false),
        ("retrieve", "1", false),
        ("plan", "1", false),
        ("charge", "1", true),
        (escaped.as_str(), "1", false),
        ("reply", "1", false),
    ]
    .iter()
    .map(|(n, d, e)| ((*n).to_owned(), (*d).to_owned(), *e))
    .collect();
    assert_eq!(shape, want, "{page}");
    assert!(page.contains("<span class=\"err-mark\" title=\"error\">!</span>"));
    // The hostile span name is text: escaped in the DOM, and its script never ran.
    assert!(page.contains(&escaped), "escaped name in the page");
    assert!(!page.contains(XSS), "no live script element");
    assert!(
        !page.contains("data-pwned"),
        "the injected script did not run"
    );
    assert!(by_id(&page, "trace-cost").contains("$0.00995"));
    shot(&format!("/traces/{tid}"), "trace.png");

    // The detail panel of the priced LLM span.
    let plan_id = bars[2]["data-span-id"].clone();
    let detail = dom(&format!("/traces/{tid}?span={plan_id}"));
    assert!(waterfall_rows(&detail)[2]["class"].contains("selected"));
    assert_eq!(by_id(&detail, "detail-name"), "plan");
    assert_eq!(by_id(&detail, "d-model"), "gpt-4o-2024-08-06");
    assert_eq!(by_id(&detail, "d-provider"), "openai");
    assert_eq!(
        by_id(&detail, "d-tokens"),
        "1,200 in · 300 out · 1,500 total"
    );
    assert_eq!(by_id(&detail, "d-cached"), "200");
    assert_eq!(by_id(&detail, "d-cost"), "$0.00575 (from the price table)");
    assert_eq!(by_id(&detail, "d-ttft"), "180.0 ms");
    assert!(
        by_id(&detail, "d-input").contains("\"content\": \"where is my order?\""),
        "pretty-printed input: {}",
        by_id(&detail, "d-input")
    );
    assert!(by_id(&detail, "d-output").contains("look it up"));
    assert!(by_id(&detail, "d-metadata").contains("\"time_to_first_token\""));
    shot(
        &format!("/traces/{tid}?span={plan_id}"),
        "trace-llm-span.png",
    );
    let retrieve_id = bars[1]["data-span-id"].clone();
    let retrieved = dom(&format!("/traces/{tid}?span={retrieve_id}"));
    assert_eq!(
        by_id(&retrieved, "d-tags"),
        "<span class=\"chip\">rag</span> <span class=\"chip\">&lt;b&gt;kb&lt;/b&gt;</span> "
    );
    let reply_id = bars[5]["data-span-id"].clone();
    let reply = dom(&format!("/traces/{tid}?span={reply_id}"));
    assert_eq!(by_id(&reply, "d-cost"), "$0.0042 (reported by the span)");
    let charge_id = bars[3]["data-span-id"].clone();
    let failed = dom(&format!("/traces/{tid}?span={charge_id}"));
    assert!(
        by_id(&failed, "d-error").contains("card declined"),
        "{failed}"
    );

    // Adding a score through the page's form; another site's form is refused.
    let origin = base.clone();
    let scores = format!("/traces/{tid}/scores");
    let fields = [
        ("span_id", plan_id.as_str()),
        ("name", "helpfulness"),
        ("value", "0.8"),
        ("comment", "good plan"),
    ];
    let (status, _) = form_post(&base, &scores, &fields, "http://evil.example");
    assert_eq!(status, 403);
    let (status, location) = form_post(&base, &scores, &fields, &origin);
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/traces/{tid}?span={plan_id}#detail").as_str())
    );
    let bad = [("span_id", ""), ("name", "x"), ("value", "lots")];
    assert_eq!(form_post(&base, &scores, &bad, &origin).0, 400);
    let notes = api(&base, &format!("/v1/traces/{tid}/annotations"));
    let notes = notes["annotations"].as_array().cloned().unwrap_or_default();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        (
            &notes[0]["name"],
            &notes[0]["value"],
            &notes[0]["span_id"],
            &notes[0]["comment"]
        ),
        (
            &json!("helpfulness"),
            &json!(0.8),
            &json!(plan_id),
            &json!("good plan")
        )
    );
    let scored = dom(&format!("/traces/{tid}?span={plan_id}"));
    assert!(by_id(&scored, "d-annotations").contains("<strong>helpfulness</strong>"));
    chromium
        .screenshot_sized(
            &format!("{base}/traces/{tid}?span={plan_id}"),
            &shots.join("trace-scored.png"),
            (1400, 1500),
        )
        .expect("screenshot");

    // The conversation: two turns with the user's words, the agent's reply, tokens and cost.
    let conv = dom("/conversations/conv-ui");
    assert_eq!(by_id(&conv, "turn-count"), "2");
    assert!(conv.contains("where is my order?") && conv.contains("answer to refund it"));
    assert!(conv.contains("user-ui"));
    assert_eq!(by_id(&conv, "conversation-cost"), "$0.0199");
    shot("/conversations/conv-ui", "conversation.png");

    // Agents: one agent, two failed traces.
    let agents = dom("/agents");
    let row = agents
        .split("<tr data-agent=\"support-agent\">")
        .nth(1)
        .expect("support-agent row");
    assert!(row.contains(">2<") && row.contains(">100.0%<") && row.contains(">$0.0199<"));
    shot("/agents", "agents.png");

    // An escalation, approved with the page's button form.
    let decision = api_post(
        &base,
        "/v1/guard/evaluate",
        &json!({"payload_version": 1, "tool_name": "refund", "tool_input": {"amount": 250},
                "context": {"agent_name": "support-agent", "environment": "default"},
                "decision_id": "00000000-0000-4000-8000-0000000000ee",
                "decision_source": "manual", "failure_mode": "fail_open"}),
    );
    assert_eq!(decision["action"], "escalate");
    let esc = decision["escalation_id"]
        .as_str()
        .expect("escalation")
        .to_owned();
    let pending = dom("/escalations");
    assert!(pending.contains(&format!(
        "<tr data-escalation-id=\"{esc}\" data-status=\"pending\">"
    )));
    assert!(pending.contains(&format!("action=\"/escalations/{esc}/approve\"")));
    shot("/escalations", "escalations-pending.png");
    let (status, location) = form_post(
        &base,
        &format!("/escalations/{esc}/approve"),
        &[("reason", "checked the order")],
        &origin,
    );
    assert_eq!((status, location.as_str()), (303, "/escalations"));
    let state = api(&base, &format!("/v1/guard/escalations/{esc}"));
    assert_eq!(
        (&state["status"], &state["decided_by"], &state["reason"]),
        (
            &json!("approved"),
            &json!("web-ui"),
            &json!("checked the order")
        )
    );
    let (status, _) = form_post(
        &base,
        &format!("/escalations/{esc}/reject"),
        &[("reason", "")],
        &origin,
    );
    assert_eq!(status, 409, "an escalation is decided once");
    let decided = dom("/escalations");
    assert!(decided.contains(&format!(
        "<tr data-escalation-id=\"{esc}\" data-status=\"approved\">"
    )));
    shot("/escalations", "escalations-approved.png");

    // Datasets with their entries, prompts with their versions.
    let ds = api_post(
        &base,
        "/v1/datasets",
        &json!({"name": "refund-questions", "description": "support evals"}),
    );
    let ds_id = ds["id"].as_str().expect("dataset id");
    api_post(
        &base,
        &format!("/v1/datasets/{ds_id}/entries/bulk"),
        &json!({"entries": [{"question": "where is my order?", "answer": "shipped"},
                            {"question": "refund <b>now</b>", "answer": "approved"}]}),
    );
    let datasets = dom("/datasets");
    assert!(datasets.contains("refund-questions") && datasets.contains("shipped"));
    assert!(datasets.contains("refund &lt;b&gt;now&lt;/b&gt;"));
    shot("/datasets", "datasets.png");
    for (content, env) in [
        ("Hi {{name}}", "production"),
        ("Hello {{name}}!", "staging"),
    ] {
        api_post(
            &base,
            "/v1/prompts",
            &json!({"name": "greeting", "content": content, "environment": env}),
        );
    }
    let prompts = dom("/prompts");
    assert!(prompts.contains("data-version=\"2\"") && prompts.contains("data-version=\"1\""));
    assert!(prompts.contains("Hello {{name}}!") && prompts.contains(">staging<"));
    shot("/prompts", "prompts.png");
}

#[test]
fn the_list_fragment_shows_new_traces() {
    let run = ingest_run();
    let base = run.server.base_url();
    let before = http()
        .get(format!("{base}/ui/fragments/traces?agent=support-agent"))
        .send()
        .and_then(|r| r.text())
        .expect("fragment");
    assert_eq!(before.matches("<tr data-trace-id=").count(), 2, "{before}");
    let now = staso_server::timefmt::now_rfc3339();
    let ingest = wire_batch("t-new", "default", "late run", &now, "support-agent");
    let r = http()
        .post(format!("{base}/v1/traces/ingest"))
        .header("X-API-Key", KEY)
        .header("Idempotency-Key", "ui-late")
        .json(&ingest)
        .send()
        .expect("ingest");
    assert!(r.status().is_success(), "{:?}", r.text());
    let after = http()
        .get(format!("{base}/ui/fragments/traces?agent=support-agent"))
        .send()
        .and_then(|r| r.text())
        .expect("fragment");
    assert_eq!(after.matches("<tr data-trace-id=").count(), 3, "{after}");
    assert!(after.starts_with("<tr data-trace-id=\"t-new\">"), "{after}");
}

#[test]
fn off_loopback_the_ui_asks_for_a_key_and_shows_its_workspaces() {
    let server = staso_server::Server::builder()
        .key(staso_server::ApiKey::all_workspaces(KEY))
        .key(staso_server::ApiKey::scoped("ak_team", ["team"]))
        .ui_requires_key(true)
        .start()
        .expect("server");
    let base = server.base_url();
    for (id, ws) in [("t-team", "team"), ("t-other", "other")] {
        let name = format!("run in {ws}");
        let body = wire_batch(id, ws, &name, "2026-01-01T00:00:00+00:00", "bot");
        let r = http()
            .post(format!("{base}/v1/traces/ingest"))
            .header("X-API-Key", KEY)
            .header("Idempotency-Key", id)
            .json(&body)
            .send()
            .expect("ingest");
        assert!(r.status().is_success());
    }
    let r = http()
        .get(format!("{base}/?status=ok"))
        .send()
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"].to_str().ok(),
        Some("/login?next=%2F%3Fstatus%3Dok")
    );
    let login = http().get(format!("{base}/login")).send().expect("login");
    assert_eq!(login.status().as_u16(), 200);
    assert!(login.text().unwrap_or_default().contains("name=\"key\""));
    let (status, _) = form_post(base, "/login", &[("key", "wrong"), ("next", "/")], base);
    assert_eq!(status, 401);
    let r = http()
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("key=ak_team&next=%2F")
        .send()
        .expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap_or("").to_owned();
    assert!(
        cookie.starts_with("staso_ui_key=ak_team;")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Max-Age"),
        "{cookie}"
    );
    let page = http()
        .get(format!("{base}/"))
        .header("Cookie", "staso_ui_key=ak_team")
        .send()
        .and_then(|r| r.text())
        .expect("list");
    assert!(
        page.contains("run in team") && !page.contains("run in other"),
        "{page}"
    );
    assert!(page.contains("key · workspaces team"));
    let other = http()
        .get(format!("{base}/traces/t-other"))
        .header("Cookie", "staso_ui_key=ak_team")
        .send()
        .expect("trace");
    assert_eq!(other.status().as_u16(), 404);
    if let Some(chromium) = Chromium::find() {
        chromium
            .screenshot(&format!("{base}/login"), &screenshots().join("login.png"))
            .expect("screenshot");
    }
}

#[test]
fn pages_answer_on_an_empty_server_and_bad_input_is_a_4xx_page() {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server");
    let base = server.base_url();
    let get = |path: &str| {
        let r = http().get(format!("{base}{path}")).send().expect("get");
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let csp = r.headers().contains_key("content-security-policy");
        (status, kind, csp, r.text().unwrap_or_default())
    };
    for (path, marker) in [
        ("/", "No traces match."),
        ("/agents?window=all", "No traces in this window."),
        ("/escalations", "No escalations."),
        ("/datasets", "No datasets yet."),
        ("/prompts", "No prompts yet."),
    ] {
        let (status, kind, csp, body) = get(path);
        assert_eq!(status, 200, "{path}");
        assert!(kind.starts_with("text/html") && csp, "{path}: {kind}");
        assert!(body.contains(marker), "{path}: {body}");
    }
    for (path, status, message) in [
        ("/traces/nope", 404, "trace &quot;nope&quot; not found"),
        (
            "/conversations/nope",
            404,
            "conversation &quot;nope&quot; not found",
        ),
        ("/?range=forever", 400, "range: unknown range"),
        (
            "/?since=soon",
            400,
            "since: &quot;soon&quot; is not RFC 3339",
        ),
        ("/?cursor=zzz", 400, "cursor: not a cursor from this server"),
        ("/agents?window=forever", 400, "window: unknown window"),
        ("/ui/assets/nope.js", 404, "no asset"),
    ] {
        let (got, kind, _, body) = get(path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(kind.starts_with("text/html"), "{path}");
        assert!(body.contains(message), "{path}: {body}");
    }
    let (status, kind, _, css) = get("/ui/assets/ui.css");
    assert_eq!((status, kind.as_str()), (200, "text/css; charset=utf-8"));
    assert!(css.contains(".wf-bar"));
    // Form posts: unknown trace, unknown decision, unknown escalation, foreign host name.
    let origin = base.to_owned();
    let score = [("name", "q"), ("value", "1")];
    assert_eq!(
        form_post(base, "/traces/nope/scores", &score, &origin).0,
        404
    );
    assert_eq!(form_post(base, "/escalations/x/maybe", &[], &origin).0, 404);
    assert_eq!(
        form_post(base, "/escalations/x/approve", &[], &origin).0,
        404
    );
    let rebound = http()
        .get(format!("{base}/"))
        .header("Host", "attacker.example")
        .send()
        .expect("get");
    assert_eq!(rebound.status().as_u16(), 403);
    // The API keeps answering JSON beside the UI.
    let (status, kind, _, _) = get("/v1/traces");
    assert_eq!((status, kind.as_str()), (401, "application/json"));
}
