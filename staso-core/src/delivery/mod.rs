//! Delivery machinery shared by the exporters that send from a worker thread (Staso's and
//! OTLP's), written once:
//!
//! - `queue.rs`: the bounded lock-free queue producers offer to;
//! - `accounting.rs`: the delivery ledger that `flush` and `shutdown` report from;
//! - `control.rs`: the state worker and exporter share, and the side-queue contract;
//! - `worker.rs`: the batch worker thread, generic over a `BatchSender` (how a batch is sent);
//! - `handle.rs`: the exporter's half (enqueue, flush, shutdown, drop);
//! - `http.rs`: the one reqwest client builder, the worker runtime and `run_blocking`.

pub(crate) mod accounting;
pub(crate) mod control;
pub(crate) mod handle;
pub(crate) mod http;
pub(crate) mod queue;
pub(crate) mod worker;
