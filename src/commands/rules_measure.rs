//! `kestrel rules measure [RULES] [--generated DIR] [--json]`: the rule pack's precision and
//! recall, over its own test events or over traffic written by `kestrel generate`.
//!
//! Over the pack's tests, every `match` and `no_match` event of every detection rule (and every
//! correlation's `sequence`) goes through the whole pack, a fresh detector per event (per
//! sequence), with the pack's placeholder values. Over generated traffic, every file is
//! normalized as the collector does, the events are evaluated in time order, and the alerts
//! are joined to `ground-truth.jsonl` by the (file, first line) of the events that raised them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kestrel_collector::{normalize_bytes, Format, Output, SourceContext};
use kestrel_detect::rule::RuleDocument;
use kestrel_detect::testing::complete;
use kestrel_detect::{Alert, Detector};
use kestrel_generate::GroundTruth;
use serde::Serialize;
use serde_json::Value;

/// Alert levels in increasing order.
const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// One rule's figures over the pack's tests.
#[derive(Debug, Default, Serialize)]
pub struct RuleFigures {
    /// The rule's reference (id, else name, else title).
    pub rule: String,
    /// Its title.
    pub title: String,
    /// `detection` or `correlation`.
    pub kind: &'static str,
    /// Its positive cases (`match` events, or 1 for a correlation's sequence).
    pub positives: usize,
    /// Positive cases on which it raised its own alert (or, for a rule that only feeds
    /// correlations and raises none, matched).
    pub caught: usize,
    /// Whether the rule matched positives without raising alerts: it only feeds correlations.
    pub silent: bool,
    /// Its `no_match` events.
    pub benign: usize,
    /// `no_match` events on which any rule of the pack raised an alert at level low or above.
    pub false_alerts: usize,
    /// `no_match` events on which only informational alerts were raised.
    pub informational_alerts: usize,
    /// Other rule → how many of this rule's `no_match` events it fired on.
    pub fired_on_benign: BTreeMap<String, usize>,
}

/// The report over the pack's tests.
#[derive(Debug, Default, Serialize)]
pub struct TestsReport {
    /// Per rule.
    pub rules: Vec<RuleFigures>,
    /// Benign (`no_match`) events.
    pub benign_events: usize,
    /// Benign events with an alert at level low or above.
    pub false_alerts: usize,
    /// `false_alerts / benign_events`.
    pub false_alerts_per_benign_event: f64,
    /// Positive cases caught over positive cases.
    pub recall: f64,
}

/// One attack pattern's figures over generated traffic.
#[derive(Debug, Default, Serialize)]
pub struct PatternFigures {
    /// Attacks of the pattern.
    pub attacks: usize,
    /// Attacks with at least one alert on one of their events.
    pub detected: usize,
    /// `detected / attacks`.
    pub recall: f64,
    /// Rule → attacks of the pattern it alerted on.
    pub rules: BTreeMap<String, usize>,
}

/// The report over generated traffic.
#[derive(Debug, Default, Serialize)]
pub struct GeneratedReport {
    /// Files read.
    pub files: usize,
    /// Events normalized.
    pub events: usize,
    /// Events not in the ground truth.
    pub benign_events: usize,
    /// Alerts none of whose events belongs to an attack, per level.
    pub benign_alerts: BTreeMap<String, usize>,
    /// The same per million benign events.
    pub benign_alerts_per_million: BTreeMap<String, f64>,
    /// Rule → alerts it raised on benign events only.
    pub benign_alerts_by_rule: BTreeMap<String, usize>,
    /// Attack pattern → its figures.
    pub patterns: BTreeMap<String, PatternFigures>,
}

