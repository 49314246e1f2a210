//! `staso-server approve|reject`: the people's side of guard escalations.

use clap::Args;
use staso_server::Scope;
use staso_server::store::guard as gstore;
use staso_wire::guard::EscalationDecision;

use super::{CliResult, DbArg, JsonArg, open_existing, print_json};

/// `approve` / `reject` arguments.
#[derive(Debug, Args)]
pub(crate) struct Decide {
    /// The escalation id.
    pub(crate) escalation_id: String,
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Who decides.
    #[arg(long)]
    pub(crate) by: Option<String>,
    /// Why.
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// (approve) JSON input to run the tool with instead.
    #[arg(long)]
    pub(crate) modified_input: Option<String>,
    #[command(flatten)]
    pub(crate) out: JsonArg,
}

/// Approves (`approve`) or rejects a pending escalation.
pub(crate) fn decide(d: Decide, approve: bool) -> CliResult {
    let store = open_existing(&d.db.db)?;
    let modified_input = d
        .modified_input
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?;
    let decision = EscalationDecision {
        decided_by: d.by,
        reason: d.reason,
        modified_input,
    };
    let row = gstore::decide(
        &store,
        &Scope::everything(),
        &d.escalation_id,
        approve,
        &decision,
    )?;
    if d.out.json {
        return print_json(&row);
    }
    println!("escalation {} {}", row.escalation_id, row.status);
    Ok(())
}
