//! Exporting every event that matches a query, oldest first, as NDJSON, in bounded memory:
//! the events come from [`stream_events`] (one matching pass per day, each event read once
//! and written as it was stored), handed to the sink in chunks of about [`CHUNK_BYTES`].

use crate::error::SearchError;
use crate::limits::QueryLimits;
use crate::projection::project;
use crate::search::{SearchEngine, SearchRequest};
use crate::stream::{stream_events, StreamOptions};

/// Bytes of NDJSON gathered before they are handed to the sink.
pub const CHUNK_BYTES: usize = 1 << 20;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes every event matching `request` (its `limit`, order and cursor are ignored; its
/// `fields` are kept) to `sink` as NDJSON chunks, oldest first. Stops early when `sink`
/// returns `false` (the reader went away). Blocking.
pub fn export(
    engine: &SearchEngine,
    request: &SearchRequest,
    sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<ExportSummary, SearchError> {
    export_with(engine, request, StreamOptions::default(), sink)
}

/// [`export`] with its matching within `limits`: the time budget
/// (`query.limits.request_timeout`) covers each matching pass (a day, or a window of a day of
/// at most [`crate::stream::MAX_KEYS`] events), so an export of any size can finish while no
/// single pass may run past it.
pub fn export_within(
    engine: &SearchEngine,
    request: &SearchRequest,
    limits: &QueryLimits,
    sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<ExportSummary, SearchError> {
    let options = StreamOptions {
        limits: Some(limits.clone()),
        ..StreamOptions::default()
    };
    export_with(engine, request, options, sink)
}

fn export_with(
    engine: &SearchEngine,
    request: &SearchRequest,
    options: StreamOptions,
    mut sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<ExportSummary, SearchError> {
    let mut summary = ExportSummary::default();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + (64 << 10));
    let streamed = stream_events(engine, request, &options, |event| {
        if request.fields.is_empty() {
            chunk.extend_from_slice(event.source.as_bytes());
        } else {
            let value: serde_json::Value = serde_json::from_str(event.source)?;
            serde_json::to_writer(&mut chunk, &project(&value, &request.fields))?;
        }
        chunk.push(b'\n');
        summary.events += 1;
        if chunk.len() < CHUNK_BYTES {
            return Ok::<_, SearchError>(true);
        }
        summary.bytes += chunk.len() as u64;
        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + (64 << 10)));
        Ok(sink(full))
    })?;
    if streamed.complete && !chunk.is_empty() {
        summary.bytes += chunk.len() as u64;
        sink(chunk);
    }
    Ok(summary)
}
