//! The search engine: runs a query over the partitions that overlap a time range and returns
//! the newest (or oldest) matching events, with a cursor for deep pagination.
//!
//! Hits are ordered by `(@timestamp, event.id)`: the id breaks ties between events of the same
//! nanosecond, so the order is total and a `search_after` cursor returns every event exactly
//! once across pages.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use kestrel_indexer::{
    list_partition_dirs, open_index, EventSchema, IndexError, PartitionDir, PartitionKey,
};
use serde::{Deserialize, Serialize};
use tantivy::collector::sort_key::{SortByStaticFastValue, SortByString};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query as TantivyQuery, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Term, Value};
use tantivy::{DocAddress, IndexReader, Order, ReloadPolicy, Searcher, TantivyDocument};

use crate::access::Scope;

use crate::aggregate::AggregationLimits;
use crate::error::SearchError;
use crate::keyset::beyond;
use crate::language::{parse, Query};
use crate::projection::project;
use crate::scope::{narrow, scope_filter, View};
use crate::translate::{time_filter, Translator};

/// Decompressed document-store blocks each open segment keeps (64 KiB each, see
/// `kestrel_indexer::storage`). Readers stay open between requests, one per partition, so this
/// is paid per segment of the whole index: a few blocks serve a stream reading a segment in
/// order and the hits of a page, while Tantivy's default (100 blocks per segment) grew the
/// heap with the index.
const DOC_STORE_CACHE_BLOCKS: usize = 2;

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

/// Position after which the next page starts: the sort key of the last hit of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `@timestamp` of the last hit, in nanoseconds.
    pub timestamp: i64,
    /// `event.id` of the last hit.
    pub id: String,
}

impl Cursor {
    /// The cursor's text form, `<nanos>:<event id>`, as returned in `next` and accepted in
    /// `search_after`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.timestamp, self.id)
    }

    /// Parses [`Cursor::encode`]'s form.
    pub fn decode(text: &str) -> Result<Cursor, SearchError> {
        let bad = || SearchError::BadParameter {
            name: "search_after",
            reason: format!("{text:?} is not a cursor returned by a previous search"),
        };
        let (timestamp, id) = text.split_once(':').ok_or_else(bad)?;
        let timestamp = timestamp.parse().map_err(|_| bad())?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Cursor {
            timestamp,
            id: id.to_owned(),
        })
    }
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
    /// Return only hits after this one (in the requested order).
    pub search_after: Option<Cursor>,
    /// Dotted paths to keep in each hit; empty keeps whole events.
    pub fields: Vec<String>,
    /// Count every match for `total` (on by default; exports page through results without).
    pub count_total: bool,
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
            search_after: None,
            fields: Vec::new(),
            count_total: true,
        })
    }
}

/// The answer to a search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Number of matching events in the time range (exact; not reduced by `search_after`).
    pub total: u64,
    /// The matching events, in the requested order, at most `limit`.
    pub hits: Vec<serde_json::Value>,
    /// Cursor of the next page (pass it as `search_after`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Time spent, in milliseconds.
    pub took_ms: u64,
}

/// A partition opened for searching. Every query run through it is restricted to the
/// engine's [`View`]: the searcher itself is not handed out.
pub struct PartitionSearcher {
    /// Which partition.
    pub key: PartitionKey,
    /// Its index directory.
    pub dir: PathBuf,
    searcher: Searcher,
    filter: Option<Box<dyn TantivyQuery>>,
}

impl PartitionSearcher {
    /// Runs `query`, restricted to the engine's view, with `collector`.
    pub fn search<C: tantivy::collector::Collector>(
        &self,
        query: &dyn TantivyQuery,
        collector: &C,
    ) -> tantivy::Result<C::Fruit> {
        match &self.filter {
            None => self.searcher.search(query, collector),
            Some(filter) => {
                let restricted = BooleanQuery::new(vec![
                    (Occur::Must, query.box_clone()),
                    (Occur::Must, filter.box_clone()),
                ]);
                self.searcher.search(&restricted, collector)
            }
        }
    }

    /// The stored fields of a document, found by a search of this partition.
    pub(crate) fn stored(&self, address: DocAddress) -> tantivy::Result<TantivyDocument> {
        self.searcher.doc(address)
    }

    /// Documents in the partition (an upper bound of what any query matches in it).
    pub(crate) fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }

    /// The tokenizers of the partition's index.
    pub fn tokenizers(&self) -> tantivy::tokenizer::TokenizerManager {
        self.searcher.index().tokenizers().clone()
    }
}

/// Searches the partitions under an index root. Cheap to share between threads; readers of
/// partitions are opened once and refreshed on each search (and shared by the engine's
/// [scoped views](SearchEngine::scoped)).
pub struct SearchEngine {
    root: PathBuf,
    schema: EventSchema,
    readers: Arc<Mutex<HashMap<PathBuf, IndexReader>>>,
    aggregation_limits: AggregationLimits,
    view: View,
    filter: Option<Box<dyn TantivyQuery>>,
}

