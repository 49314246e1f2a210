//! The context guards of the bridged spans entered on this thread.
//!
//! `tracing` calls `on_enter` and `on_exit` as separate callbacks; a [`ContextGuard`] restores the
//! context it replaced and must be dropped on its thread, in the reverse order of creation. The
//! guards wait here, keyed by layer and span id. A span exited out of order (its guard not on top)
//! is marked and its guard dropped once the guards above it are gone, so the context is never
//! restored out of order.

use std::cell::RefCell;

use crate::ContextGuard;

/// Bridged spans entered at once on one thread; deeper ones are not made current (a leak of
/// entered spans, e.g. forgotten `Entered` guards, cannot grow the stack without bound).
const MAX_DEPTH: usize = 256;

struct Entered {
    layer: u64,
    span: u64,
    guard: ContextGuard,
    exited: bool,
}

thread_local! {
    static STACK: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `guard` until the span's `on_exit`. Past [`MAX_DEPTH`] the guard is dropped at once
/// (it is the newest, so that restores the context in order).
pub(crate) fn push(layer: u64, span: u64, guard: ContextGuard) {
    let rejected = STACK
        .try_with(|s| match s.try_borrow_mut() {
            Ok(mut s) if s.len() < MAX_DEPTH => {
                s.push(Entered {
                    layer,
                    span,
                    guard,
                    exited: false,
                });
                None
            }
            _ => Some(guard),
        })
        .unwrap_or(None);
    drop(rejected);
}

/// Drops the guard of the innermost entry of `span` (and of entries exited out of order under
/// it), or marks it exited when guards above it are still held.
pub(crate) fn pop(layer: u64, span: u64) {
    let mut first = true;
    loop {
        // Each guard is dropped outside the borrow: dropping it swaps the context back, and
        // nothing may hold this thread-local meanwhile.
        let popped = STACK
            .try_with(|s| {
                let mut s = s.try_borrow_mut().ok()?;
                if first {
                    let i = s
                        .iter()
                        .rposition(|e| e.layer == layer && e.span == span && !e.exited)?;
                    if i + 1 != s.len() {
                        s[i].exited = true;
                        return None;
                    }
                } else if !s.last().is_some_and(|e| e.exited) {
                    return None;
                }
                s.pop()
            })
            .ok()
            .flatten();
        match popped {
            Some(entry) => drop(entry.guard),
            None => return,
        }
        first = false;
    }
}
