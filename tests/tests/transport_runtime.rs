//! The global client over HTTP: `init` and shutdown from plain threads and inside tokio
//! runtimes of both flavours (no blocking of the caller's executor, no "cannot drop a runtime"
//! panic), the drop of `init`'s value flushing, and re-init. The global client is process-wide,
//! so these tests run one at a time.

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use staso_core::Client;
use staso_core::SpanKind;
use staso_core::{DeliveryFailureKind, EnqueueResult};
use support::*;

const SECOND: Duration = Duration::from_secs(1);

fn serial() -> MutexGuard<'static, ()> {
    static GLOBAL: Mutex<()> = Mutex::new(());
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn init(server: &Server) -> Client {
    staso_core::init(build(
        test_config(&server.url()).flush_interval(Duration::from_secs(60)),
    ))
    .expect("init")
}

fn traced(n: u64) {
    for i in 0..n {
        staso_core::span("work", SpanKind::Chain, |s| s.set_metadata("i", i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the guard serializes tests sharing the global client
async fn init_and_drop_inside_a_multi_thread_runtime() {
    let _serial = serial();
    let server = Server::acking();
    let staso = init(&server);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                traced(5);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let report = staso.flush(5 * SECOND);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.delivered, 20);
    // Dropping the owning value inside the runtime drains and shuts down without panicking.
    drop(staso);
    assert_eq!(server.assert_delivered_once(), 20);
    assert!(staso_core::get_client().is_none());
}

#[tokio::test(flavor = "current_thread")]
#[allow(clippy::await_holding_lock)] // the guard serializes tests sharing the global client
async fn init_and_drop_inside_a_current_thread_runtime() {
    let _serial = serial();
    let server = Server::acking();
    let staso = init(&server);
    tokio::task::spawn(async { traced(3) }).await.expect("task");
    traced(2);
    // Nothing flushed explicitly: the drop delivers everything.
    drop(staso);
    assert_eq!(server.assert_delivered_once(), 5);
}

#[test]
fn init_and_shutdown_from_a_plain_thread() {
    let _serial = serial();
    let server = Server::acking();
    let url = server.url();
    let report = std::thread::spawn(move || {
        let staso = staso_core::init(build(test_config(&url))).expect("init");
        let span = staso_core::Span::start("manual", SpanKind::Retriever);
        assert_eq!(span.end(), Some(EnqueueResult::ACCEPTED));
        traced(2);
        let report = staso_core::shutdown(5 * SECOND);
        drop(staso);
        report
    })
    .join()
    .expect("thread");
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.accepted, report.delivered), (3, 3));
    assert_eq!(server.assert_delivered_once(), 3);
    // Without a client, the module-level calls return the disabled report.
    let none = staso_core::flush(SECOND);
    assert_eq!(none.last_failure, Some(DeliveryFailureKind::Disabled));
}

#[test]
fn dropping_inits_value_flushes_everything() {
    let _serial = serial();
    let server = Server::acking();
    let staso = init(&server);
    traced(7);
    assert!(
        server.requests().is_empty(),
        "partial batch waits for the interval"
    );
    drop(staso);
    assert_eq!(server.assert_delivered_once(), 7);
}

#[test]
fn reinit_retires_the_old_client_and_keeps_its_report() {
    let _serial = serial();
    let first_server = Server::acking();
    let second_server = Server::acking();
    let first = init(&first_server);
    traced(3);
    let second = init(&second_server);
    let previous = second
        .previous_shutdown_report()
        .cloned()
        .expect("previous report");
    assert!(previous.ok(), "{previous:?}");
    assert_eq!((previous.accepted, previous.delivered), (3, 3));
    assert_eq!(first_server.assert_delivered_once(), 3);
    // The retired handle's drop is a no-op for the new client.
    drop(first);
    traced(2);
    let report = staso_core::flush(5 * SECOND);
    assert_eq!((report.accepted, report.delivered), (2, 2));
    drop(second);
    assert_eq!(second_server.assert_delivered_once(), 2);
}

#[test]
fn module_level_shutdown_uninstalls_first() {
    let _serial = serial();
    let server = Server::start(Vec::new(), Reply::Hold(Box::new(Reply::Ack)));
    let staso = init(&server);
    traced(2);
    let report = staso_core::shutdown(Duration::from_millis(200));
    assert!(report.timed_out, "{report:?}");
    assert!(
        staso_core::get_client().is_none(),
        "cleared even when the drain times out"
    );
    // Spans after the uninstall are recorded by nobody.
    traced(1);
    server.release();
    let fin = staso.shutdown(5 * SECOND);
    assert!(fin.ok(), "{fin:?}");
    assert_eq!(fin.accepted, 2);
    drop(staso);
    assert_eq!(server.assert_delivered_once(), 2);
}

#[test]
fn dropping_the_client_after_a_timed_out_shutdown_does_not_wait_again() {
    let _serial = serial();
    let server = Server::start(Vec::new(), Reply::Hold(Box::new(Reply::Ack)));
    let staso = init(&server);
    traced(2);
    let report = staso.shutdown(Duration::from_millis(300));
    assert!(report.timed_out, "{report:?}");
    // The default bound of the drop's shutdown is 5 s; the explicit one already ran.
    let t = Instant::now();
    drop(staso);
    let took = t.elapsed();
    assert!(took < SECOND, "the drop waited again: {took:?}");
    assert!(staso_core::get_client().is_none());
    server.release();
}
