//! What `#[staso::tool(guard)]` expands to: check the call before the body runs, then run it,
//! run it with arguments rebuilt from a modified input, or return `Err(GuardBlocked.into())`.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::blocked::GuardBlocked;
use super::options::GuardOptions;
use super::types::{GuardAction, GuardResult};
use crate::capture::CaptureBuf;

/// What an instrumented call does after its guard check.
#[derive(Debug)]
pub enum GuardVerdict {
    /// Run with the original arguments.
    Proceed,
    /// Run with the arguments the guard changed (the rest stay as they are).
    Replace(Box<GuardChanges>),
    /// Do not run: the fn returns `Err(GuardBlocked.into())`.
    Block(Box<GuardBlocked>),
}

/// The arguments a `modify` decision changed, by name, still to be applied.
#[derive(Debug)]
pub struct GuardChanges {
    tool_name: &'static str,
    result: GuardResult,
    changed: Map<String, Value>,
}

impl GuardChanges {
    /// Takes the new value of argument `name`, if the guard changed it.
    pub fn take(changes: &mut Option<GuardChanges>, name: &str) -> Option<Value> {
        changes.as_mut()?.changed.remove(name)
    }

    /// The block of a call whose argument `name` could not be rebuilt (`why`).
    pub fn rejected(changes: Option<GuardChanges>, name: &str, why: String) -> GuardBlocked {
        match changes {
            Some(c) => {
                let why = format!(
                    "Guard modified argument `{name}` of `{}`, but it cannot be applied: {why}",
                    c.tool_name
                );
                c.block(why)
            }
            None => GuardBlocked::new(name, blocked_result(why)),
        }
    }

    /// After every argument was taken: a block if the guard changed something that is not a
    /// rebuildable argument (`self`, a pattern, a skipped argument or an unknown key).
    pub fn leftover(changes: Option<GuardChanges>) -> Option<GuardBlocked> {
        let c = changes?;
        let names: Vec<&str> = c.changed.keys().map(String::as_str).collect();
        if names.is_empty() {
            return None;
        }
        let why = format!(
            "Guard modified `{}` of `{}`, which the call cannot take from the modified input",
            names.join("`, `"),
            c.tool_name
        );
        Some(c.block(why))
    }

    fn block(self, reason: String) -> GuardBlocked {
        let mut result = self.result;
        result.action = GuardAction::Block;
        result.reason = reason;
        GuardBlocked::new(self.tool_name, result)
    }
}

fn blocked_result(reason: String) -> GuardResult {
    let mut r = GuardResult::unavailable(
        super::GuardFailureKind::UnsupportedAction,
        super::GuardFailureMode::FailClosed,
        "",
        "manual",
        0.0,
    );
    r.reason = reason;
    r
}

/// The input of an instrumented call: its captured arguments as an object.
fn input_of(input: CaptureBuf) -> Map<String, Value> {
    input
        .finish()
        .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok())
        .unwrap_or_default()
}

fn verdict(
    tool_name: &'static str,
    input: &Map<String, Value>,
    result: GuardResult,
) -> GuardVerdict {
    match result.action {
        GuardAction::Block | GuardAction::Escalate | GuardAction::Audit => {
            GuardVerdict::Block(Box::new(GuardBlocked::new(tool_name, result)))
        }
        GuardAction::Allow | GuardAction::Modify => {
            let Some(modified) = result.modified_input.clone() else {
                return GuardVerdict::Proceed;
            };
            if let Some(gone) = input.keys().find(|k| !modified.contains_key(*k)) {
                let why = format!(
                    "Guard modified input removes argument `{gone}` of `{tool_name}`, which a Rust call cannot omit"
                );
                let c = GuardChanges {
                    tool_name,
                    result,
                    changed: Map::new(),
                };
                return GuardVerdict::Block(Box::new(c.block(why)));
            }
            let changed: Map<String, Value> = modified
                .into_iter()
                .filter(|(k, v)| input.get(k) != Some(v))
                .collect();
            if changed.is_empty() {
                return GuardVerdict::Proceed;
            }
            GuardVerdict::Replace(Box::new(GuardChanges {
                tool_name,
                result,
                changed,
            }))
        }
    }
}

/// The guard check of an async instrumented call (default [`GuardOptions`]).
pub fn guard_tool(
    tool_name: &'static str,
    input: CaptureBuf,
) -> impl Future<Output = GuardVerdict> + Send + 'static {
    let input = input_of(input);
    let check = super::guard(tool_name, &input, GuardOptions::default());
    async move { verdict(tool_name, &input, check.await) }
}

/// The guard check of a sync instrumented call (see [`guard_blocking`](super::guard_blocking)).
pub fn guard_tool_blocking(tool_name: &'static str, input: CaptureBuf) -> GuardVerdict {
    let input = input_of(input);
    let result = super::guard_blocking(tool_name, &input, GuardOptions::default());
    verdict(tool_name, &input, result)
}

/// A return type that can carry a [`GuardBlocked`] error: `Result<T, E>` with
/// `E: From<GuardBlocked>`.
#[diagnostic::on_unimplemented(
    message = "`#[staso::tool(guard)]` needs the fn to return `Result<_, E>` with `E: From<staso::GuardBlocked>`, not `{Self}`",
    label = "a blocked call returns `Err(GuardBlocked.into())`",
    note = "return e.g. `Result<T, Box<dyn std::error::Error + Send + Sync>>`, or implement `From<staso::GuardBlocked>` for your error type"
)]
pub trait GuardReturn {
    /// `Err(blocked.into())`.
    fn from_blocked(blocked: GuardBlocked) -> Self;
}

impl<T, E: From<GuardBlocked>> GuardReturn for Result<T, E> {
    fn from_blocked(blocked: GuardBlocked) -> Self {
        Err(E::from(blocked))
    }
}

/// `Err(blocked.into())` as the fn's return type `R`.
pub fn guard_blocked<R: GuardReturn>(blocked: GuardBlocked) -> R {
    R::from_blocked(blocked)
}

/// Wraps an argument to rebuild a value of its type from JSON.
pub struct Rebuild<'a, T>(pub &'a T);

/// Arm 1: `DeserializeOwned` arguments are rebuilt from the modified input.
pub trait RebuildViaDeserialize<T> {
    /// The new value, or why it cannot be built.
    fn staso_rebuild(&self, value: Value) -> Result<T, String>;
}

impl<T: DeserializeOwned> RebuildViaDeserialize<T> for &Rebuild<'_, T> {
    fn staso_rebuild(&self, value: Value) -> Result<T, String> {
        serde_json::from_value(value).map_err(|e| {
            format!(
                "the new value is not a valid `{}`: {e}",
                std::any::type_name::<T>()
            )
        })
    }
}

/// Arm 2: anything else cannot be rebuilt.
pub trait RebuildUnsupported<T> {
    /// Always why not.
    fn staso_rebuild(&self, value: Value) -> Result<T, String>;
}

impl<T> RebuildUnsupported<T> for Rebuild<'_, T> {
    fn staso_rebuild(&self, _value: Value) -> Result<T, String> {
        Err(format!(
            "its type `{}` does not implement `serde::de::DeserializeOwned`",
            std::any::type_name::<T>()
        ))
    }
}
