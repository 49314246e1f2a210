//! Client lifecycle with an exporter: init, get_client, re-init retiring the previous client,
//! shutdown clearing the global client, and VCS metadata on root spans.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{attrs, builder, setup};
use staso::{InMemoryExporter, SpanKind, VcsInfo};

#[staso::trace]
fn work() -> u8 {
    1
}

#[test]
fn reinit_retires_the_previous_client_and_keeps_its_report() {
    let mut h = setup();
    work();
    let second = InMemoryExporter::new();
    let config = builder()
        .agent_name("second")
        .build_with_env(|_| None)
        .expect("config");
    let client = staso::init_with_exporter(config, Arc::new(second.clone())).expect("re-init");
    let previous = client
        .previous_shutdown_report()
        .cloned()
        .expect("previous report");
    assert_eq!(previous.accepted, 2, "snapshot + final of `work`");
    assert!(previous.ok());
    work();
    assert_eq!(
        h.finished().len(),
        1,
        "the old exporter got nothing after re-init"
    );
    assert_eq!(second.finished().len(), 1);
    assert_eq!(second.finished()[0].span.agent_name, "second");
    let s = staso::Span::start("after", SpanKind::Chain);
    h.drop_client(); // the first client is already retired; dropping it must not touch the new one
    assert!(s.end().is_some_and(|r| r.accepted));
    assert_eq!(
        staso::get_client()
            .map(|c| c.config().agent_name().to_owned())
            .as_deref(),
        Some("second")
    );
    let report = client.shutdown(Duration::from_secs(1));
    assert!(
        staso::get_client().is_none(),
        "shutdown uninstalls the client"
    );
    assert_eq!(
        report,
        client.shutdown(Duration::from_secs(1)),
        "idempotent: the same final report"
    );
}

#[test]
fn dropping_the_owner_uninstalls_and_module_functions_fall_back() {
    let mut h = setup();
    assert!(staso::get_client().is_some());
    h.drop_client();
    assert!(staso::get_client().is_none());
    let r = staso::flush(Duration::from_millis(5));
    assert_eq!(r.last_failure, Some(staso::DeliveryFailureKind::Disabled));
    assert!(r.ok());
}

#[test]
fn root_spans_carry_vcs_metadata_children_do_not() {
    let _lock = setup();
    let mut config = builder().build_with_env(|_| None).expect("config");
    config.set_vcs(Some(VcsInfo {
        commit_sha: "a".repeat(40),
        branch: "main".into(),
        repo_url: "https://github.com/acme/agent".into(),
        is_dirty: true,
    }));
    let mem = InMemoryExporter::new();
    let _client = staso::init_with_exporter(config, Arc::new(mem.clone())).expect("init");
    staso::span("root", SpanKind::Agent, |_| {
        staso::span("child", SpanKind::Tool, |_| ())
    });
    let spans = mem.finished();
    let root = spans.iter().find(|s| s.span.name == "root").expect("root");
    let child = spans
        .iter()
        .find(|s| s.span.name == "child")
        .expect("child");
    let a = attrs(root);
    assert_eq!(a["vcs.commit.sha"], "a".repeat(40));
    assert_eq!(a["vcs.branch"], "main");
    assert_eq!(a["vcs.is_dirty"], true);
    assert!(attrs(child).get("vcs.commit.sha").is_none());
}
