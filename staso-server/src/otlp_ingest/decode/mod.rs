//! OTLP/HTTP request bodies → [`Export`], one model for both encodings: protobuf (`prost` with
//! `opentelemetry-proto`'s messages) and the OTLP JSON encoding (hex ids, 64-bit integers as
//! strings or numbers, enums as integers or names, lowerCamelCase field names with the original
//! snake_case names accepted too).
//!
//! The JSON side is its own set of serde types rather than `opentelemetry-proto`'s serde derive:
//! that one reads enums only as integers and fails the whole request on one bad hex id, where the
//! OTLP spec wants enum names accepted and a bad span rejected alone (a partial success).
//! Attribute values become [`serde_json::Value`]s, the form the staso span stores.

pub mod json;

use std::io::Read;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;
use serde_json::{Map, Number, Value};

/// Why a body could not be decoded at all (a 400 or 413 for the whole request).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The protobuf did not decode.
    #[error("body: not an ExportTraceServiceRequest protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The JSON did not decode; names the path of the first bad field.
    #[error("{path}: {why}")]
    Json {
        /// Where, e.g. `resourceSpans[0].scopeSpans[0].spans[3].kind`.
        path: String,
        /// Why.
        why: String,
    },
    /// `Content-Encoding: gzip` but the body is not a valid gzip stream.
    #[error("body: invalid gzip data: {0}")]
    Gzip(std::io::Error),
    /// The body inflates beyond the body limit.
    #[error("body: gzip data inflates beyond {0} bytes")]
    Inflated(usize),
}

/// A decoded export request: the spans of each resource, scope boundaries dropped.
#[derive(Debug, Default)]
pub struct Export {
    /// One entry per `ResourceSpans`.
    pub resources: Vec<ResourceBatch>,
}

/// The spans of one resource.
#[derive(Debug, Default)]
pub struct ResourceBatch {
    /// Resource attributes.
    pub attributes: Vec<(String, Value)>,
    /// The spans of every scope of the resource.
    pub spans: Vec<InSpan>,
}

/// An id as received: its bytes, or the text that was not hex (JSON only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawId {
    /// Decoded bytes (any length; checked by the mapping).
    Bytes(Vec<u8>),
    /// A JSON id that is not hexadecimal.
    NotHex(String),
}

/// One span as received.
#[derive(Debug)]
pub struct InSpan {
    /// `traceId`.
    pub trace_id: RawId,
    /// `spanId`.
    pub span_id: RawId,
    /// `parentSpanId` (empty bytes: a root).
    pub parent_span_id: RawId,
    /// `name`.
    pub name: String,
    /// `kind` (`SpanKind` number).
    pub kind: i32,
    /// `startTimeUnixNano`.
    pub start_ns: u64,
    /// `endTimeUnixNano`.
    pub end_ns: u64,
    /// Attributes in the order received.
    pub attributes: Vec<(String, Value)>,
    /// `status.code` (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    /// `status.message`.
    pub status_message: String,
}

/// Inflates a gzip body, at most `limit` bytes of output.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let reader = flate2::read::MultiGzDecoder::new(body);
    let read = reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(DecodeError::Gzip)?;
    if read > limit {
        return Err(DecodeError::Inflated(limit));
    }
    Ok(out)
}

/// Decodes a protobuf `ExportTraceServiceRequest`.
pub fn protobuf(body: &[u8]) -> Result<Export, DecodeError> {
    let req = ExportTraceServiceRequest::decode(body)?;
    let resources = req
        .resource_spans
        .into_iter()
        .map(|rs| ResourceBatch {
            attributes: rs.resource.map(|r| attrs(r.attributes)).unwrap_or_default(),
            spans: rs
                .scope_spans
                .into_iter()
                .flat_map(|ss| ss.spans)
                .map(|s| {
                    let (status_code, status_message) =
                        s.status.map(|st| (st.code, st.message)).unwrap_or_default();
                    InSpan {
                        trace_id: RawId::Bytes(s.trace_id),
                        span_id: RawId::Bytes(s.span_id),
                        parent_span_id: RawId::Bytes(s.parent_span_id),
                        name: s.name,
                        kind: s.kind,
                        start_ns: s.start_time_unix_nano,
                        end_ns: s.end_time_unix_nano,
                        attributes: attrs(s.attributes),
                        status_code,
                        status_message,
                    }
                })
                .collect(),
        })
        .collect();
    Ok(Export { resources })
}

fn attrs(kvs: Vec<KeyValue>) -> Vec<(String, Value)> {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value)))
        .collect()
}

fn any_value(v: AnyValue) -> Value {
    match v.value {
        None => Value::Null,
        Some(Av::StringValue(s)) => Value::String(s),
        Some(Av::BoolValue(b)) => Value::Bool(b),
        Some(Av::IntValue(i)) => Value::Number(i.into()),
        Some(Av::DoubleValue(d)) => double(d),
        Some(Av::ArrayValue(a)) => Value::Array(a.values.into_iter().map(any_value).collect()),
        Some(Av::KvlistValue(kv)) => Value::Object(
            kv.values
                .into_iter()
                .map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value)))
                .collect::<Map<_, _>>(),
        ),
        Some(Av::BytesValue(b)) => Value::String(hex(&b)),
        // Newer `AnyValue` variants (string-table references of the profiles signal) carry
        // nothing a trace uses.
        #[allow(unreachable_patterns)]
        Some(_) => Value::Null,
    }
}

/// A double as JSON; NaN and infinities (which JSON cannot hold) as their names.
pub(crate) fn double(d: f64) -> Value {
    Number::from_f64(d).map_or_else(|| Value::String(d.to_string()), Value::Number)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_stops_at_the_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 1 << 20]).unwrap();
        let z = enc.finish().unwrap();
        assert!(matches!(gunzip(&z, 1000), Err(DecodeError::Inflated(1000))));
        assert_eq!(gunzip(&z, 1 << 20).unwrap().len(), 1 << 20);
        assert!(matches!(
            gunzip(b"not gzip", 1000),
            Err(DecodeError::Gzip(_))
        ));
    }
}
