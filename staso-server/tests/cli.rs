//! The binary: `serve` starts and answers, `traces` and `show` print what was ingested.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_staso-server");

/// Starts `serve` and returns the child and the lines it printed up to the listening line.
fn serve(args: &[&str]) -> (Child, String, Vec<String>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("STASO_SERVER_API_KEYS")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let mut base = String::new();
    for line in lines.by_ref().take(4) {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("staso-server listening on ") {
            base = url.to_owned();
        }
        printed.push(line);
        if printed.len() >= 2 && !args.is_empty() && args.contains(&"--api-key") {
            break;
        }
    }
    (child, base, printed)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_answers_then_traces_and_show_print_what_was_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    let (mut child, base, printed) = serve(&["--db", db, "--api-key", "ak_test"]);
    assert!(base.starts_with("http://127.0.0.1:"), "{printed:?}");
    let recorded = common::golden("error.json");
    let req = &recorded["requests"][0];
    let ack: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/v1/traces/ingest"))
        .header("X-API-Key", "ak_test")
        .header("Idempotency-Key", "cli-1")
        .json(&req["body"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ack["accepted"], 3);
    child.kill().unwrap();
    child.wait().unwrap();

    let (ok, out, err) = run(&["traces", "--db", db]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("TIMESTAMP"));
    assert!(
        lines[1].contains("step") && lines[1].contains("error") && lines[1].contains("87bc001c")
    );
    assert!(lines[3].contains("run_agent_caught") && lines[3].contains("1.63ms"));

    let (ok, out, err) = run(&["show", "ee72dd69-e2ca-c0fb-8c56-368c06cac526", "--db", db]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "trace ee72dd69-e2ca-c0fb-8c56-368c06cac526 (environment default, workspace default) \
         2026-11-23T06:04:55.413829+00:00\n\
         └─ run_agent_propagates [agent] 0.19ms error\n      \
            ! ValueError: lookup failed for 'beta'\n   \
            └─ flaky_lookup [tool] 0.03ms error\n         \
               ! ValueError: lookup failed for 'beta'\n"
    );
    let (ok, _, err) = run(&["show", "missing", "--db", db]);
    assert!(!ok && err.contains("not found"));
}

#[test]
fn serve_without_key_prints_a_dev_key_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dev.db");
    let (mut child, base, printed) = serve(&["--db", db.to_str().unwrap()]);
    let key = printed
        .iter()
        .find_map(|l| l.strip_prefix("dev API key: "))
        .unwrap_or_else(|| panic!("no dev key in {printed:?}"))
        .to_owned();
    let status = reqwest::blocking::Client::new()
        .get(format!("{base}/v1/traces"))
        .header("X-API-Key", &key)
        .send()
        .unwrap()
        .status();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status.as_u16(), 200);
}

#[test]
fn bad_key_spec_and_missing_database_fail_cleanly() {
    let (ok, _, err) = run(&["serve", "--addr", "127.0.0.1:0", "--api-key", ":ws"]);
    assert!(!ok && err.contains("api key must not be empty"), "{err}");
    let (ok, _, err) = run(&["traces", "--db", "/nonexistent/staso.db"]);
    assert!(!ok && err.contains("no database"), "{err}");
}
