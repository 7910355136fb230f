//! The rule pack under `rules/`: every rule passes its own tests through `kestrel rules test`,
//! carries the metadata the pack requires, and the rules that have a counterpart in Falco's
//! k8saudit ruleset fire on exactly the Falco regression traces where Falco's rule is expected to
//! fire (and stay silent where Falco expects no detection).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kestrel_detect::rule::LogSource;
use kestrel_detect::{load_rules, Detector, RuleDocument};
use serde_json::Value;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// `N rules, P passed, F failed, E test events` → (N, F).
fn parse_summary(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" rules, ") && l.contains(" failed"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let count = |word: &str| -> usize {
        line.split(", ")
            .find_map(|part| part.trim().strip_suffix(word))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{word}` count in {line:?}"))
    };
    (count(" rules"), count(" failed"))
}

#[test]
fn every_rule_of_the_pack_passes_its_tests() {
    let output = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["rules", "test"])
        .arg(rules_dir())
        .env("RUST_LOG", "warn")
        .env_remove("KESTREL_CONFIG")
        .output()
        .expect("kestrel runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "kestrel rules test failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let (rules, failed) = parse_summary(&stdout);
    assert!(rules >= 42, "only {rules} rules in the pack");
    assert_eq!(failed, 0, "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL")), "{stdout}");
}

#[test]
fn every_rule_carries_the_pack_metadata() {
    let documents = load_rules(&rules_dir()).expect("the pack loads");
    assert!(documents.len() >= 42, "{} rule documents", documents.len());
    let mut ids = HashSet::new();
    let technique = |tag: &String| {
        let rest = tag.strip_prefix("attack.t").unwrap_or("");
        let mut parts = rest.split('.');
        let main = parts.next().unwrap_or("");
        main.len() == 4
            && main.bytes().all(|b| b.is_ascii_digit())
            && parts.all(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    const TACTICS: &[&str] = &[
        "reconnaissance",
        "resource-development",
        "initial-access",
        "execution",
        "persistence",
        "privilege-escalation",
        "defense-evasion",
        "stealth",
        "credential-access",
        "discovery",
        "lateral-movement",
        "collection",
        "command-and-control",
        "exfiltration",
        "impact",
    ];
    let tactic = |tag: &String| {
        tag.strip_prefix("attack.")
            .is_some_and(|t| TACTICS.contains(&t))
    };
    for (file, document) in &documents {
        let (id, tags, level) = match document {
            RuleDocument::Detection(rule) => {
                assert!(
                    rule.status.is_some() && rule.description.is_some(),
                    "{}: status and description",
                    file.display()
                );
                // The example files the pack started from predate this requirement.
                let example = file.ends_with("kubernetes/forbidden_burst.yml")
                    || file.ends_with("kubernetes/exec_into_pod.yml");
                assert!(
                    example || !rule.falsepositives.is_empty(),
                    "{}: falsepositives",
                    file.display()
                );
                assert!(
                    rule.logsource.product.is_some(),
                    "{}: logsource",
                    file.display()
                );
                (rule.id.clone(), rule.tags.clone(), rule.level.clone())
            }
            RuleDocument::Correlation(rule) => {
                (rule.id.clone(), rule.tags.clone(), rule.level.clone())
            }
            RuleDocument::Filter(filter) => {
                panic!(
                    "{}: the pack ships rules, not filters ({})",
                    file.display(),
                    filter.title
                )
            }
        };
        let id = id.unwrap_or_else(|| panic!("{}: a rule without id", file.display()));
        assert!(id.starts_with("kestrel-"), "{id}: ids start with kestrel-");
        assert!(ids.insert(id.clone()), "{id} is not unique");
        assert!(
            tags.iter().any(technique),
            "{id}: no ATT&CK technique in {tags:?}"
        );
        assert!(
            tags.iter().any(tactic),
            "{id}: no ATT&CK tactic in {tags:?}"
        );
        assert!(
            tags.iter().all(|t| t == &t.to_lowercase()),
            "{id}: tags are lowercase"
        );
        assert!(
            matches!(
                level.as_deref(),
                Some("informational" | "low" | "medium" | "high" | "critical")
            ),
            "{id}: level {level:?}"
        );
    }
    // `author` is not kept by the parser: check the text of every document.
    let files: BTreeSet<&PathBuf> = documents.iter().map(|(f, _)| f).collect();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for document in text.split("\n---\n") {
            assert!(
                document.lines().any(|l| l.trim_end() == "author: Kestrel"),
                "{}: a document without `author: Kestrel`",
                file.display()
            );
        }
    }
}

/// Falco rule → our rule, with the reason when the pair is left out of the assertion.
const FALCO_MAPPING: &[(&str, &str, Option<&str>)] = &[
    ("Create Privileged Pod", "kestrel-k8s-privileged-pod", None),
    (
        "Create Sensitive Mount Pod",
        "kestrel-k8s-sensitive-hostpath-mount",
        None,
    ),
    (
        "Create HostNetwork Pod",
        "kestrel-k8s-hostnetwork-pod",
        None,
    ),
    ("Create HostPid Pod", "kestrel-k8s-hostpid-pod", None),
    ("Create HostIPC Pod", "kestrel-k8s-hostipc-pod", None),
    (
        "Create NodePort Service",
        "kestrel-k8s-nodeport-service",
        None,
    ),
    (
        "Create/Modify Configmap With Private Credentials",
        "kestrel-k8s-configmap-credentials",
        None,
    ),
    (
        "Anonymous Request Allowed",
        "kestrel-k8s-anonymous-request-allowed",
        None,
    ),
    (
        "Attach/Exec Pod",
        "kestrel-k8s-exec-attach-portforward",
        None,
    ),
    ("port-forward", "kestrel-k8s-exec-attach-portforward", None),
    (
        "EphemeralContainers Created",
        "kestrel-k8s-ephemeral-container",
        None,
    ),
    (
        "Pod Created in Kube Namespace",
        "kestrel-k8s-workload-in-kube-namespace",
        Some(
            "our rule only reports non-system users (the traces' pods are created by the \
             replicaset-controller service account); the user's own Deployment/DaemonSet/pod \
             request is what it reports",
        ),
    ),
    (
        "Service Account Created in Kube Namespace",
        "kestrel-k8s-serviceaccount-in-kube-namespace",
        None,
    ),
    (
        "System ClusterRole Modified/Deleted",
        "kestrel-k8s-system-clusterrole-modified",
        None,
    ),
    (
        "Attach to cluster-admin Role",
        "kestrel-k8s-cluster-admin-binding",
        None,
    ),
    (
        "ClusterRole With Wildcard Created",
        "kestrel-k8s-rbac-wildcard-role",
        None,
    ),
    (
        "ClusterRole With Pod Exec Created",
        "kestrel-k8s-role-pod-exec",
        None,
    ),
    (
        "Ingress Object without TLS Certificate Created",
        "kestrel-k8s-ingress-without-tls",
        None,
    ),
    (
        "ClusterRole With Write Privileges Created",
        "kestrel-k8s-clusterrole-write-privileges",
        None,
    ),
    (
        "K8s Deployment Created",
        "kestrel-k8s-activity-deployment-created",
        None,
    ),
    (
        "K8s Deployment Deleted",
        "kestrel-k8s-activity-deployment-deleted",
        None,
    ),
    (
        "K8s Service Created",
        "kestrel-k8s-activity-service-created",
        None,
    ),
    (
        "K8s Service Deleted",
        "kestrel-k8s-activity-service-deleted",
        None,
    ),
    (
        "K8s ConfigMap Created",
        "kestrel-k8s-activity-configmap-created",
        None,
    ),
    (
        "K8s ConfigMap Deleted",
        "kestrel-k8s-activity-configmap-deleted",
        None,
    ),
    (
        "K8s Namespace Created",
        "kestrel-k8s-activity-namespace-created",
        None,
    ),
    (
        "K8s Namespace Deleted",
        "kestrel-k8s-activity-namespace-deleted",
        None,
    ),
    (
        "K8s Serviceaccount Created",
        "kestrel-k8s-activity-serviceaccount-created",
        None,
    ),
    (
        "K8s Serviceaccount Deleted",
        "kestrel-k8s-activity-serviceaccount-deleted",
        None,
    ),
    (
        "K8s Role Created",
        "kestrel-k8s-activity-role-created",
        None,
    ),
    (
        "K8s Role Deleted",
        "kestrel-k8s-activity-role-deleted",
        None,
    ),
    (
        "K8s ClusterRole Created",
        "kestrel-k8s-activity-clusterrole-created",
        None,
    ),
    (
        "K8s ClusterRole Deleted",
        "kestrel-k8s-activity-clusterrole-deleted",
        None,
    ),
    (
        "K8s RoleBinding Created",
        "kestrel-k8s-activity-rolebinding-created",
        None,
    ),
    (
        "K8s RoleBinding Deleted",
        "kestrel-k8s-activity-rolebinding-deleted",
        None,
    ),
    (
        "K8s ClusterRoleBinding Created",
        "kestrel-k8s-activity-clusterrolebinding-created",
        None,
    ),
    (
        "K8s ClusterRoleBinding Deleted",
        "kestrel-k8s-activity-clusterrolebinding-deleted",
        None,
    ),
    (
        "K8s Secret Created",
        "kestrel-k8s-activity-secret-created",
        None,
    ),
    (
        "K8s Secret Deleted",
        "kestrel-k8s-activity-secret-deleted",
        None,
    ),
    (
        "K8s Secret Get Successfully",
        "kestrel-k8s-secret-get-success",
        None,
    ),
    (
        "K8s Secret Get Unsuccessfully Tried",
        "kestrel-k8s-secret-get-refused",
        None,
    ),
    (
        "Full K8s Administrative Access",
        "kestrel-k8s-full-admin-access",
        Some(
            "Falco ships the rule switched off (`not allowed_full_admin_users`, a macro that is \
             always true), so it fires on no trace; ours is on and reports the accepted requests \
             of `admin` and `minikube-user`, the users of most traces",
        ),
    ),
    (
        "Untrusted Node Successfully Joined the Cluster",
        "kestrel-k8s-untrusted-node-joined",
        None,
    ),
    (
        "Untrusted Node Unsuccessfully Tried to Join the Cluster",
        "kestrel-k8s-untrusted-node-join-refused",
        None,
    ),
    ("Disallowed K8s User", "kestrel-k8s-disallowed-user", None),
    (
        "Create Disallowed Namespace",
        "kestrel-k8s-disallowed-namespace",
        None,
    ),
    (
        "Create Disallowed Pod",
        "kestrel-k8s-disallowed-pod",
        Some(
            "Falco's stock allowed_k8s_containers macro allows every image (a template to \
             override); the pack's default allowed_images trusts only platform images, so ours \
             fires on the traces' nginx pods (with allowed_images = [\"*\"] it is silent like \
             Falco's)",
        ),
    ),
];

/// Falco k8saudit rules deliberately without a counterpart, with why.
const FALCO_OUT_OF_SCOPE: &[(&str, &str)] = &[(
    "All K8s Audit Events",
    "switched off in Falco (its `consider_all_events` macro is never true): a debugging aid \
     matching every audit event, which Kestrel stores and searches as they are",
)];

/// Falco rules that a test-only rules file changes (allow lists, trusted images, activity
/// rules turned off): expectations loading that file say nothing about the stock rule.
fn overridden_by(file: &str) -> &'static [&'static str] {
    const ACTIVITY: &[&str] = &[
        "K8s Deployment Created",
        "K8s Deployment Deleted",
        "K8s Service Created",
        "K8s Service Deleted",
        "K8s ConfigMap Created",
        "K8s ConfigMap Deleted",
        "K8s Namespace Created",
        "K8s Namespace Deleted",
        "K8s Serviceaccount Created",
        "K8s Serviceaccount Deleted",
        "K8s Role/Clusterrole Created",
        "K8s Role/Clusterrole Deleted",
        "K8s Role/Clusterrolebinding Created",
        "K8s Role/Clusterrolebinding Deleted",
        "K8s Role Created",
        "K8s Role Deleted",
        "K8s ClusterRole Created",
        "K8s ClusterRole Deleted",
        "K8s RoleBinding Created",
        "K8s RoleBinding Deleted",
        "K8s ClusterRoleBinding Created",
        "K8s ClusterRoleBinding Deleted",
        "K8s Secret Created",
        "K8s Secret Deleted",
        "K8s Secret Get Successfully",
        "K8s Secret Get Unsuccessfully Tried",
        "Ingress Object without TLS Certificate Created",
    ];
    match file.rsplit('/').next().unwrap_or(file) {
        "allow_namespace_foo.yaml" => &["Create Disallowed Namespace"],
        "allow_user_some-user.yaml" => &["Disallowed K8s User"],
        "allow_nginx_container.yaml" | "allow_only_apache_container.yaml" => {
            &["Create Disallowed Pod"]
        }
        "disallow_kactivity.yaml" => ACTIVITY,
        "trust_nginx_container.yaml" => &[
            "Create Privileged Pod",
            "Create Sensitive Mount Pod",
            "Create HostNetwork Pod",
        ],
        _ => &[],
    }
}

/// The rule names a Falco rules file defines (`- rule: NAME`); `falco_rules.yaml` (syscall
/// rules, not in the corpus) defines none for the k8s_audit source.
fn falco_rules_defined(file: &str) -> BTreeSet<String> {
    let path = match file {
        "k8s_audit_rules.yaml" => corpus_file("falco_k8saudit_rules/k8s_audit_rules.yaml"),
        "falco_rules.yaml" => return BTreeSet::new(),
        other => corpus_file(&format!("falco_k8s_audit_traces/{other}")),
    };
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- rule:"))
        .map(|name| name.trim().trim_matches('"').to_owned())
        .collect()
}

/// The audit events of a trace file (one JSON object per line, `EventList`s unwrapped,
/// anything that is not an audit event skipped, as Falco's plugin does).
fn trace_events(trace: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(corpus_file(&format!("falco_k8s_audit_traces/{trace}"))).unwrap();
    let mut events = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).expect("trace lines are JSON");
        match value["kind"].as_str() {
            Some("Event") => events.push(value),
            Some("EventList") => {
                events.extend(value["items"].as_array().cloned().unwrap_or_default())
            }
            _ => {}
        }
    }
    events
}

/// What one of our rules raised on one trace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Fired {
    /// Events it matched: its alerts plus the repeats suppression folded into them (Falco
    /// raises one alert per matching event).
    events: u64,
    /// Alerts it raised (first alerts, not the updates of suppressed ones).
    alerts: u64,
}

#[derive(Default)]
struct PairResult {
    /// trace → (Falco's expected count, what ours raised).
    positive: BTreeMap<String, (u64, Fired)>,
    /// trace → what ours raised (Falco expects nothing).
    negative: BTreeMap<String, Fired>,
    /// Expectations left out for this pair, with why.
    excluded: BTreeSet<String>,
}

impl PairResult {
    fn both_fire(&self) -> usize {
        self.positive
            .values()
            .filter(|(_, ours)| ours.events > 0)
            .count()
    }
    fn silent_too(&self) -> usize {
        self.negative
            .values()
            .filter(|ours| ours.events == 0)
            .count()
    }
    fn agreeing(&self) -> usize {
        self.both_fire() + self.silent_too()
    }
    fn decisions(&self) -> usize {
        self.positive.len() + self.negative.len()
    }
    /// Traces where Falco fires and ours matched as many events.
    fn equal_counts(&self) -> usize {
        self.positive
            .values()
            .filter(|(falco, ours)| ours.events == *falco)
            .count()
    }
    /// "traces where Falco fires" cell: the trace count, with the events when they differ.
    fn falco_cell(&self) -> String {
        let events: u64 = self.positive.values().map(|(falco, _)| falco).sum();
        let traces = self.positive.len();
        if events == traces as u64 {
            traces.to_string()
        } else {
            format!("{traces} ({events} events)")
        }
    }
    /// "traces where both fire" cell: the trace count, with our alerts (and the events they
    /// fold) when they differ.
    fn both_cell(&self) -> String {
        let fired = self.positive.values().filter(|(_, ours)| ours.events > 0);
        let (events, alerts) = fired.fold((0, 0), |(e, a), (_, ours)| {
            (e + ours.events, a + ours.alerts)
        });
        let traces = self.both_fire();
        match (events == traces as u64, alerts == events) {
            (true, true) => traces.to_string(),
            (false, true) => format!("{traces} ({alerts} alerts)"),
            _ => format!("{traces} ({alerts} alerts for {events} events)"),
        }
    }
}

#[test]
fn rules_with_a_falco_counterpart_agree_with_falco_on_its_traces() {
    let documents: Vec<RuleDocument> = load_rules(&rules_dir())
        .expect("the pack loads")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let logsource = LogSource {
        product: Some("kubernetes".into()),
        service: Some("audit".into()),
        category: None,
    };
    let expectations = read_jsonl(&corpus_file("falco_k8s_audit_traces/expectations.jsonl"));
    assert!(
        expectations.len() >= 60,
        "{} expectations",
        expectations.len()
    );

    // Our alerts per trace and rule, each trace on a fresh detector.
    let traces: BTreeSet<String> = expectations
        .iter()
        .map(|e| e["trace"].as_str().unwrap().to_owned())
        .collect();
    // Falco raises one alert per matching event; suppression folds a rule's repeats into its
    // first alert, counted on the update raised when the window closes (at the end of the
    // trace here). Both figures are kept: matched events are compared with Falco's count.
    let mut fired: BTreeMap<String, BTreeMap<String, Fired>> = BTreeMap::new();
    for trace in &traces {
        let mut detector = Detector::new(&documents).expect("the pack compiles");
        let per_rule = fired.entry(trace.clone()).or_default();
        let mut alerts = Vec::new();
        for (i, event) in trace_events(trace).iter().enumerate() {
            let event = kestrel_detect::testing::complete(event, &logsource, i);
            alerts.extend(detector.evaluate(&event));
        }
        alerts.extend(detector.close_windows(i64::MAX));
        for alert in alerts {
            let fired = per_rule.entry(alert.rule_id.clone()).or_default();
            if alert.is_update() {
                fired.events += alert.suppressed;
            } else {
                fired.events += 1;
                fired.alerts += 1;
            }
        }
    }
    let ours = |trace: &str, rule: &str| fired[trace].get(rule).copied().unwrap_or_default();

    let mut defined_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for expectation in &expectations {
        for file in expectation["rules_files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            if !defined_by.contains_key(file) {
                defined_by.insert(file.to_owned(), falco_rules_defined(file));
            }
        }
    }

    // Every rule of Falco's k8saudit ruleset is either compared or named out of scope.
    let stock = falco_rules_defined("k8s_audit_rules.yaml");
    let accounted: BTreeSet<String> = FALCO_MAPPING
        .iter()
        .map(|(falco, _, _)| *falco)
        .chain(FALCO_OUT_OF_SCOPE.iter().map(|(falco, _)| *falco))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        stock.difference(&accounted).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "Falco rules neither compared nor out of scope"
    );
    assert_eq!(
        accounted.difference(&stock).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "compared rules that Falco's ruleset does not define"
    );
    println!(
        "Falco's k8saudit ruleset: {} rules, {} compared, {} out of scope",
        stock.len(),
        FALCO_MAPPING
            .iter()
            .map(|(falco, _, _)| falco)
            .collect::<BTreeSet<_>>()
            .len(),
        FALCO_OUT_OF_SCOPE.len()
    );
    for (falco, why) in FALCO_OUT_OF_SCOPE {
        println!("  out of scope: {falco}: {why}");
    }

    let mut results: Vec<(&str, &str, Option<&str>, PairResult)> = Vec::new();
    for &(falco, kestrel, excluded_because) in FALCO_MAPPING {
        let mut result = PairResult::default();
        for expectation in &expectations {
            let test = expectation["test"].as_str().unwrap();
            let trace = expectation["trace"].as_str().unwrap();
            let files: Vec<&str> = expectation["rules_files"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let defined = files.iter().any(|f| defined_by[*f].contains(falco));
            if !defined {
                continue;
            }
            if let Some(file) = files.iter().find(|f| overridden_by(f).contains(&falco)) {
                result.excluded.insert(format!("{test} ({file})"));
                continue;
            }
            let expected = ["expected_rule_counts", "expected_rule_counts_current_names"]
                .iter()
                .find_map(|key| expectation[*key][falco].as_u64());
            let detect = expectation["detect"].as_bool().unwrap();
            match (detect, expected) {
                (true, Some(count)) => {
                    let previous = result
                        .positive
                        .insert(trace.to_owned(), (count, ours(trace, kestrel)));
                    assert!(
                        previous.is_none_or(|(c, _)| c == count),
                        "{falco}: conflicting counts on {trace}"
                    );
                    assert!(
                        !result.negative.contains_key(trace),
                        "{falco}: {trace} both expected and not"
                    );
                }
                (false, _) => {
                    result
                        .negative
                        .insert(trace.to_owned(), ours(trace, kestrel));
                    assert!(
                        !result.positive.contains_key(trace),
                        "{falco}: {trace} both expected and not"
                    );
                }
                // Falco detected other rules on this trace: nothing said about this one.
                (true, None) => {}
            }
        }
        results.push((falco, kestrel, excluded_because, result));
    }

    // The results table of rules/FALCO_COMPARISON.md, as measured.
    println!(
        "| Falco rule | our rule | traces where Falco fires | traces where both fire | traces where Falco expects nothing (ours silent too) | agreement | asserted |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (falco, kestrel, excluded_because, result) in &results {
        let agreement = if result.decisions() == 0 {
            "no trace".to_owned()
        } else {
            format!("{}/{}", result.agreeing(), result.decisions())
        };
        println!(
            "| {falco} | `{kestrel}` | {} | {} | {} ({}) | {agreement} | {} |",
            result.falco_cell(),
            result.both_cell(),
            result.negative.len(),
            result.silent_too(),
            if excluded_because.is_some() {
                "**no** (see below)"
            } else {
                "yes"
            },
        );
    }
    println!();
    for (falco, kestrel, _, result) in &results {
        for (trace, (expected, got)) in &result.positive {
            println!(
                "  {falco} -> {kestrel}: {trace}: Falco {expected}, ours {} events in {} alerts",
                got.events, got.alerts
            );
        }
        for (trace, got) in result.negative.iter().filter(|(_, n)| n.events > 0) {
            println!(
                "  {falco} -> {kestrel}: {trace}: Falco 0, ours {}",
                got.events
            );
        }
        for excluded in &result.excluded {
            println!("  {falco} -> {kestrel}: excluded {excluded}");
        }
    }
    println!();
    println!("our matched events per trace (and alerts, where suppression folded repeats):");
    for (trace, per_rule) in &fired {
        let events: Vec<String> = per_rule
            .iter()
            .map(|(rule, fired)| match fired.events == fired.alerts {
                true => format!("{rule}: {}", fired.events),
                false => format!("{rule}: {} ({} alerts)", fired.events, fired.alerts),
            })
            .collect();
        println!("  {trace}: {}", events.join(", "));
    }

    let asserted: Vec<&PairResult> = results
        .iter()
        .filter(|(_, _, excluded, _)| excluded.is_none())
        .map(|(_, _, _, result)| result)
        .collect();
    let decisions: usize = asserted.iter().map(|r| r.decisions()).sum();
    let agreeing: usize = asserted.iter().map(|r| r.agreeing()).sum();
    let firing: usize = asserted.iter().map(|r| r.positive.len()).sum();
    let equal: usize = asserted.iter().map(|r| r.equal_counts()).sum();
    let equal_alerts: usize = asserted
        .iter()
        .flat_map(|r| r.positive.values())
        .filter(|(falco, ours)| ours.alerts == *falco)
        .count();
    println!();
    println!(
        "{} pairs, {} asserted: {agreeing} of {decisions} compared decisions in agreement; \
         traces where Falco's rule fires: {firing}, ours matching as many events on {equal} \
         and raising as many alerts on {equal_alerts}",
        results.len(),
        asserted.len(),
    );

    let mut disagreements = Vec::new();
    for (falco, kestrel, excluded_because, result) in &results {
        if excluded_because.is_some() {
            continue;
        }
        for (trace, (expected, got)) in &result.positive {
            if got.events != *expected {
                disagreements.push(format!(
                    "{falco} -> {kestrel}: {trace}: Falco fires {expected} times, ours matched {} events",
                    got.events
                ));
            }
        }
        for (trace, got) in &result.negative {
            if got.events > 0 {
                disagreements.push(format!(
                    "{falco} -> {kestrel}: {trace}: Falco expects no detection, ours fired {}",
                    got.events
                ));
            }
        }
    }
    assert!(decisions >= 20, "only {decisions} decisions compared");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    let pairs_with_positive = asserted.iter().filter(|r| !r.positive.is_empty()).count();
    assert!(
        pairs_with_positive >= 26,
        "{pairs_with_positive} pairs with a firing trace"
    );
}
