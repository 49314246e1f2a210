//! Slow and idle clients cannot hold the server: request heads have a deadline, open connections
//! are capped (503 beyond), and a shutdown with a half-open connection meets its grace period —
//! through the library and through the binary on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Peer;

/// A connection that sent part of a request head and then nothing.
fn half_open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /v1/traces/ingest HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .unwrap();
    s
}

/// Reads until the server closes `s`; returns what it sent, or `None` if still open at `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<String> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(String::from_utf8_lossy(&got).into_owned())
        }
        Err(_) => None,
    }
}

/// One complete `GET /healthz` on a fresh connection; returns the raw response.
fn healthz(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    closed_within(&mut s, Duration::from_secs(5)).expect("no answer")
}

#[test]
fn slowloris_connections_are_closed_and_do_not_block_others() {
    let peer = Peer::start_with(|b| {
        b.api_key(common::KEY)
            .header_timeout(Duration::from_secs(1))
    });
    let addr = peer.server.addr();
    let mut slow: Vec<TcpStream> = (0..200).map(|_| half_open(addr)).collect();
    // A connection that sends nothing at all is idle, and closed on the same deadline.
    slow.push(TcpStream::connect(addr).unwrap());
    // So is a keep-alive connection idle after its first answer.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    slow.push(kept);

    let started = Instant::now();
    let answer = healthz(addr);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    for (i, s) in slow.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_within(s, left.max(Duration::from_millis(1))).is_some(),
            "connection {i} still open 5 s after a 1 s header timeout"
        );
    }
}

#[test]
fn connections_over_the_cap_get_503_and_a_freed_slot_is_reused() {
    let peer = Peer::start_with(|b| b.api_key(common::KEY).max_connections(3));
    let addr = peer.server.addr();
    let held: Vec<TcpStream> = (0..3).map(|_| half_open(addr)).collect();
    // Let the server accept the three before the fourth arrives.
    std::thread::sleep(Duration::from_millis(200));

    let refused = healthz(addr);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("server_busy"), "{refused}");

    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let answer = healthz(addr);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn shutdown_with_a_half_open_connection_meets_the_grace_period() {
    let peer = Peer::start_with(|b| {
        b.api_key(common::KEY)
            .header_timeout(Duration::from_secs(60))
            .shutdown_grace(Duration::from_secs(1))
    });
    let addr = peer.server.addr();
    let _slow = half_open(addr);
    // A request whose body is still arriving is in flight when the shutdown starts.
    let mut uploading = TcpStream::connect(addr).unwrap();
    uploading
        .write_all(
            b"POST /v1/traces/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: ak_test\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"traces\"",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let (done_tx, done_rx) = mpsc::channel();
    let server = peer.server;
    let started = Instant::now();
    std::thread::spawn(move || {
        server.shutdown();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(4))
        .expect("shutdown still waiting 4 s after a 1 s grace period");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "still accepting after shutdown"
    );
    assert!(closed_within(&mut uploading, Duration::from_secs(1)).is_some());
}

#[test]
fn sigterm_stops_the_binary_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    // The printed lines are kept open until the end: the child still prints after its first line.
    let (mut child, addr, _printed) = common::spawn_binary(
        dir.path(),
        &[
            "--api-key",
            "ak_test",
            "--shutdown-grace",
            "1",
            "--header-timeout",
            "60",
        ],
        false,
    );
    let _slow = half_open(addr);
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(4) {
            let _ = child.kill();
            panic!("still running 4 s after SIGTERM with a 1 s grace period");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stalled_body_is_answered_408_and_closed() {
    let peer = Peer::start_with(|b| b.api_key(common::KEY).body_timeout(Duration::from_secs(1)));
    let mut s = TcpStream::connect(peer.server.addr()).unwrap();
    s.write_all(
        b"POST /v1/traces/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: ak_test\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"traces\"",
    )
    .unwrap();
    let started = Instant::now();
    let answer = closed_within(&mut s, Duration::from_secs(5)).expect("still open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(peer.server.body_bytes_in_flight(), 0);
}

#[test]
fn a_request_in_flight_at_shutdown_is_answered_within_the_grace_period() {
    let peer = Peer::start_with(|b| {
        b.api_key(common::KEY)
            .shutdown_grace(Duration::from_secs(5))
    });
    let body = serde_json::to_vec(&common::simple_body(&["t-late"], "default")).unwrap();
    let mut s = TcpStream::connect(peer.server.addr()).unwrap();
    let head = format!(
        "POST /v1/traces/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: ak_test\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let server = peer.server;
    let started = Instant::now();
    let stopping = std::thread::spawn(move || server.shutdown());
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&body[10..]).unwrap();
    let answer = closed_within(&mut s, Duration::from_secs(5)).expect("not closed after answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stopping.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_that_stops_reading_its_answer_is_closed_after_the_idle_timeout() {
    let peer = Peer::start_with(|b| {
        b.api_key(common::KEY)
            .max_connections(2)
            .idle_timeout(Duration::from_secs(1))
    });
    let mut body = common::simple_body(&["t-big"], "default");
    body["traces"][0]["spans"][0]["input"] = "x".repeat(8_000_000).into();
    // Peer's client keeps this connection open: it holds one of the two slots.
    assert_eq!(peer.ingest("big", &body).0, 200);

    // An answer larger than the socket buffers, never read: the server's writes stall.
    let mut stalled = TcpStream::connect(peer.server.addr()).unwrap();
    stalled
        .write_all(b"GET /v1/traces/t-big HTTP/1.1\r\nHost: x\r\nX-API-Key: ak_test\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let refused = healthz(peer.server.addr());
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let answer = healthz(peer.server.addr());
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stalled connection still open: {answer}"
        );
    }
    drop(stalled);
}
