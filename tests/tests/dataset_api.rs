//! Every dataset function against a real `staso-server`: datasets, columns, entries, splits,
//! pagination, folders, curation from traces, generation, and the errors they answer.

mod dataset_common;

use dataset_common::setup;
use serde_json::{Value, json};
use staso::dataset::{
    self, AddEntryOptions, ColumnType, CreateOptions, DatasetColumn, DatasetErrorKind,
    FromTracesOptions, GenerateOptions, ListEntriesOptions, ListOptions, SplitType,
    TraceColumnMapping, UpdateOptions,
};

#[tokio::test]
async fn create_get_update_list_delete() {
    let _env = setup();
    let ds = dataset::create(
        "qa",
        CreateOptions {
            description: "questions".into(),
            columns: vec![
                DatasetColumn::new("question").column_type(ColumnType::Input),
                DatasetColumn::new("answer")
                    .column_type(ColumnType::ExpectedOutput)
                    .description("the truth"),
                DatasetColumn::new("notes"),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            ds.name.as_str(),
            ds.description.as_str(),
            ds.template.as_str(),
            ds.kind.as_str()
        ),
        ("qa", "questions", "custom", "tabular")
    );
    let cols: Vec<(&str, &ColumnType, &str, bool)> = ds
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                &c.column_type,
                c.description.as_str(),
                c.required,
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("question", &ColumnType::Input, "", false),
            ("answer", &ColumnType::ExpectedOutput, "the truth", false),
            ("notes", &ColumnType::Variable, "", false),
        ]
    );
    assert!(!ds.created_at.is_empty());

    assert_eq!(dataset::get(&ds.id).await.unwrap(), ds);

    let renamed = dataset::update(
        &ds.id,
        UpdateOptions {
            name: Some("qa-v2".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_str()),
        ("qa-v2", "questions")
    );
    // An update with nothing set sends `{}` and changes nothing.
    let same = dataset::update(&ds.id, UpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(same.name, "qa-v2");

    for i in 0..4 {
        dataset::create(&format!("extra-{i}"), Default::default())
            .await
            .unwrap();
    }
    let all = dataset::list(ListOptions::default()).await.unwrap();
    assert_eq!(all.len(), 5);
    let page = |offset| ListOptions {
        limit: 2,
        offset,
        ..Default::default()
    };
    let mut paged = Vec::new();
    for offset in [0, 2, 4, 6] {
        let p = dataset::list(page(offset)).await.unwrap();
        assert!(p.len() <= 2);
        paged.extend(p.into_iter().map(|d| d.id));
    }
    let mut all_ids: Vec<String> = all.iter().map(|d| d.id.clone()).collect();
    assert_eq!(paged, all_ids, "pages cover the list once, in order");

    dataset::delete(&ds.id).await.unwrap();
    let err = dataset::get(&ds.id).await.unwrap_err();
    assert_eq!(
        (err.kind, err.status_code),
        (DatasetErrorKind::Http, Some(404))
    );
    assert_eq!(err.message, "Dataset API error: 404");
    let body: Value = serde_json::from_str(&err.response_body).unwrap();
    assert_eq!(body["error"], "not_found");
    all_ids.retain(|id| *id != ds.id);
    let left: Vec<String> = dataset::list(ListOptions::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, all_ids);
}

#[tokio::test]
async fn entries_splits_and_pagination() {
    let _env = setup();
    let ds = dataset::create("entries", Default::default())
        .await
        .unwrap();

    #[derive(serde::Serialize)]
    struct Row<'a> {
        question: &'a str,
        answer: u32,
    }
    let one = dataset::add_entry(
        &ds.id,
        &Row {
            question: "2+2?",
            answer: 4,
        },
        AddEntryOptions {
            split: Some(SplitType::Test),
            source_trace_id: Some("ignored".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        one.data,
        json!({"question": "2+2?", "answer": 4})
            .as_object()
            .cloned()
            .unwrap()
    );
    assert_eq!(
        (one.split.clone(), one.dataset_id.as_str()),
        (Some(SplitType::Test), ds.id.as_str())
    );
    assert_eq!(one.source_type, "manual");

    let rows: Vec<Value> = (0..120)
        .map(|i| json!({"i": i, "text": format!("row {i}")}))
        .collect();
    let bulk = dataset::add_entries(&ds.id, &rows, Some(SplitType::Train))
        .await
        .unwrap();
    assert_eq!(bulk.len(), 120);
    assert!(
        bulk.iter()
            .all(|e| e.split == Some(SplitType::Train) && e.source_type == "bulk")
    );
    let plain = dataset::add_entries(&ds.id, [json!({"i": "no split"})], None)
        .await
        .unwrap();
    assert_eq!(plain[0].split, None);
    assert_eq!(dataset::get(&ds.id).await.unwrap().entry_count, 122);

    // Default page is 100; offsets walk the rest.
    let first = dataset::list_entries(&ds.id, Default::default())
        .await
        .unwrap();
    assert_eq!(first.len(), 100);
    let rest = dataset::list_entries(
        &ds.id,
        ListEntriesOptions {
            offset: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rest.len(), 22);
    let train = dataset::list_entries(
        &ds.id,
        ListEntriesOptions {
            split: Some(SplitType::Train),
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(train.len(), 120);
    assert_eq!(train[119].data["i"], 119);
    let test = dataset::list_entries(
        &ds.id,
        ListEntriesOptions {
            split: Some(SplitType::Test),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(test.iter().map(|e| &e.id).collect::<Vec<_>>(), [&one.id]);

    let updated = dataset::update_entry(&ds.id, &one.id, &json!({"question": "3+3?", "answer": 6}))
        .await
        .unwrap();
    assert_eq!(updated.data["answer"], 6);
    assert_eq!(updated.id, one.id);

    dataset::delete_entry(&ds.id, &one.id).await.unwrap();
    assert_eq!(dataset::get(&ds.id).await.unwrap().entry_count, 121);
    let test = dataset::list_entries(
        &ds.id,
        ListEntriesOptions {
            split: Some(SplitType::Test),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(test.is_empty());
}

#[tokio::test]
async fn entry_data_must_be_an_object() {
    let _env = setup();
    let ds = dataset::create("bad", Default::default()).await.unwrap();
    let err = dataset::add_entry(&ds.id, &json!([1, 2]), Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, DatasetErrorKind::InvalidArgument);
    assert_eq!(
        err.message,
        "entry data must serialize to a JSON object, not an array"
    );
    let err = dataset::add_entries(&ds.id, [json!({"ok": 1}), json!("text")], None)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "entries[1] must serialize to a JSON object, not a string"
    );
    assert_eq!(
        dataset::get(&ds.id).await.unwrap().entry_count,
        0,
        "nothing was sent"
    );
}

#[tokio::test]
async fn folders() {
    let _env = setup();
    let root = dataset::create_folder("evals", None).await.unwrap();
    assert_eq!(
        (root.name.as_str(), root.parent_id.as_deref()),
        ("evals", None)
    );
    let child = dataset::create_folder("nightly", Some(&root.id))
        .await
        .unwrap();
    assert_eq!(child.parent_id.as_deref(), Some(root.id.as_str()));

    let all = dataset::list_folders(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        dataset::list_folders(Some(&root.id)).await.unwrap(),
        vec![child.clone()]
    );

    let inside = dataset::create(
        "in-folder",
        CreateOptions {
            folder_id: Some(child.id.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    dataset::create("outside", Default::default())
        .await
        .unwrap();
    assert_eq!(inside.folder_id.as_deref(), Some(child.id.as_str()));
    let listed = dataset::list(ListOptions {
        folder_id: Some(child.id.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        listed.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["in-folder"]
    );

    dataset::delete(&inside.id).await.unwrap();
    dataset::delete_folder(&child.id).await.unwrap();
    assert_eq!(
        dataset::list_folders(None).await.unwrap(),
        vec![root.clone()]
    );
    // Folder routes rewrite a 404 (§7.1) and keep the status and body.
    let err = dataset::delete_folder(&child.id).await.unwrap_err();
    assert_eq!(err.status_code, Some(404));
    assert!(
        err.message
            .starts_with("Dataset folders is not available on this Staso backend yet (HTTP 404)"),
        "{err}"
    );
    assert!(
        err.response_body.contains("not_found"),
        "{}",
        err.response_body
    );
}

#[tokio::test]
async fn from_traces_curates_root_spans() {
    let mut env = setup();
    dataset_common::init_http(&mut env);
    let mut trace_ids = Vec::new();
    for (q, a) in [("capital of France?", "Paris"), ("2+2?", "4")] {
        let s = staso::Span::start("answer", staso::SpanKind::Agent);
        s.set_input(json!({"question": q}));
        s.set_output(json!({"answer": a}));
        trace_ids.push(s.trace_id().unwrap());
        s.end();
    }
    assert!(staso::flush(std::time::Duration::from_secs(10)).ok());

    let ds = dataset::from_traces(
        "curated",
        trace_ids.iter().map(String::as_str),
        FromTracesOptions {
            mapping: vec![
                TraceColumnMapping::new("input.question", "question"),
                TraceColumnMapping::new("output.answer", "expected"),
            ],
            description: "from prod".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (ds.name.as_str(), ds.description.as_str(), ds.entry_count),
        ("curated", "from prod", 2)
    );
    let mut got: Vec<(Value, Value, String)> = dataset::list_entries(&ds.id, Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.data["question"].clone(),
                e.data["expected"].clone(),
                e.source_type,
            )
        })
        .collect();
    got.sort_by_key(|g| g.0.to_string());
    assert_eq!(
        got,
        [
            (json!("2+2?"), json!("4"), "trace".to_owned()),
            (
                json!("capital of France?"),
                json!("Paris"),
                "trace".to_owned()
            ),
        ]
    );

    // No mapping: the dataset is created empty, without curating.
    let empty = dataset::from_traces("empty", trace_ids.clone(), Default::default())
        .await
        .unwrap();
    assert_eq!(empty.entry_count, 0);
    // An unknown trace is the server's 400, as is.
    let err = dataset::from_traces(
        "missing",
        ["00000000-0000-0000-0000-000000000000"],
        FromTracesOptions {
            mapping: vec![TraceColumnMapping::new("input", "x")],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.status_code, Some(400), "{err:?}");
}

#[tokio::test]
async fn generate_without_a_generator_surfaces_the_servers_error() {
    let _env = setup();
    let ds = dataset::create("synthetic", Default::default())
        .await
        .unwrap();
    let err = dataset::generate(
        &ds.id,
        GenerateOptions {
            count: 3,
            prompt: Some("more questions".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, DatasetErrorKind::Http);
    assert_eq!(err.status_code, Some(501), "{err:?}");
    assert!(
        err.response_body.contains("STASO_SERVER_GENERATOR_URL"),
        "{}",
        err.response_body
    );
}

#[tokio::test]
async fn http_errors_carry_status_and_body_never_the_key() {
    let env = dataset_common::setup_with_key("ak_wrong_secret");
    let err = dataset::list(ListOptions::default()).await.unwrap_err();
    assert_eq!(
        (err.status_code, err.message.as_str()),
        (Some(401), "Dataset API error: 401")
    );
    assert!(
        err.response_body.contains("invalid_key"),
        "{}",
        err.response_body
    );
    assert!(!format!("{err} {err:?}").contains("ak_wrong_secret"));
    drop(env);

    let _env = setup();
    let err = dataset::list(ListOptions {
        limit: 5000,
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.status_code, Some(400));
    assert!(err.response_body.contains("limit"), "{}", err.response_body);
    let err = dataset::create("", Default::default()).await.unwrap_err();
    assert_eq!(err.status_code, Some(400));
    assert!(err.response_body.contains("name"), "{}", err.response_body);
}

#[tokio::test]
async fn unreachable_server_is_a_network_error_after_retries() {
    let mut env = setup();
    // A port that was just free: nothing listens there.
    let port = staso_tests::http::free_addr().port();
    env.client = None;
    env.client = Some(
        staso::init_with_exporter(
            dataset_common::config("ak_test", &format!("http://127.0.0.1:{port}")),
            std::sync::Arc::new(env.spans.clone()),
        )
        .unwrap(),
    );
    let started = std::time::Instant::now();
    let err = dataset::get("whatever").await.unwrap_err();
    assert_eq!(
        (err.kind, err.status_code),
        (DatasetErrorKind::Network, None)
    );
    assert!(err.message.starts_with("Network error: "), "{err}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1400),
        "backoff 0.5 s + 1 s"
    );
}
