//! The five-minute tour, with nothing to set up: starts a local `staso-server` in-process (ephemeral
//! loopback port, temporary database), runs an instrumented support agent inside a conversation, shuts
//! the SDK down, then reads the trace back over the server's HTTP read API and prints the span tree.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

#[path = "support_agent.rs"]
#[allow(dead_code)]
mod support_agent;

use std::time::Duration;

use serde_json::Value;

const API_KEY: &str = "ak_quickstart";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = staso_server::Server::builder().api_key(API_KEY).start()?;
    println!("local staso-server on {}", server.base_url());

    let config = staso::Config::builder()
        .api_key(API_KEY)
        .agent_name("support-bot")
        .base_url(server.base_url())
        .capture_git(false)
        .build()?;
    let staso = staso::init(config)?;

    let reply = staso::conversation!("conv-quickstart", user_id = "user-alice", async {
        support_agent::answer("Can I get a refund?", 42).await
    })
    .await?;
    println!("agent replied: {reply}");

    let report = staso.shutdown(Duration::from_secs(5));
    println!(
        "delivery: accepted {}, delivered {}, failed {}, pending {} (ok: {})",
        report.accepted,
        report.delivered,
        report.failed,
        report.pending,
        report.ok()
    );

    let base = server.base_url().to_owned();
    let (list, trace) = tokio::task::spawn_blocking(move || -> Result<(Value, Value), String> {
        let http = reqwest::blocking::Client::new();
        let get = |path: &str| -> Result<Value, String> {
            http.get(format!("{base}{path}"))
                .header("X-API-Key", API_KEY)
                .send()
                .and_then(|r| r.error_for_status())
                .and_then(|r| r.json::<Value>())
                .map_err(|e| format!("GET {path}: {e}"))
        };
        let list = get("/v1/traces?session_id=conv-quickstart")?;
        let id = list["traces"][0]["trace_id"]
            .as_str()
            .ok_or("no trace stored")?
            .to_owned();
        Ok((list, get(&format!("/v1/traces/{id}"))?))
    })
    .await??;

    let summary = &list["traces"][0];
    println!(
        "\ntrace {} — agent {}, {} spans, {} ms, status {}",
        summary["trace_id"].as_str().unwrap_or("?"),
        summary["agent_name"].as_str().unwrap_or("?"),
        summary["span_count"],
        summary["duration_ms"],
        summary["status"].as_str().unwrap_or("?"),
    );
    print_tree(
        trace["spans"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        None,
        0,
    );
    server.shutdown();
    Ok(())
}

fn print_tree(spans: &[Value], parent: Option<&str>, depth: usize) {
    for s in spans
        .iter()
        .filter(|s| s["parent_span_id"].as_str() == parent)
    {
        let mut line = format!(
            "{}{} {} [{}] {} ms",
            "  ".repeat(depth),
            s["kind"].as_str().unwrap_or("?"),
            s["name"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("?"),
            s["duration_ms"],
        );
        if let Some(err) = s["error_message"].as_str() {
            line.push_str(&format!("  error: {err}"));
        }
        println!("{line}");
        print_tree(spans, s["span_id"].as_str(), depth + 1);
    }
}
