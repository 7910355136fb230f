//! The benchmark's report: a table for people, JSON for machines.

use serde::Serialize;

use super::alert_latency::AlertLatency;
use super::collector::CollectorThroughput;
use super::detect::Detection;
use super::kafka::KafkaIngest;
use super::phases::{Ingest, RawTantivy, SearchCase, Throughput};
use super::seal::SealCost;
use super::DataSet;
use crate::cli::BenchArgs;

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Events requested.
    pub events: u64,
    /// Generator seed.
    pub seed: u64,
    /// Runs per search case.
    pub runs: usize,
    /// Machine: CPU model and core count.
    pub machine: String,
    /// Rules evaluated by the pipelines, when detection is on.
    pub detection_rules: Option<String>,
    /// The data set.
    pub generate: Option<DataSet>,
    /// Normalization to a black hole.
    pub normalize: Option<Throughput>,
    /// The tailer, files to a black-hole bus, per format.
    pub collector: Option<Vec<CollectorThroughput>>,
    /// Raw Tantivy indexing (ceiling).
    pub raw_tantivy: Option<RawTantivy>,
    /// The whole embedded pipeline.
    pub ingest: Option<Ingest>,
    /// The whole pipeline through Kafka.
    pub kafka: Option<KafkaIngest>,
    /// The rule pack.
    pub detect: Option<Detection>,
    /// Line written → webhook received.
    pub alert_latency: Option<AlertLatency>,
    /// Sealing and verifying the ingest phase's index.
    pub seal: Option<SealCost>,
    /// Search and aggregation suite.
    pub search: Option<Vec<SearchCase>>,
}

impl Report {
    /// An empty report for these arguments.
    pub fn new(args: &BenchArgs) -> Report {
        Report {
            events: args.events,
            seed: args.seed,
            runs: args.runs,
            machine: machine(),
            detection_rules: None,
            generate: None,
            normalize: None,
            collector: None,
            raw_tantivy: None,
            ingest: None,
            kafka: None,
            detect: None,
            alert_latency: None,
            seal: None,
            search: None,
        }
    }

    /// Prints the tables.
    pub fn print(&self) {
        println!("machine: {}", self.machine);
        if let Some(rules) = &self.detection_rules {
            println!("detection on in the pipelines: {rules}");
        }
        if let Some(data) = &self.generate {
            println!(
                "data: {} events, {:.1} MiB in {} files (seed {})",
                data.events,
                data.bytes as f64 / 1048576.0,
                data.files.len(),
                self.seed
            );
        }
        println!();
        println!(
            "{:<46} {:>12} {:>10} {:>12} {:>10} {:>12}",
            "phase", "events/s", "MiB/s", "MiB/cpu-s", "peak RSS", "vs baseline"
        );
        let raw_rate = self
            .raw_tantivy
            .as_ref()
            .map(|r| r.throughput.mib_per_cpu_second);
        let row = |name: &str, t: &Throughput, baseline: Option<f64>, label: &str| {
            let ratio = baseline
                .map(|b| format!("{:.2}x {label}", t.mib_per_cpu_second / b.max(1e-9)))
                .unwrap_or_default();
            println!(
                "{:<46} {:>12.0} {:>10.1} {:>12.1} {:>9.0}M {:>12}",
                name,
                t.events_per_second,
                t.mib_per_second,
                t.mib_per_cpu_second,
                t.cost.peak_rss_bytes as f64 / 1048576.0,
                ratio
            );
        };
        if let Some(t) = &self.normalize {
            row("normalize (to black hole)", t, None, "");
        }
        for c in self.collector.iter().flatten() {
            row(
                &format!(
                    "collector: {} lines -> bus, redaction {}",
                    c.format,
                    if c.redaction { "on" } else { "off" }
                ),
                &c.throughput,
                None,
                "",
            );
        }
        if let Some(r) = &self.raw_tantivy {
            row("raw tantivy indexing (ceiling)", &r.throughput, None, "");
        }
        if let Some(i) = &self.ingest {
            row(
                "pipeline: files -> committed index",
                &i.throughput,
                raw_rate,
                "raw",
            );
        }
        if let Some(k) = &self.kafka {
            row(
                "pipeline through kafka -> index",
                &k.throughput,
                raw_rate,
                "raw",
            );
            if let Some(i) = &self.ingest {
                println!(
                    "kafka vs embedded bus: {:.2}x per cpu-s, {:.2}x wall-clock",
                    k.throughput.mib_per_cpu_second / i.throughput.mib_per_cpu_second.max(1e-9),
                    k.throughput.mib_per_second / i.throughput.mib_per_second.max(1e-9)
                );
            }
        }
        if let (Some(r), Some(i)) = (&self.raw_tantivy, &self.ingest) {
            println!(
                "index bytes per raw byte: pipeline {:.3}, raw tantivy {:.3}",
                i.index_bytes_per_raw_byte, r.index_bytes_per_raw_byte
            );
        }
        if let Some(i) = &self.ingest {
            let parts: Vec<String> = i
                .bytes_per_event
                .iter()
                .filter(|(_, bytes)| **bytes > 0.0)
                .map(|(component, bytes)| format!("{component} {bytes:.1}"))
                .collect();
            println!(
                "index bytes per event (kestrel footprint): {}",
                parts.join(", ")
            );
        }
        if let Some(k) = &self.kafka {
            println!(
                "index bytes per raw byte through kafka: {:.3}",
                k.index_bytes_per_raw_byte
            );
        }
        if let Some(d) = &self.detect {
            println!();
            println!(
                "detection: {} rules over {} events, {} alerts: {:.0} events/s per core ({:.0} with the conversion to JSON)",
                d.rule_count, d.events, d.alerts, d.events_per_second, d.events_per_second_with_conversion
            );
        }
        if let Some(a) = &self.alert_latency {
            println!(
                "line written -> webhook received: p50 {:.0} ms, p99 {:.0} ms ({} alerts for {} alerting lines; poll {} ms, commit {} ms)",
                a.latency.p50_ms,
                a.latency.p99_ms,
                a.alerts_received,
                a.alerting_lines,
                a.poll_interval_ms,
                a.commit_interval_ms
            );
        }
        if let Some(s) = &self.seal {
            println!(
                "seal: {} partitions, {:.1} MiB in {:.2} s ({:.2} s per GB); verify {:.2} s ({:.0} MiB/s)",
                s.partitions,
                s.bytes as f64 / (1024.0 * 1024.0),
                s.seal_seconds,
                s.seal_seconds_per_gb,
                s.verify_seconds,
                s.verify_mib_per_second
            );
        }
        if let Some(cases) = &self.search {
            println!();
            println!(
                "{:<36} {:>10} {:>9} {:>9} {:>11} {:>9}",
                "search", "total", "p50 ms", "p99 ms", "rg p50 ms", "vs rg"
            );
            for case in cases {
                println!(
                    "{:<36} {:>10} {:>9.2} {:>9.2} {:>11} {:>9}",
                    case.name,
                    case.total,
                    case.kestrel.p50_ms,
                    case.kestrel.p99_ms,
                    case.ripgrep
                        .map(|r| format!("{:.1}", r.p50_ms))
                        .unwrap_or_else(|| "-".into()),
                    case.speedup_vs_ripgrep
                        .map(|s| format!("{s:.0}x"))
                        .unwrap_or_else(|| "-".into()),
                );
            }
        }
    }
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}
