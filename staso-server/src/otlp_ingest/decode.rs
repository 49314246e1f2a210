//! OTLP/HTTP request bodies → [`Export`], one model for both encodings: protobuf (`prost` with
//! `opentelemetry-proto`'s messages) and the OTLP JSON encoding (hex ids, 64-bit integers as
//! strings or numbers, enums as integers or names, lowerCamelCase field names with the original
//! snake_case names accepted too).
//!
//! The JSON side is its own set of serde types rather than `opentelemetry-proto`'s serde derive:
//! that one reads enums only as integers and fails the whole request on one bad hex id, where the
//! OTLP spec wants enum names accepted and a bad span rejected alone (a partial success).
//! Attribute values become [`serde_json::Value`]s, the form the staso span stores.

use std::io::Read;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;
use serde::Deserialize;
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
fn double(d: f64) -> Value {
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

/// Hex text → bytes (either case), `None` when not hex or of odd length. Hand-written: a dozen
/// lines against a dependency for one call site.
fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

fn raw_id(s: String) -> RawId {
    match unhex(&s) {
        Some(b) => RawId::Bytes(b),
        None => RawId::NotHex(s),
    }
}

/// Decodes an OTLP JSON `ExportTraceServiceRequest`.
pub fn json(body: &[u8]) -> Result<Export, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let req: JRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        DecodeError::Json {
            path: if path == "." { "body".into() } else { path },
            why: e.into_inner().to_string(),
        }
    })?;
    de.end().map_err(|e| DecodeError::Json {
        path: "body".into(),
        why: format!("trailing data: {e}"),
    })?;
    let resources = req
        .resource_spans
        .into_iter()
        .map(|rs| ResourceBatch {
            attributes: rs
                .resource
                .map(|r| jattrs(r.attributes))
                .unwrap_or_default(),
            spans: rs
                .scope_spans
                .into_iter()
                .flat_map(|ss| ss.spans)
                .map(|s| {
                    let status = s.status.unwrap_or_default();
                    InSpan {
                        trace_id: raw_id(s.trace_id),
                        span_id: raw_id(s.span_id),
                        parent_span_id: raw_id(s.parent_span_id),
                        name: s.name,
                        kind: s.kind.0,
                        start_ns: s.start_time_unix_nano.0,
                        end_ns: s.end_time_unix_nano.0,
                        attributes: jattrs(s.attributes),
                        status_code: status.code.0,
                        status_message: status.message,
                    }
                })
                .collect(),
        })
        .collect();
    Ok(Export { resources })
}

fn jattrs(kvs: Vec<JKeyValue>) -> Vec<(String, Value)> {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map_or(Value::Null, JAnyValue::into_value)))
        .collect()
}

// The OTLP JSON shapes. Unknown fields are ignored, as the spec requires.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JRequest {
    #[serde(default, alias = "resource_spans")]
    resource_spans: Vec<JResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JResourceSpans {
    #[serde(default)]
    resource: Option<JResource>,
    #[serde(default, alias = "scope_spans")]
    scope_spans: Vec<JScopeSpans>,
}

#[derive(Deserialize)]
struct JResource {
    #[serde(default)]
    attributes: Vec<JKeyValue>,
}

#[derive(Deserialize)]
struct JScopeSpans {
    #[serde(default)]
    spans: Vec<JSpan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JSpan {
    #[serde(default, alias = "trace_id")]
    trace_id: String,
    #[serde(default, alias = "span_id")]
    span_id: String,
    #[serde(default, alias = "parent_span_id")]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: SpanKindNum,
    #[serde(default, alias = "start_time_unix_nano")]
    start_time_unix_nano: Uint64,
    #[serde(default, alias = "end_time_unix_nano")]
    end_time_unix_nano: Uint64,
    #[serde(default)]
    attributes: Vec<JKeyValue>,
    #[serde(default)]
    status: Option<JStatus>,
}

#[derive(Deserialize, Default)]
struct JStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: StatusCodeNum,
}

#[derive(Deserialize)]
struct JKeyValue {
    key: String,
    #[serde(default)]
    value: Option<JAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JAnyValue {
    #[serde(default, alias = "string_value")]
    string_value: Option<String>,
    #[serde(default, alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(default, alias = "int_value")]
    int_value: Option<Int64>,
    #[serde(default, alias = "double_value")]
    double_value: Option<Double>,
    #[serde(default, alias = "array_value")]
    array_value: Option<JArray>,
    #[serde(default, alias = "kvlist_value")]
    kvlist_value: Option<JArray<JKeyValue>>,
    #[serde(default, alias = "bytes_value")]
    bytes_value: Option<String>,
}

#[derive(Deserialize)]
struct JArray<T = JAnyValue> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

impl JAnyValue {
    fn into_value(self) -> Value {
        if let Some(s) = self.string_value {
            Value::String(s)
        } else if let Some(b) = self.bool_value {
            Value::Bool(b)
        } else if let Some(i) = self.int_value {
            Value::Number(i.0.into())
        } else if let Some(d) = self.double_value {
            double(d.0)
        } else if let Some(a) = self.array_value {
            Value::Array(a.values.into_iter().map(Self::into_value).collect())
        } else if let Some(kv) = self.kvlist_value {
            Value::Object(jattrs(kv.values).into_iter().collect())
        } else if let Some(b) = self.bytes_value {
            // JSON carries bytes as base64; they are kept as that text.
            Value::String(b)
        } else {
            Value::Null
        }
    }
}

/// A JSON number or a string holding one (proto3 JSON writes 64-bit integers as strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText<N> {
    Num(N),
    Text(String),
}

