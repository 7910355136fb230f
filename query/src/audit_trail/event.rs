//! One entry of the audit trail and its form as a stored event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use chrono::Utc;
use kestrel_event::{event_id, Event, EventKind, RecordPosition, Timestamp};
use serde::Serialize;

use crate::access::{AccessOutcome, Identity};

/// An access to Kestrel, stored under `kestrel.*` of a `kestrel_audit` event. Absent fields
/// are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditEvent {
    /// What happened: `request`, `start`, `stop`, `token_create`, `token_revoke`, `cli_query`,
    /// `hold_create`, `hold_release`, `retention_delete`.
    pub action: String,
    /// Token name or OIDC subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// How the identity was established (`token`, `static_token`, `oidc`, `unauthenticated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    /// The identity's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The identity's scope: `*` or the namespaces, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The route pattern (`/api/v1/events/{id}/context`), or the CLI command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The query text (`q`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Start of the requested time range, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// End of the requested time range, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Hits (or alerts) returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<u64>,
    /// Matching events counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Bytes of the response body sent (the exported bytes of an export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Whether access was allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// Why access was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The HTTP status answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The caller's address and port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Time from the request to the end of the response body, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The role of the process that started or stopped (`run`, `collector`, `indexer`,
    /// `query`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// SHA-256 of the loaded configuration (starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    /// The partition deleted by retention (`k8s_audit/2024-01-31.keep-400d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Events the deleted partition held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// What expired a deleted partition: its class and the rules routing to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The legal hold created or released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
}

impl AuditEvent {
    /// An event of `action` with nothing else set.
    pub fn new(action: &str) -> AuditEvent {
        AuditEvent {
            action: action.to_owned(),
            ..AuditEvent::default()
        }
    }

    /// Sets who called and whether access was allowed, from the authentication's outcome.
    pub fn with_outcome(mut self, outcome: &AccessOutcome) -> AuditEvent {
        let identity = match outcome {
            AccessOutcome::Allowed(identity) => {
                self.allowed = Some(true);
                Some(identity)
            }
            AccessOutcome::Denied { identity, reason } => {
                self.allowed = Some(false);
                self.reason = Some(reason.clone());
                identity.as_ref()
            }
        };
        if let Some(identity) = identity {
            self = self.with_identity(identity);
        }
        self
    }

    /// Sets who acted.
    pub fn with_identity(mut self, identity: &Identity) -> AuditEvent {
        self.who = Some(identity.name.clone());
        self.identity_source = Some(identity.source.as_str().to_owned());
        self.role = Some(identity.role.as_str().to_owned());
        self.scope = Some(identity.scope.to_string());
        self
    }

    /// The stored form, at `time`: a `kestrel_audit` event with a unique id, a one-line
    /// `message` and the fields under `kestrel.*`.
    pub fn to_event(&self, time: Timestamp) -> Event {
        let mut event = Event::new(EventKind::KestrelAudit, next_id(), time, Utc::now());
        event.message = self.summary();
        let fields = serde_json::to_value(self).unwrap_or_default();
        event.audit.insert("kestrel".into(), fields);
        event
    }

    fn summary(&self) -> String {
        let mut parts = vec![self.action.clone()];
        parts.extend(self.method.clone());
        parts.extend(self.route.clone());
        parts.extend(self.status.map(|s| s.to_string()));
        parts.extend(self.hold.clone());
        parts.extend(self.partition.clone());
        if let Some(who) = &self.who {
            parts.push(format!("by {who}"));
        }
        if self.allowed == Some(false) {
            parts.push("denied".into());
        }
        parts.join(" ")
    }
}

/// A fresh event id: unique to this process (its id and start instant) and a sequence number.
fn next_id() -> String {
    static PROCESS: OnceLock<String> = OnceLock::new();
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| {
        let started = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        format!("kestrel-audit:{}:{started}", std::process::id())
    });
    let offset = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    event_id(process, RecordPosition::Offset { offset, index: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Identity, Role, Scope};

    #[test]
    fn denied_requests_keep_the_reason_and_events_get_distinct_ids() {
        let outcome = AccessOutcome::Denied {
            identity: None,
            reason: "unknown token".into(),
        };
        let event = AuditEvent::new("request").with_outcome(&outcome);
        assert_eq!(event.allowed, Some(false));
        assert_eq!(event.reason.as_deref(), Some("unknown token"));
        let stored = event.to_event(Utc::now());
        let json: serde_json::Value = serde_json::from_str(&stored.to_json()).unwrap();
        assert_eq!(json["event"]["kind"], "kestrel_audit");
        assert_eq!(json["kestrel"]["reason"], "unknown token");
        assert!(json["kestrel"].get("who").is_none());
        assert_ne!(stored.id(), event.to_event(Utc::now()).id());

        let identity = Identity {
            name: "alice".into(),
            role: Role::Viewer,
            scope: Scope::Namespaces(["payments".to_owned()].into()),
            source: crate::access::IdentitySource::StoredToken,
        };
        let allowed = AuditEvent::new("request").with_outcome(&AccessOutcome::Allowed(identity));
        assert_eq!(allowed.who.as_deref(), Some("alice"));
        assert_eq!(allowed.scope.as_deref(), Some("payments"));
        assert_eq!(allowed.role.as_deref(), Some("viewer"));
    }
}
