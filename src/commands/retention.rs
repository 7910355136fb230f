//! `kestrel retention plan|apply`: what retention deletes and when, and one pass of it.

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use kestrel_config::Config;
use kestrel_indexer::{Indexer, PartitionDir};
use kestrel_query::language::parse_time;
use kestrel_query::retention::{enforcement, plan, PlannedPartition};

use crate::cli::RetentionCommand;

/// Runs a retention command.
pub fn retention(config: &Config, command: RetentionCommand) -> anyhow::Result<ExitCode> {
    match command {
        RetentionCommand::Plan { at, json } => {
            let now = instant(at.as_deref())?;
            let planned = plan(config, &config.index_dir(), now)?;
            print_plan(config, &planned, now, json)?;
        }
        RetentionCommand::Apply => apply(config, Utc::now())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn instant(at: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    let now = Utc::now();
    match at {
        None => Ok(now),
        Some(text) => parse_time(text, now).with_context(|| format!("--at {text:?}")),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn location(config: &Config, partition: &PartitionDir) -> String {
    let root = config.index_dir();
    partition.dir.strip_prefix(&root).map_or_else(
        |_| partition.dir.display().to_string(),
        |p| p.display().to_string(),
    )
}

fn print_plan(
    config: &Config,
    planned: &[PlannedPartition],
    now: DateTime<Utc>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        for p in planned {
            let line = serde_json::json!({
                "partition": location(config, &p.partition),
                "rule": p.rule,
                "expires_at": p.expires_at.map(time),
                "due": p.due,
                "held_by": p.held_by,
            });
            println!("{line}");
        }
        return Ok(());
    }
    println!("retention plan at {}", time(now));
    println!(
        "{:<48} {:<22} {:<12} RULE",
        "PARTITION", "DELETED FROM", "STATE"
    );
    for p in planned {
        let state = match (&p.held_by, p.due) {
            (Some(hold), _) => format!("held:{hold}"),
            (None, true) => "due".to_owned(),
            (None, false) if p.expires_at.is_some() => "kept".to_owned(),
            (None, false) => "forever".to_owned(),
        };
        println!(
            "{:<48} {:<22} {:<12} {}",
            location(config, &p.partition),
            p.expires_at.map_or("never".to_owned(), time),
            state,
            p.rule
        );
    }
    let due = planned
        .iter()
        .filter(|p| p.due && p.held_by.is_none())
        .count();
    let held = planned.iter().filter(|p| p.held_by.is_some()).count();
    println!(
        "{} partitions: {due} due for deletion, {held} kept by holds",
        planned.len()
    );
    Ok(())
}

/// One retention pass over the index root and each shard.
fn apply(config: &Config, now: DateTime<Utc>) -> anyhow::Result<()> {
    let retention = enforcement(config);
    let root = config.index_dir();
    // Deletions are recorded in the seal chains, whose locks refuse a second writer: a
    // running indexer makes this pass fail instead of racing it.
    let seal = crate::pipeline::seal_settings(config)?;
    let roots = kestrel_indexer::partition::index_trees(&root)
        .with_context(|| format!("listing {}", root.display()))?;
    for shard_root in roots {
        let mut indexer = Indexer::open(&shard_root, Default::default())
            .and_then(|indexer| match &seal {
                Some(seal) => indexer.with_seal(seal.clone()),
                None => Ok(indexer),
            })
            .with_context(|| format!("opening {}", shard_root.display()))?;
        let outcome = indexer.apply_retention(&retention.policy, retention.hooks.as_ref(), now)?;
        for deletion in &outcome.deleted {
            println!(
                "deleted {} ({} events, {})",
                deletion.dir.display(),
                deletion.events,
                deletion.why
            );
        }
        for (key, hold) in &outcome.held {
            println!("kept {} (hold {hold})", key.relative());
        }
    }
    let pruned = crate::store_retention::prune(config, now)?;
    println!(
        "pruned {} alerts, {} dead-letter files, {} dead outbox deliveries",
        pruned.alerts, pruned.dead_letter_files, pruned.outbox
    );
    Ok(())
}
