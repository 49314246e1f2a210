//! A purpose-built HTTP/1.1 server on loopback for the tests: it records every request and answers
//! each with whatever a responder closure returns — a status, headers and a body, after a delay,
//! once [released](Server::release), or no answer at all.
//!
//! Written by hand on std's `TcpListener` rather than with a server crate: the faults the tests
//! inject (an answer held back, a connection closed without one, answers a correct server never
//! gives) are what server crates exist to prevent, and a test should not need an async runtime to
//! stand one up. It parses just what our clients send: a request line, headers, and a body by
//! `Content-Length` or chunked; connections are kept alive until the client closes them.
//!
//! ```no_run
//! use staso_tests::http::{Response, Server};
//!
//! let server = Server::start(|request| {
//!     if request.path == "/flaky" {
//!         Response::no_answer()
//!     } else {
//!         Response::json(200, r#"{"ok":true}"#)
//!     }
//! });
//! // … point the client under test at `server.url()` …
//! assert_eq!(server.requests()[0].method, "POST");
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a held answer waits for [`Server::release`] at most.
const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// How long a connection may sit idle between requests before the server closes it.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent: the path and any query.
    pub path: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, by `Content-Length` or put together from its chunks.
    pub body: Vec<u8>,
    /// When the whole request had been read.
    pub at: Instant,
}

impl Request {
    /// A header's value (the name is matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the server does with one request: after waiting `delay`, and then until released when
/// `hold` is set, it either answers with `status`, `headers` and `body` (the server adds
/// `Content-Length`) or, when `close` is set, closes the connection without answering.
///
/// ```
/// use std::time::Duration;
/// use staso_tests::http::Response;
///
/// let busy = Response::json(503, "{}")
///     .header("Retry-After", "1")
///     .delayed(Duration::from_millis(200));
/// assert_eq!((busy.status, busy.headers.len()), (503, 2));
/// ```
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Waited before answering (or closing).
    pub delay: Duration,
    /// After the delay, wait until [`Server::release`] (at most 30 s; dropping the server
    /// releases too).
    pub hold: bool,
    /// Close the connection instead of answering.
    pub close: bool,
}

impl Response {
    /// `status` with no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            hold: false,
            close: false,
        }
    }

    /// `status` with `body` as `Content-Type: application/json`.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    /// No answer: the server closes the connection (after any delay or hold).
    pub fn no_answer() -> Response {
        Response {
            close: true,
            ..Response::new(0)
        }
    }

    /// Adds a header. `Connection: close` also makes the server close the connection after the
    /// answer.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Waits `by` longer before answering.
    pub fn delayed(mut self, by: Duration) -> Response {
        self.delay += by;
        self
    }

    /// Waits for [`Server::release`] before answering.
    pub fn held(mut self) -> Response {
        self.hold = true;
        self
    }
}

/// A request and what the server made of it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub request: Request,
    /// The answer, set just before it is written: `None` while it is delayed or held, and for
    /// good when the connection was closed without one.
    pub response: Option<Response>,
}

type Responder = dyn FnMut(&Request) -> Response + Send;

struct Shared {
    /// The responder lives beside the log so that both change under one lock: the n-th request
    /// recorded is the n-th the responder answered.
    state: Mutex<State>,
    arrived: Condvar,
    released: Mutex<bool>,
    release: Condvar,
    stopped: AtomicBool,
}

struct State {
    respond: Box<Responder>,
    log: Vec<Exchange>,
}

/// The server; it stops when dropped (see [`Server::start`]).
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// A server on a free port of 127.0.0.1 answering each request with `respond(request)`.
    ///
    /// `respond` runs when the request has been read, one request at a time, in the order they
    /// are recorded; it should return at once (use [`Response::delayed`] or [`Response::held`]
    /// to make the client wait). Each connection is served on its own thread, one request after
    /// the other. Once the server is dropped it accepts no connection, releases held answers,
    /// and closes an open connection at its next request, without answering or recording it.
    pub fn start(respond: impl FnMut(&Request) -> Response + Send + 'static) -> Server {
        Server::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), respond)
    }

    /// The same on a given loopback address, e.g. one from [`free_addr`] for a server that comes
    /// up after the client started.
    pub fn start_on(
        addr: SocketAddr,
        respond: impl FnMut(&Request) -> Response + Send + 'static,
    ) -> Server {
        assert!(
            addr.ip().is_loopback(),
            "test servers listen on loopback only, not {addr}"
        );
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                respond: Box::new(respond),
                log: Vec::new(),
            }),
            arrived: Condvar::new(),
            released: Mutex::new(false),
            release: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopped.load(Ordering::Acquire) {
                    return; // drops the listener: later connections are refused
                }
                if let Ok(stream) = stream {
                    let shared = accepting.clone();
                    thread::spawn(move || serve(stream, &shared));
                }
            }
        });
        Server { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in the order they were recorded.
    pub fn requests(&self) -> Vec<Request> {
        let state = lock(&self.shared.state);
        state.log.iter().map(|e| e.request.clone()).collect()
    }

    /// Every request so far with what the server made of it, in the order they were recorded.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.shared.state).log.clone()
    }

    /// Waits until at least `n` requests were recorded, or `timeout` passed; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Exchange> {
        let state = lock(&self.shared.state);
        let (state, _) = self
            .shared
            .arrived
            .wait_timeout_while(state, timeout, |s| s.log.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        state.log.clone()
    }

    /// Lets held answers go, now and from then on.
    pub fn release(&self) {
        *lock(&self.shared.released) = true;
        self.shared.release.notify_all();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.release();
        // Wakes the accept loop, which then sees the flag and closes the listener.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A loopback address nothing listens on (a port bound, then released): for a refused
/// connection, or a server that comes up later with [`Server::start_on`].
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves one connection, request after request, until the client closes it, it idles for
/// [`IDLE_LIMIT`], an answer or the request says `Connection: close`, or the server is dropped.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_LIMIT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        let client_closes = wants_close(&request.headers);
        let (index, response) = {
            let mut state = lock(&shared.state);
            let response = (state.respond)(&request);
            state.log.push(Exchange {
                request,
                response: None,
            });
            shared.arrived.notify_all();
            (state.log.len() - 1, response)
        };
        thread::sleep(response.delay);
        if response.hold {
            let released = lock(&shared.released);
            let _ = shared
                .release
                .wait_timeout_while(released, HOLD_LIMIT, |released| !*released);
        }
        if response.close {
            return;
        }
        lock(&shared.state).log[index].response = Some(response.clone());
        if write_response(&mut writer, &response).is_err()
            || client_closes
            || wants_close(&response.headers)
        {
            return;
        }
    }
}

