//! The search engine: runs a query over the partitions that overlap a time range and returns
//! the newest (or oldest) matching events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use kestrel_indexer::{list_partitions, open_index, EventSchema, IndexError, PartitionKey};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query as TantivyQuery};
use tantivy::schema::Value;
use tantivy::{DocAddress, IndexReader, Order, ReloadPolicy, TantivyDocument};

use crate::error::SearchError;
use crate::language::{parse, Query};
use crate::translate::{time_filter, Translator};

/// Sort order of hits by `@timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Newest first (the default).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

/// A search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The parsed query.
    pub query: Query,
    /// Earliest `@timestamp` (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Latest `@timestamp` (inclusive).
    pub to: Option<DateTime<Utc>>,
    /// Maximum number of hits returned.
    pub limit: usize,
    /// Order of hits.
    pub order: SortOrder,
}

impl SearchRequest {
    /// Parses `query` and builds a request with no time bounds, newest first.
    pub fn parse(query: &str, limit: usize) -> Result<SearchRequest, SearchError> {
        Ok(SearchRequest {
            query: parse(query)?,
            from: None,
            to: None,
            limit,
            order: SortOrder::Desc,
        })
    }
}

/// The answer to a search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Number of matching events in the time range.
    pub total: u64,
    /// The matching events, in the requested order, at most `limit`.
    pub hits: Vec<serde_json::Value>,
    /// Time spent, in milliseconds.
    pub took_ms: u64,
}

/// Searches the partitions under an index root. Cheap to share between threads; readers of
/// partitions are opened once and refreshed on each search.
pub struct SearchEngine {
    root: PathBuf,
    schema: EventSchema,
    readers: Mutex<HashMap<PartitionKey, IndexReader>>,
}

impl SearchEngine {
    /// An engine over the index root `root` (which may not exist yet: it then finds nothing).
    pub fn new(root: impl Into<PathBuf>) -> Arc<SearchEngine> {
        Arc::new(SearchEngine {
            root: root.into(),
            schema: EventSchema::new(),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// The index root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs a search. Blocking: call it from a blocking thread in async code.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let now = Utc::now();
        let translator = Translator::new(&self.schema, now);
        let mut query = translator.translate(&request.query)?;
        if let Some(filter) = time_filter(&self.schema, request.from.as_ref(), request.to.as_ref())
        {
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (Occur::Must, filter),
            ]));
        }
        let partitions = self.partitions(request.from.as_ref(), request.to.as_ref())?;
        let order = match request.order {
            SortOrder::Desc => Order::Desc,
            SortOrder::Asc => Order::Asc,
        };
        let limit = request.limit.max(1);
        let mut total = 0u64;
        let mut candidates: Vec<(i64, usize, DocAddress)> = Vec::new();
        let mut searchers = Vec::with_capacity(partitions.len());
        for (slot, reader) in partitions.iter().enumerate() {
            let searcher = reader.searcher();
            let collector = (
                TopDocs::with_limit(limit).order_by_fast_field::<i64>("timestamp", order),
                Count,
            );
            let (top, count) = searcher.search(query.as_ref() as &dyn TantivyQuery, &collector)?;
            total += count as u64;
            candidates.extend(
                top.into_iter()
                    .map(|(ts, address)| (ts.unwrap_or(i64::MIN), slot, address)),
            );
            searchers.push(searcher);
        }
        match request.order {
            SortOrder::Desc => candidates.sort_by_key(|c| std::cmp::Reverse(c.0)),
            SortOrder::Asc => candidates.sort_by_key(|c| c.0),
        }
        candidates.truncate(if request.limit == 0 { 0 } else { limit });
        let source_field = self.schema.source_field();
        let mut hits = Vec::with_capacity(candidates.len());
        for (_, slot, address) in candidates {
            let doc: TantivyDocument = searchers[slot].doc(address)?;
            let Some(source) = doc.get_first(source_field).and_then(|v| v.as_str()) else {
                continue;
            };
            hits.push(serde_json::from_str(source)?);
        }
        Ok(SearchResponse {
            total,
            hits,
            took_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Readers of the partitions overlapping `[from, to]`, refreshed to their last commit.
    fn partitions(
        &self,
        from: Option<&DateTime<Utc>>,
        to: Option<&DateTime<Utc>>,
    ) -> Result<Vec<IndexReader>, SearchError> {
        let keys = list_partitions(&self.root).map_err(|source| IndexError::Io {
            path: self.root.clone(),
            source,
        })?;
        // A poisoned lock only means another search panicked; the cache itself stays valid.
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        let mut selected = Vec::new();
        for key in keys.into_iter().filter(|k| k.overlaps(from, to)) {
            if let Some(reader) = readers.get(&key) {
                reader.reload()?;
                selected.push(reader.clone());
                continue;
            }
            let index = open_index(&key.dir(&self.root), &self.schema, false)?;
            let reader: IndexReader = index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()?;
            readers.insert(key, reader.clone());
            selected.push(reader);
        }
        Ok(selected)
    }
}
