//! The detection phase: the rule pack evaluated on every generated event, single-threaded, as
//! the indexer does. Normalization is excluded from the timing; the conversion of each event to
//! the JSON the rules read is timed apart.

use std::path::Path;

use kestrel_collector::ingest::normalize_file;
use kestrel_collector::normalize::Output;
use kestrel_detect::{load_rules, Detector};
use serde::Serialize;

use super::measure::thread_cpu_seconds as cpu_seconds;
use super::phases::{ingest_options, progress};
use super::DataSet;

/// Throughput of the rule pack.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// The rules file or directory.
    pub rules: String,
    /// Detection rules and correlations loaded.
    pub rule_count: usize,
    /// Events evaluated.
    pub events: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Events per CPU-second of evaluation (one core).
    pub events_per_second: f64,
    /// Events per CPU-second, counting the conversion of each event to JSON too.
    pub events_per_second_with_conversion: f64,
}

/// Runs the rules of `rules` over the data set.
pub fn detect(rules: &Path, data: &DataSet) -> anyhow::Result<Detection> {
    let documents: Vec<_> = load_rules(rules)?.into_iter().map(|(_, d)| d).collect();
    let rule_count = documents.len();
    let mut detector = Detector::new(&documents)?;
    eprintln!("detect: {rule_count} rules over {} events", data.events);
    let bar = progress("detect", data.events, "events");
    let options = ingest_options();
    // CPU seconds of this thread, read once per file, so the figures hold even when other work
    // shares the machine.
    let (mut evaluating, mut converting) = (0.0f64, 0.0f64);
    let (mut events, mut alerts) = (0u64, 0u64);
    for file in &data.files {
        let mut batch = Vec::new();
        normalize_file(file, &options, |outputs| {
            batch.extend(outputs.drain(..).filter_map(|o| match o {
                Output::Event(event) => Some(event),
                Output::DeadLetter(_) => None,
            }));
            Ok(())
        })?;
        let before = cpu_seconds();
        // An Event always serializes (see kestrel_event::Event::to_json).
        let values: Vec<serde_json::Value> = batch
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect();
        let converted = cpu_seconds();
        for value in &values {
            alerts += detector.evaluate(value).len() as u64;
        }
        evaluating += cpu_seconds() - converted;
        converting += converted - before;
        events += values.len() as u64;
        bar.set_position(events);
    }
    bar.finish_and_clear();
    let rate = |cpu: f64| events as f64 / cpu.max(1e-9);
    Ok(Detection {
        rules: rules.display().to_string(),
        rule_count,
        events,
        alerts,
        events_per_second: rate(evaluating),
        events_per_second_with_conversion: rate(evaluating + converting),
    })
}
