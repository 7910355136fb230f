//! `kestrel hunt --rules PATH [--from T] [--to T]`: detection rules over indexed history.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use kestrel_config::Config;
use kestrel_detect::Detector;
use kestrel_query::hunt::hunt as run_hunt;
use kestrel_query::language::parse_time;
use kestrel_query::SearchEngine;

use crate::cli::HuntArgs;

/// Runs the hunt; alerts go to stdout as NDJSON, the summary to stderr.
pub fn hunt(config: Config, args: HuntArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let documents: Vec<_> = match crate::detection::load_configured_rules(
        &args.rules,
        &config.detection.placeholders,
        &config.detection.filters,
    ) {
        Ok(rules) => rules.into_iter().map(|(_, rule)| rule).collect(),
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut detector = match Detector::new(&documents) {
        Ok(detector) => detector,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let now = chrono::Utc::now();
    let time = |flag: &str, value: &Option<String>| -> anyhow::Result<_> {
        value
            .as_deref()
            .map(|v| parse_time(v, now).with_context(|| format!("--{flag} {v:?}")))
            .transpose()
    };
    let (from, to) = (time("from", &args.from)?, time("to", &args.to)?);
    let engine = SearchEngine::new(config.index_dir());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write_error = None;
    let summary = run_hunt(&engine, &mut detector, from, to, |alert| {
        if write_error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut out, alert)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out));
        if let Err(e) = written {
            write_error = Some(e);
        }
    })?;
    let rules = args.rules.display().to_string();
    crate::cli_audit::record(
        &config,
        &crate::cli_audit::CliQuery {
            command: "kestrel hunt",
            query: &rules,
            from: args.from.as_deref(),
            to: args.to.as_deref(),
            hits: Some(summary.alerts as u64),
            total: Some(summary.events as u64),
            started,
        },
    );
    match write_error.map_or_else(|| out.flush(), Err) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other?,
    }
    eprintln!(
        "hunted {} rules and {} correlations over {} candidate events: {} alerts (pre-selection: {})",
        detector.rules().len(),
        detector.correlations().len(),
        summary.events,
        summary.alerts,
        summary.query
    );
    Ok(ExitCode::SUCCESS)
}
