//! Delivery machinery shared by the exporters that send from a worker thread (Staso's and
//! OTLP's): the bounded lock-free queue (`queue.rs`), the delivery ledger that `flush` and
//! `shutdown` report from (`accounting.rs`), and the control half that exporter and worker share
//! (`control.rs`: flush/shutdown requests, start-up handshake, exit guard). `http.rs` builds the
//! SDK's reqwest clients and runtimes, and runs async calls from blocking code.

pub(crate) mod accounting;
pub(crate) mod control;
pub(crate) mod http;
pub(crate) mod queue;
