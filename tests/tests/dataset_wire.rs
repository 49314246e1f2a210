//! The dataset client on the wire (PROTOCOL.md §7.1, decisions 3 and 10), against a scripted
//! recording server on 127.0.0.1: headers, paths, bodies, the multipart upload, retries and
//! `Retry-After`, the 404 rewrite, and blocking calls made from inside a runtime.

mod dataset_common;

use std::ops::Deref;
use std::time::{Duration, Instant};

use dataset_common::point_at;
use serde_json::{Value, json};
use staso::dataset::{self, GenerateOptions, ListOptions, SplitType, blocking};
use staso_tests::http::{self, Response};

/// A recorded request; `target` is its path and query (as these tests call it).
#[derive(Clone, Debug)]
struct Request {
    target: String,
    request: http::Request,
}

impl Deref for Request {
    type Target = http::Request;

    fn deref(&self) -> &http::Request {
        &self.request
    }
}

/// One scripted answer: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, String);

/// Answers each request with the next scripted answer (the last repeats), `Connection: close`.
struct Recorder {
    base_url: String,
    http: http::Server,
}

impl Recorder {
    fn start(answers: Vec<Answer>) -> Recorder {
        let mut answered = 0;
        let http = http::Server::start(move |_| {
            let (status, extra, text) = &answers[answered.min(answers.len() - 1)];
            answered += 1;
            extra
                .iter()
                .fold(Response::json(*status, text.as_bytes()), |r, (n, v)| {
                    r.header(*n, *v)
                })
                .header("Connection", "close")
        });
        Recorder {
            base_url: http.url(),
            http,
        }
    }

    fn requests(&self) -> Vec<Request> {
        let requests = self.http.requests().into_iter();
        requests
            .map(|request| Request {
                target: request.path.clone(),
                request,
            })
            .collect()
    }
}

fn ok(body: Value) -> Answer {
    (200, vec![], body.to_string())
}

fn dataset_json(id: &str) -> Value {
    json!({"id": id, "name": "n"})
}

#[tokio::test]
async fn headers_paths_and_lenient_parsing() {
    let rec = Recorder::start(vec![
        ok(dataset_json("a b/c")),
        ok(json!([dataset_json("x"), dataset_json("y")])),
        (204, vec![], String::new()),
    ]);
    let _g = point_at(&rec.base_url);
    let d = dataset::get("a b/c").await.unwrap();
    // Defaults filled in as §7.2 says.
    assert_eq!(
        (d.template.as_str(), d.kind.as_str(), d.entry_count),
        ("custom", "tabular", 0)
    );
    let listed = dataset::list(ListOptions {
        folder_id: Some("f1".into()),
        limit: 7,
        offset: 3,
    })
    .await
    .unwrap();
    assert_eq!(listed.len(), 2, "a bare list is accepted");
    dataset::delete_entry("ds", "e1").await.unwrap();

    let reqs = rec.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].target.as_str()),
        ("GET", "/v1/datasets/a%20b%2Fc")
    );
    let ua = format!("staso-rust/{}", env!("CARGO_PKG_VERSION"));
    for r in &reqs {
        assert_eq!(r.header("user-agent"), Some(ua.as_str()));
        assert_eq!(r.header("x-api-key"), Some("ak_test"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("x-workspace-id").is_none());
    }
    assert_eq!(reqs[1].target, "/v1/datasets?limit=7&offset=3&folder_id=f1");
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].target.as_str()),
        ("DELETE", "/v1/datasets/ds/entries")
    );
    assert_eq!(reqs[2].json(), json!({"entry_ids": ["e1"]}));
}

#[tokio::test]
async fn retries_5xx_and_429_honouring_retry_after() {
    let rec = Recorder::start(vec![
        (503, vec![("Retry-After", "0.2")], "{}".into()),
        (429, vec![], "{}".into()),
        ok(dataset_json("d")),
    ]);
    let _g = point_at(&rec.base_url);
    let started = Instant::now();
    assert_eq!(dataset::get("d").await.unwrap().id, "d");
    let took = started.elapsed();
    assert_eq!(rec.requests().len(), 3);
    assert!(
        took >= Duration::from_millis(1200),
        "0.2 s Retry-After + 1 s backoff: {took:?}"
    );
}

