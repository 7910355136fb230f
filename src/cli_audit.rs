//! One `kestrel_audit` event per CLI query (`kestrel search`, `kestrel aggregate`), token
//! change (`kestrel token create|revoke`) and start or stop of the collector and indexer roles,
//! written into the index directory's audit trail.

use std::time::Instant;

use kestrel_config::Config;
use kestrel_query::audit_trail::{AuditEvent, AuditSink, IndexSink};

/// What a CLI query asked and found.
pub struct CliQuery<'a> {
    /// The command (`kestrel search`).
    pub command: &'a str,
    /// The query text.
    pub query: &'a str,
    /// The time range, as given.
    pub from: Option<&'a str>,
    /// The time range's end, as given.
    pub to: Option<&'a str>,
    /// Hits printed.
    pub hits: Option<u64>,
    /// Matching events counted.
    pub total: Option<u64>,
    /// When the command started.
    pub started: Instant,
}

/// Writes the audit event of `query` (its failure is logged: the answer is still printed).
pub fn record(config: &Config, query: &CliQuery<'_>) {
    let mut event = AuditEvent::new("cli_query");
    event.who = Some(std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    event.identity_source = Some("cli".into());
    event.scope = Some("*".into());
    event.route = Some(query.command.to_owned());
    event.query = Some(query.query.to_owned());
    event.from = query.from.map(str::to_owned);
    event.to = query.to.map(str::to_owned);
    event.hits = query.hits;
    event.total = query.total;
    event.allowed = Some(true);
    event.duration_ms = Some(query.started.elapsed().as_secs_f64() * 1000.0);
    let stored = event.to_event(chrono::Utc::now());
    if let Err(error) = IndexSink::new(config.index_dir()).write(&[stored]) {
        tracing::warn!(%error, command = query.command, "cli query not recorded in the audit trail");
    }
}

/// Writes `event` (a token change, a role's start or stop), made by the OS user running the
/// command unless it names someone; a failure is logged. Blocking.
pub fn record_event(config: &Config, mut event: AuditEvent) {
    if event.who.is_none() {
        event.who = Some(std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
        event.identity_source = Some("cli".into());
    }
    event.allowed.get_or_insert(true);
    let action = event.action.clone();
    let stored = event.to_event(chrono::Utc::now());
    if let Err(error) = IndexSink::new(config.index_dir()).write(&[stored]) {
        tracing::warn!(%error, action, "change not recorded in the audit trail");
    }
}