type Sorted = Vec<((Option<i64>, Option<String>), DocAddress)>;

impl SearchEngine {
    /// An engine over the index root `root` (which may not exist yet: it then finds nothing).
    pub fn new(root: impl Into<PathBuf>) -> Arc<SearchEngine> {
        SearchEngine::with_aggregation_limits(root, AggregationLimits::default())
    }

    /// An engine whose aggregations run within `limits` (see [`SearchEngine::aggregate`]).
    pub fn with_aggregation_limits(
        root: impl Into<PathBuf>,
        limits: AggregationLimits,
    ) -> Arc<SearchEngine> {
        Arc::new(SearchEngine {
            root: root.into(),
            schema: EventSchema::new(),
            readers: Arc::new(Mutex::new(HashMap::new())),
            aggregation_limits: limits,
            view: View::default(),
            filter: None,
        })
    }

    /// The same engine seeing only what `scope` allows of what this one sees (scopes narrow:
    /// a scoped engine cannot be widened). Shares this engine's readers.
    pub fn scoped(&self, scope: &Scope) -> Arc<SearchEngine> {
        let view = match &self.view {
            View::Events(current) => View::Events(narrow(current, scope)),
            View::AuditTrail => View::AuditTrail,
        };
        self.with_view(view)
    }

    /// The same engine seeing Kestrel's own audit trail (the `kestrel_audit` partitions) and
    /// nothing else; whoever serves it checks that the caller is an unscoped admin.
    pub fn audit_trail(&self) -> Arc<SearchEngine> {
        self.with_view(View::AuditTrail)
    }

    fn with_view(&self, view: View) -> Arc<SearchEngine> {
        let filter = match &view {
            View::Events(scope) => scope_filter(&self.schema, scope),
            View::AuditTrail => None,
        };
        Arc::new(SearchEngine {
            root: self.root.clone(),
            schema: self.schema.clone(),
            readers: Arc::clone(&self.readers),
            aggregation_limits: self.aggregation_limits,
            view,
            filter,
        })
    }

    /// What the engine sees.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The limits of aggregations.
    pub fn aggregation_limits(&self) -> &AggregationLimits {
        &self.aggregation_limits
    }

    /// The index root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The index mapping.
    pub fn schema(&self) -> &EventSchema {
        &self.schema
    }

