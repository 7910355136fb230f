//! Retention over 16 months of events with a simulated clock: three retention classes
//! (a 30-day default, payments kept 365 days, Kubernetes audit events 400 days), two legal
//! holds, a rule changed half-way. At each monthly step the events of the past month arrive,
//! retention runs at the step's instant, and the partitions on disk must be exactly those a
//! model of the rules says: a hold keeps its partition, its release lets it go, the rule
//! change applies to new partitions only, and Kestrel's own audit trail (each deletion
//! recorded in it) has its own 400-day retention.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, TimeZone, Utc};
use kestrel_config::{Config, RetentionRule};
use kestrel_event::{Event, EventKind, KubernetesMeta};
use kestrel_indexer::retention::any_source;
use kestrel_indexer::{list_partitions, Classifier, Indexer, IndexerOptions, PartitionKind};
use kestrel_query::holds::{HoldStore, NewHold};
use kestrel_query::retention::{plan, policy, AuditedHolds, RuleClassifier};
use kestrel_query::{SearchEngine, SearchRequest};

const DAY: u64 = 86_400;

fn rule(name: &str, query: &str, days: u64) -> RetentionRule {
    RetentionRule {
        name: name.into(),
        query: query.into(),
        keep: Duration::from_secs(days * DAY),
    }
}

fn config(data_dir: &Path, payments_days: u64) -> Config {
    let mut config = Config::default().with_data_dir(data_dir.to_owned());
    config.retention.default = Some(Duration::from_secs(30 * DAY));
    config.retention.rules = vec![
        rule("audit", "event.kind:k8s_audit", 400),
        rule("payments", "kubernetes.namespace:payments", payments_days),
    ];
    config.validate().unwrap();
    config
}

fn indexer(config: &Config) -> Indexer {
    let options = IndexerOptions {
        writer_memory_bytes: 15_000_000,
        max_open_partitions: 4,
        writer_threads: 1,
        classifier: Some(Classifier::new(
            RuleClassifier::new(&config.retention).unwrap(),
        )),
    };
    Indexer::open(config.index_dir(), options).unwrap()
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
}

fn at(text: &str) -> DateTime<Utc> {
    kestrel_event::parse_timestamp(text).unwrap()
}

/// A generated partition: where the events of one kind, namespace and day go, and how long
/// the model says it lives.
#[derive(Debug, Clone)]
struct Expected {
    name: String,
    day: NaiveDate,
    keep_days: u64,
}

/// The three events of one day: a web line (an incident on 2024-06-10), a payments line and
/// an audit event.
fn events_of(day: NaiveDate) -> Vec<Event> {
    let ts = midnight(day) + chrono::Duration::hours(12);
    let namespaced = |kind, id: String, ns: &str, message: String| {
        let mut event = Event::new(kind, id, ts, ts);
        event.message = message;
        event.kubernetes = Some(KubernetesMeta {
            namespace: Some(ns.into()),
            ..KubernetesMeta::default()
        });
        event
    };
    let web_message = match day == NaiveDate::from_ymd_opt(2024, 6, 10).unwrap() {
        true => "incident: checkout refused".to_owned(),
        false => "request served".to_owned(),
    };
    vec![
        namespaced(
            EventKind::Container,
            format!("web-{day}"),
            "web",
            web_message,
        ),
        namespaced(
            EventKind::Container,
            format!("pay-{day}"),
            "payments",
            "charge ok".into(),
        ),
        namespaced(
            EventKind::K8sAudit,
            format!("audit-{day}"),
            "kube-system",
            "get pods".into(),
        ),
    ]
}

fn on_disk(root: &Path) -> BTreeSet<String> {
    list_partitions(root)
        .unwrap()
        .iter()
        .map(|k| k.relative())
        .collect()
}

/// The `retention_delete` records in the audit partition of `day`.
fn deletion_records(root: &Path, day: NaiveDate) -> Vec<serde_json::Value> {
    let dir = root.join("kestrel_audit").join(day.to_string());
    let mut records = Vec::new();
    if !dir.exists() {
        return records;
    }
    any_source(&dir, |source| {
        let event: serde_json::Value = serde_json::from_str(source).unwrap();
        if event["kestrel"]["action"] == "retention_delete" {
            records.push(event);
        }
        false
    })
    .unwrap();
    records
}