/// Runs the measure and prints the report; `placeholders` replace the pack's values of the
/// same names (`[detection.placeholders]`) and `filters` (`detection.filters`) refine the rules.
pub fn measure(
    rules: &Path,
    generated: Option<&Path>,
    json: bool,
    placeholders: &BTreeMap<String, Vec<String>>,
    filters: &[std::path::PathBuf],
) -> anyhow::Result<ExitCode> {
    let documents = crate::detection::load_configured_rules(rules, placeholders, filters)
        .with_context(|| format!("rules {}", rules.display()))?;
    let pack: Vec<RuleDocument> = documents.iter().map(|(_, d)| d.clone()).collect();
    Detector::new(&pack).context("compiling the rule pack")?;
    match generated {
        None => {
            let report = measure_tests(&pack)?;
            print_report(&report, json, print_tests)?;
        }
        Some(dir) => {
            let report = measure_generated(&pack, dir)?;
            print_report(&report, json, print_generated)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report<T: Serialize>(report: &T, json: bool, text: fn(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        text(report);
    }
    Ok(())
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn level_rank(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(2)
}

/// The alerts of the whole pack on `events`, fed in order to a fresh detector.
fn pack_alerts(pack: &[RuleDocument], events: &[Value]) -> anyhow::Result<Vec<Alert>> {
    let mut detector = Detector::new(pack).context("compiling the rule pack")?;
    Ok(events.iter().flat_map(|e| detector.evaluate(e)).collect())
}

fn measure_tests(pack: &[RuleDocument]) -> anyhow::Result<TestsReport> {
    let mut report = TestsReport::default();
    let mut positives = 0;
    let mut caught = 0;
    for document in pack {
        let figures = match document {
            RuleDocument::Detection(rule) => measure_detection(pack, rule)?,
            RuleDocument::Correlation(rule) => measure_correlation(pack, rule)?,
            // Measured through the rules it refines.
            RuleDocument::Filter(_) => continue,
        };
        positives += figures.positives;
        caught += figures.caught;
        report.benign_events += figures.benign;
        report.false_alerts += figures.false_alerts;
        report.rules.push(figures);
    }
    report.false_alerts_per_benign_event = ratio(report.false_alerts, report.benign_events);
    report.recall = ratio(caught, positives);
    Ok(report)
}

fn measure_detection(
    pack: &[RuleDocument],
    rule: &kestrel_detect::rule::SigmaRule,
) -> anyhow::Result<RuleFigures> {
    let reference = rule.reference().to_owned();
    let mut figures = RuleFigures {
        rule: reference.clone(),
        title: rule.title.clone(),
        kind: "detection",
        ..RuleFigures::default()
    };
    let Some(tests) = &rule.tests else {
        return Ok(figures);
    };
    let compiled = kestrel_detect::CompiledRule::compile(rule)?;
    for (i, partial) in tests.must_match.iter().enumerate() {
        let event = complete(partial, &rule.logsource, i);
        let alerts = pack_alerts(pack, std::slice::from_ref(&event))?;
        figures.positives += 1;
        if alerts.iter().any(|a| a.rule_id == reference) {
            figures.caught += 1;
        } else if compiled.matches(&event) {
            figures.caught += 1;
            figures.silent = true;
        }
    }
    let offset = tests.must_match.len();
    for (i, partial) in tests.no_match.iter().enumerate() {
        let alerts = pack_alerts(pack, &[complete(partial, &rule.logsource, offset + i)])?;
        figures.benign += 1;
        count_benign(&mut figures, &alerts);
    }
    Ok(figures)
}

fn count_benign(figures: &mut RuleFigures, alerts: &[Alert]) {
    let mut fired = BTreeSet::new();
    for alert in alerts {
        fired.insert(alert.rule_id.clone());
    }
    for rule in &fired {
        *figures.fired_on_benign.entry(rule.clone()).or_default() += 1;
    }
    if alerts.iter().any(|a| level_rank(&a.level) >= 1) {
        figures.false_alerts += 1;
    } else if !alerts.is_empty() {
        figures.informational_alerts += 1;
    }
}

fn measure_correlation(
    pack: &[RuleDocument],
    rule: &kestrel_detect::rule::CorrelationRule,
) -> anyhow::Result<RuleFigures> {
    let reference = rule
        .id
        .clone()
        .or_else(|| rule.name.clone())
        .unwrap_or_else(|| rule.title.clone());
    let mut figures = RuleFigures {
        rule: reference.clone(),
        title: rule.title.clone(),
        kind: "correlation",
        ..RuleFigures::default()
    };
    let Some(tests) = rule.tests.as_ref().filter(|t| !t.sequence.is_empty()) else {
        return Ok(figures);
    };
    let logsource = sequence_logsource(pack, rule);
    let pack = with_test_baseline(pack, &reference, tests.baseline.as_ref());
    let events: Vec<Value> = tests
        .sequence
        .iter()
        .enumerate()
        .map(|(i, partial)| complete(partial, &logsource, i))
        .collect();
    let alerts = pack_alerts(&pack, &events)?;
    let own = alerts.iter().filter(|a| a.rule_id == reference).count() as u64;
    figures.positives = 1;
    if own >= tests.alerts.unwrap_or(1).max(1) {
        figures.caught = 1;
    }
    Ok(figures)
}

/// The pack with the test-only `baseline` settings of a correlation's tests merged into it
/// (as `rules test` does: a short warm-up keeps the sequence short).
fn with_test_baseline(
    pack: &[RuleDocument],
    reference: &str,
    overrides: Option<&serde_json::Map<String, Value>>,
) -> Vec<RuleDocument> {
    let mut documents = pack.to_vec();
    let Some(overrides) = overrides else {
        return documents;
    };
    for document in &mut documents {
        if let RuleDocument::Correlation(rule) = document {
            let names = [rule.id.as_deref(), rule.name.as_deref(), Some(&rule.title)];
            if names.contains(&Some(reference)) {
                rule.correlation
                    .baseline
                    .get_or_insert_with(Default::default)
                    .extend(overrides.clone());
            }
        }
    }
    documents
}

/// Whether `name` (as a correlation lists its rules) names `rule`.
fn names_rule(name: &str, rule: &kestrel_detect::rule::SigmaRule) -> bool {
    [rule.id.as_deref(), rule.name.as_deref(), Some(&rule.title)].contains(&Some(name))
}

/// The log source of the first detection rule a correlation refers to (else the default).
fn sequence_logsource(
    pack: &[RuleDocument],
    rule: &kestrel_detect::rule::CorrelationRule,
) -> kestrel_detect::rule::LogSource {
    pack.iter()
        .find_map(|d| match d {
            RuleDocument::Detection(r)
                if rule
                    .correlation
                    .rules
                    .iter()
                    .any(|name| names_rule(name, r)) =>
            {
                Some(r.logsource.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

fn print_tests(report: &TestsReport) {
    println!("rule\tcaught/positives\tfalse alerts/benign\tinformational\tfired on benign");
    for rule in &report.rules {
        let others: Vec<String> = rule
            .fired_on_benign
            .iter()
            .map(|(r, n)| format!("{r}×{n}"))
            .collect();
        println!(
            "{}\t{}/{}\t{}/{}\t{}\t{}",
            rule.rule,
            rule.caught,
            rule.positives,
            rule.false_alerts,
            rule.benign,
            rule.informational_alerts,
            others.join(", ")
        );
    }
    println!(
        "{} rules, {} benign events, {} false alerts ({:.4} per benign event), recall {:.4}",
        report.rules.len(),
        report.benign_events,
        report.false_alerts,
        report.false_alerts_per_benign_event,
        report.recall
    );
}

/// An event of a generated file: its time, file and first line.
struct Located {
    value: Value,
    time: i64,
    file: usize,
    line: u64,
}

fn measure_generated(pack: &[RuleDocument], dir: &Path) -> anyhow::Result<GeneratedReport> {
    let truth = read_truth(dir)?;
    let files = log_files(dir)?;
    let mut events = Vec::new();
    let mut names = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let name = relative_name(dir, path);
        read_events(path, index, &mut events)?;
        names.push(name);
    }
    events.sort_by_key(|e| (e.time, e.file, e.line));
    let attack_of: HashMap<(&str, u64), &GroundTruth> = truth
        .iter()
        .map(|t| ((t.file.as_str(), t.line), t))
        .collect();
    let mut report = GeneratedReport {
        files: files.len(),
        events: events.len(),
        ..GeneratedReport::default()
    };
    let mut located: HashMap<String, (usize, u64)> = HashMap::new();
    let mut detector = Detector::new(pack).context("compiling the rule pack")?;
    let mut alerts = Vec::new();
    for event in &events {
        if let Some(id) = event.value["event"]["id"].as_str() {
            located.insert(id.to_owned(), (event.file, event.line));
        }
        alerts.extend(detector.evaluate(&event.value));
    }
    if let Some(last) = events.last() {
        alerts.extend(detector.close_windows(last.time + 86_400_000));
    }
    let attack_events = events
        .iter()
        .filter(|e| attack_of.contains_key(&(names[e.file].as_str(), e.line)))
        .count();
    report.benign_events = events.len() - attack_events;
    let mut detected: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut by_rule: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for alert in alerts.iter().filter(|a| !a.is_update()) {
        let attacks: Vec<&GroundTruth> = alert
            .event_ids
            .iter()
            .filter_map(|id| located.get(id))
            .filter_map(|(file, line)| attack_of.get(&(names[*file].as_str(), *line)).copied())
            .collect();
        if attacks.is_empty() {
            *report.benign_alerts.entry(alert.level.clone()).or_default() += 1;
            *report
                .benign_alerts_by_rule
                .entry(alert.rule_id.clone())
                .or_default() += 1;
        }
        for attack in attacks {
            detected
                .entry(attack.pattern.clone())
                .or_default()
                .insert(attack.attack);
            by_rule
                .entry((attack.pattern.clone(), alert.rule_id.clone()))
                .or_default()
                .insert(attack.attack);
        }
    }
    fill_patterns(&mut report, &truth, &detected, &by_rule);
    for (level, count) in &report.benign_alerts {
        report.benign_alerts_per_million.insert(
            level.clone(),
            ratio(*count, report.benign_events) * 1_000_000.0,
        );
    }
    Ok(report)
}

fn fill_patterns(
    report: &mut GeneratedReport,
    truth: &[GroundTruth],
    detected: &BTreeMap<String, BTreeSet<u64>>,
    by_rule: &BTreeMap<(String, String), BTreeSet<u64>>,
) {
    let mut attacks: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for entry in truth {
        attacks
            .entry(entry.pattern.clone())
            .or_default()
            .insert(entry.attack);
    }
    for (pattern, numbers) in attacks {
        let caught = detected.get(&pattern).map_or(0, BTreeSet::len);
        let rules = by_rule
            .iter()
            .filter(|((p, _), _)| *p == pattern)
            .map(|((_, rule), n)| (rule.clone(), n.len()))
            .collect();
        let figures = PatternFigures {
            attacks: numbers.len(),
            detected: caught,
            recall: ratio(caught, numbers.len()),
            rules,
        };
        report.patterns.insert(pattern, figures);
    }
}

fn read_truth(dir: &Path) -> anyhow::Result<Vec<GroundTruth>> {
    let path = dir.join("ground-truth.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

/// The generated log files under `dir` (everything but the ground truth and JSON summaries).
fn log_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries =
            std::fs::read_dir(&next).with_context(|| format!("reading {}", next.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn relative_name(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Normalizes one file as the collector does; each event keeps its first line number.
fn read_events(path: &Path, file: usize, out: &mut Vec<Located>) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let starts: Vec<u64> = std::iter::once(0).chain(memchr_newlines(&bytes)).collect();
    let ctx = SourceContext {
        path: path.to_string_lossy().into_owned(),
        content_id: None,
        host_name: "measure".into(),
        ingested: chrono::Utc::now(),
    };
    let outputs = normalize_bytes(Format::Auto, ctx, &bytes)
        .with_context(|| format!("normalizing {}", path.display()))?;
    for output in outputs {
        let Output::Event(event) = output else {
            continue;
        };
        let offset = event.log.as_ref().and_then(|l| l.offset).unwrap_or(0);
        let line = match starts.binary_search(&offset) {
            Ok(i) => i as u64 + 1,
            Err(i) => i as u64,
        };
        let time = event.timestamp.timestamp_millis();
        let value = serde_json::to_value(&event).context("serializing an event")?;
        out.push(Located {
            value,
            time,
            file,
            line,
        });
    }
    Ok(())
}

/// Offsets of the bytes following each `'\n'`.
fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i as u64 + 1)
}

fn print_generated(report: &GeneratedReport) {
    println!(
        "{} files, {} events, {} benign",
        report.files, report.events, report.benign_events
    );
    for level in LEVELS {
        let count = report.benign_alerts.get(level).copied().unwrap_or(0);
        let rate = report
            .benign_alerts_per_million
            .get(level)
            .copied()
            .unwrap_or(0.0);
        println!("benign alerts {level}: {count} ({rate:.1} per million benign events)");
    }
    for (rule, count) in &report.benign_alerts_by_rule {
        println!("  benign {rule}: {count}");
    }
    println!("pattern\tdetected/attacks\trecall\trules");
    for (pattern, figures) in &report.patterns {
        let rules: Vec<String> = figures
            .rules
            .iter()
            .map(|(r, n)| format!("{r}×{n}"))
            .collect();
        println!(
            "{pattern}\t{}/{}\t{:.3}\t{}",
            figures.detected,
            figures.attacks,
            figures.recall,
            rules.join(", ")
        );
    }
}
