//! The wire types of the Staso protocol (PROTOCOL.md), defined once and shared by the SDK
//! (`staso-core`, which sends them) and `staso-server` (which parses and answers them).
//!
//! One module per API: [`ingest`] (spans, §2–§3), [`annotation`] (§5), [`guard`] (§6),
//! [`dataset`] (§7), [`setup`] (the setup check, §9), [`prompt`] (prompt management); [`capture`] holds the capture map both spans and guard requests carry.
//! Field order is the wire order. The constants below are the protocol's routes and headers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod annotation;
pub mod capture;
pub mod dataset;
pub mod guard;
pub mod ingest;
pub mod prompt;
pub mod setup;

/// The ingest route, relative to the base URL (PROTOCOL.md §3.1).
pub const INGEST_PATH: &str = "/v1/traces/ingest";
/// The header carrying the API key on every request (PROTOCOL.md §3.1).
pub const API_KEY_HEADER: &str = "x-api-key";
/// The header carrying an ingest request's receipt id (PROTOCOL.md §3.1); echoed in the ack.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
