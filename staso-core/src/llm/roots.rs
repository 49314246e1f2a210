//! Synthetic agent-run roots and the tool-call ids waiting for their results (PROTOCOL.md §9,
//! "Synthetic agent-run root"), both bounded.
//!
//! A root stays open while the calls under it ask for tools: their tool-call ids are remembered
//! with the asking LLM span, so the follow-up call that carries those results is parented under
//! that span, and a terminal reply (or an error) closes the root.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::context::ParentRef;
use crate::kind::SpanStatus;
use crate::span::Span;

/// At most this many synthetic roots are open; opening one more ends the oldest.
pub const MAX_ROOTS: usize = 2_000;
/// At most this many tool-call ids wait for their results; the oldest are forgotten first.
pub const MAX_PENDING_TOOL_IDS: usize = 2_000;

/// Where the result of a remembered tool call belongs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    /// The synthetic root the asking call ran under, if any.
    pub(super) root: Option<u64>,
    /// The asking LLM span.
    pub(super) llm: ParentRef,
}

#[derive(Default)]
struct Registry {
    next: u64,
    roots: HashMap<u64, Span>,
    root_order: VecDeque<u64>,
    pending: HashMap<String, Pending>,
    pending_order: VecDeque<String>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REG: OnceLock<Mutex<Registry>> = OnceLock::new();
    REG.get_or_init(|| {
        // Open roots end (and are delivered) when the client shuts down.
        crate::client::before_shutdown(end_roots_at_shutdown);
        Mutex::default()
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

fn end_roots_at_shutdown() {
    let n = close_agent_roots();
    if n > 0 {
        log::debug!("staso: {n} open synthetic agent roots ended at shutdown");
    }
}

/// Keeps `root` open; returns its key. The oldest root is ended when the cap is reached.
pub(super) fn open_root(root: Span) -> u64 {
    let mut evicted = Vec::new();
    let key = {
        let mut reg = registry();
        reg.next += 1;
        let key = reg.next;
        while reg.roots.len() >= MAX_ROOTS {
            let Some(old) = reg.root_order.pop_front() else {
                break;
            };
            if let Some(s) = reg.roots.remove(&old) {
                evicted.push(s);
            }
        }
        reg.roots.insert(key, root);
        reg.root_order.push_back(key);
        if reg.root_order.len() > 2 * MAX_ROOTS {
            let Registry {
                roots, root_order, ..
            } = &mut *reg;
            root_order.retain(|k| roots.contains_key(k));
        }
        key
    };
    // Ended outside the lock: emitting takes the exporter's path.
    for s in evicted {
        s.end();
    }
    key
}

/// The context of an open root (its children run under it).
pub(super) fn root_context(key: u64) -> Option<crate::context::Context> {
    registry().roots.get(&key).map(Span::context)
}

/// Takes the remembered tool calls answered by `ids`: the first one found decides the parent.
pub(super) fn take_pending(ids: &[String]) -> Option<Pending> {
    if ids.is_empty() {
        return None;
    }
    let mut reg = registry();
    let mut found = None;
    for id in ids.iter().rev() {
        if let Some(p) = reg.pending.remove(id) {
            found = Some(p);
        }
    }
    found
}

/// Remembers the tool calls `ids` asked for by the LLM span `p.llm`.
pub(super) fn add_pending(ids: impl IntoIterator<Item = String>, p: Pending) {
    let mut reg = registry();
    for id in ids {
        if id.is_empty() {
            continue;
        }
        while reg.pending.len() >= MAX_PENDING_TOOL_IDS {
            let Some(old) = reg.pending_order.pop_front() else {
                break;
            };
            reg.pending.remove(&old);
        }
        reg.pending.insert(id.clone(), p);
        reg.pending_order.push_back(id);
    }
    if reg.pending_order.len() > 2 * MAX_PENDING_TOOL_IDS {
        let Registry {
            pending,
            pending_order,
            ..
        } = &mut *reg;
        pending_order.retain(|k| pending.contains_key(k));
    }
}

/// Ends the root `key` (with an error message when the call failed).
pub(super) fn close_root(key: u64, error: Option<String>) {
    let root = registry().roots.remove(&key);
    if let Some(root) = root {
        if let Some(message) = error {
            root.set_status(SpanStatus::Error, message);
        }
        root.end();
    }
}

/// Ends every open synthetic agent-run root now (the client's shutdown does it too, before its
/// exporter stops, so they are delivered; the adapters' roots otherwise end at their terminal
/// reply). Returns how many were ended.
///
/// ```
/// assert_eq!(staso_core::llm::close_agent_roots(), 0);
/// ```
pub fn close_agent_roots() -> usize {
    let roots: Vec<Span> = {
        let mut reg = registry();
        reg.root_order.clear();
        reg.pending.clear();
        reg.pending_order.clear();
        reg.roots.drain().map(|(_, s)| s).collect()
    };
    let n = roots.len();
    for r in roots {
        r.end();
    }
    n
}

/// How many synthetic roots are open.
pub fn open_agent_roots() -> usize {
    registry().roots.len()
}
