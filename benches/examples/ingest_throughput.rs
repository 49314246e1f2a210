//! SDK → staso-server ingest throughput on loopback: produces spans through the public API (inside
//! one parent span, 10 children per root), and measures the time until every span is acknowledged
//! and stored by an in-process `staso-server` (SQLite).
//!
//! ```sh
//! cargo run --release -p staso-bench --example ingest_throughput -- 200000
//! ```

use std::time::{Duration, Instant};

use staso::SpanKind;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let server = staso_server::Server::builder()
        .api_key("ak_bench")
        .start()?;
    let config = staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .base_url(server.base_url())
        .capture_git(false)
        .batch_size(500)
        .max_queue_size(total as usize + 1_000)
        .build()?;
    let staso = staso::init(config)?;
    let start = Instant::now();
    for root in 0..total / 10 {
        staso::span("root", SpanKind::Agent, |s| {
            s.set_metadata("n", root);
            for _ in 0..9 {
                staso::span("child", SpanKind::Tool, |c| c.set_input(root));
            }
        });
    }
    let report = staso.flush(Duration::from_secs(600));
    let elapsed = start.elapsed();
    let spans = report.delivered;
    eprintln!(
        "{spans} spans acknowledged by staso-server in {:.2} s: {:.0} spans/s (ok: {})",
        elapsed.as_secs_f64(),
        spans as f64 / elapsed.as_secs_f64(),
        report.ok()
    );
    drop(staso);
    server.shutdown();
    Ok(())
}
