//! Trace retention: `Server::builder().retain_for(..)` / `.max_db_bytes(..)` and the binary's
//! `serve --retain-days` / `--max-db-mb`, enforced in the background (the first pass at start).

mod common;

use std::time::{Duration, Instant};

use common::{KEY, Peer, count_traces, group, span};
use serde_json::{Value, json};

const ROOT: &str = "00000000-0000-0000-0000-000000000001";

/// One old trace (2020) and one from now.
fn old_and_new(peer: &Peer) {
    let now = staso_server::timefmt::now_rfc3339();
    let body = json!({"traces": [
        group("old", "default", vec![span(ROOT, None, "old run", "agent", "2020-01-01T00:00:00+00:00")]),
        group("new", "default", vec![span(ROOT, None, "new run", "agent", &now)]),
    ]});
    let (status, ack) = peer.ingest("k1", &body);
    assert_eq!(status, 200, "{ack}");
}

fn ids(list: &Value) -> Vec<String> {
    list["traces"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["trace_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn traces_past_the_age_are_deleted_in_the_background() {
    let peer = Peer::start_with(|b| {
        b.api_key(KEY)
            .retain_for(Duration::from_secs(30 * 86_400))
            .retention_interval(Duration::from_millis(50))
    });
    old_and_new(&peer);
    wait_for("the old trace to go", || count_traces(&peer, KEY) == 1);
    assert_eq!(ids(&peer.get("/v1/traces", KEY).1), ["new"]);
    let (status, _) = peer.get("/v1/traces/old", KEY);
    assert_eq!(status, 404);
}

#[test]
fn serve_flags_retain_days_and_max_db_mb() {
    let peer = Peer::start();
    old_and_new(&peer);
    assert_eq!(count_traces(&peer, KEY), 2);
    let Peer { server, dir, .. } = peer;
    server.shutdown();
    let get = |addr: std::net::SocketAddr| -> Value {
        reqwest::blocking::Client::new()
            .get(format!("http://{addr}/v1/traces"))
            .header("X-API-Key", KEY)
            .send()
            .and_then(|r| r.json())
            .unwrap()
    };
    // --retain-days: the pass at start deletes the 2020 trace.
    let (mut child, addr, _out) = common::spawn_binary(
        dir.path(),
        &["--api-key", KEY, "--retain-days", "30"],
        false,
    );
    wait_for("--retain-days", || ids(&get(addr)) == ["new"]);
    child.kill().unwrap();
    child.wait().unwrap();
    // --max-db-mb 0: nothing fits, every trace goes.
    let (mut child, addr, _out) =
        common::spawn_binary(dir.path(), &["--api-key", KEY, "--max-db-mb", "0"], false);
    wait_for("--max-db-mb", || ids(&get(addr)).is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
}
