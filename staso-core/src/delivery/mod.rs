//! Delivery machinery shared by the exporters that send from a worker thread (Staso's and
//! OTLP's): the bounded lock-free queue (`queue.rs`), the delivery ledger that `flush` and
//! `shutdown` report from (`accounting.rs`), and the control half that exporter and worker share
//! (`control.rs`: flush/shutdown requests, start-up handshake, exit guard).

pub(crate) mod accounting;
pub(crate) mod control;
pub(crate) mod queue;
