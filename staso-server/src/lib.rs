//! `staso-server`: a small, persistent, Staso-compatible backend on SQLite.
//!
//! It accepts exactly what the official SDK and staso-rs send (PROTOCOL.md): trace ingest,
//! annotations, guard evaluation with a policy file and human escalations, datasets, prompts and
//! the setup check; and it answers a read API for people and tests (`/v1/traces`,
//! `/v1/traces/{id}`, `/v1/conversations/{session_id}`).
//!
//! ```no_run
//! use staso_server::Server;
//! // Ephemeral port, temporary database, one key for every workspace.
//! let server = Server::builder().api_key("ak_test").start()?;
//! println!("STASO_BASE_URL={} STASO_API_KEY={}", server.base_url(), server.api_key());
//! server.shutdown();
//! # Ok::<(), staso_server::ServerError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access_log;
pub mod annotations;
pub mod app;
pub mod body_budget;
pub mod datasets;
pub mod embedded;
pub mod error;
pub mod guard;
mod http;
pub mod ingest;
pub mod keys;
pub mod otlp_ingest;
pub mod pricing;
pub mod prompts;
pub mod read;
pub mod render;
pub mod serve;
pub mod server;
pub mod setup;
pub mod store;
pub mod timefmt;
pub mod ui;

pub use guard::Policy;
pub use keys::{ApiKey, KeyRing, Scope};
pub use server::{RunningServer, Server, ServerBuilder, ServerError};
pub use store::Store;
