//! Request bodies (OTLP/HTTP protobuf or JSON, optionally gzip) and the partial-success part of
//! responses. The types are `opentelemetry-proto`'s; protobuf is `prost`, JSON is the crate's serde
//! mapping of the OTLP JSON rules (hex ids, 64-bit integers as strings, enums as numbers).

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::config::{OtlpCompression, OtlpProtocol};

/// `Content-Type` of a request in `protocol`.
pub(crate) fn content_type(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::HttpJson => "application/json",
        _ => "application/x-protobuf",
    }
}

/// One request holding `spans` under the client's resource and scope.
pub(crate) fn request(
    resource: &Resource,
    scope: &InstrumentationScope,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope.clone()),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The request body, compressed when asked.
///
/// # Errors
/// A message when JSON serialization or compression fails (neither happens with valid input).
pub(crate) fn body(
    req: &ExportTraceServiceRequest,
    protocol: OtlpProtocol,
    compression: OtlpCompression,
) -> Result<Vec<u8>, String> {
    let raw = match protocol {
        OtlpProtocol::HttpJson => serde_json::to_vec(req).map_err(|e| e.to_string())?,
        _ => req.encode_to_vec(),
    };
    match compression {
        OtlpCompression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 4 + 64),
                flate2::Compression::fast(),
            );
            enc.write_all(&raw).map_err(|e| e.to_string())?;
            enc.finish().map_err(|e| e.to_string())
        }
        _ => Ok(raw),
    }
}

/// `(rejected_spans, error_message)` of a success response, when the receiver reported a partial
/// success. An empty or unparsable body is a full success (the OTLP spec lets servers send any
/// body with 200 only when everything was accepted).
pub(crate) fn partial_success(body: &[u8], json: bool) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    let (rejected, message) = if json {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let p = v.get("partialSuccess")?;
        // int64 is a string in OTLP JSON; accept a number too.
        let rejected = match p.get("rejectedSpans") {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(n) => n.as_i64().unwrap_or(0),
            None => 0,
        };
        let message = p
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        (rejected, message)
    } else {
        let r = ExportTraceServiceResponse::decode(body).ok()?;
        let p = r.partial_success?;
        (p.rejected_spans, p.error_message)
    };
    (rejected > 0 || !message.is_empty()).then_some((rejected, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn partial_success_in_both_encodings() {
        let r = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(
            partial_success(&r.encode_to_vec(), false),
            Some((2, "too old".into()))
        );
        let j = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"x"}}"#;
        assert_eq!(partial_success(j, true), Some((3, "x".into())));
        assert_eq!(partial_success(b"{}", true), None);
        assert_eq!(partial_success(b"", false), None);
        let ok = ExportTraceServiceResponse::default().encode_to_vec();
        assert_eq!(partial_success(&ok, false), None);
    }
}
