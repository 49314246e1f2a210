//! Decoding dispatch: a request or a reply to the codec of its API.

use serde_json::Value;

use super::shape::{LlmReply, LlmRequest, str_of};
use super::{LlmApi, anthropic, openai_chat, openai_responses};
use crate::config::CapturePolicy;

impl LlmRequest {
    /// Decodes `body` (the request JSON) for `api` under `policy`.
    pub fn parse(api: LlmApi, body: &Value, policy: &CapturePolicy) -> LlmRequest {
        Self::parse_owned(api, body.clone(), policy)
    }

    /// [`LlmRequest::parse`] taking the body (its messages move into the span input).
    pub fn parse_owned(api: LlmApi, mut body: Value, policy: &CapturePolicy) -> LlmRequest {
        let body = &mut body;
        let mut req = LlmRequest {
            api,
            model: str_of(body, "model").unwrap_or_default().to_owned(),
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            input: Value::Null,
            params: Vec::new(),
            schema_params: Vec::new(),
            reasoning_effort: None,
            first_user_text: None,
            tool_result_ids: Vec::new(),
        };
        match api {
            LlmApi::OpenAiChat => openai_chat::parse_request(body, policy, &mut req),
            LlmApi::OpenAiResponses => openai_responses::parse_request(body, policy, &mut req),
            LlmApi::AnthropicMessages => anthropic::parse_request(body, policy, &mut req),
        }
        req
    }
}

impl LlmReply {
    /// Decodes a response body. `None` when it is not a JSON object.
    pub fn from_slice(api: LlmApi, body: &[u8]) -> Option<LlmReply> {
        let v: Value = serde_json::from_slice(body).ok()?;
        Self::from_value(api, v)
    }

    /// Decodes a response JSON value. `None` when it is not an object.
    pub fn from_json(api: LlmApi, body: &Value) -> Option<LlmReply> {
        Self::from_value(api, body.clone())
    }

    /// [`LlmReply::from_json`] taking the value (its content moves into the span output).
    pub fn from_value(api: LlmApi, mut body: Value) -> Option<LlmReply> {
        let obj = body.as_object_mut()?;
        let mut reply = LlmReply {
            model: obj.get("model").and_then(Value::as_str).map(str::to_owned),
            response_id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
            ..LlmReply::default()
        };
        match api {
            LlmApi::OpenAiChat => openai_chat::parse_reply(obj, &mut reply),
            LlmApi::OpenAiResponses => openai_responses::parse_reply(obj, &mut reply),
            LlmApi::AnthropicMessages => anthropic::parse_reply(obj, &mut reply),
        }
        Some(reply)
    }
}
