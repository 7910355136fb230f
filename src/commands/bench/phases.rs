//! The phases of the benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use kestrel_collector::ingest::{ingest_files, normalize_file, IngestOptions};
use kestrel_collector::normalize::{Format, Output};
use kestrel_config::Config;
use kestrel_generate::{generate as generate_data, GenerateOptions, Kind};
use kestrel_indexer::document::to_document;
use kestrel_indexer::{open_index, EventSchema};
use kestrel_query::aggregate::{AggregateParams, AggregateRequest, AggregationLimits};
use kestrel_query::{SearchEngine, SearchRequest};
use serde::Serialize;

use super::measure::{dir_bytes, latency, measure, Latency, PhaseCost};
use super::DataSet;
use crate::cli::BenchArgs;
use crate::pipeline::{dead_letter_store, runtime, start_indexer};

/// Throughput of a phase over the data set.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Events processed.
    pub events: u64,
    /// Raw input bytes.
    pub bytes: u64,
    /// Cost of the phase.
    pub cost: PhaseCost,
    /// Events per wall-clock second.
    pub events_per_second: f64,
    /// Raw MiB per wall-clock second.
    pub mib_per_second: f64,
    /// Raw MiB per CPU second (all threads).
    pub mib_per_cpu_second: f64,
}

impl Throughput {
    pub(super) fn new(events: u64, bytes: u64, cost: PhaseCost) -> Throughput {
        let mib = bytes as f64 / (1024.0 * 1024.0);
        Throughput {
            events,
            bytes,
            cost,
            events_per_second: events as f64 / cost.seconds.max(1e-9),
            mib_per_second: mib / cost.seconds.max(1e-9),
            mib_per_cpu_second: mib / cost.cpu_seconds.max(1e-9),
        }
    }
}

/// A progress bar on stderr (drawn only on a terminal) counting `unit` up to `total`.
pub(super) fn progress(phase: &str, total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let template = format!("{phase:<12} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} {{eta}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The generated data set (generated once per events/seed and reused).
pub fn generate(dir: &Path, args: &BenchArgs) -> anyhow::Result<DataSet> {
    let marker = dir.join("complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(dir);
        eprintln!(
            "generating {} events (seed {}) in {}",
            args.events,
            args.seed,
            dir.display()
        );
        let options = GenerateOptions {
            kind: Kind::Mixed,
            events: args.events,
            seed: args.seed,
            ..GenerateOptions::default()
        };
        generate_data(&options, dir).context("generating the data set")?;
        std::fs::write(&marker, b"")?;
    }
    let mut files = Vec::new();
    collect_logs(&dir.join("var"), &mut files)?;
    files.sort();
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    Ok(DataSet {
        dir: dir.to_owned(),
        files,
        events: args.events,
        bytes,
    })
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_logs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "log") {
            out.push(path);
        }
    }
    Ok(())
}

pub(super) fn ingest_options() -> IngestOptions {
    IngestOptions {
        format: Format::Auto,
        host_name: "bench".into(),
        batch_max_events: 1000,
        max_event_bytes: 1 << 20,
        redaction: Default::default(),
    }
}

/// Normalizes every file, dropping the events: the collector's ceiling.
pub fn normalize(data: &DataSet) -> anyhow::Result<Throughput> {
    eprintln!("normalize: {} files", data.files.len());
    let options = ingest_options();
    let bar = progress("normalize", data.events, "events");
    let (events, cost) = measure(|| -> anyhow::Result<u64> {
        let mut events = 0u64;
        for file in &data.files {
            normalize_file(file, &options, |outputs| {
                let count = outputs
                    .iter()
                    .filter(|o| matches!(o, Output::Event(_)))
                    .count() as u64;
                events += count;
                bar.inc(count);
                outputs.clear();
                Ok(())
            })?;
        }
        Ok(events)
    });
    bar.finish_and_clear();
    Ok(Throughput::new(events?, data.bytes, cost))
}

/// Raw Tantivy indexing of the same events into one index with the same schema and writer
/// settings as the pipeline's partitions. Only document building, indexing and the commit are
/// timed; normalization (measured by its own phase) is excluded.
#[derive(Debug, Clone, Serialize)]
pub struct RawTantivy {
    /// Indexing throughput (the cost's seconds are indexing seconds only).
    pub throughput: Throughput,
    /// Index bytes per raw input byte.
    pub index_bytes_per_raw_byte: f64,
}

