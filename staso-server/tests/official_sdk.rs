//! Interop with the official Python SDK 0.5.25, live: its own golden programs run against this
//! server, which must ack every batch and store traces readable through the read API.
//!
//! Needs a Python with `staso==0.5.25` installed, named by `STASO_PYTHON` (`.ci/run` sets it up in a
//! venv from PyPI); without it the test prints a note and returns.

mod common;

use std::process::Command;

use common::{KEY, Peer};

fn python() -> Option<String> {
    let py = std::env::var("STASO_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())?;
    let ok = Command::new(&py)
        .args(["-c", "import staso"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

fn run_program(py: &str, peer: &Peer, program: &str) -> String {
    let path = format!("{}/tests/python/{program}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(py)
        .arg(&path)
        .env("STASO_PORT", peer.server.addr().port().to_string())
        .env_remove("STASO_API_KEY")
        .env_remove("STASO_BASE_URL")
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn official_sdk_programs_are_acked_and_readable() {
    let Some(py) = python() else {
        eprintln!(
            "note: STASO_PYTHON with staso==0.5.25 not available; official-SDK interop test skipped"
        );
        return;
    };
    let peer = Peer::start();
    let out = run_program(&py, &peer, "staso_python_client_error.py");
    // The SDK prints its final delivery report: everything delivered means every ack validated.
    assert!(
        out.contains("failed=0") && out.contains("pending=0") && out.contains("rejected=0"),
        "{out}"
    );
    let redacted = run_program(&py, &peer, "staso_python_client_redacted.py");
    assert!(
        redacted.contains("failed=0") && redacted.contains("pending=0"),
        "{redacted}"
    );

    let (status, list) = peer.get("/v1/conversations/conv-err", KEY);
    assert_eq!(status, 200, "{list}");
    let traces = list["traces"].as_array().cloned().unwrap_or_default();
    assert!(traces.len() >= 3, "{list}");
    let mut names = Vec::new();
    for t in &traces {
        let id = t["trace_id"].as_str().unwrap_or_default();
        let (status, trace) = peer.get(&format!("/v1/traces/{id}"), KEY);
        assert_eq!(status, 200);
        for s in trace["spans"].as_array().into_iter().flatten() {
            names.push((
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["status"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    for expected in [
        ("run_agent_caught", "ok"),
        ("run_agent_propagates", "error"),
        ("flaky_lookup", "error"),
        ("step", "error"),
    ] {
        assert!(
            names
                .iter()
                .any(|(n, s)| n == expected.0 && s == expected.1),
            "{expected:?} missing from {names:?}"
        );
    }
    let (status, red) = peer.get("/v1/conversations/conv-red", KEY);
    assert_eq!(status, 200);
    assert!(
        !red["traces"].as_array().map(Vec::is_empty).unwrap_or(true),
        "{red}"
    );
}
