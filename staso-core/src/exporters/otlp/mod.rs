//! OTLP/HTTP export with the OpenTelemetry GenAI semantic conventions: the same spans that go to
//! Staso, into any OpenTelemetry pipeline (Collector, Tempo, Jaeger, Langfuse, Phoenix, …).
//!
//! ```text
//!  caller threads                        worker thread ("staso-otlp", delivery/worker.rs)
//!  OtlpExporter::export ─▶ Intake ─▶ batch rules ─▶ OtlpSender (sender.rs): mapping.rs (to_wire
//!    (Arc<SpanRecord>)   (delivery/    + GenAI keys) ─▶ encode.rs (protobuf | JSON, gzip)
//!                         queue.rs)    ─▶ http.rs (retries per the OTLP spec) ─▶ Ledger
//!                                      ─▶ flush/shutdown
//! ```
//!
//! Selected with [`Exporter::otlp`](crate::config::Exporter::otlp), or with no code change
//! through the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL, `/v1/traces` is
//! appended), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_EXPORTER_OTLP_HEADERS`
//! (`k=v,k2=v2`, percent-encoded), `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` default,
//! `http/json`), `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`), `OTEL_EXPORTER_OTLP_TIMEOUT` (ms),
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` (the `_TRACES_` forms win).
//!
//! # Mapping
//!
//! | OTLP | from |
//! |---|---|
//! | `trace_id` | the 128-bit Staso trace id (16 bytes, big-endian) |
//! | `span_id`, `parent_span_id` | the 64-bit Staso span ids (the low 8 bytes of the wire UUID) |
//! | `start_time_unix_nano`, `end_time_unix_nano` | span start (wall clock), start + duration |
//! | `kind` | `CLIENT` for llm and retriever, else `INTERNAL` |
//! | `status` | ok → `UNSET`; error/timeout → `ERROR` with the error message (when the policy sends it) |
//! | `name` | the Staso name (rewritten to `"<kind> span"` when request capture is off) |
//! | resource `service.name` | `OTEL_SERVICE_NAME`, else the agent name |
//! | resource `service.version`, `deployment.environment.name` | agent_version, environment |
//! | resource `vcs.repository.url.full`, `vcs.ref.head.name`, `vcs.ref.head.revision` | detected VCS |
//! | resource (any) | `OTEL_RESOURCE_ATTRIBUTES`; also `telemetry.sdk.*`, `staso.agent.id`, `staso.workspace_slug` |
//! | `gen_ai.operation.name` | `invoke_agent` (agent), `execute_tool` (tool), `chat` (llm), `retrieval` (retriever) |
//! | `gen_ai.agent.name` | the span's agent name |
//! | `gen_ai.tool.name` | tool spans: the tool name |
//! | `gen_ai.request.model`, `gen_ai.response.model` | requested_model, model |
//! | `gen_ai.provider.name` | provider |
//! | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` | token counts (when usage exists) |
//! | `gen_ai.conversation.id`, `session.id` | the session id |
//! | `user.id` | the conversation's user id |
//! | `openinference.span.kind` | `AGENT`, `TOOL`, `LLM`, `RETRIEVER`, `CHAIN`, `UNKNOWN` (custom) |
//! | `input.value` + `input.mime_type`, `output.value` + `output.mime_type` | input/output JSON (policy-gated) |
//! | `llm.model_name`, `llm.token_count.{prompt,completion,total}` | OpenInference model and usage |
//! | `code.file.path`, `code.line.number`, `code.function.name` | the instrumented fn |
//! | `exception.type`, `error.type` | the error or panic type |
//! | `staso.tags` | `tags = […]` |
//! | `staso.metadata.<key>` | metadata (policy-filtered); `gen_ai.*` and `staso.*` keys keep their name |
//! | `staso.span.kind`, `staso.status`, `staso.agent.id`, `staso.usage_available`, `staso.reasoning_effort` | Staso fields |
//!
//! The capture policy applies exactly as for Staso: the span is first built by
//! [`to_wire`](crate::serialize::to_wire), and only what it kept is mapped. Provisional root snapshots
//! (PROTOCOL.md §2.6) are not exported: OTLP spans are immutable, so only final spans are sent.
//!
//! # Delivery
//!
//! 429, 502, 503, 504, network errors and timeouts are retried with exponential backoff (honouring
//! `Retry-After`) within a retry budget (30 s per batch); other statuses fail the batch. A partial
//! success counts its `rejected_spans` as failed (`malformed_response`) and logs the receiver's
//! message once as a warning. The queue, flush and shutdown behave as the Staso transport's.

mod attrs;
mod encode;
mod genai;
mod http;
mod mapping;
mod sender;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::client::InitError;
use crate::config::ExportSettings;
use crate::config::{Config, OtlpConfig};
use crate::delivery::handle::WorkerHandle;
use crate::delivery::worker::WorkerSettings;
use crate::export::SpanExporter;
use crate::record::SpanRecord;
use crate::report::{DeliveryReport, EnqueueResult};
pub use sender::OtlpOptions;
use sender::OtlpSender;

/// Sends spans to an OTLP/HTTP receiver from a background thread (see the [module docs](self)).
///
/// Usually installed by [`init`](crate::init) from the configured exporters.
pub struct OtlpExporter {
    worker: WorkerHandle<Arc<SpanRecord>>,
    url: String,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Starts the worker for `otlp`, with `config`'s batch size, flush interval and queue size.
    ///
    /// # Errors
    /// [`InitError::Transport`] when the thread, runtime or HTTP client cannot be created (e.g.
    /// a header that is not valid HTTP). Messages never contain header values.
    pub fn start(
        otlp: &OtlpConfig,
        config: &Config,
        emit: Arc<ExportSettings>,
    ) -> Result<Self, InitError> {
        Self::start_with(otlp, config, emit, OtlpOptions::default())
    }

    /// [`start`](Self::start) with non-default retry timing. Not a public API.
    #[doc(hidden)]
    pub fn start_with(
        otlp: &OtlpConfig,
        config: &Config,
        emit: Arc<ExportSettings>,
        opts: OtlpOptions,
    ) -> Result<Self, InitError> {
        let cfg = otlp.clone();
        let worker = WorkerHandle::start(
            config.max_queue_size(),
            (),
            WorkerSettings::new(config, "staso-otlp", "OTLP", "OTLP"),
            move || OtlpSender::new(cfg, emit, &opts),
        )?;
        Ok(OtlpExporter {
            worker,
            url: otlp.traces_url.clone(),
        })
    }

    /// The traces URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues a record shared with other exporters (no copy). Provisional snapshots are accepted
    /// and dropped: OTLP receives final spans only.
    pub fn export_shared(&self, record: Arc<SpanRecord>) -> EnqueueResult {
        if record.provisional {
            return EnqueueResult::ACCEPTED;
        }
        self.worker.offer(record)
    }
}

impl SpanExporter for OtlpExporter {
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        self.export_shared(Arc::from(record))
    }

    /// As the Staso transport's flush: waits until everything accepted before the call is settled.
    fn flush(&self, timeout: Duration) -> DeliveryReport {
        self.worker.flush(timeout)
    }

    /// As the Staso transport's shutdown: stop accepting, drain, join within `timeout`. Dropping
    /// the exporter asks the worker to drain and exit without waiting.
    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        self.worker.shutdown(timeout)
    }
}
