//! The community Sigma rules for Kubernetes audit logs (`../shared/corpus/sigma_kubernetes_rules`)
//! load unmodified and match the corpus audit events exactly where an independent check of the
//! same fields says they should.

use std::path::PathBuf;

use kestrel_detect::{load_rules, CompiledRule, RuleDocument};
use serde_json::Value;

fn corpus(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(relative);
    assert!(path.exists(), "corpus missing: {}", path.display());
    path
}

fn rules() -> Vec<CompiledRule> {
    load_rules(&corpus("sigma_kubernetes_rules"))
        .expect("rules load")
        .into_iter()
        .map(|(path, document)| match document {
            RuleDocument::Detection(rule) => {
                CompiledRule::compile(&rule).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            }
            _ => panic!("{}: a detection rule expected", path.display()),
        })
        .collect()
}

fn audit_events() -> Vec<Value> {
    std::fs::read_to_string(corpus("combined/k8s_audit_events_all.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s<'a>(event: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .try_fold(event, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn pod_specs(event: &Value) -> Vec<&Value> {
    let object = &event["requestObject"];
    [
        &object["spec"],
        &object["spec"]["template"]["spec"],
        &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ]
    .into_iter()
    .filter(|v| v.is_object())
    .collect()
}

/// Independent expectations, written from each rule's description against the raw fields.
fn expected(title: &str, e: &Value) -> Option<bool> {
    let verb = s(e, "verb");
    let resource = s(e, "objectRef.resource");
    let subresource = s(e, "objectRef.subresource");
    let modifying = ["create", "delete", "patch", "replace", "update"].contains(&verb);
    Some(match title {
        "Potential Remote Command Execution In Pod Container" => {
            verb == "create" && resource == "pods" && subresource == "exec"
        }
        "Container With A hostPath Mount Created" => {
            verb == "create"
                && resource == "pods"
                && pod_specs(e).iter().any(|spec| {
                    spec["volumes"]
                        .as_array()
                        .is_some_and(|v| v.iter().any(|vol| vol.get("hostPath").is_some()))
                })
        }
        "Privileged Container Deployed" => {
            verb == "create"
                && resource == "pods"
                && pod_specs(e).iter().any(|spec| {
                    spec["containers"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["securityContext"].get("capabilities").is_some())
                    })
                })
        }
        "Kubernetes Secrets Enumeration" => verb == "list" && resource == "secrets",
        "Kubernetes Secrets Modified or Deleted" => resource == "secrets" && modifying,
        "New Kubernetes Service Account Created" => {
            verb == "create" && resource == "serviceaccounts"
        }
        "Kubernetes Rolebinding Modification" => {
            s(e, "objectRef.apiGroup") == "rbac.authorization.k8s.io"
                && ["clusterrolebindings", "rolebindings"].contains(&resource)
                && modifying
        }
        "Deployment Deleted From Kubernetes Cluster" => {
            verb == "delete" && resource == "deployments"
        }
        "Creation Of Pod In System Namespace" => {
            verb == "create" && resource == "pods" && s(e, "objectRef.namespace") == "kube-system"
        }
        "Kubernetes Unauthorized or Unauthenticated Access" => {
            matches!(e["responseStatus"]["code"].as_i64(), Some(401 | 403))
        }
        "Kubernetes Events Deleted" => verb == "delete" && resource == "events",
        _ => return None,
    })
}

#[test]
fn the_sixteen_community_rules_compile_unmodified() {
    let rules = rules();
    assert_eq!(rules.len(), 16);
    for rule in &rules {
        assert!(rule.covers("k8s_audit"), "{}", rule.title);
        assert!(!rule.covers("container"), "{}", rule.title);
        assert!(
            rule.tags.iter().any(|t| t.starts_with("attack.")),
            "{}",
            rule.title
        );
    }
}

#[test]
fn rules_match_exactly_the_events_an_independent_check_selects() {
    let events = audit_events();
    let mut checked = 0;
    let mut fired = 0;
    for rule in rules() {
        let mut mismatches = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let Some(want) = expected(&rule.title, event) else {
                continue;
            };
            let got = rule.matches(event);
            fired += usize::from(got);
            if got != want {
                mismatches.push((i, want, got));
            }
        }
        if expected(&rule.title, &events[0]).is_some() {
            checked += 1;
            assert!(mismatches.is_empty(), "{}: {mismatches:?}", rule.title);
        }
    }
    assert_eq!(checked, 11, "rules with an independent expectation");
    assert!(fired >= 20, "only {fired} matches over the corpus");
}

#[test]
fn the_rule_index_offers_every_rule_that_matches() {
    let rules = rules();
    let index = kestrel_detect::index::RuleIndex::new(&rules);
    let mut candidates = Vec::new();
    let mut skipped = 0;
    for event in audit_events() {
        index.candidates("k8s_audit", &event, &mut candidates);
        for (i, rule) in rules.iter().enumerate() {
            if rule.matches(&event) {
                assert!(
                    candidates.contains(&i),
                    "{} not offered for {event}",
                    rule.title
                );
            }
        }
        skipped += rules.len() - candidates.len();
    }
    // The index saves most evaluations.
    assert!(skipped > 114 * 16 / 2, "only {skipped} evaluations skipped");
}
