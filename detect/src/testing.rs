//! `kestrel rules test`: every rule checked against its own test events — detection rules on
//! the events they must and must not match, correlations on an ordered sequence with the other
//! rules of their file.
//!
//! Filters ([`crate::filter`]) do not change what a rule's own tests check: those run against
//! the rule as shipped. A filter is checked on its own `tests`, against each rule it refines,
//! refined by that filter alone: a `match` event must still be matched by a rule it refines,
//! a `no_match` event must be matched by such a rule as shipped (there is a false positive to
//! remove) and by none once filtered.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::compile::CompiledRule;
use crate::engine::Detector;
use crate::filter::SigmaFilter;
use crate::rule::{LogSource, RuleDocument, RuleTests, SigmaRule};

/// The outcome of one rule's tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTestResult {
    /// The file.
    pub file: PathBuf,
    /// The rule's title.
    pub title: String,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    /// Test events checked.
    pub checked: usize,
    /// Whether it is a filter's result (else a rule's).
    pub filter: bool,
    /// For a rule: the filters that refine it (its tests ran without them); for a filter: the
    /// rules it refines.
    pub refines: Vec<String>,
}

/// Runs the tests of every rule of `documents` (file, rule).
pub fn run_rule_tests(documents: &[(PathBuf, RuleDocument)]) -> Vec<RuleTestResult> {
    documents
        .iter()
        .map(|(file, document)| match document {
            RuleDocument::Detection(rule) => {
                let mut result = RuleTestResult {
                    file: file.clone(),
                    title: rule.title.clone(),
                    failures: Vec::new(),
                    checked: 0,
                    filter: false,
                    refines: rule
                        .filters
                        .iter()
                        .map(|f| f.reference().to_owned())
                        .collect(),
                };
                match CompiledRule::compile_unfiltered(rule) {
                    Ok(compiled) => test_detection(&compiled, rule.tests.as_ref(), &mut result),
                    Err(error) => result.failures.push(error.to_string()),
                }
                result
            }
            RuleDocument::Correlation(rule) => {
                let mut result = RuleTestResult {
                    file: file.clone(),
                    title: rule.title.clone(),
                    failures: Vec::new(),
                    checked: 0,
                    filter: false,
                    refines: Vec::new(),
                };
                let siblings: Vec<RuleDocument> = documents
                    .iter()
                    .filter(|(f, _)| f == file)
                    .map(|(_, d)| as_shipped(d))
                    .collect();
                let id = rule
                    .id
                    .clone()
                    .or_else(|| rule.name.clone())
                    .unwrap_or_else(|| rule.title.clone());
                test_correlation(&id, &siblings, rule.tests.as_ref(), &mut result);
                result
            }
            RuleDocument::Filter(filter) => {
                let refined: Vec<&SigmaRule> = documents
                    .iter()
                    .filter_map(|(_, d)| match d {
                        RuleDocument::Detection(rule)
                            if rule.filters.iter().any(|f| f.is_same(filter)) =>
                        {
                            Some(rule)
                        }
                        _ => None,
                    })
                    .collect();
                let mut result = RuleTestResult {
                    file: file.clone(),
                    title: filter.title.clone(),
                    failures: Vec::new(),
                    checked: 0,
                    filter: true,
                    refines: refined.iter().map(|r| r.reference().to_owned()).collect(),
                };
                test_filter(filter, &refined, &mut result);
                result
            }
        })
        .collect()
}

/// `document` without the filters attached to it: how its file ships it.
fn as_shipped(document: &RuleDocument) -> RuleDocument {
    let mut document = document.clone();
    if let RuleDocument::Detection(rule) = &mut document {
        rule.filters.clear();
    }
    document
}

/// A filter's tests against each rule it refines (see the module's documentation).
fn test_filter(filter: &SigmaFilter, refined: &[&SigmaRule], result: &mut RuleTestResult) {
    let Some(tests) = filter
        .tests
        .as_ref()
        .filter(|t| !t.must_match.is_empty() && !t.no_match.is_empty())
    else {
        result
            .failures
            .push("needs tests with `match` and `no_match` events".into());
        return;
    };
    if refined.is_empty() {
        result.failures.push("refines no rule".into());
        return;
    }
    let mut rules = Vec::new();
    for rule in refined {
        let compiled = CompiledRule::compile_unfiltered(rule).and_then(|shipped| {
            CompiledRule::compile_with_filters(rule, std::slice::from_ref(filter))
                .map(|filtered| (shipped, filtered))
        });
        match compiled {
            Ok(pair) => rules.push(pair),
            Err(error) => {
                result.failures.push(error.to_string());
                return;
            }
        }
    }
    let filtered: Vec<CompiledRule> = rules.iter().map(|(_, f)| f.clone()).collect();
    let index = crate::index::RuleIndex::new(&filtered);
    let mut candidates = Vec::new();
    let cases = cases(tests);
    for (i, (partial, expected)) in cases.enumerate() {
        result.checked += 1;
        // Completed with the log source of the first rule (the filter's covers them all).
        let event = complete(partial, &rules[0].0.logsource, i);
        let kind = event["event"]["kind"].as_str().unwrap_or_default();
        index.candidates(kind, &event, &mut candidates);
        let matched = candidates.iter().any(|&r| filtered[r].matches(&event));
        if expected && !matched {
            result
                .failures
                .push(format!("should still match once filtered: {partial}"));
        } else if !expected && matched {
            result
                .failures
                .push(format!("should not match once filtered: {partial}"));
        } else if !expected && !rules.iter().any(|(shipped, _)| shipped.matches(&event)) {
            result.failures.push(format!(
                "no_match event that no rule it refines matches unfiltered (nothing to remove): \
                 {partial}"
            ));
        }
    }
}