#[test]
fn a_simulated_clock_across_sixteen_months_deletes_exactly_what_the_rules_say() {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path(), 365);
    let root = config.index_dir();
    let holds = HoldStore::new(&config.data_dir);
    let placed = at("2024-01-15T00:00:00Z");
    for (name, query, from, to) in [
        ("case-7", "message:incident", "2024-06-01", "2024-06-30"),
        (
            "audit-review",
            "event.kind:k8s_audit",
            "2024-01-01",
            "2024-01-31",
        ),
    ] {
        let new = NewHold::parse(name, query, from, to, "litigation", placed).unwrap();
        holds.create(new, "legal", placed).unwrap();
    }

    // Every Monday from 2024-01-01 to 2025-04-28.
    let days: Vec<NaiveDate> = NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .iter_weeks()
        .take_while(|d| *d <= NaiveDate::from_ymd_opt(2025, 4, 28).unwrap())
        .collect();
    assert_eq!(days.len(), 70);
    let rule_change = at("2025-03-01T00:00:00Z");
    let mut expected: Vec<Expected> = Vec::new();
    let mut audit_days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut ingested = 0;
    let mut indexer = indexer(&config);
    // One set of hooks across steps, as an indexer keeps them: their verdicts on held
    // partitions are remembered until the standing holds change.
    let mut hooks = AuditedHolds::new(&config);
    let mut total_deleted = 0;
    let mut now = at("2024-02-01T00:00:00Z");
    while now <= at("2026-03-01T00:00:00Z") {
        if now == at("2024-10-01T00:00:00Z") {
            holds
                .release("case-7", "case closed", "legal", now)
                .unwrap();
        }
        if now == at("2025-06-01T00:00:00Z") {
            holds
                .release("audit-review", "review done", "legal", now)
                .unwrap();
        }
        // The month's events arrive (those after the rule change are classified by it).
        while ingested < days.len() && midnight(days[ingested]) < now {
            let day = days[ingested];
            for event in events_of(day) {
                indexer.add(&event).unwrap();
            }
            let payments_keep = if midnight(day) < rule_change { 365 } else { 90 };
            for (kind, keep) in [
                ("container", 30),
                ("container", payments_keep),
                ("k8s_audit", 400),
            ] {
                expected.push(Expected {
                    name: format!("{kind}/{day}.keep-{keep}d"),
                    day,
                    keep_days: keep,
                });
            }
            ingested += 1;
        }
        indexer.commit().unwrap();
        if now == rule_change {
            // Payments are now kept 90 days: for the events indexed from now on.
            drop(indexer);
            config = crate::config(data.path(), 90);
            indexer = crate::indexer(&config);
            hooks = AuditedHolds::new(&config);
        }

        let outcome = indexer
            .apply_retention(&policy(&config), &hooks, now)
            .unwrap();
        total_deleted += outcome.deleted.len();

        // The model: a partition lives until the end of its day plus its keep, unless a
        // standing hold keeps it.
        let standing: BTreeMap<&str, bool> = [
            ("case-7", now < at("2024-10-01T00:00:00Z")),
            ("audit-review", now < at("2025-06-01T00:00:00Z")),
        ]
        .into_iter()
        .collect();
        let held = |p: &Expected| {
            let incident = p.name == "container/2024-06-10.keep-30d";
            let january_audit = p.name.starts_with("k8s_audit/2024-01-");
            (incident && standing["case-7"]) || (january_audit && standing["audit-review"])
        };
        let alive = |day: NaiveDate, keep: u64| {
            midnight(day) + chrono::Duration::days(1 + keep as i64) > now
        };
        if !outcome.deleted.is_empty() {
            audit_days.insert(now.date_naive());
        }
        let mut want: BTreeSet<String> = expected
            .iter()
            .filter(|p| alive(p.day, p.keep_days) || held(p))
            .map(|p| p.name.clone())
            .collect();
        want.extend(
            audit_days
                .iter()
                .filter(|d| alive(**d, 400))
                .map(|d| format!("kestrel_audit/{d}")),
        );
        assert_eq!(on_disk(&root), want, "at {now}");
        if now == at("2025-09-01T00:00:00Z") {
            // The rule change applied to new partitions only: payments of February (365
            // days) outlive those of March (90 days).
            assert!(want.contains("container/2025-02-24.keep-365d"));
            assert!(!want.contains("container/2025-03-03.keep-90d"));
            assert!(!want.iter().any(|n| n.ends_with(".keep-90d")));
        }

        // Held partitions are reported with their hold.
        for (key, hold) in &outcome.held {
            let name = key.relative();
            match hold.as_str() {
                "case-7" => assert_eq!(name, "container/2024-06-10.keep-30d"),
                "audit-review" => assert!(name.starts_with("k8s_audit/2024-01-"), "{name}"),
                other => panic!("unknown hold {other}"),
            }
        }

        // Each deletion is recorded in the audit trail of the step's day.
        let records = deletion_records(&root, now.date_naive());
        assert_eq!(records.len(), outcome.deleted.len(), "at {now}");
        for deletion in &outcome.deleted {
            let name = deletion.key.relative();
            let record = records
                .iter()
                .find(|r| r["kestrel"]["partition"] == name.as_str())
                .unwrap_or_else(|| panic!("no record of {name}"));
            let fields = &record["kestrel"];
            assert_eq!(fields["events"], deletion.events);
            assert_eq!(record["@timestamp"].as_str().map(at), Some(now));
            if deletion.key.kind == PartitionKind::KestrelAudit {
                assert_eq!(fields["rule"], "retention.audit 400d");
                continue;
            }
            assert_eq!(deletion.events, 1);
            let noon = format!("{}T12:00:00+00:00", deletion.key.day);
            assert_eq!(fields["from"], noon.as_str());
            assert_eq!(fields["to"], noon.as_str());
            let class = deletion.key.class.unwrap();
            let rule = fields["rule"].as_str().unwrap();
            let rules = match (class.keep_days, now >= rule_change) {
                (30, _) => "default",
                (400, _) => "audit",
                (90, _) => "payments",
                (365, false) => "payments",
                (365, true) => "no rule keeps keep-365d today",
                other => panic!("unexpected class {other:?}"),
            };
            assert!(rule.contains(rules), "{rule}");
        }
        now = now + Months::new(1);
    }
    // Almost everything expired by 2026-03-01; the audit trail of the last year is left.
    assert!(total_deleted > 150, "{total_deleted}");
    let left = on_disk(&root);
    assert!(left.iter().any(|n| n.starts_with("kestrel_audit/")));
    assert!(left.iter().any(|n| n.starts_with("k8s_audit/")));

    // Searches open every class, and still prune by day.
    drop(indexer);
    let engine = SearchEngine::new(&root);
    let mut request = SearchRequest::parse("*", 10).unwrap();
    let all = engine.search(&request).unwrap().total;
    let collected = left
        .iter()
        .filter(|n| !n.starts_with("kestrel_audit/"))
        .count();
    assert_eq!(all, collected as u64);
    request.from = Some(at("2025-02-01T00:00:00Z"));
    request.to = Some(at("2025-02-28T23:59:59Z"));
    let february: Vec<&String> = left
        .iter()
        .filter(|n| n.contains("/2025-02-") && !n.starts_with("kestrel_audit/"))
        .collect();
    assert_eq!(
        engine.search(&request).unwrap().total,
        february.len() as u64
    );
}

