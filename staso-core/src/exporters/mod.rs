//! The exporters: Staso's HTTP transport (`staso/`), OTLP (`otlp/`), the fan-out to several
//! (`fanout.rs`), the in-memory exporter for tests (`in_memory.rs`), and tail sampling in front
//! of them all (`tail.rs`). Each implements the
//! export contract ([`SpanExporter`](crate::SpanExporter)); `init` picks and starts them.

pub(crate) mod fanout;
pub(crate) mod in_memory;
pub(crate) mod otlp;
pub(crate) mod staso;
pub(crate) mod tail;
