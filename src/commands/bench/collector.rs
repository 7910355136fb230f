//! The collector phase: files to the bus, the bus a black hole that serializes each event as
//! a producer would put it on the wire and acknowledges at once. Docker json-file and CRI
//! lines of about 250 bytes, measured apart, each with secret redaction off and on: lines/s,
//! MiB/s per CPU-second, peak RSS.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kestrel_bus::DeadLetterStore;
use kestrel_collector::normalize::Format;
use kestrel_collector::redact::{Redaction, RedactionSettings, Redactor};
use kestrel_collector::tail::{run_tailer, TailOptions, TailSource, TailStats};
use serde::Serialize;

use super::measure::{measure, PhaseCost};
use super::phases::Throughput;

/// Throughput of the collector on one format.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorThroughput {
    /// `docker` or `cri`.
    pub format: String,
    /// Whether secrets were redacted (`collector.redaction.enabled`).
    pub redaction: bool,
    /// Mean line length, bytes (newline included).
    pub line_bytes: f64,
    /// Lines read, events published, bytes, cost.
    pub throughput: Throughput,
}

/// Writes `lines` lines of each format under `work` and tails them to a black-hole bus.
pub fn collector(work: &Path, lines: u64) -> anyhow::Result<Vec<CollectorThroughput>> {
    let dir = work.join(format!("collector-{lines}"));
    let docker = write_docker(&dir, lines)?;
    let cri = write_cri(&dir, lines)?;
    let mut results = Vec::new();
    for (format, file) in [("docker", docker), ("cri", cri)] {
        for redaction in [false, true] {
            let state = if redaction { "on" } else { "off" };
            eprintln!("collector: tailing {lines} {format} lines, redaction {state}");
            let bytes = std::fs::metadata(&file)?.len();
            let (published, cost) = measure_in_child(format, redaction, lines, &file)?;
            anyhow::ensure!(
                published == lines,
                "collector {format}: {published} events published, {lines} lines written"
            );
            results.push(CollectorThroughput {
                format: format.to_owned(),
                redaction,
                line_bytes: bytes as f64 / lines as f64,
                throughput: Throughput::new(lines, bytes, cost),
            });
        }
    }
    Ok(results)
}

/// Runs the tailer of one format in a fresh `kestrel bench --tail-only` process (so that its
/// peak memory is the tailer's, not the benchmark's) and reads back what it measured.
fn measure_in_child(
    format: &str,
    redaction: bool,
    lines: u64,
    file: &Path,
) -> anyhow::Result<(u64, PhaseCost)> {
    let format = if redaction {
        format!("{format}{REDACTED_SUFFIX}")
    } else {
        format.to_owned()
    };
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "--tail-only"])
        .arg(format!("{format}:{lines}:{}", file.display()))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the tailer process")?;
    anyhow::ensure!(
        output.status.success(),
        "tailer process failed: {}",
        output.status
    );
    let report: ChildReport =
        serde_json::from_slice(&output.stdout).context("reading the tailer process's report")?;
    Ok((report.published, report.cost))
}

/// What a `--tail-only` process measured.
#[derive(Debug, Serialize, serde::Deserialize)]
struct ChildReport {
    published: u64,
    cost: PhaseCost,
}

/// The suffix of a `--tail-only` format that turns redaction on (`docker+redaction`).
const REDACTED_SUFFIX: &str = "+redaction";