/// Partition, rule, expiry, due, hold.
type PlanRow = (String, String, Option<DateTime<Utc>>, bool, Option<String>);

#[test]
fn the_plan_names_the_rule_the_expiry_and_the_hold() {
    let data = tempfile::tempdir().unwrap();
    let config = config(data.path(), 365);
    let mut indexer = indexer(&config);
    for day in ["2024-06-10", "2024-06-17"] {
        for event in events_of(day.parse().unwrap()) {
            indexer.add(&event).unwrap();
        }
    }
    indexer.commit().unwrap();
    drop(indexer);
    let now = at("2024-08-01T00:00:00Z");
    let new = NewHold::parse(
        "case-7",
        "message:incident",
        "2024-06-01",
        "2024-06-30",
        "x",
        now,
    )
    .unwrap();
    HoldStore::new(&config.data_dir)
        .create(new, "legal", now)
        .unwrap();
    let planned = plan(&config, &config.index_dir(), now).unwrap();
    let rows: Vec<PlanRow> = planned
        .iter()
        .map(|p| {
            (
                p.partition.key.relative(),
                p.rule.clone(),
                p.expires_at,
                p.due,
                p.held_by.clone(),
            )
        })
        .collect();
    let row = |name: &str, rule: &str, expires: &str, due: bool, hold: Option<&str>| {
        (
            name.to_owned(),
            rule.to_owned(),
            Some(at(expires)),
            due,
            hold.map(str::to_owned),
        )
    };
    assert_eq!(
        rows,
        [
            row(
                "container/2024-06-10.keep-30d",
                "class keep-30d (rules: default)",
                "2024-07-11T00:00:00Z",
                true,
                Some("case-7")
            ),
            row(
                "container/2024-06-10.keep-365d",
                "class keep-365d (rules: payments)",
                "2025-06-11T00:00:00Z",
                false,
                None
            ),
            row(
                "k8s_audit/2024-06-10.keep-400d",
                "class keep-400d (rules: audit)",
                "2025-07-16T00:00:00Z",
                false,
                None
            ),
            row(
                "container/2024-06-17.keep-30d",
                "class keep-30d (rules: default)",
                "2024-07-18T00:00:00Z",
                true,
                None
            ),
            row(
                "container/2024-06-17.keep-365d",
                "class keep-365d (rules: payments)",
                "2025-06-18T00:00:00Z",
                false,
                None
            ),
            row(
                "k8s_audit/2024-06-17.keep-400d",
                "class keep-400d (rules: audit)",
                "2025-07-23T00:00:00Z",
                false,
                None
            ),
        ]
    );
}
