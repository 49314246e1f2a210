//! Idempotency receipts (PROTOCOL.md §3.1): purged once older than the retention window, by a
//! direct call and by the periodic task.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{KEY, Peer, count_traces, simple_body};
use staso_server::Store;
use staso_server::store::{ReceiptRetention, receipts};

fn receipt_count(store: &Store) -> i64 {
    store
        .read(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM receipts", [], |r| r.get(0))?))
        .unwrap()
}

#[test]
fn receipts_older_than_the_window_are_purged_and_their_keys_reusable() {
    let peer = Peer::start();
    assert_eq!(peer.ingest("k1", &simple_body(&["t1"], "default")).0, 200);
    assert_eq!(peer.ingest("k2", &simple_body(&["t2"], "default")).0, 200);
    let store = Store::open(peer.db()).unwrap();
    assert_eq!(
        store
            .purge_receipts_older_than(Duration::from_secs(3600))
            .unwrap(),
        0
    );
    assert_eq!(receipt_count(&store), 2);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        store
            .purge_receipts_older_than(Duration::from_millis(1))
            .unwrap(),
        2
    );
    assert_eq!(receipt_count(&store), 0);
    // With its receipt gone, a key answers a new body instead of a conflict.
    let (s, ack) = peer.ingest("k1", &simple_body(&["t3"], "default"));
    assert_eq!(s, 200, "{ack}");
    assert_eq!(count_traces(&peer, KEY), 3);
}

#[test]
fn the_periodic_task_purges_with_the_stores_retention() {
    assert_eq!(
        ReceiptRetention::default(),
        ReceiptRetention {
            max_age: Duration::from_secs(24 * 3600),
            interval: Duration::from_secs(600),
        }
    );
    let peer = Peer::start();
    assert_eq!(peer.ingest("k1", &simple_body(&["t1"], "default")).0, 200);
    let store = Arc::new(Store::open(peer.db()).unwrap().with_receipt_retention(
        ReceiptRetention {
            max_age: Duration::from_millis(50),
            interval: Duration::from_millis(20),
        },
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.spawn(receipts::purge_periodically(Arc::clone(&store)));
    assert_eq!(receipt_count(&store), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while receipt_count(&store) > 0 {
        assert!(Instant::now() < deadline, "receipt not purged within 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // It keeps running: a later receipt is purged too.
    assert_eq!(peer.ingest("k2", &simple_body(&["t2"], "default")).0, 200);
    while receipt_count(&store) > 0 {
        assert!(
            Instant::now() < deadline,
            "second receipt not purged within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
}
