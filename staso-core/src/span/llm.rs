//! [`LlmCall`]: one LLM call's model, usage, parameters, prompt and completion, written onto a
//! span by [`Span::record_llm`](super::Span::record_llm) or recorded as its own trace by
//! [`llm_trace`](crate::llm_trace).
//!
//! Where the official SDK has a metadata key for a field (PROTOCOL.md §9, "LLM span shape") the
//! same key is used; `cost_usd` and `is_streaming` are staso-rs's own keys.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::capture::{document, json_value as to_value};
use crate::config::{CapturePolicy, OPERATIONAL_ALLOW_LIST};
use crate::kind::SpanStatus;
use crate::record::SpanRecord;

/// One LLM call, built with setters and recorded with
/// [`Span::record_llm`](super::Span::record_llm) or [`llm_trace`](crate::llm_trace).
///
/// ```
/// use std::time::Duration;
/// use staso_core::LlmCall;
/// let call = LlmCall::new("claude-sonnet-4-5", "anthropic")
///     .tokens(1_200, 300)
///     .cache_read_tokens(1_000)
///     .cost_usd(0.0042)
///     .max_tokens(1024)
///     .streaming(true)
///     .time_to_first_token(Duration::from_millis(420))
///     .finish_reason("end_turn")
///     .response_id("msg_01")
///     .prompt(serde_json::json!([{"role": "user", "content": "hi"}]))
///     .completion("hello")
///     .attribute("route", "support")
///     .tags(["prod"]);
/// # let _ = call;
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "an LlmCall records nothing until passed to Span::record_llm or staso::llm_trace"]
pub struct LlmCall {
    model: String,
    provider: String,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    cache_creation_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    cost_usd: Option<f64>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    top_p: Option<f64>,
    prompt: Option<Value>,
    completion: Option<Value>,
    streaming: Option<bool>,
    finish_reason: Option<String>,
    time_to_first_token: Option<Duration>,
    response_id: Option<String>,
    response_model: Option<String>,
    attributes: Vec<(String, Value)>,
    tags: Vec<String>,
    status: Option<SpanStatus>,
    duration: Option<Duration>,
}

/// A finite number, or `None` with a warning naming the field (JSON has no NaN or infinity).
fn finite(field: &str, v: f64) -> Option<f64> {
    if v.is_finite() {
        Some(v)
    } else {
        log::warn!("staso: LlmCall::{field}({v}) ignored: not a finite number");
        None
    }
}

impl LlmCall {
    /// A call to `model` (the requested model) at `provider` (`openai`, `anthropic`, …).
    pub fn new(model: impl Into<String>, provider: impl Into<String>) -> Self {
        LlmCall {
            model: model.into(),
            provider: provider.into(),
            ..LlmCall::default()
        }
    }

    /// Input (prompt) and output (completion) tokens; the total defaults to their sum.
    pub fn tokens(mut self, input: u64, output: u64) -> Self {
        self.input_tokens = Some(input);
        self.output_tokens = Some(output);
        self
    }

    /// The total token count, when it is not input + output.
    pub fn total_tokens(mut self, total: u64) -> Self {
        self.total_tokens = Some(total);
        self
    }

    /// Input tokens read from the provider's prompt cache (`cache_read_input_tokens`).
    pub fn cache_read_tokens(mut self, n: u64) -> Self {
        self.cache_read_tokens = Some(n);
        self
    }

    /// Input tokens written to the provider's prompt cache (`cache_creation_input_tokens`).
    pub fn cache_creation_tokens(mut self, n: u64) -> Self {
        self.cache_creation_tokens = Some(n);
        self
    }

    /// Reasoning (thinking) tokens (`reasoning_tokens`).
    pub fn reasoning_tokens(mut self, n: u64) -> Self {
        self.reasoning_tokens = Some(n);
        self
    }

    /// The call's cost in US dollars (`cost_usd`). A NaN or infinite value is ignored (warned).
    pub fn cost_usd(mut self, usd: f64) -> Self {
        self.cost_usd = finite("cost_usd", usd);
        self
    }

