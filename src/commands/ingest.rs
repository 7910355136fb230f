//! `kestrel ingest FILE...`: one-shot ingestion.

use std::process::ExitCode;
use std::time::Instant;

use kestrel_collector::ingest::{ingest_files, IngestOptions};
use kestrel_collector::normalize::Format;
use kestrel_config::Config;

use crate::cli::{IngestArgs, InputFormat};
use crate::pipeline::{dead_letter_store, redaction, runtime, start_indexer};

/// Reads the files through the normalizers into the index, waits for the commit, prints a
/// summary.
pub fn ingest(config: Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let format = match args.format {
        InputFormat::Auto => Format::Auto,
        InputFormat::Docker => Format::Docker,
        InputFormat::Cri => Format::Cri,
        InputFormat::K8sAudit => Format::K8sAudit,
    };
    let options = IngestOptions {
        format,
        host_name: config.host_name(),
        batch_max_events: config.collector.batch_max_events,
        max_event_bytes: config.collector.max_event_bytes,
        redaction: redaction(&config)?,
    };
    runtime()?.block_on(async move {
        let dead_letters = dead_letter_store(&config)?;
        let indexer = start_indexer(&config)?;
        let ingested = ingest_files(args.files, options, indexer.publisher, dead_letters).await;
        // The publisher moved into ingest_files is dropped: the loop drains, commits, stops.
        indexer.task.await??;
        let summary = ingested?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "ingested {} files, {} bytes: {} events ({} new, {} already indexed), {} dead letters, {:.2} s",
            summary.files,
            summary.bytes,
            summary.events,
            indexer.stats.added(),
            indexer.stats.duplicates(),
            summary.dead_letters,
            seconds
        );
        Ok(ExitCode::SUCCESS)
    })
}
