//! The OTLP JSON encoding of `ExportTraceServiceRequest` → [`Export`]: lowerCamelCase field names
//! (the original snake_case names accepted too), hex ids (a bad one kept for its span's rejection),
//! 64-bit integers as strings or numbers, enums as numbers or names, unknown fields ignored.

use serde::Deserialize;
use serde_json::Value;

use super::{DecodeError, Export, InSpan, RawId, ResourceBatch, double};

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
pub fn decode(body: &[u8]) -> Result<Export, DecodeError> {
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
    use serde_json::Map;

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
        let e = decode(body).unwrap();
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
        let e = decode(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SIDEWAYS"}]}]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("resourceSpans[0].scopeSpans[0].spans[0].kind: not a SpanKind"),
            "{e}"
        );
        let e = decode(b"{\"resourceSpans\": [").unwrap_err().to_string();
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn non_hex_id_is_kept_for_the_span_alone() {
        let e = decode(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#)
            .unwrap();
        assert_eq!(
            e.resources[0].spans[0].trace_id,
            RawId::NotHex("xyz".into())
        );
    }
}