/// Reads one request; `None` when the connection ends (or idles out) before a whole one arrived,
/// or it is not HTTP/1.1 as our clients write it.
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let line = read_line(reader)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let chunked = header(&headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunks(reader)?
    } else {
        let len = header(&headers, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// A `Transfer-Encoding: chunked` body: hex-sized chunks up to a zero-sized one, then trailers
/// (ignored) up to a blank line. Our senders give a length today; a streamed body must still not
/// be misread as an empty one.
fn read_chunks(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().map(str::trim)?;
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {}
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        if !read_line(reader)?.is_empty() {
            return None; // a chunk longer than its size said
        }
    }
}

/// One line without its line ending; `None` at the end of the stream or on an error.
fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn wants_close(headers: &[(String, String)]) -> bool {
    header(headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

/// Writes the status line, the headers, `Content-Length` and the body in one write (two small
/// writes could wait on Nagle's algorithm).
fn write_response(writer: &mut impl Write, response: &Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    writer.write_all(&bytes)?;
    writer.flush()
}

/// The reason phrase (clients ignore it; it makes a captured exchange readable).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Writes `raw` on one connection, then reads until the server closes it.
    fn send_raw(addr: SocketAddr, raw: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(raw.as_bytes()).expect("write");
        let mut answers = String::new();
        stream.read_to_string(&mut answers).expect("read");
        answers
    }

    #[test]
    fn one_connection_carries_requests_by_length_and_by_chunks_until_the_client_asks_to_close() {
        let server = Server::start(|r| Response::json(201, r.body.clone()));
        let answers = send_raw(
            server.addr(),
            "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
             PUT /b?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
        );
        let head = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 5";
        assert_eq!(answers, format!("{head}\r\n\r\nhello{head}\r\n\r\nabcde"));
        let seen: Vec<String> = server
            .requests()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.method,
                    r.path,
                    String::from_utf8_lossy(&r.body)
                )
            })
            .collect();
        assert_eq!(seen, ["POST /a hello", "PUT /b?x=1 abcde"]);
        assert_eq!(server.requests()[1].header("CONNECTION"), Some("close"));
    }

    #[test]
    fn no_answer_closes_the_connection_and_the_request_is_still_recorded() {
        let server = Server::start(|_| Response::no_answer());
        assert_eq!(send_raw(server.addr(), "GET / HTTP/1.1\r\n\r\n"), "");
        let log = server.exchanges();
        assert_eq!((log.len(), log[0].response.is_none()), (1, true));
    }

    #[test]
    fn a_held_answer_waits_for_release_and_counts_as_unanswered_meanwhile() {
        let server = Server::start(|_| Response::new(204).header("Connection", "close").held());
        let addr = server.addr();
        let client = thread::spawn(move || send_raw(addr, "GET / HTTP/1.1\r\n\r\n"));
        let log = server.wait_for(1, Duration::from_secs(5));
        thread::sleep(Duration::from_millis(50));
        assert!(log[0].response.is_none() && server.exchanges()[0].response.is_none());
        server.release();
        let answer = client.join().expect("client");
        assert_eq!(
            answer,
            "HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            server.exchanges()[0].response.as_ref().map(|r| r.status),
            Some(204)
        );
    }

    #[test]
    fn a_dropped_server_refuses_new_connections() {
        let server = Server::start(|_| Response::new(200));
        let addr = server.addr();
        drop(server);
        thread::sleep(Duration::from_millis(50));
        assert!(TcpStream::connect(addr).is_err());
    }
}
