//! staso-server's OTLP/HTTP ingest (`POST /v1/traces`): foreign GenAI spans in protobuf and JSON
//! (gzip too) mapped to staso spans; partial success for invalid spans; 4xx with a message and
//! nothing stored for undecodable, oversized, mistyped or unauthenticated bodies. The staso SDK's
//! own OTLP export is compared with its Staso ingest in `otlp_ingest_sdk.rs`.

mod otlp_ingest_support;

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use otlp_ingest_support::{
    KEY, foreign_request, get, gzip, kv, post, s, server, trace_count, tree,
};
use prost::Message;
use serde_json::{Value, json};

#[test]
fn foreign_genai_spans_in_protobuf_and_json_map_to_staso_spans() {
    let srv = server();
    let base = srv.base_url().to_owned();
    let trace = (1..=16).collect::<Vec<u8>>();
    let req = foreign_request(trace.clone());
    let (status, ct, body) = post(&base, "application/x-protobuf", false, req.encode_to_vec());
    assert_eq!((status, ct.as_str()), (200, "application/x-protobuf"));
    let resp = ExportTraceServiceResponse::decode(body.as_slice()).expect("response decodes");
    assert_eq!(resp.partial_success, None);

    let id = "01020304-0506-0708-090a-0b0c0d0e0f10";
    let t = get(&base, &format!("/v1/traces/{id}"));
    assert_eq!(
        tree(&t),
        "invoke_agent py [agent ok] agent=py-agent model= tokens=0/0/0\n\
         \x20 chat gpt [llm ok] agent=py-agent model= tokens=12/3/15\n\
         \x20 lookup [tool error] agent=py-agent model= tokens=0/0/0\n"
    );
    let spans = t["spans"].as_array().cloned().unwrap_or_default();
    assert_eq!(spans[0]["span_id"], "00000000-0000-0000-0000-000000000001");
    assert_eq!(spans[0]["timestamp"], "2025-11-24T16:00:00.001000+00:00");
    assert_eq!(spans[0]["duration_ms"], 49.0);
    assert_eq!(spans[0]["session_id"], "conv-9");
    assert_eq!(spans[1]["requested_model"], "gpt-x");
    assert_eq!(spans[1]["usage_available"], true);
    assert_eq!(spans[1]["attributes"], json!({"custom.flag": true}));
    assert_eq!(spans[2]["error_message"], "not found");
    assert_eq!(t["environment"], "default");
    assert_eq!(t["workspace_slug"], "default");

    // The same request as OTLP JSON (gzip), enum names and all: stored again, same result.
    let j = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js-agent"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "0102030405060708090a0b0c0d0e0f11", "spanId": "00000000000000aa",
            "name": "run", "kind": "SPAN_KIND_INTERNAL",
            "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": 1764000000002500000u64,
            "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "RETRIEVER"}},
                           {"key": "llm.token_count.prompt", "value": {"intValue": "4"}}],
            "status": {"code": "STATUS_CODE_OK"}
        }]}]
    }]});
    let (status, ct, body) = post(
        &base,
        "application/json",
        true,
        gzip(j.to_string().as_bytes()),
    );
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap_or_default(),
        json!({})
    );
    let t = get(&base, "/v1/traces/01020304-0506-0708-090a-0b0c0d0e0f11");
    assert_eq!(
        tree(&t),
        "run [retriever ok] agent=js-agent model= tokens=4/0/4\n"
    );
    assert_eq!(
        t["spans"][0]["span_id"],
        "00000000-0000-0000-0000-0000000000aa"
    );
    assert_eq!(t["spans"][0]["duration_ms"], 2.5);
}

#[test]
fn invalid_spans_are_rejected_alone_with_a_partial_success() {
    let srv = server();
    let base = srv.base_url().to_owned();
    let mut req = foreign_request((1..=16).collect());
    let spans = &mut req.resource_spans[0].scope_spans[0].spans;
    spans[1].span_id = vec![1, 2, 3]; // 3 bytes
    spans[2].trace_id = vec![0; 16]; // all zeroes
    let (status, _, body) = post(&base, "application/x-protobuf", false, req.encode_to_vec());
    assert_eq!(status, 200);
    let p = ExportTraceServiceResponse::decode(body.as_slice())
        .expect("decodes")
        .partial_success
        .expect("partial success");
    assert_eq!(p.rejected_spans, 2);
    assert!(
        p.error_message
            .contains("spanId: must be 8 bytes (16 hex digits), got 3"),
        "{p:?}"
    );
    assert!(
        p.error_message.contains("traceId: must not be all zeroes"),
        "{p:?}"
    );
    let t = get(&base, "/v1/traces/01020304-0506-0708-090a-0b0c0d0e0f10");
    assert_eq!(
        tree(&t),
        "invoke_agent py [agent ok] agent=py-agent model= tokens=0/0/0\n"
    );

    // JSON: a non-hex id and an end before the start; the answer is OTLP JSON.
    let j = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "zz", "spanId": "0000000000000001", "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": "0102030405060708090a0b0c0d0e0f12", "spanId": "0000000000000001",
         "startTimeUnixNano": "9", "endTimeUnixNano": "2"},
        {"traceId": "0102030405060708090a0b0c0d0e0f12", "spanId": "0000000000000002",
         "startTimeUnixNano": "9", "endTimeUnixNano": "10", "name": "kept"}
    ]}]}]});
    let (status, _, body) = post(&base, "application/json", false, j.to_string().into_bytes());
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "2");
    let msg = v["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("traceId: not hexadecimal: \"zz\""), "{msg}");
    assert!(
        msg.contains("endTimeUnixNano: before startTimeUnixNano"),
        "{msg}"
    );
    let t = get(&base, "/v1/traces/01020304-0506-0708-090a-0b0c0d0e0f12");
    assert_eq!(tree(&t), "kept [chain ok] agent= model= tokens=0/0/0\n");
}

