//! What an engine sees: collected events within a namespace [`Scope`], or Kestrel's own audit
//! trail. The scope becomes a required Tantivy clause of every query an engine runs (see
//! [`crate::search::PartitionSearcher::search`]), so totals and aggregations count visible
//! events only.
//!
//! Which namespace an event belongs to:
//! - container events and Falco events: `kubernetes.namespace` (the Falco normalizer maps
//!   `k8s.ns.name` to it);
//! - Kubernetes audit events: `objectRef.namespace`;
//! - events without one (cluster-scoped audit events, containers outside Kubernetes, Falco
//!   events of the host): visible to unscoped identities only.

use std::collections::BTreeSet;

use kestrel_event::EventKind;
use kestrel_indexer::{EventSchema, PartitionKind};
use tantivy::query::{BooleanQuery, EmptyQuery, Occur, Query as TantivyQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Term};

use crate::access::Scope;

/// What an engine sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Collected events (container, Kubernetes audit, Falco) within a scope.
    Events(Scope),
    /// Kestrel's own audit trail (the `kestrel_audit` partitions) and nothing else.
    AuditTrail,
}

impl Default for View {
    fn default() -> View {
        View::Events(Scope::All)
    }
}

impl View {
    /// Whether partitions of `kind` are opened at all.
    pub fn opens(&self, kind: PartitionKind) -> bool {
        match self {
            View::Events(_) => kind != PartitionKind::KestrelAudit,
            View::AuditTrail => kind == PartitionKind::KestrelAudit,
        }
    }

    /// The scope of collected events; `None` for the audit trail.
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            View::Events(scope) => Some(scope),
            View::AuditTrail => None,
        }
    }
}

/// The part of `current` that `requested` allows: scopes only narrow.
pub fn narrow(current: &Scope, requested: &Scope) -> Scope {
    match (current, requested) {
        (Scope::All, other) | (other, Scope::All) => other.clone(),
        (Scope::Namespaces(a), Scope::Namespaces(b)) => {
            Scope::Namespaces(a.intersection(b).cloned().collect())
        }
    }
}

/// The required clause of a scope; `None` for [`Scope::All`]. An empty namespace set matches
/// nothing.
pub fn scope_filter(schema: &EventSchema, scope: &Scope) -> Option<Box<dyn TantivyQuery>> {
    let Scope::Namespaces(namespaces) = scope else {
        return None;
    };
    if namespaces.is_empty() {
        return Some(Box::new(EmptyQuery));
    }
    let by_kind = [
        (EventKind::Container, "kubernetes.namespace"),
        (EventKind::Falco, "kubernetes.namespace"),
        (EventKind::K8sAudit, "objectRef.namespace"),
    ];
    let clauses = by_kind
        .into_iter()
        .map(|(kind, path)| {
            let of_kind = BooleanQuery::new(vec![
                (Occur::Must, keyword(schema, "event.kind", kind.as_str())),
                (Occur::Must, any_of(schema, path, namespaces)),
            ]);
            (Occur::Should, Box::new(of_kind) as Box<dyn TantivyQuery>)
        })
        .collect();
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// Events whose keyword `path` is one of `values`.
fn any_of(schema: &EventSchema, path: &str, values: &BTreeSet<String>) -> Box<dyn TantivyQuery> {
    let clauses = values
        .iter()
        .map(|value| (Occur::Should, keyword(schema, path, value)))
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

/// Events whose keyword `path` is `value` (keywords are indexed lowercased).
fn keyword(schema: &EventSchema, path: &str, value: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(schema.resolve(path).field, &value.to_lowercase()),
        IndexRecordOption::Basic,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaces(names: &[&str]) -> Scope {
        Scope::Namespaces(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn scopes_only_narrow() {
        let ab = namespaces(&["a", "b"]);
        assert_eq!(narrow(&Scope::All, &ab), ab);
        assert_eq!(narrow(&ab, &Scope::All), ab);
        assert_eq!(narrow(&ab, &namespaces(&["b", "c"])), namespaces(&["b"]));
    }

    #[test]
    fn the_audit_trail_and_collected_events_never_share_partitions() {
        let events = View::default();
        assert!(events.opens(PartitionKind::Container));
        assert!(events.opens(PartitionKind::K8sAudit));
        assert!(events.opens(PartitionKind::Falco));
        assert!(!events.opens(PartitionKind::KestrelAudit));
        assert!(!View::AuditTrail.opens(PartitionKind::Container));
        assert!(View::AuditTrail.opens(PartitionKind::KestrelAudit));
    }
}
