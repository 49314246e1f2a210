//! Blocking forms of the prompt functions, for synchronous programs: same names, parameters,
//! cache and results as their `async` counterparts in [`super`].
//!
//! Outside a tokio runtime a call runs on the calling thread with a small runtime of its own;
//! inside one it runs on a short-lived helper thread while the calling thread waits (it never
//! panics there, but blocks that runtime thread: in async code prefer the `async` functions).
//! A cache hit does neither.
//!
//! ```no_run
//! use staso_core::prompts::blocking;
//! let p = blocking::get("greeting")?;
//! println!("{}", p.compile([("name", "Ada")])?);
//! # Ok::<(), staso_core::Error>(())
//! ```

use super::{Lookup, Prompt, lookup};
use crate::error::Error;
use crate::service::block_on;

/// Blocking [`get`](super::get).
///
/// # Errors
/// As [`get_for`](super::get_for).
pub fn get(name: &str) -> Result<Prompt, Error> {
    get_for(name, staso_wire::prompt::DEFAULT_ENVIRONMENT)
}

/// Blocking [`get_for`](super::get_for).
///
/// # Errors
/// As [`get_for`](super::get_for).
pub fn get_for(name: &str, environment: &str) -> Result<Prompt, Error> {
    match lookup(name, environment)? {
        Lookup::Hit(p) => Ok(p),
        Lookup::Fetch(r) => block_on("prompts", r.run()),
    }
}

/// Blocking [`create`](super::create).
///
/// # Errors
/// As [`create`](super::create).
pub fn create(name: &str, content: &str, environment: &str) -> Result<Prompt, Error> {
    block_on("prompts", super::create(name, content, environment))
}
