//! `kestrel hold create|list|release`: the legal holds of the data directory.

use std::process::ExitCode;

use chrono::{SecondsFormat, Utc};
use kestrel_config::Config;
use kestrel_query::holds::{hold_event, HoldStore, NewHold};

use crate::cli::HoldCommand;

/// Runs a hold command; a bad argument exits 2 with the argument named. Every change is
/// recorded in the audit trail.
pub fn hold(config: &Config, command: HoldCommand) -> anyhow::Result<ExitCode> {
    let store = HoldStore::new(&config.data_dir);
    let now = Utc::now();
    match command {
        HoldCommand::Create {
            name,
            query,
            from,
            to,
            reason,
            by,
        } => {
            let new = NewHold::parse(&name, &query, &from, &to, &reason, now)?;
            let hold = store.create(new, &by.unwrap_or_else(os_user), now)?;
            tracing::info!(hold = %hold.name, by = %hold.created_by, "hold created");
            let mut change = hold_event("hold_create", &hold);
            change.identity_source = Some("cli".into());
            change.route = Some("kestrel hold create".into());
            crate::cli_audit::record_event(config, change);
            println!(
                "placed hold {:?} on {} from {} to {}",
                hold.name,
                hold.query,
                time(hold.from),
                time(hold.to)
            );
        }
        HoldCommand::List { json } => list(&store, json)?,
        HoldCommand::Release { name, reason, by } => {
            let hold = store.release(&name, &reason, &by.unwrap_or_else(os_user), now)?;
            tracing::info!(hold = %hold.name, "hold released");
            let mut change = hold_event("hold_release", &hold);
            change.identity_source = Some("cli".into());
            change.route = Some("kestrel hold release".into());
            crate::cli_audit::record_event(config, change);
            println!("released hold {:?}", hold.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(store: &HoldStore, json: bool) -> anyhow::Result<()> {
    let holds = store.list()?;
    if json {
        for hold in &holds {
            println!("{}", serde_json::to_string(hold)?);
        }
        return Ok(());
    }
    println!(
        "{:<20} {:<9} {:<21} {:<21} {:<12} QUERY",
        "NAME", "STATUS", "FROM", "TO", "BY"
    );
    for h in &holds {
        let status = if h.is_standing() {
            "standing"
        } else {
            "released"
        };
        println!(
            "{:<20} {:<9} {:<21} {:<21} {:<12} {}",
            h.name,
            status,
            time(h.from),
            time(h.to),
            h.created_by,
            h.query
        );
    }
    Ok(())
}

fn time(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The user running the command: `$USER`, else `$LOGNAME`, else `unknown`.
fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
