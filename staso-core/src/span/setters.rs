//! The setters of the [`Span`] handle. Each decides from the capture policy whether the value is
//! kept at all (so a suppressed value is never serialized), then changes the record through
//! `Span::with_record`: at once for an owned span, at its end for a [`Span::current`] handle.
//! With the `off` feature each returns before converting its arguments.

use std::borrow::Cow;

use serde::Serialize;

use super::handle::Span;
use super::llm::LlmCall;
use crate::annotation::{Annotation, AnnotationError, AnnotationValue};
use crate::capture::{document, json_value as to_value};
use crate::client::current_client;
use crate::config::{OPERATIONAL_ALLOW_LIST, input_allowed};
use crate::kind::SpanStatus;

/// Optional text for [`Span::set_status`] and [`Span::annotate`]: `"text"`, a `String`, a
/// `&String`, or an `Option<String>` (`None` for no text).
///
/// There is one `Option` form so that a bare `None` needs no annotation; for an `Option<&str>`,
/// pass `opt.map(str::to_owned)`, or the text itself.
pub trait StatusDescription {
    /// The description, if any.
    fn into_description(self) -> Option<String>;
}

impl StatusDescription for &str {
    fn into_description(self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl StatusDescription for String {
    fn into_description(self) -> Option<String> {
        Some(self)
    }
}

impl StatusDescription for &String {
    fn into_description(self) -> Option<String> {
        Some(self.clone())
    }
}

impl StatusDescription for Option<String> {
    fn into_description(self) -> Option<String> {
        self
    }
}

/// Whether a metadata key is sent under `request`-off capture.
fn metadata_kept(request: bool, key: &str) -> bool {
    request || OPERATIONAL_ALLOW_LIST.contains(&key)
}

impl Span {
    /// Sets a metadata key (sent in `attributes`). The value is serialized only if the capture
    /// policy will send the key.
    pub fn set_metadata<T: Serialize>(&self, key: impl Into<Cow<'static, str>>, value: T) {
        if cfg!(feature = "off") {
            return;
        }
        let key = key.into();
        if !self
            .policy()
            .is_some_and(|p| metadata_kept(p.request, &key))
        {
            return;
        }
        let value = to_value(&value);
        self.with_record(move |r, _| r.set_metadata(key, value));
    }

    /// Sets an attribute: a metadata key, as [`Span::set_metadata`] does (the StackLens name; the
    /// value is usually a string, any `Serialize` value is accepted).
    pub fn set_attribute<T: Serialize>(&self, key: impl Into<String>, value: T) {
        self.set_metadata(Cow::Owned(key.into()), value);
    }

    /// Appends a tag to the span's tags (after the attribute's `tags = [...]`; a tag already
    /// present is not repeated).
    pub fn add_tag(&self, tag: impl Into<String>) {
        if cfg!(feature = "off") {
            return;
        }
        let tag = tag.into();
        self.with_record(move |r, _| r.tags.push(tag));
    }

    /// Appends tags, as [`Span::add_tag`] does for each.
    pub fn add_tags<I>(&self, tags: I)
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        if cfg!(feature = "off") {
            return;
        }
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        if tags.is_empty() {
            return;
        }
        self.with_record(move |r, _| r.tags.extend(tags));
    }

    /// Sets the input (any `Serialize` value; a falsy value such as `null` or `{}` sends `""`).
    pub fn set_input<T: Serialize>(&self, value: T) {
        if cfg!(feature = "off") {
            return;
        }
        let Some(kind_policy) = self.policy() else {
            return;
        };
        let doc = document(&to_value(&value));
        self.with_record(move |r, _| {
            if input_allowed(&kind_policy, r.kind) {
                r.input = doc;
            }
        });
    }

    /// Sets the output.
    pub fn set_output<T: Serialize>(&self, value: T) {
        if cfg!(feature = "off") {
            return;
        }
        if !self.policy().is_some_and(|p| p.output) {
            return;
        }
        let doc = document(&to_value(&value));
        self.with_record(move |r, _| r.output = doc);
    }

    /// Sets the status; a description also becomes the error message.
    pub fn set_status(&self, status: SpanStatus, description: impl StatusDescription) {
        if cfg!(feature = "off") {
            return;
        }
        let description = description.into_description();
        self.with_record(move |r, _| {
            r.status = status;
            if let Some(d) = description {
                r.error_message = Some(d);
            }
        });
    }

    /// Records an error: status `error`, its `Display` as the message and its type as
    /// `exception.type`.
    pub fn record_exception<E: std::error::Error + ?Sized>(&self, error: &E) {
        if cfg!(feature = "off") {
            return;
        }
        let message = error.to_string();
        let type_name = std::any::type_name::<E>();
        self.with_record(move |r, _| {
            r.status = SpanStatus::Error;
            r.error_message = Some(message);
            r.exception_type = Some(Cow::Borrowed(type_name));
        });
    }

    /// Sets the model; the first non-empty model also sets `requested_model`.
    pub fn set_model(&self, model: impl Into<String>) {
        if cfg!(feature = "off") {
            return;
        }
        let model = model.into();
        self.with_record(move |r, _| r.set_model(model));
    }

    /// Sets the provider (`openai`, `anthropic`, …).
    pub fn set_provider(&self, provider: impl Into<String>) {
        if cfg!(feature = "off") {
            return;
        }
        let provider = provider.into();
        self.with_record(move |r, _| r.provider = provider);
    }

    /// Sets the token counts; the total is their sum.
    pub fn set_tokens(&self, input: u64, output: u64) {
        if cfg!(feature = "off") {
            return;
        }
        self.with_record(move |r, _| {
            r.input_tokens = input;
            r.output_tokens = output;
            r.total_tokens = input.saturating_add(output);
        });
    }

    /// Sets the total token count (when it is not the sum of input and output, or only the total
    /// is known).
    pub fn set_total_tokens(&self, total: u64) {
        if cfg!(feature = "off") {
            return;
        }
        self.with_record(move |r, _| r.total_tokens = total);
    }

    /// Sets the reasoning effort.
    pub fn set_reasoning_effort(&self, effort: impl Into<String>) {
        if cfg!(feature = "off") {
            return;
        }
        let effort = effort.into();
        self.with_record(move |r, _| r.reasoning_effort = effort);
    }

    /// Sets whether the provider reported usage.
    pub fn set_usage_available(&self, available: bool) {
        if cfg!(feature = "off") {
            return;
        }
        self.with_record(move |r, _| r.usage_available = Some(available));
    }

    /// Records one LLM call on this span: model, provider, tokens, request parameters, usage
    /// details, prompt and completion (see [`LlmCall`]). The prompt is the span's input and is
    /// kept when `request` capture is on; the completion is its output, kept when `output`
    /// capture is on.
    ///
    /// ```
    /// use staso_core::{LlmCall, SpanKind, span};
    /// span("chat", SpanKind::Llm, |s| {
    ///     s.record_llm(
    ///         LlmCall::new("gpt-4o", "openai")
    ///             .tokens(120, 40)
    ///             .temperature(0.2)
    ///             .prompt(&[("user", "hi")])
    ///             .completion("hello!")
    ///             .finish_reason("stop"),
    ///     );
    /// });
    /// ```
    pub fn record_llm(&self, call: LlmCall) {
        if cfg!(feature = "off") {
            return;
        }
        if self.policy().is_none() {
            return;
        }
        self.with_record(move |r, p| call.apply(r, p));
    }

    /// Annotates this span: `Annotation::new(trace_id, name, value).span_id(span_id)` with the
    /// comment, sent as [`Annotation::send`] does (queued on the client's delivery worker,
    /// retried, counted in the `DeliveryReport`; never blocks).
    ///
    /// A no-op span (no client, or not recording) has no ids: nothing is sent and a warning is
    /// logged when there is no client at all.
    ///
    /// # Errors
    /// [`AnnotationError::EmptyName`] for an empty name, [`AnnotationError::NonFiniteValue`] for a
    /// NaN or infinite number; nothing is sent then.
    pub fn annotate(
        &self,
        name: impl Into<String>,
        value: impl Into<AnnotationValue>,
        comment: impl StatusDescription,
    ) -> Result<(), AnnotationError> {
        let comment = comment.into_description();
        let Some(ids) = self.ids else {
            // The same checks as on a recording span (with a stand-in trace id), then nothing.
            let name = name.into();
            Annotation::new("-", name.as_str(), value).validate()?;
            if current_client().is_none() {
                log::warn!(
                    "staso: annotation {name:?} not sent: no client (call staso::init first)"
                );
            } else {
                log::debug!("staso: annotation {name:?} not sent: the span is not recording");
            }
            return Ok(());
        };
        let mut a =
            Annotation::new(ids.trace_id.to_string(), name, value).span_id(ids.span_id.to_string());
        a.comment = comment;
        a.send()
    }
}
