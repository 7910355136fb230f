//! Exporting every event that matches a query, oldest first, as NDJSON, in bounded memory: the
//! result is read page by page with a `search_after` cursor, so only one page is held at a time.

use crate::error::SearchError;
use crate::limits::{within, QueryLimits};
use crate::search::{Cursor, SearchEngine, SearchRequest, SearchResponse, SortOrder};

/// Events read per page.
pub const EXPORT_PAGE: usize = 10_000;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes every event matching `request` (its `limit`, order and cursor are ignored) to `sink`
/// as NDJSON chunks, one chunk per page, oldest first. Stops early when `sink` returns `false`
/// (the reader went away). Blocking.
pub fn export(
    engine: &SearchEngine,
    request: &SearchRequest,
    sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<ExportSummary, SearchError> {
    export_pages(request, |page| engine.search(page), sink)
}

/// [`export`] with each page searched within `limits`: the time budget
/// (`query.limits.request_timeout`) is per page, so an export of any size can finish while no
/// single page may run past it.
pub fn export_within(
    engine: &SearchEngine,
    request: &SearchRequest,
    limits: &QueryLimits,
    sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<ExportSummary, SearchError> {
    export_pages(request, |page| within(limits, || engine.search(page)), sink)
}

fn export_pages(
    request: &SearchRequest,
    mut search: impl FnMut(&SearchRequest) -> Result<SearchResponse, SearchError>,
    mut sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<ExportSummary, SearchError> {
    let mut page = SearchRequest {
        limit: EXPORT_PAGE,
        order: SortOrder::Asc,
        search_after: None,
        count_total: false,
        ..request.clone()
    };
    let mut summary = ExportSummary::default();
    loop {
        let response = search(&page)?;
        let mut chunk = Vec::with_capacity(response.hits.len() * 512);
        for hit in &response.hits {
            serde_json::to_writer(&mut chunk, hit)?;
            chunk.push(b'\n');
        }
        summary.events += response.hits.len() as u64;
        summary.bytes += chunk.len() as u64;
        if !chunk.is_empty() && !sink(chunk) {
            return Ok(summary);
        }
        match response.next {
            Some(next) => page.search_after = Some(Cursor::decode(&next)?),
            None => return Ok(summary),
        }
    }
}
