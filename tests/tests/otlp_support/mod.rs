//! A purpose-built OTLP/HTTP receiver on 127.0.0.1 (never any other address) for the OTLP tests:
//! scripted replies, every request recorded, bodies un-gzipped and decoded with the
//! `opentelemetry-proto` types (protobuf through prost; JSON kept as `serde_json::Value` so the
//! tests can check the OTLP JSON rules themselves).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use staso_core::__internal::OtlpOptions;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with an empty protobuf `ExportTraceServiceResponse`.
    pub fn ok() -> Reply {
        Reply::status(200)
    }

    /// The status with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with a protobuf partial success.
    pub fn partial(rejected: i64, message: &str) -> Reply {
        let r = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message.into(),
            }),
        };
        Reply {
            status: 200,
            headers: vec![("Content-Type", "application/x-protobuf".into())],
            body: r.encode_to_vec(),
        }
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body after gzip decoding (when `Content-Encoding: gzip`).
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body decoded as protobuf.
    pub fn proto(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(self.body.as_slice()).expect("protobuf body")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// The spans of a protobuf body.
    pub fn spans(&self) -> Vec<Span> {
        self.proto()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }
}

struct Inner {
    script: Mutex<Vec<Reply>>,
    default: Mutex<Reply>,
    received: Mutex<Vec<Received>>,
    arrived: Condvar,
    stop: AtomicBool,
}

/// The receiver; stops accepting when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Answers with `script`, then `default`, on a free port.
    pub fn start(script: Vec<Reply>, default: Reply) -> Receiver {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), script, default)
    }

    /// The same on a given loopback address (for "collector comes up later").
    pub fn start_on(addr: SocketAddr, script: Vec<Reply>, default: Reply) -> Receiver {
        assert!(addr.ip().is_loopback());
        let listener = TcpListener::bind(addr).expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let inner = Arc::new(Inner {
            script: Mutex::new(script.into_iter().rev().collect()),
            default: Mutex::new(default),
            received: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let acc = inner.clone();
        thread::spawn(move || {
            while !acc.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let conn = acc.clone();
                        thread::spawn(move || serve(stream, conn));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver { addr, inner }
    }

    /// `http://127.0.0.1:<port>` (a base URL: the SDK appends `/v1/traces`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits for at least `n` requests (or 10 s).
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = self.inner.received.lock().unwrap();
        while got.len() < n && Instant::now() < deadline {
            got = self
                .inner
                .arrived
                .wait_timeout(got, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        got.clone()
    }

    /// Every span received, in arrival order (protobuf bodies).
    pub fn spans(&self) -> Vec<Span> {
        self.received().iter().flat_map(Received::spans).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
    }
}

fn serve(stream: TcpStream, inner: Arc<Inner>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        if inner.stop.load(Ordering::Acquire) {
            return;
        }
        let reply = inner
            .script
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| inner.default.lock().unwrap().clone());
        inner.received.lock().unwrap().push(req);
        inner.arrived.notify_all();
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&reply.body).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    if headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "gzip")
    {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut out)
            .ok()?;
        body = out;
    }
    Some(Received {
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// Short backoff so fault tests finish quickly.
pub fn fast() -> OtlpOptions {
    OtlpOptions {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        retry_budget: Duration::from_secs(5),
    }
}

/// An attribute's value, if present.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Av> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// A string attribute.
pub fn s<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Av::StringValue(v)) => Some(v),
        _ => None,
    }
}

/// An int attribute.
pub fn i(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Av::IntValue(v)) => Some(*v),
        _ => None,
    }
}

/// A port on 127.0.0.1 with nothing listening.
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Captures every log line of this test binary (installed once).
pub fn captured_logs() -> &'static Mutex<Vec<String>> {
    static LOGS: std::sync::OnceLock<&'static Mutex<Vec<String>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logger: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(logger);
        log::set_max_level(log::LevelFilter::Debug);
        &logger.0
    })
}

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}