/// `--tail-only FORMAT:LINES:FILE`: tails the file to the black hole and prints a
/// [`ChildReport`] as JSON. `FORMAT` is `docker` or `cri`, followed by `+redaction` to redact
/// secrets as `kestrel run` does by default (with a fixed key).
pub fn tail_only(spec: &str) -> anyhow::Result<()> {
    // As `kestrel collector` runs.
    crate::memory::disable_transparent_huge_pages();
    let mut parts = spec.splitn(3, ':');
    let (Some(format), Some(lines), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("--tail-only takes FORMAT:LINES:FILE, got {spec:?}");
    };
    let (format, redaction) = match format.strip_suffix(REDACTED_SUFFIX) {
        Some(format) => (format, bench_redaction()?),
        None => (format, Redaction::disabled()),
    };
    let kind = match format {
        "docker" => Format::Docker,
        "cri" => Format::Cri,
        other => anyhow::bail!("--tail-only: unknown format {other:?}"),
    };
    let lines: u64 = lines.parse().context("--tail-only: LINES")?;
    let file = PathBuf::from(file);
    let checkpoints = file.with_extension("checkpoints.json");
    let _ = std::fs::remove_file(&checkpoints);
    let (published, cost) =
        measure(|| tail_to_black_hole(&file, kind, redaction, &checkpoints, lines));
    let report = ChildReport {
        published: published?,
        cost,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Runs the tailer on one file until `lines` events went through the black hole; returns how
/// many did.
fn tail_to_black_hole(
    file: &Path,
    format: Format,
    redaction: Redaction,
    checkpoints: &Path,
    lines: u64,
) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // As `kestrel run` sizes it by default: bus.capacity 10 000 events in batches of 1 000.
        let (publisher, mut subscriber) = kestrel_bus::embedded(10);
        let stop = Arc::new(AtomicBool::new(false));
        let options = TailOptions {
            sources: vec![TailSource {
                patterns: vec![file.display().to_string()],
                exclude: Vec::new(),
                format,
                start_at_end: false,
                first_line: None,
            }],
            poll_interval: Duration::from_millis(50),
            batch_max_events: 1000,
            host_name: "bench".into(),
            checkpoint_path: checkpoints.to_owned(),
            partial_flush_timeout: Duration::from_secs(5),
            max_event_bytes: 1 << 20,
            enrichers: Vec::new(),
            discovered: None,
            redaction,
        };
        let dead_letters = DeadLetterStore::open(checkpoints.with_extension("dead"))?;
        let tailer = tokio::spawn(run_tailer(
            options,
            publisher,
            dead_letters,
            Arc::clone(&stop),
            Arc::new(TailStats::default()),
        ));
        let mut published = 0u64;
        let mut wire = Vec::with_capacity(1 << 16);
        while published < lines {
            // Lines the tailer rejects never come: stop waiting once it has gone quiet.
            let next = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await;
            let Ok(Some(batch)) = next else {
                break;
            };
            let (events, acker) = batch.into_parts();
            for event in &events {
                wire.clear();
                serde_json::to_writer(&mut wire, event)?;
            }
            published += events.len() as u64;
            acker.ack();
        }
        stop.store(true, Ordering::Relaxed);
        // Drain what the tailer still sends while it stops.
        let drain = tokio::spawn(async move {
            while let Some(batch) = subscriber.next().await {
                batch.into_parts().1.ack();
            }
        });
        tailer.await.context("tailer task")??;
        drain.abort();
        Ok(published)
    })
}

/// The built-in detectors, no extra pattern, no allow-list: `kestrel run`'s default.
fn bench_redaction() -> anyhow::Result<Redaction> {
    let settings = RedactionSettings {
        key: b"kestrel-bench-redaction-key-0001".to_vec(),
        patterns: Vec::new(),
        allow: Default::default(),
    };
    Ok(Redaction::new(Redactor::new(&settings)?))
}

/// A deterministic application log message of about 170 bytes.
fn message(n: u64, out: &mut String) {
    out.clear();
    let _ = write!(
        out,
        "level=info ts=2024-05-01T10:00:00Z caller=server.go:{} msg=\"request served\" method=GET path=/api/v1/items/{n} status=200 duration_ms={} bytes={} user=svc-{}",
        n % 997,
        n % 251,
        (n * 7919) % 65536,
        n % 13
    );
}

fn write_docker(dir: &Path, lines: u64) -> anyhow::Result<PathBuf> {
    let id = "a".repeat(64);
    let path = dir.join("docker").join(&id).join(format!("{id}-json.log"));
    write_lines(&path, lines, |n, text, out| {
        let text = text.replace('"', "\\\"");
        let _ = writeln!(
            out,
            "{{\"log\":\"{text}\\n\",\"stream\":\"{}\",\"time\":\"2024-05-01T10:{:02}:{:02}.{:09}Z\"}}",
            if n % 5 == 0 { "stderr" } else { "stdout" },
            n / 60 % 60,
            n % 60,
            n
        );
    })
}

fn write_cri(dir: &Path, lines: u64) -> anyhow::Result<PathBuf> {
    let path = dir
        .join("pods")
        .join("default_web-7d4b9c6f5-x2x9k_0f8e4a52-3c1d-4e5f-9a7b-1c2d3e4f5a6b")
        .join("web")
        .join("0.log");
    write_lines(&path, lines, |n, text, out| {
        let _ = writeln!(
            out,
            "2024-05-01T10:{:02}:{:02}.{:09}Z {} F {text}",
            n / 60 % 60,
            n % 60,
            n,
            if n % 5 == 0 { "stderr" } else { "stdout" },
        );
    })
}

/// Writes the file once (kept for later runs with the same line count).
fn write_lines(
    path: &Path,
    lines: u64,
    line: impl Fn(u64, &str, &mut String),
) -> anyhow::Result<PathBuf> {
    if path.exists() {
        return Ok(path.to_owned());
    }
    let parent = path.parent().context("log path has a parent")?;
    std::fs::create_dir_all(parent)?;
    let partial = path.with_extension("partial");
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    let (mut text, mut out) = (String::new(), String::new());
    for n in 0..lines {
        message(n, &mut text);
        out.clear();
        line(n, &text, &mut out);
        writer.write_all(out.as_bytes())?;
    }
    writer.flush()?;
    drop(writer);
    std::fs::rename(&partial, path)?;
    Ok(path.to_owned())
}
