//! Core of staso-rs: configuration, the span model, the context stack, value capture and delivery.
//!
//! Users depend on the `staso` facade crate, which re-exports what is public here; the attribute
//! macros expand to calls into [`__private`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Layers, bottom to top. A module imports only from its own layer's modules listed before it and
// from the layers below; `.ci/module_cycles.py` checks that no import cycle appears.
//
//  1. vocabulary     ids, kind, time, report, shared_str, error (the service API's error)
//  2. config         config/ (builder, validation, capture policy, export settings and the
//                    session default, OTLP env, VCS detection)
//  3. data model     record, pool (recycled record boxes), frame (what a span inherits),
//                    annotation (annotation values)
//  4. export contract  export (the SpanExporter and AnnotationSink traits)
//  5. client registry  client (the installed client, flush, shutdown, annotation hand-off)
//  6. per-thread state thread_state (frame, record stock, cached client, span-id generator)
//  7. context, capture context (the current frame, conversations, spawn helpers), capture
//                    (values without trait bounds, outcome classification), propagation (W3C
//                    trace context and baggage in and out of HTTP headers)
//  8. spans ‖ serialization ‖ redaction  span/ (instrumented-fn spans and manual spans) ‖
//                    serialize/ (record → wire body under the capture policy) ‖ redact/ (mask,
//                    secret scrubbers, payload budgets: record → record, on the exporters'
//                    workers); none imports another
//  9. delivery       delivery/ (bounded queue, ledger, the one batch worker and its handle,
//                    the HTTP client builder and run_blocking)
// 10. exporters      exporters/ (staso HTTP transport, otlp, fan-out, in-memory)
// 11. entry points   diagnostics (debug's stderr logger), init, panic_hook, guard/, dataset/,
//                    service/ (verify, and the HTTP plumbing of the calls answering `Error`),
//                    prompts/ (fetch, create, cache, templates), llm/ (provider codecs, the
//                    instrumented call and stream recorder, synthetic roots, call-site guard)

mod error;
mod ids;
mod kind;
mod report;
mod shared_str;
mod time;

pub mod config;

mod annotation;
mod frame;
mod pool;
mod record;

mod export;

mod client;

mod thread_state;

mod capture;
mod context;
pub mod propagation;

mod redact;
mod serialize;
mod span;

mod delivery;

mod exporters;

pub mod dataset;
mod diagnostics;
pub mod guard;
mod init;
pub mod llm;
mod panic_hook;

mod service;

pub mod prompts;

pub use annotation::{Annotation, AnnotationDataType, AnnotationError, AnnotationValue};
pub use client::{
    Client, InitError, annotate, flush, flush_async, get_client, shutdown, shutdown_async,
};
pub use config::{
    CapturePolicy, Config, ConfigBuilder, ConfigError, ContentPolicy, ExportSettings, Exporter,
    ExporterConfig, MaskContext, MaskField, OtlpCompression, OtlpProtocol, OtlpSettings, VcsInfo,
    generate_agent_id, otlp, staso,
};
pub use context::{
    Context, ContextGuard, Conversation, FutureExt, WithContext, current_session_id,
    current_span_ids, current_span_ref, current_user_id, spawn, spawn_thread,
};
pub use error::{ApiError, AuthError, ConfigurationError, Error, TemplateError};
pub use export::{AnnotationSink, SpanExporter};
pub use exporters::in_memory::{ExportedSpan, InMemoryExporter, render_trees};
pub use frame::{Frame, ParentRef};
pub use ids::{SpanId, TraceId};
pub use init::{init, init_with_exporter};
pub use kind::{ParseEnumError, SpanKind, SpanStatus};
pub use panic_hook::flush_on_panic;
pub use record::{CallSite, Role, SampleState, SpanRecord};
pub use report::{AnnotationReport, DeliveryFailureKind, DeliveryReport, EnqueueResult};
pub use service::verify::{SetupStatus, verify, verify_blocking};
pub use shared_str::SharedStr;
pub use span::{
    InSpan, LlmCall, Span, SpanName, StatusDescription, llm_trace, span, span_async, start_trace,
    start_trace_async, try_span, try_span_async, try_start_trace, try_start_trace_async,
};
pub use time::Tick;

/// Classifies a call's return value into an [`capture::Outcome`] at the call site's concrete
/// types (autoref specialization; see `capture`). Used by the attribute macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __outcome {
    ($ret:expr, $records_output:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{
            CaptureViaDebug as _, CaptureViaSerialize as _, CaptureViaTypeName as _,
            ErrViaDebug as _, ErrViaDisplay as _, ErrViaTypeName as _, SplitPlain as _,
            SplitResult as _,
        };
        match (&&$crate::__private::OutcomeProbe($ret)).staso_split() {
            ::core::result::Result::Ok(__staso_v) => {
                $crate::__private::Outcome::Ok(if $records_output {
                    $crate::__private::CaptureBuf::result(|__staso_b| {
                        (&&&$crate::__private::Probe(__staso_v)).staso_capture(__staso_b)
                    })
                } else {
                    ::core::option::Option::None
                })
            }
            ::core::result::Result::Err(__staso_e) => $crate::__private::Outcome::Err(
                (&&&$crate::__private::ErrProbe(__staso_e)).staso_error(),
            ),
        }
    }};
}

/// What the attribute macros expand to. Not a public API: no stability guarantee.
#[doc(hidden)]
pub mod __private {
    pub use crate::__outcome as outcome;
    pub use crate::capture::{
        CaptureBuf, CaptureViaDebug, CaptureViaSerialize, CaptureViaTypeName, ErrProbe,
        ErrViaDebug, ErrViaDisplay, ErrViaTypeName, Outcome, OutcomeProbe, Probe, SplitPlain,
        SplitResult,
    };
    pub use crate::context::{
        conversation_arg, conversation_future, enter_conversation, in_conversation,
    };
    pub use crate::guard::tool::{
        GuardChanges, GuardReturn, GuardVerdict, Rebuild, RebuildUnsupported,
        RebuildViaDeserialize, guard_blocked, guard_tool, guard_tool_blocking,
    };
    pub use crate::kind::SpanKind;
    pub use crate::record::{CallSite, Role};
    pub use crate::span::{
        ActiveSpan, AsyncSpan, Capture, SpanFuture, classify_opaque, enter_async, enter_current,
        enter_current_agent,
    };
    pub use std::sync::OnceLock;
}

/// What the workspace's benchmarks and end-to-end tests reach below the public API: exporters
/// started with test knobs, the span clock, the wire conversion. Not a public API: no stability
/// guarantee.
#[doc(hidden)]
pub mod __internal {
    pub use crate::delivery::http::USER_AGENT;
    pub use crate::exporters::fanout::FanOutExporter;
    pub use crate::exporters::otlp::{OtlpExporter, OtlpOptions};
    pub use crate::exporters::staso::{HttpExporter, TransportOptions};
    pub use crate::serialize::{SpanView, TraceBatch, to_wire};
    pub use crate::time::now;
}
