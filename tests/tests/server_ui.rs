//! staso-server's web UI in a real headless Chromium: an agent run ingested through the SDK's
//! transport, then the trace list, the trace page's waterfall and detail panel, a score added
//! through the page's form, an escalation approved, the conversation, agents, datasets and
//! prompts pages, each saved as a screenshot under `target/ui-screenshots/`; and the read API's
//! costs of the same run. (`server_ui_http.rs` checks the rest over HTTP.)
//!
//! Without Chromium the browser test prints a note and passes, unless `STASO_REQUIRE_CHROMIUM`
//! is set (`.ci/run` sets it once Chromium is installed); then it fails.

mod ui_support;

use serde_json::{Value, json};
use staso_tests::chromium::Chromium;
use ui_support::*;

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

    // In the browser, over DevTools: a click on the plan span's bar opens its detail, and the
    // score form is filled and submitted there.
    let mut browser = chromium.devtools().unwrap_or_else(|e| panic!("{e}"));
    let cdp = |r: Result<Value, staso_tests::cdp::CdpError>| r.unwrap_or_else(|e| panic!("{e}"));
    browser
        .navigate(&format!("{base}/traces/{tid}"))
        .unwrap_or_else(|e| panic!("{e}"));
    cdp(browser.eval("document.querySelectorAll('a.wf-row')[2].click()"));
    cdp(browser.wait_for("document.getElementById('detail-name').textContent === 'plan'"));
    assert_eq!(
        cdp(browser.eval("location.search")),
        json!(format!("?span={plan_id}"))
    );
    assert_eq!(
        cdp(browser.eval("document.querySelector('a.wf-row.selected').dataset.name")),
        json!("plan")
    );
    cdp(browser.eval(
        "(() => { const f = document.getElementById('score-form'); \
         f.querySelector('[name=name]').value = 'helpfulness'; \
         f.querySelector('[name=value]').value = '0.8'; \
         f.querySelector('[name=comment]').value = 'good plan'; \
         f.querySelector('button[type=submit]').click(); return true; })()",
    ));
    cdp(browser.wait_for(
        "document.querySelector('#d-annotations strong')?.textContent === 'helpfulness'",
    ));
    // The same form from another site is refused; a value that is no number names the field.
    let origin = base.clone();
    let scores = format!("/traces/{tid}/scores");
    let fields = [
        ("span_id", plan_id.as_str()),
        ("name", "helpfulness"),
        ("value", "0.8"),
    ];
    let (status, _) = form_post(&base, &scores, &fields, "http://evil.example");
    assert_eq!(status, 403);
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
    // Approved with the page's button, in the browser.
    let row = format!("document.querySelector('tr[data-escalation-id=\"{esc}\"]')");
    browser
        .navigate(&format!("{base}/escalations"))
        .unwrap_or_else(|e| panic!("{e}"));
    cdp(browser.eval(&format!(
        "{row}.querySelector('form[action$=\"/approve\"] input').value = 'checked the order'"
    )));
    cdp(browser.eval(&format!("{row}.querySelector('button.approve').click()")));
    cdp(browser.wait_for(&format!("{row}?.dataset.status === 'approved'")));
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