/// Every kind of bad body: a 4xx with a message in the request's encoding, nothing stored.
#[test]
fn bad_bodies_are_4xx_with_a_message_and_store_nothing() {
    let srv = server();
    let base = srv.base_url().to_owned();
    let good = foreign_request((1..=16).collect()).encode_to_vec();
    let rpc = |body: &[u8], proto: bool| -> (i64, String) {
        if proto {
            // google.rpc.Status: code = 1 (int32), message = 2 (string).
            #[derive(Clone, PartialEq, prost::Message)]
            struct RpcStatus {
                #[prost(int32, tag = "1")]
                code: i32,
                #[prost(string, tag = "2")]
                message: String,
            }
            let st = RpcStatus::decode(body).expect("a google.rpc.Status");
            (i64::from(st.code), st.message)
        } else {
            let v: Value = serde_json::from_slice(body).expect("json status");
            (
                v["code"].as_i64().unwrap_or(-1),
                v["message"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    let mut bomb = Vec::new();
    {
        let mut enc = flate2::write::GzEncoder::new(&mut bomb, flate2::Compression::best());
        enc.write_all(&vec![b' '; 8 << 20]).expect("bomb");
        enc.finish().expect("bomb");
    }
    // (what, content type, gzip, body, expected status, expected message part)
    type Case = (&'static str, &'static str, bool, Vec<u8>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            "truncated protobuf",
            "application/x-protobuf",
            false,
            good[..good.len() - 7].to_vec(),
            400,
            "not an ExportTraceServiceRequest protobuf",
        ),
        (
            "garbage protobuf",
            "application/x-protobuf",
            false,
            vec![0xff; 64],
            400,
            "not an ExportTraceServiceRequest protobuf",
        ),
        (
            "invalid json",
            "application/json",
            false,
            b"{\"resourceSpans\": [{]".to_vec(),
            400,
            "line 1 column",
        ),
        (
            "json of the wrong shape",
            "application/json",
            false,
            br#"{"resourceSpans": {"a": 1}}"#.to_vec(),
            400,
            "resourceSpans: invalid type",
        ),
        (
            "bad gzip",
            "application/x-protobuf",
            true,
            b"\x1f\x8b\x08\x00garbage".to_vec(),
            400,
            "invalid gzip data",
        ),
        (
            "gzip bomb",
            "application/json",
            true,
            bomb.clone(),
            413,
            "exceeds 65536 bytes",
        ),
        (
            "wrong content type",
            "text/plain",
            false,
            good.clone(),
            415,
            "Content-Type: must be application/x-protobuf or application/json",
        ),
        (
            "oversized body",
            "application/x-protobuf",
            false,
            vec![0u8; 65 * 1024],
            413,
            "exceeds 65536 bytes",
        ),
    ];
    for (what, ct, gz, body, want, msg) in cases {
        let (status, resp_ct, resp) = post(&base, ct, gz, body);
        assert_eq!(status, want, "{what}");
        let proto = ct == "application/x-protobuf" && status != 413;
        if status == 413 {
            let text = String::from_utf8_lossy(&resp);
            assert!(text.contains(msg), "{what}: {text}");
            continue;
        }
        assert_eq!(
            resp_ct.starts_with("application/x-protobuf"),
            proto,
            "{what}"
        );
        let (code, message) = rpc(&resp, proto);
        assert_eq!(code, 3, "{what}: INVALID_ARGUMENT");
        assert!(message.contains(msg), "{what}: {message}");
    }
    // An unknown content encoding; no key; a scoped key writing another workspace.
    let client = reqwest::blocking::Client::new();
    let r = client
        .post(format!("{base}/v1/traces"))
        .header("X-API-Key", KEY)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "br")
        .body(good.clone())
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 415);
    let r = client
        .post(format!("{base}/v1/traces"))
        .header("Content-Type", "application/x-protobuf")
        .body(good.clone())
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let mut other_ws = foreign_request((1..=16).collect());
    other_ws.resource_spans[0]
        .resource
        .get_or_insert_default()
        .attributes
        .push(kv("staso.workspace_slug", s("elsewhere")));
    let r = client
        .post(format!("{base}/v1/traces"))
        .header("X-API-Key", "ak_team")
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&other_ws).expect("json"))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().expect("json status");
    assert_eq!(v["code"], 7);
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("\"elsewhere\""),
        "{v}"
    );
    assert_eq!(trace_count(&base), 0, "nothing stored by any 4xx");

    // The scoped key without a workspace attribute writes its own workspace.
    let r = client
        .post(format!("{base}/v1/traces"))
        .header("X-API-Key", "ak_team")
        .header("Content-Type", "application/x-protobuf")
        .body(good)
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let list = get(&base, "/v1/traces");
    assert_eq!(list["traces"][0]["workspace_slug"], "team");
}
