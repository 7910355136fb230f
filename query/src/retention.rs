//! Retention rules in the query language: the classifier the indexers route events with,
//! the hooks that consult legal holds and record deletions in the audit trail, and the plan
//! of what retention will delete and when.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use kestrel_config::{Config, RetentionConfig};
use kestrel_event::Event;
use kestrel_indexer::{
    Classify, Deletion, IndexError, PartitionDir, PartitionKey, RetentionClass, RetentionHooks,
    RetentionPolicy,
};

use crate::audit_trail::AuditEvent;
use crate::holds::{HoldSet, HoldStore};
use crate::language::{parse, Matcher};

/// A retention rule whose `match` does not parse.
#[derive(Debug, thiserror::Error)]
#[error("retention.rules[{index}].match: {message}")]
pub struct RuleError {
    /// The rule's index in `retention.rules`.
    pub index: usize,
    /// The parse error.
    pub message: String,
}

struct CompiledRule {
    name: String,
    matcher: Matcher,
    class: RetentionClass,
}

/// Routes events by the retention rules: the longest `keep` among the rules an event matches
/// wins (compliance keeps the longer); an event no rule matches goes to the class of
/// `retention.default` when it is set, else to the default class (kept forever unless a
/// default is set later).
pub struct RuleClassifier {
    rules: Vec<CompiledRule>,
    default: Option<RetentionClass>,
}

impl RuleClassifier {
    /// Compiles the rules of `retention`.
    pub fn new(retention: &RetentionConfig) -> Result<RuleClassifier, RuleError> {
        let rules = retention
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let query = parse(&rule.query).map_err(|e| RuleError {
                    index,
                    message: e.to_string(),
                })?;
                Ok(CompiledRule {
                    name: rule.name.clone(),
                    matcher: Matcher::new(&query),
                    class: RetentionClass::of_keep(rule.keep),
                })
            })
            .collect::<Result<Vec<_>, RuleError>>()?;
        Ok(RuleClassifier {
            rules,
            default: retention.default.map(RetentionClass::of_keep),
        })
    }

    /// The rule that routes `event` (the longest keep; the first listed among equals), if any.
    pub fn rule_of(&self, event: &serde_json::Value) -> Option<(&str, RetentionClass)> {
        self.rules
            .iter()
            .filter(|r| r.matcher.matches(event))
            .fold(None, |best: Option<&CompiledRule>, rule| match best {
                Some(b) if b.class >= rule.class => Some(b),
                _ => Some(rule),
            })
            .map(|r| (r.name.as_str(), r.class))
    }
}

impl Classify for RuleClassifier {
    fn class_of(&self, event: &serde_json::Value) -> Option<RetentionClass> {
        self.rule_of(event).map(|(_, c)| c).or(self.default)
    }
}

/// The lifetimes of the partitions without a class of their own, from the configuration.
pub fn policy(config: &Config) -> RetentionPolicy {
    RetentionPolicy {
        default: config.default_retention(),
        audit: Some(config.audit_retention()),
    }
}

/// The names of the rules that route to `class` today (with `default` when the default does),
/// how records and the plan name what set a classed partition's lifetime.
pub fn rules_of_class(retention: &RetentionConfig, class: RetentionClass) -> Vec<String> {
    let mut names: Vec<String> = retention
        .rules
        .iter()
        .filter(|r| RetentionClass::of_keep(r.keep) == class)
        .map(|r| r.name.clone())
        .collect();
    if retention.default.map(RetentionClass::of_keep) == Some(class) {
        names.push("default".into());
    }
    names
}

/// Which hold kept a partition, as of its `meta.json`'s modification time: a partition past
/// its lifetime is not written any more, so a hold's verdict on it is scanned once, not at
/// every pass.
type Verdicts = HashMap<PathBuf, (Option<SystemTime>, Vec<String>, Option<String>)>;

/// Holds from the data directory's store and deletion records for the audit trail.
pub struct AuditedHolds {
    store: HoldStore,
    retention: RetentionConfig,
    verdicts: Mutex<Verdicts>,
}

