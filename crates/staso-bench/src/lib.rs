//! Benchmarks live in `benches/`; see the README performance section.