    /// Translates a query restricted to `[from, to]` into a Tantivy query; inside
    /// [`crate::limits::within`], within the request's limits.
    pub fn compile(
        &self,
        query: &Query,
        from: Option<&DateTime<Utc>>,
        to: Option<&DateTime<Utc>>,
    ) -> Result<Box<dyn TantivyQuery>, SearchError> {
        let guard = crate::limits::current();
        if let Some(guard) = &guard {
            guard
                .limits()
                .check_clauses(query)
                .map_err(SearchError::Limit)?;
        }
        let translated = Translator::new(&self.schema, Utc::now()).translate(query)?;
        let compiled: Box<dyn TantivyQuery> = match time_filter(&self.schema, from, to) {
            Some(filter) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, translated),
                (Occur::Must, filter),
            ])),
            None => translated,
        };
        // Under a request's limits, matching stops at its time budget.
        Ok(match guard {
            Some(guard) => Box::new(crate::limits::DeadlineQuery::new(compiled, guard)),
            None => compiled,
        })
    }

    /// Runs a search. Blocking: call it from a blocking thread in async code.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let query = self.compile(&request.query, request.from.as_ref(), request.to.as_ref())?;
        let page_query = request.search_after.as_ref().map(|cursor| {
            BooleanQuery::new(vec![
                (Occur::Must, query.box_clone()),
                (Occur::Must, self.after_cursor(cursor, request.order)),
            ])
        });
        let partitions = self.searchers(request.from.as_ref(), request.to.as_ref())?;
        let limit = request.limit;
        let mut total = 0u64;
        let mut candidates: Vec<(i64, String, usize, DocAddress)> = Vec::new();
        for (slot, partition) in partitions.iter().enumerate() {
            if request.count_total {
                total += partition.search(query.as_ref(), &Count)? as u64;
            }
            if limit == 0 {
                continue;
            }
            let page: &dyn TantivyQuery = match &page_query {
                Some(q) => q,
                None => query.as_ref(),
            };
            let top: Sorted = partition.search(page, &sorted_top(limit, request.order))?;
            candidates.extend(top.into_iter().map(|((ts, id), address)| {
                (
                    ts.unwrap_or(i64::MIN),
                    id.unwrap_or_default(),
                    slot,
                    address,
                )
            }));
        }
        match request.order {
            SortOrder::Desc => candidates.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1))),
            SortOrder::Asc => candidates.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1))),
        }
        let more = candidates.len() > limit;
        candidates.truncate(limit);
        let next = match (more, candidates.last()) {
            (true, Some((timestamp, id, _, _))) => Some(
                Cursor {
                    timestamp: *timestamp,
                    id: id.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        let mut hits = Vec::with_capacity(candidates.len());
        for (_, _, slot, address) in candidates {
            let hit = self.source(&partitions[slot], address)?;
            hits.push(if request.fields.is_empty() {
                hit
            } else {
                project(&hit, &request.fields)
            });
        }
        Ok(SearchResponse {
            total,
            hits,
            next,
            took_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Whether the events `ids` are all visible: none of them is stored outside the engine's
    /// view and at least one is stored within it. The visibility of an alert to a scoped
    /// identity; always true for an unscoped engine.
    pub fn sees_all(&self, ids: &[String]) -> Result<bool, SearchError> {
        let Some(filter) = &self.filter else {
            return Ok(true);
        };
        if ids.is_empty() {
            return Ok(false);
        }
        let id_field = self.schema.resolve("event.id").field;
        let any_id: Box<dyn TantivyQuery> = Box::new(BooleanQuery::new(
            ids.iter()
                .map(|id| {
                    let term = Term::from_field_text(id_field, id);
                    let query = TermQuery::new(term, IndexRecordOption::Basic);
                    (Occur::Should, Box::new(query) as Box<dyn TantivyQuery>)
                })
                .collect(),
        ));
        let hidden = BooleanQuery::new(vec![
            (Occur::Must, any_id.box_clone()),
            (Occur::MustNot, filter.box_clone()),
        ]);
        let mut visible = 0;
        for partition in self.searchers(None, None)? {
            if partition.searcher.search(&hidden, &Count)? > 0 {
                return Ok(false);
            }
            visible += partition.search(any_id.as_ref(), &Count)?;
        }
        Ok(visible > 0)
    }

    /// The stored event of a document found in `partition`.
    pub fn source(
        &self,
        partition: &PartitionSearcher,
        address: DocAddress,
    ) -> Result<serde_json::Value, SearchError> {
        let doc: TantivyDocument = partition.searcher.doc(address)?;
        let source = doc
            .get_first(self.schema.source_field())
            .and_then(|v| v.as_str())
            .unwrap_or("null");
        Ok(serde_json::from_str(source)?)
    }

    /// Events strictly after `cursor` in `order`: `(ts, id)` beyond the cursor's.
    fn after_cursor(&self, cursor: &Cursor, order: SortOrder) -> Box<dyn TantivyQuery> {
        let id = Term::from_field_text(self.schema.resolve("event.id").field, &cursor.id);
        let descending = order == SortOrder::Desc;
        let id_beyond = if descending {
            RangeQuery::new(Bound::Unbounded, Bound::Excluded(id))
        } else {
            RangeQuery::new(Bound::Excluded(id), Bound::Unbounded)
        };
        beyond(
            self.schema.resolve("@timestamp").field,
            cursor.timestamp,
            descending,
            id_beyond,
        )
    }

    /// Searchers of the partitions of the engine's view overlapping `[from, to]`, refreshed to
    /// their last commit, oldest first. Partitions outside the range or the view are not
    /// opened.
    pub fn searchers(
        &self,
        from: Option<&DateTime<Utc>>,
        to: Option<&DateTime<Utc>>,
    ) -> Result<Vec<PartitionSearcher>, SearchError> {
        let partitions = list_partition_dirs(&self.root).map_err(|source| IndexError::Io {
            path: self.root.clone(),
            source,
        })?;
        // A poisoned lock only means another search panicked; the cache itself stays valid.
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        readers.retain(|dir, _| partitions.iter().any(|p| &p.dir == dir));
        let mut selected = Vec::new();
        let visible = partitions
            .into_iter()
            .filter(|p| self.view.opens(p.key.kind) && p.key.overlaps(from, to));
        for PartitionDir { key, dir } in visible {
            let reader = match readers.get(&dir) {
                Some(reader) => {
                    reader.reload()?;
                    reader.clone()
                }
                None => {
                    let index = open_index(&dir, &self.schema, false)?;
                    let reader: IndexReader = index
                        .reader_builder()
                        .reload_policy(ReloadPolicy::Manual)
                        .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
                        .try_into()?;
                    readers.insert(dir.clone(), reader.clone());
                    reader
                }
            };
            selected.push(PartitionSearcher {
                key,
                dir,
                searcher: reader.searcher(),
                filter: self.filter.as_ref().map(|f| f.box_clone()),
            });
        }
        Ok(selected)
    }
}

/// Top `limit + 1` documents by `(@timestamp, event.id)` in `order` (one more than asked, to
/// know whether a next page exists).
fn sorted_top(
    limit: usize,
    order: SortOrder,
) -> impl tantivy::collector::Collector<Fruit = Sorted> {
    let order = match order {
        SortOrder::Desc => Order::Desc,
        SortOrder::Asc => Order::Asc,
    };
    TopDocs::with_limit(limit + 1).order_by((
        (SortByStaticFastValue::<i64>::for_field("timestamp"), order),
        (SortByString::for_field("event_id"), order),
    ))
}
