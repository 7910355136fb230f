//! A computed column for exact date histograms: the bucket number of each event's timestamp.
//!
//! `@timestamp` is an `i64` fast field of nanoseconds (~1.7e18 today). Tantivy's histogram
//! works on `f64`, which represents such values only to the nearest 256 ns: an event a few
//! nanoseconds before a bucket boundary would be counted in the next bucket. Instead, the
//! histogram runs over this column, where each value is already the bucket number
//! (`floor(ts / interval)`, computed on integers), with an interval of 1; bucket numbers are
//! small enough to be exact in `f64`, and the bucket start is `number × interval` again on
//! integers.

use std::sync::Arc;

use tantivy::aggregation::{ValueSource, ValueSourceProvider, ValueSourceRegistry};
use tantivy::columnar::{Cardinality, Column, ColumnType, MonotonicallyMappableToU64, RowId};
use tantivy::{DocId, SegmentReader};

use super::interval::Interval;

/// Name of the computed column of bucket numbers of `column` for `interval`.
pub fn column_name(column: &str, interval: Interval) -> String {
    format!("_kestrel_bucket_{}_{column}", interval.nanos())
}

/// Registers the computed column of `column` (an `i64` nanosecond fast field) for `interval`;
/// returns its name, to use as the histogram's field.
pub fn register(registry: &mut ValueSourceRegistry, column: &str, interval: Interval) -> String {
    let name = column_name(column, interval);
    registry.register(
        &name,
        Arc::new(TimeBucketProvider {
            column: column.to_owned(),
            interval,
        }),
    );
    name
}

struct TimeBucketProvider {
    column: String,
    interval: Interval,
}

impl ValueSourceProvider for TimeBucketProvider {
    fn for_segment(
        &self,
        reader: &SegmentReader,
        _allowed_column_types: Option<&[ColumnType]>,
    ) -> tantivy::Result<Option<Box<dyn ValueSource>>> {
        let Some(column) = reader.fast_fields().column_opt::<i64>(&self.column)? else {
            return Ok(None);
        };
        Ok(Some(Box::new(TimeBucketSource {
            column: column.to_u64_monotonic(),
            interval: self.interval,
            as_f64: false,
        })))
    }
}

/// Bucket numbers of one segment's timestamps.
#[derive(Debug)]
struct TimeBucketSource {
    /// The timestamps, in Tantivy's monotonic `u64` encoding of `i64`.
    column: Column<u64>,
    interval: Interval,
    /// Whether values are handed out as `f64` (see [`ValueSource::to_f64`]).
    as_f64: bool,
}

impl ValueSource for TimeBucketSource {
    fn column_type(&self) -> ColumnType {
        if self.as_f64 {
            ColumnType::F64
        } else {
            ColumnType::I64
        }
    }

    fn load_block(
        &mut self,
        docs: &[DocId],
        values: &mut Vec<u64>,
        docids: &mut Vec<DocId>,
        row_ids: &mut Vec<RowId>,
    ) -> Cardinality {
        let mut physical = (&self.column, ColumnType::I64);
        let cardinality = physical.load_block(docs, values, docids, row_ids);
        for value in values.iter_mut() {
            let bucket = self.interval.bucket_of(i64::from_u64(*value));
            *value = if self.as_f64 {
                (bucket as f64).to_u64()
            } else {
                bucket.to_u64()
            };
        }
        cardinality
    }

    fn to_f64(self: Box<Self>) -> Box<dyn ValueSource> {
        Box::new(TimeBucketSource {
            as_f64: true,
            ..*self
        })
    }
}
