//! `staso-server prompts set|get|list`: the prompt registry from the command line.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use staso_server::Store;
use staso_server::store::prompts::{self as pstore, Selector};
use staso_wire::prompt::{DEFAULT_ENVIRONMENT, PromptCreate, PromptList};

use super::{CliResult, DbArg, JsonArg, WorkspaceArg, open_existing, print_json};

/// A prompt's text: exactly one of `--content` and `--file`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PromptText {
    /// The text.
    #[arg(long)]
    content: Option<String>,
    /// Read the text from this file.
    #[arg(long)]
    file: Option<PathBuf>,
}

/// `prompts` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PromptsCommand {
    /// Add the next version of a prompt and point an environment at it (creates the database
    /// when missing).
    Set {
        /// The prompt's name.
        name: String,
        #[command(flatten)]
        text: PromptText,
        /// The environment label to point at the new version.
        #[arg(long, default_value = DEFAULT_ENVIRONMENT)]
        env: String,
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        workspace: WorkspaceArg,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Print a prompt's text: the version an environment points at, or a given version.
    Get {
        /// The prompt's name.
        name: String,
        /// The environment label.
        #[arg(long, conflicts_with = "version")]
        env: Option<String>,
        /// This version instead.
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        workspace: WorkspaceArg,
        #[command(flatten)]
        out: JsonArg,
    },
    /// List the prompts: name, newest version, environment labels.
    List {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        workspace: WorkspaceArg,
        #[command(flatten)]
        out: JsonArg,
    },
}

/// Runs one `prompts` subcommand.
pub(crate) fn run(action: PromptsCommand) -> CliResult {
    match action {
        PromptsCommand::Set {
            name,
            text,
            env,
            db,
            workspace,
            out,
        } => {
            let content = match (text.content, text.file) {
                (Some(c), _) => c,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("--file {}: {e}", path.display()))?,
                (None, None) => return Err("give --content or --file".into()),
            };
            let req = PromptCreate {
                name,
                content,
                environment: env,
            };
            // Checked before the database is created, so bad input leaves no empty file behind.
            pstore::check(&req)?;
            let store = Store::open(&db.db)?;
            let p = pstore::create(&store, &workspace.workspace, &req)?;
            if out.json {
                return print_json(&p);
            }
            println!(
                "prompt {:?} version {} ({})",
                p.name, p.version, p.environment
            );
            Ok(())
        }
        PromptsCommand::Get {
            name,
            env,
            version,
            db,
            workspace,
            out,
        } => {
            let store = open_existing(&db.db)?;
            let env = env.unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
            let selector = match version {
                Some(v) => Selector::Version(v),
                None => Selector::Environment(&env),
            };
            let p = pstore::get(&store, &workspace.workspace, &name, selector)?;
            if out.json {
                return print_json(&p);
            }
            if p.content.ends_with('\n') {
                print!("{}", p.content);
            } else {
                println!("{}", p.content);
            }
            Ok(())
        }
        PromptsCommand::List { db, workspace, out } => {
            let store = open_existing(&db.db)?;
            let prompts = pstore::list(&store, &workspace.workspace)?;
            if out.json {
                return print_json(&PromptList { prompts });
            }
            for p in prompts {
                let labels: Vec<String> = p
                    .labels
                    .iter()
                    .map(|(env, v)| format!("{env}=v{v}"))
                    .collect();
                println!("{}  v{}  {}", p.name, p.latest_version, labels.join(" "));
            }
            Ok(())
        }
    }
}