impl AuditedHolds {
    /// Hooks over the holds of `config.data_dir`.
    pub fn new(config: &Config) -> AuditedHolds {
        AuditedHolds {
            store: HoldStore::new(&config.data_dir),
            retention: config.retention.clone(),
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    fn rule_label(&self, deletion: &Deletion) -> String {
        let Some(class) = deletion.key.class else {
            return deletion.why.clone();
        };
        let rules = rules_of_class(&self.retention, class);
        match rules.is_empty() {
            true => format!("{} (no rule keeps {class} today)", deletion.why),
            false => format!("{} (rules: {})", deletion.why, rules.join(", ")),
        }
    }
}

impl RetentionHooks for AuditedHolds {
    fn hold_on(&self, key: &PartitionKey, dir: &Path) -> Result<Option<String>, IndexError> {
        // Read at every check: a hold placed a moment ago counts.
        let holds = self.store.standing().map_err(|e| IndexError::Io {
            path: self.store.path(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let names: Vec<String> = holds.iter().map(|h| h.name.clone()).collect();
        let modified = std::fs::metadata(dir.join("meta.json"))
            .and_then(|m| m.modified())
            .ok();
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, standing, verdict)) = verdicts.get(dir) {
            if *at == modified && *standing == names {
                return Ok(verdict.clone());
            }
        }
        let verdict = HoldSet::new(holds).keeps(key, dir)?;
        verdicts.insert(dir.to_owned(), (modified, names, verdict.clone()));
        Ok(verdict)
    }

    fn record(&self, deletion: &Deletion, now: DateTime<Utc>) -> Option<Event> {
        Some(deletion_event(deletion, &self.rule_label(deletion)).to_event(now))
    }
}

/// The audit trail entry of a deletion by retention.
pub fn deletion_event(deletion: &Deletion, rule: &str) -> AuditEvent {
    let mut event = AuditEvent::new("retention_delete");
    event.who = Some("retention".into());
    event.identity_source = Some("indexer".into());
    event.allowed = Some(true);
    event.partition = Some(deletion.key.relative());
    event.events = Some(deletion.events);
    event.from = deletion.first.map(|t| t.to_rfc3339());
    event.to = deletion.last.map(|t| t.to_rfc3339());
    event.rule = Some(rule.to_owned());
    event
}

/// One partition in the retention plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPartition {
    /// The partition and where it is.
    pub partition: PartitionDir,
    /// What sets its lifetime (`class keep-400d (rules: audit)`, `retention.default 30d`).
    pub rule: String,
    /// When it may be deleted; `None`: kept forever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether its lifetime is over at the plan's instant.
    pub due: bool,
    /// The standing hold that keeps it, when it is due and held.
    pub held_by: Option<String>,
}

/// What retention would do to every partition under `index_root` (shards included) at
/// `now`: expiry of each, and which holds keep due ones.
pub fn plan(
    config: &Config,
    index_root: &Path,
    now: DateTime<Utc>,
) -> Result<Vec<PlannedPartition>, IndexError> {
    let policy = policy(config);
    let holds = HoldStore::new(&config.data_dir)
        .standing()
        .map_err(|e| IndexError::Io {
            path: config.data_dir.join("holds"),
            source: std::io::Error::other(e.to_string()),
        })?;
    let holds = HoldSet::new(holds);
    let partitions =
        kestrel_indexer::list_partition_dirs(index_root).map_err(|source| IndexError::Io {
            path: PathBuf::from(index_root),
            source,
        })?;
    let mut planned = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let key = partition.key;
        let due = policy.is_due(&key, now);
        let held_by = match due {
            true => holds.keeps(&key, &partition.dir)?,
            false => None,
        };
        let why = policy.source(&key);
        let rule = match key.class {
            Some(class) => {
                let rules = rules_of_class(&config.retention, class);
                match rules.is_empty() {
                    true => format!("{why} (no rule today)"),
                    false => format!("{why} (rules: {})", rules.join(", ")),
                }
            }
            None => why,
        };
        planned.push(PlannedPartition {
            expires_at: policy.expires_at(&key),
            partition,
            rule,
            due,
            held_by,
        });
    }
    Ok(planned)
}

/// The retention settings of the indexing loops: the configured lifetimes, holds and
/// records, and the wall clock.
pub fn enforcement(config: &Config) -> kestrel_indexer::service::Retention {
    kestrel_indexer::service::Retention {
        policy: policy(config),
        hooks: Arc::new(AuditedHolds::new(config)),
        clock: Utc::now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_config::RetentionRule;
    use serde_json::json;
    use std::time::Duration;

    fn rule(name: &str, query: &str, days: u64) -> RetentionRule {
        RetentionRule {
            name: name.into(),
            query: query.into(),
            keep: Duration::from_secs(days * 86_400),
        }
    }

    fn retention(default: Option<u64>, rules: Vec<RetentionRule>) -> RetentionConfig {
        RetentionConfig {
            default: default.map(|d| Duration::from_secs(d * 86_400)),
            rules,
            ..RetentionConfig::default()
        }
    }

    #[test]
    fn the_longest_keep_among_matching_rules_wins() {
        let classifier = RuleClassifier::new(&retention(
            Some(30),
            vec![
                rule("payments", "kubernetes.namespace:payments", 365),
                rule("audit", "event.kind:k8s_audit", 400),
                rule("debug", "kubernetes.namespace:payments level:debug", 7),
            ],
        ))
        .unwrap();
        let days = |event: serde_json::Value| classifier.class_of(&event).map(|c| c.keep_days);
        let audit_in_payments =
            json!({"event": {"kind": "k8s_audit"}, "kubernetes": {"namespace": "payments"}});
        assert_eq!(classifier.rule_of(&audit_in_payments).unwrap().0, "audit");
        assert_eq!(days(audit_in_payments), Some(400));
        assert_eq!(
            days(
                json!({"event": {"kind": "container"}, "kubernetes": {"namespace": "payments"}, "level": "debug"})
            ),
            Some(365)
        );
        assert_eq!(
            days(json!({"event": {"kind": "container"}, "kubernetes": {"namespace": "web"}})),
            Some(30)
        );
        let no_default = RuleClassifier::new(&retention(None, vec![])).unwrap();
        assert_eq!(no_default.class_of(&json!({"message": "x"})), None);
    }

    #[test]
    fn a_rule_that_does_not_parse_is_named() {
        let err = RuleClassifier::new(&retention(
            None,
            vec![rule("a", "*", 1), rule("b", "verb:(", 2)],
        ))
        .err()
        .unwrap();
        assert!(
            err.to_string().starts_with("retention.rules[1].match: "),
            "{err}"
        );
    }

    #[test]
    fn classes_name_the_rules_that_route_to_them_today() {
        let r = retention(
            Some(30),
            vec![rule("a", "*", 400), rule("b", "x", 400), rule("c", "y", 30)],
        );
        assert_eq!(
            rules_of_class(&r, RetentionClass { keep_days: 400 }),
            ["a", "b"]
        );
        assert_eq!(
            rules_of_class(&r, RetentionClass { keep_days: 30 }),
            ["c", "default"]
        );
        assert!(rules_of_class(&r, RetentionClass { keep_days: 7 }).is_empty());
    }
}
