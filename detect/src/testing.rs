//! `kestrel rules test`: every rule checked against its own test events — detection rules on
//! the events they must and must not match, correlations on an ordered sequence with the other
//! rules of their file.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::compile::CompiledRule;
use crate::engine::Detector;
use crate::rule::{LogSource, RuleDocument, RuleTests};

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
                };
                match CompiledRule::compile(rule) {
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
                };
                let siblings: Vec<RuleDocument> = documents
                    .iter()
                    .filter(|(f, _)| f == file)
                    .map(|(_, d)| d.clone())
                    .collect();
                let id = rule
                    .id
                    .clone()
                    .or_else(|| rule.name.clone())
                    .unwrap_or_else(|| rule.title.clone());
                test_correlation(&id, &siblings, rule.tests.as_ref(), &mut result);
                result
            }
        })
        .collect()
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
    let cases = tests
        .must_match
        .iter()
        .map(|e| (e, true))
        .chain(tests.no_match.iter().map(|e| (e, false)));
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
            RuleDocument::Correlation(_) => None,
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
