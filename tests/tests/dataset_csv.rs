//! CSV upload and download against a real `staso-server`: quoting, commas, newlines and
//! unicode survive a full round trip; errors carry the status and body.

mod dataset_common;

use dataset_common::setup;
use serde_json::{Map, Value};
use staso::dataset::{self, DatasetErrorKind, ListEntriesOptions, SplitType, blocking};

const CSV: &str = "question,answer,notes\r\n\
\"He said \"\"hi\"\", then left\",\"a, b, c\",plain\r\n\
\"line one\nline two\",\u{65e5}\u{672c}\u{8a9e} \u{1f680},\"caf\u{e9}\"\r\n\
\"\",  spaced  ,\"trailing,\"\r\n";

fn expected_rows() -> Vec<Map<String, Value>> {
    let row = |q: &str, a: &str, n: &str| {
        let mut m = Map::new();
        m.insert("question".into(), q.into());
        m.insert("answer".into(), a.into());
        m.insert("notes".into(), n.into());
        m
    };
    vec![
        row("He said \"hi\", then left", "a, b, c", "plain"),
        row(
            "line one\nline two",
            "\u{65e5}\u{672c}\u{8a9e} \u{1f680}",
            "caf\u{e9}",
        ),
        row("", "  spaced  ", "trailing,"),
    ]
}

async fn data_of(dataset_id: &str, split: Option<SplitType>) -> Vec<Map<String, Value>> {
    dataset::list_entries(
        dataset_id,
        ListEntriesOptions {
            split,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.data)
    .collect()
}

#[tokio::test]
async fn csv_round_trip_keeps_quotes_commas_newlines_and_unicode() {
    let _env = setup();
    let dir = std::env::temp_dir().join(format!("staso-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let upload = dir.join("upload \u{e9}.csv");
    std::fs::write(&upload, CSV).unwrap();

    let ds = dataset::create("csv", Default::default()).await.unwrap();
    let imported = dataset::upload_csv(&ds.id, &upload, Some(SplitType::Validation))
        .await
        .unwrap();
    assert_eq!(imported, 3);
    assert_eq!(
        data_of(&ds.id, Some(SplitType::Validation)).await,
        expected_rows()
    );
    let entries = dataset::list_entries(&ds.id, Default::default())
        .await
        .unwrap();
    assert!(entries.iter().all(|e| e.source_type == "csv"));

    let download = dir.join("download.csv");
    let written = dataset::download_csv(&ds.id, &download, None)
        .await
        .unwrap();
    assert_eq!(written, download);
    let text = std::fs::read_to_string(&download).unwrap();
    assert!(text.starts_with("question,answer,notes"), "{text}");
    assert!(text.contains("\"He said \"\"hi\"\", then left\""), "{text}");
    assert!(text.contains("\u{1f680}"), "{text}");

    // The downloaded file imports back into the same rows.
    let copy = dataset::create("csv-copy", Default::default())
        .await
        .unwrap();
    assert_eq!(
        dataset::upload_csv(&copy.id, &download, None)
            .await
            .unwrap(),
        3
    );
    assert_eq!(data_of(&copy.id, None).await, expected_rows());

    // A split filter on download: only the matching rows.
    dataset::add_entries(
        &copy.id,
        [serde_json::json!({"question": "only-train"})],
        Some(SplitType::Train),
    )
    .await
    .unwrap();
    let train = dir.join("train.csv");
    dataset::download_csv(&copy.id, &train, Some(SplitType::Train))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&train).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("only-train"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn blocking_csv_round_trip_and_errors() {
    let _env = setup();
    let dir = std::env::temp_dir().join(format!("staso-csv-blocking-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let upload = dir.join("in.csv");
    std::fs::write(&upload, CSV).unwrap();
    let ds = blocking::create("csv-blocking", Default::default()).unwrap();
    assert_eq!(blocking::upload_csv(&ds.id, &upload, None).unwrap(), 3);
    let out = blocking::download_csv(&ds.id, dir.join("out.csv"), None).unwrap();
    let copy = blocking::create("csv-blocking-copy", Default::default()).unwrap();
    assert_eq!(blocking::upload_csv(&copy.id, &out, None).unwrap(), 3);
    let rows: Vec<_> = blocking::list_entries(&copy.id, Default::default())
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(rows, expected_rows());

    // Errors: one attempt, the CSV message, status and body kept.
    let err = blocking::upload_csv("no-such-dataset", &upload, None).unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.status_code),
        ("CSV upload error: 404", Some(404))
    );
    assert!(
        err.response_body.contains("not_found"),
        "{}",
        err.response_body
    );
    let err = blocking::download_csv("no-such-dataset", dir.join("x.csv"), None).unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.status_code),
        ("CSV download error: 404", Some(404))
    );
    let err = blocking::upload_csv(&ds.id, dir.join("missing.csv"), None).unwrap_err();
    assert_eq!((err.kind, err.status_code), (DatasetErrorKind::Io, None));
    assert!(err.message.contains("missing.csv"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