/// See [`RawTantivy`].
pub fn raw_tantivy(config: &Config, data: &DataSet, dir: &Path) -> anyhow::Result<RawTantivy> {
    eprintln!("raw tantivy: indexing the same events into one index");
    let _ = std::fs::remove_dir_all(dir);
    let schema = EventSchema::new();
    let index = open_index(dir, &schema, true)?;
    let threads = crate::pipeline::writer_threads(config);
    let memory = (config.indexer.writer_memory_mb << 20).max(15_000_000 * threads);
    let mut writer = index.writer_with_num_threads::<tantivy::TantivyDocument>(threads, memory)?;
    let options = ingest_options();
    let mut indexing = Duration::ZERO;
    let mut events = 0u64;
    let cpu_before = super::measure::cpu_seconds();
    super::measure::reset_peak_rss();
    let mut normalizing_cpu = 0.0;
    let bar = progress("raw tantivy", data.events, "events");
    for file in &data.files {
        let mut chunk_started = super::measure::cpu_seconds();
        normalize_file(file, &options, |outputs| {
            let now = super::measure::cpu_seconds();
            normalizing_cpu += now - chunk_started;
            let started = Instant::now();
            bar.inc(outputs.len() as u64);
            for output in outputs.drain(..) {
                if let Output::Event(event) = output {
                    let source = event.to_json();
                    writer
                        .add_document(to_document(&schema, &event, source))
                        .map_err(|e| kestrel_collector::CollectError::Task(e.to_string()))?;
                    events += 1;
                }
            }
            indexing += started.elapsed();
            chunk_started = super::measure::cpu_seconds();
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    let started = Instant::now();
    writer.commit()?;
    writer.wait_merging_threads()?;
    indexing += started.elapsed();
    let cost = PhaseCost {
        seconds: indexing.as_secs_f64(),
        cpu_seconds: (super::measure::cpu_seconds() - cpu_before - normalizing_cpu).max(0.0),
        peak_rss_bytes: super::measure::peak_rss_bytes(),
    };
    Ok(RawTantivy {
        throughput: Throughput::new(events, data.bytes, cost),
        index_bytes_per_raw_byte: dir_bytes(dir) as f64 / data.bytes.max(1) as f64,
    })
}

/// The whole embedded pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Ingest {
    /// Throughput from files to committed index.
    pub throughput: Throughput,
    /// Index bytes per raw input byte.
    pub index_bytes_per_raw_byte: f64,
    /// Events dropped as duplicates (0 on a fresh index).
    pub duplicates: u64,
    /// Index bytes per event, per file type (`kestrel footprint`).
    pub bytes_per_event: std::collections::BTreeMap<&'static str, f64>,
}

/// Ingests the data set into a fresh data directory `dir` through the embedded pipeline.
pub fn ingest(config: &Config, data: &DataSet, dir: &Path) -> anyhow::Result<Ingest> {
    eprintln!("ingest: the whole pipeline into {}", dir.display());
    let _ = std::fs::remove_dir_all(dir);
    let config = config.clone().with_data_dir(dir.to_owned());
    let files = data.files.clone();
    let events = data.events;
    let (outcome, cost) = measure(|| -> anyhow::Result<(u64, u64, u64)> {
        runtime()?.block_on(async {
            let dead_letters = dead_letter_store(&config)?;
            let indexer = start_indexer(&config)?;
            let bar = progress("ingest", events, "events");
            let stats = std::sync::Arc::clone(&indexer.stats);
            let ticker = {
                let bar = bar.clone();
                tokio::spawn(async move {
                    loop {
                        bar.set_position(stats.added());
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                })
            };
            let summary =
                ingest_files(files, ingest_options(), indexer.publisher, dead_letters).await;
            let finished = indexer.task.await??;
            // Merges still running count as ingest, as the raw phase waits for its own.
            tokio::task::spawn_blocking(move || finished.close()).await??;
            ticker.abort();
            bar.finish_and_clear();
            let summary = summary?;
            Ok((
                summary.bytes,
                indexer.stats.added(),
                indexer.stats.duplicates(),
            ))
        })
    });
    let (summary, added, duplicates) = outcome?;
    let footprint = kestrel_indexer::footprint::measure(&config.index_dir(), &EventSchema::new())?;
    let bytes_per_event = footprint.components_per_event();
    Ok(Ingest {
        throughput: Throughput::new(added, summary, cost),
        index_bytes_per_raw_byte: dir_bytes(&config.index_dir()) as f64 / data.bytes.max(1) as f64,
        duplicates,
        bytes_per_event,
    })
}

/// One search or aggregation of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct SearchCase {
    /// What it measures.
    pub name: String,
    /// The query or aggregation.
    pub query: String,
    /// Matching events (`total`).
    pub total: u64,
    /// Kestrel's latency.
    pub kestrel: Latency,
    /// The ripgrep command run over the raw files, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ripgrep_command: Option<String>,
    /// ripgrep's latency over the raw files, when `rg` is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ripgrep: Option<Latency>,
    /// ripgrep p50 / Kestrel p50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup_vs_ripgrep: Option<f64>,
}

/// A search of the suite: name, query, limit, time range, ripgrep pattern.
type SearchSpec = (
    &'static str,
    &'static str,
    usize,
    Option<(&'static str, &'static str)>,
    Option<&'static str>,
);

const DAY_FROM: &str = "2024-01-01T00:00:00Z";
const DAY_TO: &str = "2024-01-01T23:59:59.999999999Z";

/// Runs the search and aggregation suite `runs` times each, next to ripgrep over the raw files
/// when `with_ripgrep` and `rg` is installed.
pub fn search(
    index_root: &Path,
    raw: &Path,
    runs: usize,
    with_ripgrep: bool,
) -> anyhow::Result<Vec<SearchCase>> {
    eprintln!("search: {runs} runs per case");
    let engine = SearchEngine::new(index_root);
    let rg_available = with_ripgrep && Command::new("rg").arg("--version").output().is_ok();
    let mut cases = Vec::new();
    let searches: [SearchSpec; 3] = [
        (
            "needle term, last 100 hits",
            "jndi",
            100,
            None,
            Some("jndi"),
        ),
        (
            "phrase",
            "\"order created\"",
            100,
            None,
            Some("order created"),
        ),
        (
            "field filter + 1 h time range",
            "kubernetes.namespace:shop AND stream:stderr",
            100,
            Some(("2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z")),
            None,
        ),
    ];
    for (name, query, limit, range, rg_pattern) in searches {
        let mut request = SearchRequest::parse(query, limit)?;
        if let Some((from, to)) = range {
            request.from = Some(kestrel_event::parse_timestamp(from)?);
            request.to = Some(kestrel_event::parse_timestamp(to)?);
        }
        let (kestrel, response) = latency(runs, || engine.search(&request));
        let total = response?.total;
        let ripgrep = rg_pattern
            .filter(|_| rg_available)
            .map(|pattern| ripgrep(pattern, raw, runs.clamp(1, 5)))
            .transpose()?;
        cases.push(case(name, query, total, kestrel, rg_pattern, raw, ripgrep));
    }
    let aggregations = [
        (
            "terms aggregation over all events",
            r#"{"aggs": {"by_namespace": {"terms": {"field": "kubernetes.namespace", "size": 10}}}}"#,
        ),
        (
            "date histogram over a day",
            &*format!(
                r#"{{"from": "{DAY_FROM}", "to": "{DAY_TO}", "aggs": {{"per_hour": {{"date_histogram": {{"field": "@timestamp", "interval": "auto"}}}}}}}}"#
            ),
        ),
        (
            "cardinality of sourceIPs",
            r#"{"aggs": {"ips": {"cardinality": {"field": "sourceIPs"}}}}"#,
        ),
    ];
    let limits = AggregationLimits::default();
    for (name, body) in aggregations {
        let params: AggregateParams = serde_json::from_str(body)?;
        let request =
            AggregateRequest::from_params(&params, engine.schema(), &limits, chrono::Utc::now())?;
        let (kestrel, response) = latency(runs, || engine.aggregate(&request));
        let total = response?.total;
        cases.push(case(name, body, total, kestrel, None, raw, None));
    }
    Ok(cases)
}

fn case(
    name: &str,
    query: &str,
    total: u64,
    kestrel: Latency,
    rg_pattern: Option<&str>,
    raw: &Path,
    ripgrep: Option<Latency>,
) -> SearchCase {
    SearchCase {
        name: name.into(),
        query: query.into(),
        total,
        ripgrep_command: rg_pattern
            .filter(|_| ripgrep.is_some())
            .map(|p| format!("rg --no-filename --fixed-strings {p:?} {}", raw.display())),
        speedup_vs_ripgrep: ripgrep.map(|r| r.p50_ms / kestrel.p50_ms.max(1e-6)),
        ripgrep,
        kestrel,
    }
}

fn ripgrep(pattern: &str, raw: &Path, runs: usize) -> anyhow::Result<Latency> {
    let (latency, status) = latency(runs, || {
        Command::new("rg")
            .args(["--no-filename", "--fixed-strings", pattern])
            .arg(raw)
            .stdout(std::process::Stdio::null())
            .status()
    });
    status.context("running rg")?;
    Ok(latency)
}
