//! Every event matching a query, oldest first (`(@timestamp, event.id)`, the order of a
//! search), as the stored JSON text, read in one pass: the reader of exports.
//!
//! A paged search re-runs the query for each page and keeps only its top hits; here each UTC
//! day's partitions are matched once, the sort keys of the matching documents read from the
//! fast columns ([`keys`]), sorted per segment and merged ([`merge`]), and each event read
//! from the document store once, in batches read in store order ([`batch`]), and handed over
//! in the order of hits as the text it was stored as (no JSON parsing nor re-serialization).
//!
//! Memory stays bounded: a day whose partitions hold more documents than
//! [`StreamOptions::max_keys`] is cut into windows of seconds that each hold at most that many
//! matches ([`windows`]), from a first pass that counts the matches per second; only one
//! window's keys (16 bytes each) are held at a time.

mod batch;
mod keys;
mod merge;
mod windows;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use chrono::NaiveDate;
use kestrel_indexer::PartitionKey;
use tantivy::DocAddress;

use crate::error::SearchError;
use crate::limits::{within, QueryLimits};
use crate::search::{PartitionSearcher, SearchEngine, SearchRequest};
use batch::Batch;
use keys::{HistogramCollector, KeyCollector, BUCKETS};
use merge::{merge, Run};

/// Sort keys held at once by default: 512 Ki keys, 8 MiB (a day with more matches costs one
/// counting pass and one matching pass per window, a few milliseconds per million events).
pub const MAX_KEYS: usize = 1 << 19;

/// How a stream runs.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Most sort keys held at once (a day with more matches is read in windows).
    pub max_keys: usize,
    /// Limits of the API request the stream answers: each matching pass (one per day, or per
    /// window of a day) runs within the time budget. `None` on the command line.
    pub limits: Option<QueryLimits>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            max_keys: MAX_KEYS,
            limits: None,
        }
    }
}

/// One event of the stream.
pub struct StreamedEvent<'a> {
    /// The event as stored: one line of compact JSON.
    pub source: &'a str,
    /// The partition it was read from.
    pub partition: &'a PartitionSearcher,
}

/// A partition some of the streamed events came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionEvents {
    /// Which partition.
    pub key: PartitionKey,
    /// Its directory.
    pub dir: PathBuf,
    /// Events streamed from it.
    pub events: u64,
}

/// What a stream read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Events handed over.
    pub events: u64,
    /// The partitions they came from (those with at least one event), in index order.
    pub partitions: Vec<PartitionEvents>,
    /// Whether every matching event was handed over (the visitor did not stop the stream).
    pub complete: bool,
}

/// Hands every event matching `request` in `[from, to]` to `visit`, oldest first, until it
/// returns `false`. The request's limit, order, cursor and fields are ignored. Blocking.
pub fn stream_events<E: From<SearchError>>(
    engine: &SearchEngine,
    request: &SearchRequest,
    options: &StreamOptions,
    mut visit: impl FnMut(StreamedEvent<'_>) -> Result<bool, E>,
) -> Result<StreamSummary, E> {
    let searchers = engine.searchers(request.from.as_ref(), request.to.as_ref())?;
    let mut counts = vec![0u64; searchers.len()];
    let mut complete = true;
    'days: for (day, slots) in days(&searchers) {
        let day_searchers: Vec<&PartitionSearcher> = slots.iter().map(|&s| &searchers[s]).collect();
        let day = Day::new(engine, request, options, day, &day_searchers);
        for window in day.windows()? {
            let runs = day.keys(window)?;
            let mut batch = Batch::default();
            let mut deliver = |batch: &mut Batch| {
                batch.deliver(engine, &day_searchers, |partition, source| {
                    counts[slots[partition]] += 1;
                    visit(StreamedEvent {
                        source,
                        partition: day_searchers[partition],
                    })
                })
            };
            let merged = merge(&runs, |run, key| {
                batch.push(
                    run.partition,
                    DocAddress::new(run.segment.segment_ord, key.doc),
                );
                if !batch.is_full() {
                    return Ok(true);
                }
                deliver(&mut batch)
            })?;
            let all = merged && deliver(&mut batch)?;
            if !all {
                complete = false;
                break 'days;
            }
        }
    }
    let partitions = searchers
        .iter()
        .zip(&counts)
        .filter(|(_, &events)| events > 0)
        .map(|(searcher, &events)| PartitionEvents {
            key: searcher.key,
            dir: searcher.dir.clone(),
            events,
        })
        .collect();
    Ok(StreamSummary {
        events: counts.iter().sum(),
        partitions,
        complete,
    })
}

