//! Core of staso-rs: configuration, the span model, the context stack, value capture and delivery.
//!
//! Users depend on the `staso` facade crate, which re-exports what is public here; the attribute
//! macros expand to calls into [`__private`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod active;
pub mod annotation;
pub mod capture;
pub mod client;
pub mod config;
pub mod context;
pub mod dataset;
pub mod emit;
pub mod export;
pub mod fanout;
pub mod guard;
pub mod ids;
pub mod kind;
pub mod otlp;
mod pool;
pub mod record;
pub mod report;
pub mod shared_str;
pub mod span;
mod thread_state;
pub mod time;
pub mod transport;

pub use span::{Span, span, span_async, try_span, try_span_async};

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
    pub use crate::active::{
        ActiveSpan, AsyncSpan, Capture, SpanFuture, classify_opaque, enter_async, enter_current,
    };
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
    pub use std::sync::OnceLock;
}