/// The test events of `tests`, each with whether it must match.
fn cases(tests: &RuleTests) -> impl Iterator<Item = (&Value, bool)> {
    tests
        .must_match
        .iter()
        .map(|e| (e, true))
        .chain(tests.no_match.iter().map(|e| (e, false)))
}

fn test_detection(rule: &CompiledRule, tests: Option<&RuleTests>, result: &mut RuleTestResult) {
    let Some(tests) = tests.filter(|t| !t.must_match.is_empty() && !t.no_match.is_empty()) else {
        result
            .failures
            .push("needs tests with `match` and `no_match` events".into());
        return;
    };
    // Through the rule index too, so a rule it would never consult fails its tests.
    let index = crate::index::RuleIndex::new(std::slice::from_ref(rule));
    let mut candidates = Vec::new();
    let cases = cases(tests);
    for (i, (partial, expected)) in cases.enumerate() {
        let event = complete(partial, &rule.logsource, i);
        let kind = event["event"]["kind"].as_str().unwrap_or_default();
        index.candidates(kind, &event, &mut candidates);
        let got = candidates == [0] && rule.matches(&event);
        result.checked += 1;
        if got != expected {
            let verb = if expected {
                "should match"
            } else {
                "should not match"
            };
            result.failures.push(format!("{verb}: {partial}"));
        }
    }
}

/// The rule set with the test-only `baseline` settings of `tests` merged into correlation `id`.
fn with_test_baseline(id: &str, siblings: &[RuleDocument], tests: &RuleTests) -> Vec<RuleDocument> {
    let mut documents = siblings.to_vec();
    let Some(overrides) = &tests.baseline else {
        return documents;
    };
    for document in &mut documents {
        if let RuleDocument::Correlation(rule) = document {
            if rule.id.as_deref() == Some(id)
                || rule.name.as_deref() == Some(id)
                || rule.title == id
            {
                let settings = rule
                    .correlation
                    .baseline
                    .get_or_insert_with(Default::default);
                settings.extend(overrides.clone());
            }
        }
    }
    documents
}

fn test_correlation(
    id: &str,
    siblings: &[RuleDocument],
    tests: Option<&RuleTests>,
    result: &mut RuleTestResult,
) {
    let Some(tests) = tests.filter(|t| !t.sequence.is_empty()) else {
        result.failures.push("needs tests with a `sequence`".into());
        return;
    };
    let siblings = with_test_baseline(id, siblings, tests);
    let mut detector = match Detector::new(&siblings) {
        Ok(detector) => detector,
        Err(error) => {
            result.failures.push(error.to_string());
            return;
        }
    };
    let logsource = siblings
        .iter()
        .find_map(|d| match d {
            RuleDocument::Detection(rule) => Some(rule.logsource.clone()),
            RuleDocument::Correlation(_) | RuleDocument::Filter(_) => None,
        })
        .unwrap_or_default();
    let mut alerts = 0;
    for (i, partial) in tests.sequence.iter().enumerate() {
        let event = complete(partial, &logsource, i);
        alerts += detector
            .evaluate(&event)
            .iter()
            .filter(|a| a.rule_id == id)
            .count() as u64;
        result.checked += 1;
    }
    let expected = tests.alerts.unwrap_or(1);
    if alerts != expected {
        result.failures.push(format!(
            "raised {alerts} alerts on its sequence, expected {expected}"
        ));
    }
}

/// A test event completed with `event.kind` (from the log source), `@timestamp` (one second
/// apart from 2024-01-01T00:00:00Z) and `event.id` where missing.
pub fn complete(partial: &Value, logsource: &LogSource, index: usize) -> Value {
    let mut event = partial.clone();
    if !event.is_object() {
        event = json!({ "message": partial });
    }
    let kind = crate::mapping::event_kind(logsource).unwrap_or("container");
    let meta = event
        .as_object_mut()
        .map(|o| o.entry("event").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = meta {
        meta.entry("kind").or_insert_with(|| json!(kind));
        meta.entry("id")
            .or_insert_with(|| json!(format!("test-{index}")));
    }
    if event.get("@timestamp").is_none() {
        let at = chrono::DateTime::from_timestamp(1_704_067_200 + index as i64, 0)
            .map(|t| kestrel_event::format_timestamp(&t))
            .unwrap_or_default();
        event["@timestamp"] = json!(at);
    }
    event
}
