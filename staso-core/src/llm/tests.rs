//! Unit tests of the codecs (the end-to-end ones are in `tests/tests/llm_integrations*.rs`).

use serde_json::{Value, json};

use super::openai_chat::ChatStream;
use super::{LlmApi, LlmReply, LlmRequest, SseParser, stream_request_body};
use crate::config::CapturePolicy;

fn events(chunks: &[&[u8]]) -> Vec<(Option<String>, String)> {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, |e, d| out.push((e.map(str::to_owned), d.to_owned())));
    }
    p.finish(|e, d| out.push((e.map(str::to_owned), d.to_owned())));
    out
}

#[test]
fn sse_events_are_the_same_whatever_the_chunking() {
    let body = b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n: comment\n\ndata: line1\ndata: line2\n\ndata: [DONE]";
    let whole = events(&[body]);
    assert_eq!(
        whole,
        vec![
            (Some("message_start".into()), "{\"a\":1}".into()),
            (None, "line1\nline2".into()),
            (None, "[DONE]".into()),
        ]
    );
    for split in 1..body.len() {
        let (a, b) = body.split_at(split);
        assert_eq!(events(&[a, b]), whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(events(&bytes), whole);
}

#[test]
fn names_show_three_tools_then_a_count() {
    let calls: Vec<Value> = ["a", "b", "", "d", "e"]
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": format!("c{i}"), "type": "function", "function": {"name": n, "arguments": "{}"}}))
        .collect();
    let body = json!({"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": calls}}]});
    let reply = LlmReply::from_json(LlmApi::OpenAiChat, &body).expect("reply");
    assert_eq!(
        reply.span_name(LlmApi::OpenAiChat),
        "chat:tool_calls(a, b, ?, …+2)"
    );
    let body = json!({"choices": [{"finish_reason": "length", "message": {"content": "x"}}]});
    let reply = LlmReply::from_json(LlmApi::OpenAiChat, &body).expect("reply");
    assert_eq!(reply.span_name(LlmApi::OpenAiChat), "chat:reply");
    let body = json!({"status": "incomplete", "output": []});
    let reply = LlmReply::from_json(LlmApi::OpenAiResponses, &body).expect("reply");
    assert_eq!(
        reply.span_name(LlmApi::OpenAiResponses),
        "response:incomplete"
    );
    let body = json!({"stop_reason": "pause_turn", "content": []});
    let reply = LlmReply::from_json(LlmApi::AnthropicMessages, &body).expect("reply");
    assert_eq!(
        reply.span_name(LlmApi::AnthropicMessages),
        "chat:pause_turn"
    );
}

#[test]
fn anthropic_messages_are_filtered_per_block() {
    let policy = CapturePolicy {
        request: false,
        tool_arguments: false,
        ..CapturePolicy::ALL
    };
    let body = json!({"model": "claude", "system": "be brief", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "checking"},
            {"type": "tool_use", "id": "t1", "name": "get", "input": {"q": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"},
            {"type": "text", "text": "and?"}]},
    ]});
    let req = LlmRequest::parse(LlmApi::AnthropicMessages, &body, &policy);
    assert_eq!(req.first_user_text(), Some("hi"));
    assert_eq!(req.tool_result_ids(), ["t1"]);
    assert_eq!(
        req.input(),
        &json!({"model": "claude", "system": "be brief", "messages": [
            {"role": "assistant", "content": [{"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "t1", "name": "get"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]},
        ]})
    );
}

#[test]
fn responses_tool_items_need_output_and_arguments_need_tool_arguments() {
    let body = json!({"model": "gpt-4.1", "instructions": "sys", "input": [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
    ]});
    let no_output = CapturePolicy {
        output: false,
        ..CapturePolicy::ALL
    };
    let req = LlmRequest::parse(LlmApi::OpenAiResponses, &body, &no_output);
    assert_eq!(
        req.input()["messages"],
        json!([{"role": "system", "content": "sys"}, {"role": "user", "content": "weather?"}])
    );
    assert_eq!(req.tool_result_ids(), ["c1"]);
    let no_args = CapturePolicy {
        tool_arguments: false,
        ..CapturePolicy::ALL
    };
    let req = LlmRequest::parse(LlmApi::OpenAiResponses, &body, &no_args);
    assert!(req.input()["messages"][2].get("arguments").is_none());
    assert_eq!(req.input()["messages"][3]["output"], "18C");
}

#[test]
fn chat_stream_chunks_accumulate_into_the_unary_shape() {
    let mut s = ChatStream::default();
    let chunks = [
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}"#,
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
        "[DONE]",
    ];
    let content: Vec<bool> = chunks.iter().map(|c| s.feed(c)).collect();
    assert_eq!(content, [true, true, true, false, false, false]);
    assert!(s.done);
    let reply = LlmReply::from_value(LlmApi::OpenAiChat, s.finish()).expect("reply");
    assert_eq!(reply.tool_calls()[0].arguments, json!({"city": "Paris"}));
    assert_eq!(reply.total_tokens(), Some(8));
    assert_eq!(
        reply.span_name(LlmApi::OpenAiChat),
        "chat:tool_calls(get_weather)"
    );
}

#[test]
fn include_usage_is_added_only_when_the_caller_left_it_out() {
    let set = br#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#;
    assert!(stream_request_body(LlmApi::OpenAiChat, set).is_none());
    let unary = br#"{"model":"m"}"#;
    assert!(stream_request_body(LlmApi::OpenAiChat, unary).is_none());
    let other = br#"{"model":"m","stream":true,"stream_options":{"foo":1}}"#;
    let out: Value =
        serde_json::from_slice(&stream_request_body(LlmApi::OpenAiChat, other).expect("changed"))
            .expect("JSON");
    assert_eq!(
        out["stream_options"],
        json!({"foo": 1, "include_usage": true})
    );
}