    /// The sampling temperature requested (`temperature`).
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = finite("temperature", t);
        self
    }

    /// The output token limit requested (`max_tokens`).
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// The nucleus-sampling `top_p` requested.
    pub fn top_p(mut self, p: f64) -> Self {
        self.top_p = finite("top_p", p);
        self
    }

    /// The prompt (messages, text, any `Serialize` value): the span's input, sent when `request`
    /// capture is on.
    pub fn prompt(mut self, prompt: impl Serialize) -> Self {
        if cfg!(feature = "off") {
            return self; // nothing will record it: not serialized
        }
        self.prompt = Some(to_value(&prompt));
        self
    }

    /// The completion: the span's output, sent when `output` capture is on.
    pub fn completion(mut self, completion: impl Serialize) -> Self {
        if cfg!(feature = "off") {
            return self;
        }
        self.completion = Some(to_value(&completion));
        self
    }

    /// Whether the reply was streamed (`is_streaming`).
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = Some(streaming);
        self
    }

    /// Why generation stopped (`stop_reason`: `stop`, `length`, `tool_calls`, `end_turn`, …).
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// Time from the request to the first content chunk (`time_to_first_token`, in ms).
    pub fn time_to_first_token(mut self, ttft: Duration) -> Self {
        self.time_to_first_token = Some(ttft);
        self
    }

    /// The provider's response id (`response_id`).
    pub fn response_id(mut self, id: impl Into<String>) -> Self {
        self.response_id = Some(id.into());
        self
    }

    /// The model that answered, when it differs from the requested one (it becomes the span's
    /// `model`; the requested model stays `requested_model`).
    pub fn response_model(mut self, model: impl Into<String>) -> Self {
        self.response_model = Some(model.into());
        self
    }

    /// A metadata key of the span (sent when `request` capture is on).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        if cfg!(feature = "off") {
            return self;
        }
        self.attributes.push((key.into(), to_value(&value)));
        self
    }

    /// Tags appended to the span's tags.
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The span's status (default: leave it as it is, `ok` for a new span).
    pub fn status(mut self, status: SpanStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// How long the call took. Used by [`llm_trace`](crate::llm_trace), whose span then starts
    /// that long before it is recorded; a span given to `record_llm` keeps its own timing.
    pub fn duration(mut self, took: Duration) -> Self {
        self.duration = Some(took);
        self
    }

    /// The duration given with [`LlmCall::duration`].
    pub(crate) fn took(&self) -> Option<Duration> {
        self.duration
    }

    /// The requested model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Writes the call onto `r` under `p`.
    pub(crate) fn apply(self, r: &mut SpanRecord, p: &CapturePolicy) {
        if !self.model.is_empty() {
            r.set_model(self.model);
        }
        if let Some(m) = self.response_model.filter(|m| !m.is_empty()) {
            r.set_model(m);
        }
        if !self.provider.is_empty() {
            r.provider = self.provider;
        }
        let counted = self.input_tokens.is_some() || self.total_tokens.is_some();
        if let (Some(i), Some(o)) = (self.input_tokens, self.output_tokens) {
            r.input_tokens = i;
            r.output_tokens = o;
            r.total_tokens = i.saturating_add(o);
        }
        if let Some(t) = self.total_tokens {
            r.total_tokens = t;
        }
        if counted {
            r.usage_available = Some(true);
        }
        let mut meta = |key: &'static str, value: Value| {
            if p.request || OPERATIONAL_ALLOW_LIST.contains(&key) {
                r.set_metadata(key.into(), value);
            }
        };
        if let Some(v) = self.temperature {
            meta("temperature", v.into());
        }
        if let Some(v) = self.max_tokens {
            meta("max_tokens", v.into());
        }
        if let Some(v) = self.top_p {
            meta("top_p", v.into());
        }
        if let Some(v) = self.finish_reason {
            meta("stop_reason", v.into());
        }
        if let Some(v) = self.response_id {
            meta("response_id", v.into());
        }
        if let Some(v) = self.reasoning_tokens {
            meta("reasoning_tokens", v.into());
        }
        if let Some(v) = self.cache_read_tokens {
            meta("cache_read_input_tokens", v.into());
        }
        if let Some(v) = self.cache_creation_tokens {
            meta("cache_creation_input_tokens", v.into());
        }
        if let Some(v) = self.time_to_first_token {
            meta(
                "time_to_first_token",
                round2(v.as_secs_f64() * 1000.0).into(),
            );
        }
        if let Some(v) = self.cost_usd {
            meta("cost_usd", v.into());
        }
        if let Some(v) = self.streaming {
            meta("is_streaming", v.into());
        }
        for (k, v) in self.attributes {
            if p.request || OPERATIONAL_ALLOW_LIST.contains(&k.as_str()) {
                r.set_metadata(k.into(), v);
            }
        }
        if p.request
            && let Some(prompt) = self.prompt
        {
            r.input = document(&prompt);
            r.input_prefiltered = true;
        }
        if p.output
            && let Some(completion) = self.completion
        {
            r.output = document(&completion);
        }
        r.tags.extend(self.tags);
        if let Some(s) = self.status {
            r.status = s;
        }
    }
}

/// Milliseconds rounded to 2 decimals, as the official SDK writes `time_to_first_token`.
fn round2(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// Low-level access for the provider integrations (`crate::llm`): they filter the request and
/// the reply themselves (PROTOCOL.md §9, "LLM span shape") and write the record directly.
impl super::Span {
    /// The capture policy of a recording span, `None` for a no-op span.
    #[doc(hidden)]
    pub fn __llm_policy(&self) -> Option<CapturePolicy> {
        self.policy()
    }

    /// The span's identity as a parent (`None` for a no-op span).
    #[doc(hidden)]
    pub fn __llm_ids(&self) -> Option<crate::frame::ParentRef> {
        self.ids
    }

    /// Changes the span's record (at once for an owned span).
    #[doc(hidden)]
    pub fn __llm_with_record(
        &self,
        f: impl FnOnce(&mut SpanRecord, &CapturePolicy) + Send + 'static,
    ) {
        self.with_record(f);
    }
}
