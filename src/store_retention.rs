//! Retention of the stores beside the index: alerts (`retention.alerts`), dead letters
//! (`retention.dead_letters`) and the alert outbox's dead deliveries (`retention.outbox`).
//! The index's partitions are deleted by the indexer itself (see `kestrel_indexer::retention`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use kestrel_config::Config;
use kestrel_query::audit_trail::AuditEvent;
use tokio::sync::watch;

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Alerts removed from `alerts.ndjson`.
    pub alerts: usize,
    /// Dead-letter day files deleted.
    pub dead_letter_files: usize,
    /// Dead deliveries deleted from the outbox.
    pub outbox: usize,
}

fn horizon(now: DateTime<Utc>, keep: Duration) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(chrono::Duration::from_std(keep).ok()?)
}

/// Removes what the configured retention of each store says is over at `now`, and records in
/// the audit trail what each store lost (`retention_prune`: the store, the count removed, the
/// setting). Blocking.
pub fn prune(config: &Config, now: DateTime<Utc>) -> anyhow::Result<Pruned> {
    let retention = &config.retention;
    let mut pruned = Pruned::default();
    if let Some(horizon) = retention.alerts.and_then(|k| horizon(now, k)) {
        let store = kestrel_detect::AlertStore::open(&config.alerts_dir())?;
        pruned.alerts = store.prune(horizon)?;
    }
    if let Some(horizon) = retention.dead_letters.and_then(|k| horizon(now, k)) {
        let store = crate::pipeline::dead_letter_store(config)?;
        pruned.dead_letter_files = store.prune(horizon)?.len();
    }
    if let Some(horizon) = retention.outbox.and_then(|k| horizon(now, k)) {
        let dir = crate::detection::outbox_dir(config);
        if dir.exists() {
            let outbox = kestrel_alerting::Outbox::open(&dir)?;
            pruned.outbox = outbox.prune_dead(horizon.into())?;
        }
    }
    for (store, key, keep, count) in [
        (
            "alerts",
            "retention.alerts",
            retention.alerts,
            pruned.alerts,
        ),
        (
            "dead-letters",
            "retention.dead_letters",
            retention.dead_letters,
            pruned.dead_letter_files,
        ),
        (
            "outbox",
            "retention.outbox",
            retention.outbox,
            pruned.outbox,
        ),
    ] {
        let Some(keep) = keep.filter(|_| count > 0) else {
            continue;
        };
        let mut record = AuditEvent::new("retention_prune");
        record.who = Some("retention".into());
        record.identity_source = Some("indexer".into());
        record.partition = Some(store.into());
        record.events = Some(count as u64);
        record.rule = Some(match keep.as_secs() % 86_400 {
            0 => format!("{key} {}d", keep.as_secs() / 86_400),
            _ => format!("{key} {}s", keep.as_secs()),
        });
        crate::cli_audit::record_event(config, record);
    }
    if pruned != Pruned::default() {
        tracing::info!(
            alerts = pruned.alerts,
            dead_letter_files = pruned.dead_letter_files,
            outbox = pruned.outbox,
            "stores past retention pruned"
        );
    }
    Ok(pruned)
}

/// Prunes the stores every minute until `shutdown`, when any of their retentions is set.
pub fn spawn(config: &Config, mut shutdown: watch::Receiver<bool>) {
    let retention = &config.retention;
    if retention.alerts.is_none() && retention.dead_letters.is_none() && retention.outbox.is_none()
    {
        return;
    }
    let config = config.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.changed() => return,
            }
            let config = config.clone();
            let pass = tokio::task::spawn_blocking(move || prune(&config, Utc::now())).await;
            match pass {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(error = %format!("{error:#}"), "store retention failed")
                }
                Err(error) => tracing::warn!(%error, "store retention task failed"),
            }
        }
    });
}
