//! The command line's pieces shared by its commands, and the longer commands in files of their own
//! (`prompts`, `escalations`). Part of the `staso-server` binary, not of the library.

pub(crate) mod escalations;
pub(crate) mod prompts;

use std::path::PathBuf;

use clap::Args;
use staso_server::Store;
use staso_server::pricing::PriceTable;

/// What a command returns: its error is printed after `staso-server: ` and exits with status 1.
pub(crate) type CliResult = Result<(), Box<dyn std::error::Error>>;

/// `--json`: machine-readable output (the read API's JSON shapes) for scripts and agents.
#[derive(Debug, Args)]
pub(crate) struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--prices`: the price table for spans without a cost of their own.
#[derive(Debug, Args)]
pub(crate) struct PricesArg {
    /// Price table (JSON, the format of the built-in assets/prices.json) for spans with tokens
    /// but no `cost_usd`; default: the built-in table.
    #[arg(long)]
    pub(crate) prices: Option<PathBuf>,
}

impl PricesArg {
    pub(crate) fn load(&self) -> Result<PriceTable, staso_server::pricing::PriceError> {
        match &self.prices {
            Some(p) => PriceTable::load(p),
            None => Ok(PriceTable::builtin()),
        }
    }
}
/// `--db`: the database file.
#[derive(Debug, Args)]
pub(crate) struct DbArg {
    /// SQLite database file.
    #[arg(long, default_value = "./staso.db")]
    pub(crate) db: PathBuf,
}

/// `--workspace`: the workspace of the prompts.
#[derive(Debug, Args)]
pub(crate) struct WorkspaceArg {
    /// The workspace the prompts belong to.
    #[arg(long, default_value = "default")]
    pub(crate) workspace: String,
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> CliResult {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Opens the database at `path`, which must exist (reads never create an empty one).
pub(crate) fn open_existing(path: &std::path::Path) -> Result<Store, Box<dyn std::error::Error>> {
    if !path.exists() {
        return Err(format!("no database at {}", path.display()).into());
    }
    Ok(Store::open(path)?)
}
