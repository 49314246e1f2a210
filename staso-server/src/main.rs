//! `staso-server` command line: `serve` (the API and the web UI), `traces`, `show`, the people's
//! side of guard escalations (`escalations`, `approve`, `reject`), and `prompts` (`set`, `get`,
//! `list`). Every command that prints data takes `--json`; `traces` and `show` print models,
//! tokens and costs (`--prices` replaces the built-in price table).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use staso_server::store::ui::{self as uistore, UiTraceFilter};
use staso_server::store::{guard as gstore, traces};
use staso_server::{ApiKey, Scope, Server, render};

mod cli;

use cli::escalations::Decide;
use cli::prompts::PromptsCommand;
use cli::{CliResult, DbArg, JsonArg, PricesArg, open_existing, print_json};

/// jemalloc, with its background thread, returns the pages freed after a burst of large request
/// bodies to the OS within seconds (glibc keeps them in its arenas). It also serves C's `malloc`
/// (feature `unprefixed_malloc_on_supported_platforms`), so SQLite's page cache, freed once the
/// store is idle, goes back as well. Programs that embed the library set their own global allocator.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "staso-server",
    version,
    about = "A local Staso-compatible server on SQLite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Staso API until Ctrl-C or SIGTERM.
    Serve {
        /// Address to bind; port 0 picks a free port (the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: SocketAddr,
        #[command(flatten)]
        db: DbArg,
        /// Accepted key, `KEY` (all workspaces) or `KEY:ws1,ws2`; repeatable. Without any, a dev key
        /// is generated, stored in the database and printed.
        #[arg(long = "api-key", env = "STASO_SERVER_API_KEYS", value_delimiter = ';')]
        api_keys: Vec<String>,
        /// Guard policy file (JSON).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Largest accepted request body, bytes.
        #[arg(long, default_value_t = staso_server::server::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// Request-body bytes held in memory at once, server-wide; requests over it wait up to
        /// 2 s, then get 503 with Retry-After. Default: 1/16 of physical memory (at least
        /// --max-body-bytes).
        #[arg(long)]
        max_inflight_body_bytes: Option<usize>,
        /// Open connections served at once; more are answered 503 and closed.
        #[arg(long, default_value_t = staso_server::serve::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
        /// Seconds allowed to receive a request head (also the keep-alive idle timeout).
        #[arg(long, default_value_t = staso_server::serve::DEFAULT_HEADER_TIMEOUT.as_secs())]
        header_timeout: u64,
        /// Seconds a connection may go with no byte moving while no request is being handled
        /// (a client that stops reading its answer).
        #[arg(long, default_value_t = staso_server::serve::DEFAULT_IDLE_TIMEOUT.as_secs())]
        idle_timeout: u64,
        /// Longest silence, in seconds, while a request body is received (408 after).
        #[arg(long, default_value_t = staso_server::body_budget::DEFAULT_BODY_TIMEOUT.as_secs())]
        body_timeout: u64,
        /// Seconds in-flight requests may take after Ctrl-C or SIGTERM before the server exits.
        #[arg(long, default_value_t = staso_server::serve::DEFAULT_SHUTDOWN_GRACE.as_secs())]
        shutdown_grace: u64,
        /// Delete traces that started more than this many days ago (checked every minute).
        #[arg(long, value_name = "N")]
        retain_days: Option<u32>,
        /// Delete the oldest traces while the database uses more than this many MiB (pages in
        /// use, checked every minute).
        #[arg(long, value_name = "M")]
        max_db_mb: Option<u64>,
        /// Log one line per request to stderr: method, route, status, duration, bytes,
        /// workspace (never keys or payloads).
        #[arg(long, short)]
        verbose: bool,
        #[command(flatten)]
        prices: PricesArg,
        /// Ask for an API key in the web UI even on a loopback address (off loopback it always
        /// asks).
        #[arg(long)]
        ui_require_key: bool,
    },
    /// List the newest traces.
    Traces {
        #[command(flatten)]
        db: DbArg,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only this agent.
        #[arg(long)]
        agent_name: Option<String>,
        /// Only this session.
        #[arg(long)]
        session_id: Option<String>,
        #[command(flatten)]
        prices: PricesArg,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Print one trace's span tree with models, tokens and costs.
    Show {
        /// The trace id.
        trace_id: String,
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        prices: PricesArg,
        #[command(flatten)]
        out: JsonArg,
    },
    /// List guard escalations (pending by default).
    Escalations {
        #[command(flatten)]
        db: DbArg,
        /// `pending`, `approved`, `rejected` or `all`.
        #[arg(long, default_value = "pending")]
        status: String,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Approve a pending escalation.
    Approve(Decide),
    /// Reject a pending escalation.
    Reject(Decide),
    /// Manage prompts: versioned texts with environment labels.
    Prompts {
        #[command(subcommand)]
        action: PromptsCommand,
    },
}

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("[{}] {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("staso-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Serve {
            addr,
            db,
            api_keys,
            policy,
            max_body_bytes,
            max_inflight_body_bytes,
            max_connections,
            header_timeout,
            idle_timeout,
            body_timeout,
            shutdown_grace,
            retain_days,
            max_db_mb,
            verbose,
            prices,
            ui_require_key,
        } => {
            if verbose {
                static LOGGER: StderrLogger = StderrLogger;
                let _ = log::set_logger(&LOGGER);
                log::set_max_level(log::LevelFilter::Info);
            }
            let mut b = Server::builder()
                .addr(addr)
                .db_path(&db.db)
                .max_body_bytes(max_body_bytes)
                .max_connections(max_connections)
                .header_timeout(Duration::from_secs(header_timeout))
                .idle_timeout(Duration::from_secs(idle_timeout))
                .body_timeout(Duration::from_secs(body_timeout))
                .shutdown_grace(Duration::from_secs(shutdown_grace))
                .prices(prices.load()?);
            if ui_require_key {
                b = b.ui_requires_key(true);
            }
            if let Some(n) = max_inflight_body_bytes {
                b = b.max_inflight_body_bytes(n);
            }
            if let Some(days) = retain_days {
                b = b.retain_for(Duration::from_secs(u64::from(days) * 86_400));
            }
            if let Some(mb) = max_db_mb {
                b = b.max_db_bytes(mb.saturating_mul(1024 * 1024));
            }
            for spec in api_keys.iter().filter(|s| !s.trim().is_empty()) {
                b = b.key(ApiKey::parse(spec.trim())?);
            }
            if let Some(p) = policy {
                b = b.guard_policy_file(p)?;
            }
            let server = b.start()?;
            let mut banner = vec![
                format!("staso-server listening on {}", server.base_url()),
                format!("database: {}", server.db_path().display()),
                format!("web UI: {}/", server.base_url()),
            ];
            if let Some(k) = server.dev_key() {
                banner.push(format!("dev API key: {k}"));
                banner.push(format!(
                    "export STASO_BASE_URL={} STASO_API_KEY={k}",
                    server.base_url()
                ));
            }
            // A closed stdout (the launcher stopped reading) must not stop the server: unlike
            // `println!`, a failed write is ignored.
            let mut out = std::io::stdout().lock();
            for line in banner {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
            drop(out);
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(shutdown_signal())?;
            server.shutdown();
            Ok(())
        }
        Command::Traces {
            db,
            limit,
            agent_name,
            session_id,
            prices,
            out,
        } => {
            let prices = prices.load()?;
            let store = open_existing(&db.db)?;
            let filter = UiTraceFilter {
                agent_name,
                session_id,
                ..Default::default()
            };
            let (rows, next) = uistore::list_traces(
                &store,
                &Scope::everything(),
                &prices,
                &filter,
                limit.max(1),
                None,
            )?;
            if out.json {
                let mut list = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut v = serde_json::to_value(&r.summary)?;
                    if let serde_json::Value::Object(m) = &mut v {
                        m.insert("total_tokens".into(), r.usage.total_tokens.into());
                        m.insert("cost_usd".into(), serde_json::json!(r.usage.cost_usd));
                        m.insert("models".into(), serde_json::json!(r.usage.models));
                    }
                    list.push(v);
                }
                return print_json(&serde_json::json!({ "traces": list, "next_cursor": next }));
            }
            print!("{}", render::trace_table(&rows));
            Ok(())
        }
        Command::Show {
            trace_id,
            db,
            prices,
            out,
        } => {
            let prices = prices.load()?;
            let store = open_existing(&db.db)?;
            match traces::get(&store, &Scope::everything(), &trace_id)? {
                Some(mut t) => {
                    staso_server::read::add_span_costs(&mut t, &prices);
                    if out.json {
                        return print_json(&t);
                    }
                    print!("{}", render::trace_tree_with_usage(&t));
                    Ok(())
                }
                None => Err(format!("trace {trace_id} not found").into()),
            }
        }
        Command::Escalations { db, status, out } => {
            let store = open_existing(&db.db)?;
            let filter = (status != "all").then_some(status.as_str());
            let list = gstore::list_escalations(&store, &Scope::everything(), filter)?;
            if out.json {
                return print_json(&serde_json::json!({ "escalations": list }));
            }
            for e in list {
                println!(
                    "{}  {:<8}  tool={}  rule={}  input={}  {}",
                    e.escalation_id,
                    e.status,
                    e.tool_name,
                    e.rule_name,
                    e.tool_input,
                    e.escalation_reason
                );
            }
            Ok(())
        }
        Command::Approve(d) => cli::escalations::decide(d, true),
        Command::Reject(d) => cli::escalations::decide(d, false),
        Command::Prompts { action } => cli::prompts::run(action),
    }
}

/// Ctrl-C, or SIGTERM on Unix (what `kill`, systemd and container runtimes send).
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
