//! `serve --verbose` logs one line per request to stderr — method, matched route, status,
//! duration, bytes, workspace — and never a key, a raw path or a payload.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

const SECRET: &str = "ak_secret_do_not_log";
const MARKER: &str = "payload-marker-do-not-log";
const TRACE_ID: &str = "trace-raw-id-do-not-log";

#[test]
fn verbose_logs_one_line_per_request_without_keys_or_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("{SECRET};ak_scoped:team-a");
    let (mut child, addr, _printed) =
        common::spawn_binary(dir.path(), &["--verbose", "--api-key", &keys], true);
    let base = format!("http://{addr}");

    let mut body = common::simple_body(&[TRACE_ID], "default");
    body["traces"][0]["spans"][0]["input"] = MARKER.into();
    let http = Client::new();
    let send = |req: reqwest::blocking::RequestBuilder| req.send().unwrap().status().as_u16();
    let statuses = [
        send(
            http.post(format!("{base}/v1/traces/ingest"))
                .header("X-API-Key", SECRET)
                .header("Idempotency-Key", "log-1")
                .json(&body),
        ),
        send(
            http.get(format!("{base}/v1/traces/{TRACE_ID}"))
                .header("X-API-Key", SECRET),
        ),
        send(
            http.get(format!("{base}/v1/traces"))
                .header("X-API-Key", "ak_scoped"),
        ),
        send(
            http.get(format!("{base}/v1/traces"))
                .header("X-API-Key", "ak_wrong"),
        ),
        send(http.get(format!("{base}/no/such/route"))),
    ];
    assert_eq!(statuses, [200, 200, 200, 401, 404]);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    let line = regex::Regex::new(
        r"^\[INFO\] request method=(GET|POST) route=(\S+) status=(\d{3}) duration_ms=\d+\.\d bytes_in=(\d+) bytes_out=(\d+) workspace=(\S+)$",
    )
    .unwrap();
    let logged: Vec<(String, String, String, String)> = stderr
        .lines()
        .filter(|l| l.contains(" request "))
        .map(|l| {
            let c = line.captures(l).unwrap_or_else(|| panic!("bad line: {l}"));
            assert!(c[5].parse::<u64>().unwrap() > 0, "{l}");
            (
                c[1].to_owned(),
                c[2].to_owned(),
                format!("{} in={}", &c[3], &c[4]),
                c[6].to_owned(),
            )
        })
        .collect();
    let ingest_len = serde_json::to_vec(&body).unwrap().len();
    let expected = [
        (
            "POST",
            "/v1/traces/ingest",
            format!("200 in={ingest_len}"),
            "*",
        ),
        ("GET", "/v1/traces/{trace_id}", "200 in=0".to_owned(), "*"),
        ("GET", "/v1/traces", "200 in=0".to_owned(), "team-a"),
        ("GET", "/v1/traces", "401 in=0".to_owned(), "-"),
        ("GET", "-", "404 in=0".to_owned(), "-"),
    ];
    let expected: Vec<(String, String, String, String)> = expected
        .into_iter()
        .map(|(m, r, s, w)| (m.to_owned(), r.to_owned(), s, w.to_owned()))
        .collect();
    assert_eq!(logged, expected, "{stderr}");
    for secret in [
        SECRET,
        "ak_scoped",
        "ak_wrong",
        MARKER,
        TRACE_ID,
        "/no/such",
    ] {
        assert!(!stderr.contains(secret), "{secret:?} logged:\n{stderr}");
    }
}
