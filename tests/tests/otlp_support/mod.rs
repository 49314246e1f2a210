//! A purpose-built OTLP/HTTP receiver on 127.0.0.1 for the OTLP tests, a thin layer over the
//! shared [`staso_tests::http::Server`]: scripted replies, every request recorded, bodies
//! un-gzipped and decoded with the `opentelemetry-proto` types (protobuf through prost; JSON kept
//! as `serde_json::Value` so the tests can check the OTLP JSON rules themselves).
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use staso_core::__internal::OtlpOptions;
use staso_tests::http::{self, Response};

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

    fn response(&self) -> Response {
        let headers = self.headers.iter();
        headers
            .fold(Response::new(self.status), |r, (k, v)| r.header(*k, v))
            .body(self.body.clone())
    }
}

/// One request as received: the shared [`http::Request`] with its body un-gzipped (when
/// `Content-Encoding: gzip`).
pub type Received = http::Request;

/// The OTLP payload of a [`Received`] request.
pub trait OtlpBody {
    /// The body decoded as protobuf.
    fn proto(&self) -> ExportTraceServiceRequest;
    /// The spans of a protobuf body.
    fn spans(&self) -> Vec<Span>;
}

impl OtlpBody for Received {
    fn proto(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(self.body.as_slice()).expect("protobuf body")
    }

    fn spans(&self) -> Vec<Span> {
        self.proto()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }
}

/// The body after gzip decoding when it says `Content-Encoding: gzip`; `None` when it does not
/// decode.
fn unzipped(request: &http::Request) -> Option<Vec<u8>> {
    if request.header("content-encoding") != Some("gzip") {
        return Some(request.body.clone());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(request.body.as_slice())
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// The receiver; stops accepting when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    http: http::Server,
}

impl Receiver {
    /// Answers with `script`, then `default`, on a free port.
    pub fn start(script: Vec<Reply>, default: Reply) -> Receiver {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), script, default)
    }

    /// The same on a given loopback address (for "collector comes up later").
    pub fn start_on(addr: SocketAddr, script: Vec<Reply>, default: Reply) -> Receiver {
        let mut script = script.into_iter();
        let http = http::Server::start_on(addr, move |request| {
            if unzipped(request).is_none() {
                return Response::no_answer(); // a body that does not decode is not OTLP
            }
            script.next().as_ref().unwrap_or(&default).response()
        });
        Receiver {
            addr: http.addr(),
            http,
        }
    }

    /// `http://127.0.0.1:<port>` (a base URL: the SDK appends `/v1/traces`).
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// Every request answered so far (one whose body did not un-gzip was closed instead), in
    /// arrival order, bodies un-gzipped.
    pub fn received(&self) -> Vec<Received> {
        decoded(self.http.requests())
    }

    /// Waits for at least `n` requests (or 10 s).
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let all = self.http.wait_for(n, Duration::from_secs(10));
        decoded(all.into_iter().map(|e| e.request).collect())
    }

    /// Every span received, in arrival order (protobuf bodies).
    pub fn spans(&self) -> Vec<Span> {
        self.received().iter().flat_map(Received::spans).collect()
    }
}

fn decoded(requests: Vec<http::Request>) -> Vec<Received> {
    let decode = |mut r: http::Request| {
        r.body = unzipped(&r)?;
        Some(r)
    };
    requests.into_iter().filter_map(decode).collect()
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
