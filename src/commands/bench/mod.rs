//! `kestrel bench`: one reproducible benchmark of the pipeline on generated data, each figure
//! next to its baseline measured in the same run.
//!
//! Phases:
//! 1. **generate** the data set (seeded, cached in the work directory);
//! 2. **normalize** every file to a black hole (collector ceiling);
//!    **collector**: the tailer on ~250-byte Docker json-file and CRI lines (as many lines as
//!    `--events`) to a black-hole bus that serializes and acknowledges each batch;
//! 3. **raw tantivy**: the same events indexed straight into one Tantivy index, timing only
//!    document building, indexing and the commit (the indexing ceiling);
//! 4. **ingest**: the whole pipeline (read, normalize, embedded bus, de-duplication,
//!    time-partitioned indexes, commit);
//! 5. **kafka** (when a broker is given): the same pipeline with Kafka between the collector
//!    and an indexer of the consumer group, to committed index;
//! 6. **detect**: the rule pack (`--rules`, default `rules/`) over every event, one core;
//! 7. **alerts**: delay from an audit line written to its alert received by a webhook, with
//!    `kestrel run` on the configured poll and commit intervals;
//! 8. **search**: needle, phrase, filter + time range, terms aggregation, date histogram,
//!    cardinality; p50/p99 over repeated runs, next to ripgrep over the raw files when `rg` is
//!    installed.
//!
//! `--scale N1,N2,...` runs ingest and search on data sets of each size instead, and reports
//! how ingest rate, index size and latency grow with the event count (`--chart` draws it).

mod alert_latency;
mod chart;
mod collector;
mod detect;
mod kafka;
mod measure;
mod phases;
mod report;
mod scale;
mod seal;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kestrel_config::Config;

use crate::cli::BenchArgs;
use report::Report;

/// Runs the benchmark and prints (and optionally writes) its report.
pub fn bench(config: Config, args: BenchArgs) -> anyhow::Result<ExitCode> {
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("bench"));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    if let Some(spec) = &args.tail_only {
        return collector::tail_only(spec).map(|()| ExitCode::SUCCESS);
    }
    if !args.scale.is_empty() {
        return scale::scale(config, &args, &work).map(|()| ExitCode::SUCCESS);
    }
    let raw = work.join(format!("raw-{}-{}", args.events, args.seed));
    let mut report = Report::new(&args);
    let generated = phases::generate(&raw, &args)?;
    report.generate = Some(generated.clone());
    let wants = |phase: &str| args.phases.iter().any(|p| p == phase);
    if let Some(unknown) = args.phases.iter().find(|p| {
        ![
            "normalize",
            "collector",
            "raw",
            "ingest",
            "kafka",
            "detect",
            "alerts",
            "seal",
            "search",
        ]
        .contains(&p.as_str())
    }) {
        anyhow::bail!(
            "--phases: unknown phase {unknown:?} (normalize, collector, raw, ingest, kafka, detect, alerts, seal, search)"
        );
    }
    if wants("normalize") {
        report.normalize = Some(phases::normalize(&generated)?);
    }
    if wants("collector") {
        report.collector = Some(collector::collector(&work, args.events)?);
    }
    if wants("raw") {
        report.raw_tantivy = Some(phases::raw_tantivy(
            &config,
            &generated,
            &work.join("raw-index"),
        )?);
    }
    let rules = args.rules.clone().unwrap_or_else(|| "rules".into());
    let config = with_detection(config, &rules);
    report.detection_rules = config
        .detection
        .rules
        .as_ref()
        .map(|r| r.display().to_string());
    let index = work.join(format!("pipeline-{}-{}", args.events, args.seed));
    if wants("ingest") {
        report.ingest = Some(phases::ingest(&config, &generated, &index)?);
    }
    let brokers = args
        .kafka_brokers
        .clone()
        .or_else(|| Some(config.bus.kafka.brokers.clone()).filter(|b| !b.is_empty()));
    match (wants("kafka"), brokers) {
        (true, Some(brokers)) => {
            let dir = work.join(format!("kafka-{}-{}", args.events, args.seed));
            report.kafka = Some(kafka::kafka_ingest(&config, &brokers, &generated, &dir)?);
            let _ = std::fs::remove_dir_all(&dir);
        }
        (true, None) => eprintln!("kafka: skipped, no broker (--kafka-brokers)"),
        (false, _) => {}
    }
    if wants("detect") {
        if rules.exists() {
            report.detect = Some(detect::detect(&rules, &generated)?);
        } else {
            eprintln!("detect: skipped, no rules at {} (--rules)", rules.display());
        }
    }
    if wants("alerts") {
        if rules.exists() {
            report.alert_latency = Some(alert_latency::alert_latency(&config, &rules, &work, 20)?);
        } else {
            eprintln!("alerts: skipped, no rules at {} (--rules)", rules.display());
        }
    }
    if wants("seal") {
        report.seal = Some(seal::seal(&index.join("index"))?);
    }
    if wants("search") {
        report.search = Some(phases::search(&index.join("index"), &raw, args.runs, true)?);
    }
    report.print();
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("results written to {}", out.display());
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(work.join("raw-index"));
        let _ = std::fs::remove_dir_all(&index);
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration the pipelines run with: detection on when the rules are there (`--rules`,
/// else ./rules) and the configuration names none.
fn with_detection(mut config: Config, rules: &std::path::Path) -> Config {
    if rules.exists() && config.detection.rules.is_none() {
        config.detection.rules = Some(rules.canonicalize().unwrap_or_else(|_| rules.to_owned()));
    }
    config
}

/// Files of a generated data set, with their total size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DataSet {
    /// Directory holding the files.
    pub dir: PathBuf,
    /// The log files (ground truth excluded).
    pub files: Vec<PathBuf>,
    /// Events in the set.
    pub events: u64,
    /// Bytes of the log files.
    pub bytes: u64,
}
