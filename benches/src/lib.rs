//! Benchmarks live in `benches/`; see the README performance section. This library holds what
//! they share: a loopback ingest server that acknowledges every request at once, and a poll loop
//! for futures that never wait.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// Polls `fut` with a no-op waker until it is ready: for futures that never wait, so the measured
/// cost is the future's own, without an executor's. (A future that waits would spin here.)
pub fn poll_ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A loopback ingest server that acknowledges every request at once; returns its base URL.
///
/// The tests' fake server (`staso_tests::http`) records, scripts and injects faults; this one only
/// acks, as fast as it can, so the benchmarks measure the client. It stays here, as small as it
/// can be, because the bench crate does not depend on the tests crate.
pub fn ack_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://{addr}")
}

/// Acks each request of one keep-alive connection until the client closes it.
fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let (mut line, mut body) = (String::new(), Vec::new());
    // The request line, then headers up to the first line without a `:` (the blank one).
    while reader.read_line(&mut line)? > 0 {
        let (mut len, mut key) = (0, String::new());
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("idempotency-key") {
                key = value.trim().to_owned();
            }
        }
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
        let groups = count_groups(&body);
        let ack = format!(
            r#"{{"accepted":{groups},"rejected":0,"spans_dropped":0,"receipt_id":"{key}"}}"#
        );
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ack}",
            ack.len()
        );
        writer.write_all(response.as_bytes())?;
        line.clear();
    }
    Ok(())
}

/// Trace groups: the key `"trace_id":` appears only at group level in an ingest body. A SIMD
/// substring search keeps the server's share of the 2 cores small.
fn count_groups(body: &[u8]) -> usize {
    memchr::memmem::find_iter(body, b"\"trace_id\":").count()
}
