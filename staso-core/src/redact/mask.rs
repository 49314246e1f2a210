//! Running the user's mask callback: a panic drops the one value it was given (replaced by a
//! marker) and is logged at most once a minute per client; the panic's message is never logged,
//! as it may quote the very value being masked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::{ContentPolicy, MaskContext, MaskFn};

/// What a value becomes when the mask panicked on it.
pub(crate) const PANIC_MARKER: &str = "[staso: masked value dropped: mask panicked]";
/// Seconds between two warnings about mask panics.
const LOG_EVERY_SECS: u64 = 60;

/// Runs `mask` on `value`; returns `false` when it panicked (the value is then the marker).
pub(crate) fn run(
    mask: &MaskFn,
    value: &mut Value,
    ctx: &MaskContext<'_>,
    policy: &ContentPolicy,
) -> bool {
    if catch_unwind(AssertUnwindSafe(|| mask(value, ctx))).is_ok() {
        return true;
    }
    *value = Value::String(PANIC_MARKER.to_owned());
    log_panic(policy, ctx);
    false
}

fn log_panic(policy: &ContentPolicy, ctx: &MaskContext<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = policy.panic_logged.load(Ordering::Relaxed);
    let due = last == u64::MAX || now.saturating_sub(last) >= LOG_EVERY_SECS;
    if due
        && policy
            .panic_logged
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        log::warn!(
            "staso: the mask callback panicked on the {} of a {} span named {:?}; that value was \
             replaced by {PANIC_MARKER:?} and the span sent without it (further mask panics are \
             logged at most once a minute)",
            ctx.field().as_str(),
            ctx.kind(),
            ctx.name(),
        );
    }
}
