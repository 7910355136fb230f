//! The sort keys of the matching documents of one partition: read from the fast columns in
//! one pass of the query, never from the stored events.

use std::ops::Range;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// Fast column of `@timestamp` (nanoseconds).
const TIMESTAMP_COLUMN: &str = "timestamp";
/// Fast column of `event.id`.
const ID_COLUMN: &str = "event_id";

/// Where a matching document sits in the order of hits, and where to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    /// `@timestamp` in nanoseconds (`i64::MIN` when absent, as in a search).
    pub timestamp: i64,
    /// The rank of the `event.id` in its segment's dictionary, plus one (0 when absent): the
    /// order of the ids themselves within a segment.
    pub id_rank: u32,
    /// The document in its segment.
    pub doc: DocId,
}

/// The keys of one segment's matching documents, sorted.
pub(crate) struct SegmentKeys {
    /// The segment.
    pub segment_ord: SegmentOrdinal,
    /// Sorted by `(timestamp, id)`.
    pub keys: Vec<Key>,
    /// The segment's `event.id` column, to compare ids across segments.
    pub ids: Option<StrColumn>,
}

/// Collects the keys whose timestamp falls in a window of seconds of a UTC day (see
/// [`bucket`]).
pub(crate) struct KeyCollector {
    /// First nanosecond of the day.
    pub day_start: i64,
    /// The seconds of the day kept.
    pub window: Range<usize>,
}

impl Collector for KeyCollector {
    type Fruit = Vec<SegmentKeys>;
    type Child = SegmentKeyCollector;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<SegmentKeyCollector> {
        let fast = segment.fast_fields();
        Ok(SegmentKeyCollector {
            timestamps: fast.column_opt::<i64>(TIMESTAMP_COLUMN)?,
            ids: fast.str(ID_COLUMN)?,
            day_start: self.day_start,
            window: self.window.clone(),
            keys: SegmentKeys {
                segment_ord,
                keys: Vec::new(),
                ids: None,
            },
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Option<SegmentKeys>>) -> tantivy::Result<Vec<SegmentKeys>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

/// [`KeyCollector`] over one segment.
pub(crate) struct SegmentKeyCollector {
    timestamps: Option<Column<i64>>,
    ids: Option<StrColumn>,
    day_start: i64,
    window: Range<usize>,
    keys: SegmentKeys,
}

impl SegmentCollector for SegmentKeyCollector {
    type Fruit = Option<SegmentKeys>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let timestamp = self
            .timestamps
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(i64::MIN);
        if !self.window.contains(&bucket(self.day_start, timestamp)) {
            return;
        }
        // Ranks are below the segment's document count, itself below `u32::MAX`.
        let id_rank = self
            .ids
            .as_ref()
            .and_then(|c| c.ords().first(doc))
            .map_or(0, |ord| ord as u32 + 1);
        self.keys.keys.push(Key {
            timestamp,
            id_rank,
            doc,
        });
    }

    fn harvest(mut self) -> Option<SegmentKeys> {
        if self.keys.keys.is_empty() {
            return None;
        }
        self.keys.keys.sort_unstable();
        // The keys are held until the window is read: give back the growth slack.
        self.keys.keys.shrink_to_fit();
        self.keys.ids = self.ids;
        Some(self.keys)
    }
}

/// Counts the matching documents per second of a UTC day, to cut the day into windows of
/// bounded size.
pub(crate) struct HistogramCollector {
    /// First nanosecond of the day.
    pub day_start: i64,
}

/// Seconds in a UTC day: the histogram's buckets.
pub(crate) const BUCKETS: usize = 86_400;

/// The bucket of a timestamp: its second of the day, earlier instants in the first bucket
/// and later ones in the last.
pub(crate) fn bucket(day_start: i64, timestamp: i64) -> usize {
    let second = timestamp
        .saturating_sub(day_start)
        .div_euclid(1_000_000_000);
    second.clamp(0, BUCKETS as i64 - 1) as usize
}

impl Collector for HistogramCollector {
    type Fruit = Vec<u64>;
    type Child = SegmentHistogram;

    fn for_segment(
        &self,
        _segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<SegmentHistogram> {
        Ok(SegmentHistogram {
            timestamps: segment.fast_fields().column_opt::<i64>(TIMESTAMP_COLUMN)?,
            day_start: self.day_start,
            counts: vec![0; BUCKETS],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        let mut total = vec![0; BUCKETS];
        for fruit in fruits {
            for (sum, count) in total.iter_mut().zip(fruit) {
                *sum += count;
            }
        }
        Ok(total)
    }
}

/// [`HistogramCollector`] over one segment.
pub(crate) struct SegmentHistogram {
    timestamps: Option<Column<i64>>,
    day_start: i64,
    counts: Vec<u64>,
}

impl SegmentCollector for SegmentHistogram {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let timestamp = self
            .timestamps
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(i64::MIN);
        self.counts[bucket(self.day_start, timestamp)] += 1;
    }

    fn harvest(self) -> Vec<u64> {
        self.counts
    }
}