#[tokio::test]
async fn gives_up_after_three_attempts_and_never_retries_4xx() {
    let rec = Recorder::start(vec![(
        500,
        vec![],
        "{\"error\":\"backend_unavailable\"}".into(),
    )]);
    let g = point_at(&rec.base_url);
    let err = dataset::get("d").await.unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.status_code),
        ("Dataset API error: 500", Some(500))
    );
    assert_eq!(err.response_body, "{\"error\":\"backend_unavailable\"}");
    assert_eq!(rec.requests().len(), 3);
    drop(g);

    let rec = Recorder::start(vec![(422, vec![], "{\"detail\":\"bad\"}".into())]);
    let _g = point_at(&rec.base_url);
    let err = dataset::update("d", Default::default()).await.unwrap_err();
    assert_eq!(err.status_code, Some(422));
    let reqs = rec.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].json()),
        ("PATCH", json!({}))
    );
}

#[tokio::test]
async fn generate_body_and_404_rewrite() {
    let rec = Recorder::start(vec![
        ok(json!({"entries": [{"id": "e", "dataset_id": "d", "data": {"q": 1}}]})),
        ok(json!([1, 2])),
        (404, vec![], "{\"error\":\"not_found\"}".into()),
    ]);
    let _g = point_at(&rec.base_url);
    let opts = GenerateOptions {
        count: 3,
        prompt: Some("harder".into()),
        seed_entry_ids: vec!["s1".into()],
    };
    let made = dataset::generate("d", opts).await.unwrap();
    assert_eq!(made[0].data["q"], 1);
    assert!(
        dataset::generate("d", Default::default())
            .await
            .unwrap()
            .is_empty(),
        "non-object answer"
    );
    let err = dataset::generate("d", Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Synthetic generation is not available on this Staso backend yet (HTTP 404). The SDK client ships ahead of the server for this feature."
    );
    assert_eq!(
        (err.status_code, err.response_body.as_str()),
        (Some(404), "{\"error\":\"not_found\"}")
    );
    let reqs = rec.requests();
    assert_eq!(reqs[0].target, "/v1/datasets/d/generate");
    assert_eq!(
        reqs[0].json(),
        json!({"count": 3, "instructions": "harder", "seed_entry_ids": ["s1"]})
    );
    assert_eq!(reqs[1].json(), json!({"count": 10}));
}

#[tokio::test]
async fn csv_upload_is_real_multipart() {
    let rec = Recorder::start(vec![ok(json!({"imported": 2}))]);
    let _g = point_at(&rec.base_url);
    let path = std::env::temp_dir().join(format!("staso-wire-{}.csv", std::process::id()));
    std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
    let n = dataset::upload_csv("d", &path, Some(SplitType::Train))
        .await
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(n, 2);
    let r = &rec.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/v1/datasets/d/import/csv?split_id=train")
    );
    let ct = r.header("content-type").unwrap();
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").expect(ct);
    let body = String::from_utf8(r.body.clone()).unwrap();
    let file_name = path.file_name().unwrap().to_string_lossy();
    assert!(body.starts_with(&format!("--{boundary}\r\n")), "{body}");
    assert!(
        body.contains(&format!("Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n3,4\n\r\n--{boundary}--")),
        "{body}"
    );
}

#[tokio::test]
async fn blocking_calls_inside_a_runtime_neither_panic_nor_deadlock() {
    let rec = Recorder::start(vec![ok(dataset_json("d"))]);
    let _g = point_at(&rec.base_url);
    // On the (current-thread) test runtime itself …
    assert_eq!(blocking::get("d").unwrap().id, "d");
    // … and on a spawned task of a multi-thread runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let id = std::thread::spawn(move || {
        let id = rt.block_on(async { tokio::spawn(async { blocking::get("d") }).await.unwrap() });
        rt.shutdown_background();
        id
    })
    .join()
    .unwrap()
    .unwrap()
    .id;
    assert_eq!(id, "d");
}

#[test]
fn without_a_client_the_environment_is_read() {
    let _lock = dataset_common::lock();
    staso::shutdown(Duration::from_secs(1));
    // The test process has no STASO_API_KEY (CI does not set it): the call says what to do.
    if std::env::var_os("STASO_API_KEY").is_none() {
        let err = blocking::get("d").unwrap_err();
        assert_eq!(err.kind, dataset::DatasetErrorKind::NotConfigured);
        assert!(err.message.contains("STASO_API_KEY"), "{err}");
    }
}