#[derive(Default)]
struct Uint64(u64);

impl<'de> Deserialize<'de> for Uint64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::<u64>::deserialize(d)? {
            NumOrText::Num(n) => Ok(Uint64(n)),
            NumOrText::Text(s) => s
                .parse()
                .map(Uint64)
                .map_err(|_| serde::de::Error::custom(format!("not an unsigned integer: {s:?}"))),
        }
    }
}

struct Int64(i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::<i64>::deserialize(d)? {
            NumOrText::Num(n) => Ok(Int64(n)),
            NumOrText::Text(s) => s
                .parse()
                .map(Int64)
                .map_err(|_| serde::de::Error::custom(format!("not an integer: {s:?}"))),
        }
    }
}

struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::<f64>::deserialize(d)? {
            NumOrText::Num(n) => Ok(Double(n)),
            // proto3 JSON: "NaN", "Infinity", "-Infinity", or a number in a string.
            NumOrText::Text(s) => match s.as_str() {
                "NaN" => Ok(Double(f64::NAN)),
                "Infinity" => Ok(Double(f64::INFINITY)),
                "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                _ => s
                    .parse()
                    .map(Double)
                    .map_err(|_| serde::de::Error::custom(format!("not a number: {s:?}"))),
            },
        }
    }
}

/// An enum given as its number or its name (`names[i]` is the name of `i`).
fn enum_num<'de, D: serde::Deserializer<'de>>(
    d: D,
    what: &str,
    names: &[&str],
) -> Result<i32, D::Error> {
    match NumOrText::<i32>::deserialize(d)? {
        NumOrText::Num(n) => Ok(n),
        NumOrText::Text(s) => names
            .iter()
            .position(|n| *n == s)
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "not a {what}: {s:?} (expected a number or one of {})",
                    names.join(", ")
                ))
            }),
    }
}

#[derive(Default)]
struct SpanKindNum(i32);

impl<'de> Deserialize<'de> for SpanKindNum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: [&str; 6] = [
            "SPAN_KIND_UNSPECIFIED",
            "SPAN_KIND_INTERNAL",
            "SPAN_KIND_SERVER",
            "SPAN_KIND_CLIENT",
            "SPAN_KIND_PRODUCER",
            "SPAN_KIND_CONSUMER",
        ];
        enum_num(d, "SpanKind", &NAMES).map(SpanKindNum)
    }
}

#[derive(Default)]
struct StatusCodeNum(i32);

impl<'de> Deserialize<'de> for StatusCodeNum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
        enum_num(d, "StatusCode", &NAMES).map(StatusCodeNum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_accepts_enum_names_numbers_as_text_and_snake_case() {
        let body = br#"{"resource_spans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"svc"}}]},
            "scopeSpans":[{"spans":[{"traceId":"0102030405060708090A0B0C0D0E0F10",
            "span_id":"1112131415161718","parentSpanId":"","name":"n",
            "kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"5","end_time_unix_nano":7,
            "attributes":[{"key":"i","value":{"intValue":"42"}},
                          {"key":"d","value":{"doubleValue":"NaN"}},
                          {"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}},
                          {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"intValue":1}}]}}}],
            "status":{"code":"STATUS_CODE_ERROR","message":"boom"},"unknownField":1}]}]}]}"#;
        let e = json(body).unwrap();
        let r = &e.resources[0];
        assert_eq!(r.attributes, vec![("service.name".into(), "svc".into())]);
        let s = &r.spans[0];
        assert_eq!(s.trace_id, RawId::Bytes((1..=16).collect()));
        assert_eq!(s.span_id, RawId::Bytes((0x11..=0x18).collect()));
        assert_eq!(s.parent_span_id, RawId::Bytes(vec![]));
        assert_eq!((s.kind, s.start_ns, s.end_ns), (3, 5, 7));
        assert_eq!((s.status_code, s.status_message.as_str()), (2, "boom"));
        let attrs: Map<String, Value> = s.attributes.iter().cloned().collect();
        assert_eq!(
            Value::Object(attrs),
            serde_json::json!({"i": 42, "d": "NaN", "a": [true], "m": {"k": 1}})
        );
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = json(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SIDEWAYS"}]}]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("resourceSpans[0].scopeSpans[0].spans[0].kind: not a SpanKind"),
            "{e}"
        );
        let e = json(b"{\"resourceSpans\": [").unwrap_err().to_string();
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn non_hex_id_is_kept_for_the_span_alone() {
        let e =
            json(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#).unwrap();
        assert_eq!(
            e.resources[0].spans[0].trace_id,
            RawId::NotHex("xyz".into())
        );
    }

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
