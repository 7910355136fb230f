//! One-shot ingestion of whole files: the same normalizers as the tailer, read once from the
//! start, published on the bus; finished when the indexer has acknowledged every batch.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use kestrel_bus::{Acknowledgement, DeadLetterStore, Publisher};
use kestrel_event::Event;

use crate::error::CollectError;
use crate::feed::{feed_lines, LineCursor};
use crate::normalize::{
    detect_format, normalizer_with_options, Format, NormalizeOptions, Output, SourceContext,
};
use crate::redact::{Redaction, Source};

const CHUNK_BYTES: usize = 1 << 20;

/// What an ingestion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Files read.
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Events published (and acknowledged).
    pub events: u64,
    /// Records sent to the dead-letter store.
    pub dead_letters: u64,
}

/// Settings of an ingestion.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Format of the files; `Auto` detects it per file.
    pub format: Format,
    /// `host.name` of the events.
    pub host_name: String,
    /// Events per published batch.
    pub batch_max_events: usize,
    /// Largest event message; longer records are cut into pieces flagged `partial`.
    pub max_event_bytes: usize,
    /// Secrets replaced before events are published and dead letters stored.
    pub redaction: Redaction,
}

/// Reads each file once, publishes its events and waits until the indexer has made them all
/// durable. Files are identified by their absolute path (symbolic links are not resolved, so
/// `/var/log/containers/...` names keep their metadata).
pub async fn ingest_files(
    paths: Vec<PathBuf>,
    options: IngestOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
) -> Result<IngestSummary, CollectError> {
    let (summary, acknowledgements) = tokio::task::spawn_blocking(move || {
        let mut summary = IngestSummary::default();
        let mut acknowledgements = Vec::new();
        for path in &paths {
            ingest_file(
                path,
                &options,
                &publisher,
                &dead_letters,
                &mut summary,
                &mut acknowledgements,
            )?;
            summary.files += 1;
        }
        Ok::<_, CollectError>((summary, acknowledgements))
    })
    .await
    .map_err(|e| CollectError::Task(e.to_string()))??;
    for acknowledgement in acknowledgements {
        acknowledgement.wait().await?;
    }
    Ok(summary)
}

fn ingest_file(
    path: &Path,
    options: &IngestOptions,
    publisher: &Publisher,
    dead_letters: &DeadLetterStore,
    summary: &mut IngestSummary,
    acknowledgements: &mut Vec<Acknowledgement>,
) -> Result<(), CollectError> {
    let mut batch: Vec<Event> = Vec::with_capacity(options.batch_max_events);
    summary.bytes += normalize_file(path, options, |outputs| {
        dispatch(
            outputs,
            &mut batch,
            options,
            publisher,
            dead_letters,
            summary,
            acknowledgements,
        )
    })?;
    if !batch.is_empty() {
        summary.events += batch.len() as u64;
        acknowledgements.push(publisher.blocking_publish(std::mem::take(&mut batch))?);
    }
    Ok(())
}

/// Reads a whole file through its normalizer, handing the outputs to `sink` chunk by chunk
/// (about 1 MiB of input at a time; `sink` must drain the vector). Returns the bytes read.
/// The file is identified by its absolute path, symbolic links not resolved.
pub fn normalize_file(
    path: &Path,
    options: &IngestOptions,
    mut sink: impl FnMut(&mut Vec<Output>) -> Result<(), CollectError>,
) -> Result<u64, CollectError> {
    let io_err = |source| CollectError::Io {
        path: path.to_owned(),
        source,
    };
    let absolute = std::path::absolute(path).map_err(io_err)?;
    let mut file = File::open(&absolute).map_err(io_err)?;
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut filled = read_some(&mut file, &mut buffer, 0).map_err(io_err)?;
    let format = match options.format {
        Format::Auto => detect_format(&absolute, &buffer[..filled]).ok_or_else(|| {
            CollectError::UnknownFormat {
                path: absolute.clone(),
            }
        })?,
        format => format,
    };
    let context = SourceContext {
        content_id: None,
        path: absolute.to_string_lossy().into_owned(),
        host_name: options.host_name.clone(),
        ingested: chrono::Utc::now(),
    };
    let mut normalizer = normalizer_with_options(
        format,
        context,
        NormalizeOptions {
            max_record_bytes: options.max_event_bytes,
            ..NormalizeOptions::default()
        },
    );
    let mut cursor = LineCursor::START;
    let mut outputs = Vec::new();
    loop {
        // Top the buffer up; a buffer left short means the file is exhausted.
        filled += read_some(&mut file, &mut buffer, filled).map_err(io_err)?;
        let at_end = filled < buffer.len();
        let before = cursor.offset;
        cursor = feed_lines(
            normalizer.as_mut(),
            &buffer[..filled],
            cursor,
            at_end,
            &mut outputs,
            |_| {},
        );
        let consumed = (cursor.offset - before) as usize;
        if at_end {
            normalizer.flush(&mut outputs);
        }
        sink(&mut outputs)?;
        if at_end {
            return Ok(cursor.offset);
        }
        if consumed == 0 {
            // A single line longer than the buffer: grow it.
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        buffer.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
}

/// Splits outputs into event batches (published when full) and dead letters (stored now).
fn dispatch(
    outputs: &mut Vec<Output>,
    batch: &mut Vec<Event>,
    options: &IngestOptions,
    publisher: &Publisher,
    dead_letters: &DeadLetterStore,
    summary: &mut IngestSummary,
    acknowledgements: &mut Vec<Acknowledgement>,
) -> Result<(), CollectError> {
    let mut letters = Vec::new();
    for output in outputs.drain(..) {
        match output {
            Output::Event(mut event) => {
                options.redaction.event(Source::Files, &mut event);
                batch.push(event)
            }
            Output::DeadLetter(letter) => {
                tracing::warn!(source = %letter.source, line = letter.line, error = %letter.error, "record sent to dead-letter store");
                letters.push(letter)
            }
        }
        if batch.len() >= options.batch_max_events.max(1) {
            summary.events += batch.len() as u64;
            acknowledgements.push(publisher.blocking_publish(std::mem::take(batch))?);
        }
    }
    summary.dead_letters += letters.len() as u64;
    options.redaction.dead_letters(Source::Files, &mut letters);
    dead_letters.append(&letters)?;
    Ok(())
}

fn read_some(file: &mut File, buffer: &mut [u8], from: usize) -> std::io::Result<usize> {
    let mut filled = from;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled - from)
}