/// The searchers' indexes grouped by UTC day, oldest first (a day's partitions hold every
/// event of that day, whatever their kind or shard).
fn days(searchers: &[PartitionSearcher]) -> BTreeMap<NaiveDate, Vec<usize>> {
    let mut days: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    for (slot, searcher) in searchers.iter().enumerate() {
        days.entry(searcher.key.day).or_default().push(slot);
    }
    days
}

/// The matching passes over one day's partitions.
struct Day<'a> {
    engine: &'a SearchEngine,
    request: &'a SearchRequest,
    options: &'a StreamOptions,
    start: i64,
    searchers: &'a [&'a PartitionSearcher],
}

impl<'a> Day<'a> {
    fn new(
        engine: &'a SearchEngine,
        request: &'a SearchRequest,
        options: &'a StreamOptions,
        day: NaiveDate,
        searchers: &'a [&'a PartitionSearcher],
    ) -> Day<'a> {
        let start = kestrel_indexer::document::timestamp_nanos(&searchers[0].key.start());
        debug_assert_eq!(searchers[0].key.day, day);
        Day {
            engine,
            request,
            options,
            start,
            searchers,
        }
    }

    /// The windows the day is read in: the whole day when its partitions hold no more
    /// documents than the keys allowed at once (no counting pass), else windows cut from the
    /// counts of matches per second.
    fn windows(&self) -> Result<Vec<Range<usize>>, SearchError> {
        let documents: u64 = self.searchers.iter().map(|s| s.num_docs()).sum();
        if documents <= self.options.max_keys as u64 {
            let whole_day = 0..BUCKETS;
            return Ok(vec![whole_day]);
        }
        Ok(windows::windows(&self.histogram()?, self.options.max_keys))
    }

    /// Matching events per second of the day.
    fn histogram(&self) -> Result<Vec<u64>, SearchError> {
        let collector = HistogramCollector {
            day_start: self.start,
        };
        self.matching(|query| {
            let mut total = vec![0u64; BUCKETS];
            for searcher in self.searchers {
                for (sum, count) in total.iter_mut().zip(searcher.search(query, &collector)?) {
                    *sum += count;
                }
            }
            Ok(total)
        })
    }

    /// The sorted keys of the day's matching events within `window`, per segment.
    fn keys(&self, window: Range<usize>) -> Result<Vec<Run>, SearchError> {
        let collector = KeyCollector {
            day_start: self.start,
            window,
        };
        self.matching(|query| {
            let mut runs = Vec::new();
            for (partition, searcher) in self.searchers.iter().enumerate() {
                let segments = searcher.search(query, &collector)?;
                runs.extend(
                    segments
                        .into_iter()
                        .map(|segment| Run { partition, segment }),
                );
            }
            Ok(runs)
        })
    }

    /// Runs `pass` with the request's query compiled, within the request's limits if any.
    fn matching<T>(
        &self,
        pass: impl FnOnce(&dyn tantivy::query::Query) -> Result<T, SearchError>,
    ) -> Result<T, SearchError> {
        let run = || {
            let request = self.request;
            let query =
                self.engine
                    .compile(&request.query, request.from.as_ref(), request.to.as_ref())?;
            pass(query.as_ref())
        };
        match &self.options.limits {
            Some(limits) => within(limits, run),
            None => run(),
        }
    }
}
