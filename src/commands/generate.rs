//! `kestrel generate OUT`: writes seeded, realistic container and audit logs for benchmarks and
//! large tests (see the `kestrel-generate` crate).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use kestrel_generate::{GenerateOptions, Kind};

use crate::cli::{GenerateArgs, GenerateKind};

/// Generates the files and prints a summary.
pub fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let start = kestrel_event::parse_timestamp(&args.start).context("--start")?;
    let span = kestrel_generate::parse_span(&args.span).context("--span")?;
    let options = GenerateOptions {
        kind: match args.kind {
            GenerateKind::Docker => Kind::Docker,
            GenerateKind::Cri => Kind::Cri,
            GenerateKind::Audit => Kind::Audit,
            GenerateKind::Mixed => Kind::Mixed,
        },
        events: args.events,
        seed: args.seed,
        start,
        span,
        attack_rate: args.attack_rate,
        volume_anomalies: args.volume_anomalies,
    };
    let started = Instant::now();
    let summary = kestrel_generate::generate(&options, &args.out)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "generated {} files in {}: {} events ({} container, {} audit), {} bytes ({:.1} MiB), {} attacks ({} events, listed in {}), {:.2} s, {:.0} events/s",
        summary.files.len(),
        args.out.display(),
        summary.events,
        summary.container_events,
        summary.audit_events,
        summary.bytes,
        summary.bytes as f64 / (1024.0 * 1024.0),
        summary.attacks,
        summary.attack_events,
        summary.ground_truth.display(),
        seconds,
        summary.events as f64 / seconds.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}
