//! Memory and bucket limits of aggregations, the estimate of the memory held by merged
//! results, and the errors raised when a limit is hit.

use std::mem::size_of;

use tantivy::aggregation::intermediate_agg_result::{
    IntermediateAggregationResult, IntermediateAggregationResults, IntermediateBucketResult,
    IntermediateHistogramBucketEntry, IntermediateKey, IntermediateMetricResult,
    IntermediateTermBucketEntry,
};
use tantivy::aggregation::AggregationError;
use tantivy::TantivyError;

use crate::error::SearchError;

/// Default memory limit of one aggregation request: 256 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 256 << 20;
/// Default largest number of buckets one request may return (all levels together).
pub const DEFAULT_MAX_BUCKETS: u32 = 10_000;
/// Default number of buckets an `auto` date histogram aims at, at most.
pub const DEFAULT_AUTO_BUCKETS: u64 = 100;

/// Limits of one aggregation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregationLimits {
    /// Estimated memory one request may use, in bytes: Tantivy's collectors (per partition)
    /// plus the results merged so far. Exceeding it fails the request (HTTP 422), never the
    /// process.
    pub memory_limit_bytes: u64,
    /// Largest number of buckets a request may return, counting sub-aggregation buckets; also
    /// the largest terms `size` and date histogram length.
    pub max_buckets: u32,
    /// Number of buckets an `auto` date histogram aims at, at most.
    pub auto_buckets: u64,
}

impl Default for AggregationLimits {
    fn default() -> Self {
        AggregationLimits {
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT,
            max_buckets: DEFAULT_MAX_BUCKETS,
            auto_buckets: DEFAULT_AUTO_BUCKETS,
        }
    }
}

impl AggregationLimits {
    /// The error of a request that needs more memory than allowed.
    pub fn memory_exceeded(&self) -> SearchError {
        SearchError::AggregationLimit(format!(
            "aggregation exceeds the memory limit of {}; narrow the time range or the query, \
             lower size, or set shard_size on terms aggregations",
            human_bytes(self.memory_limit_bytes)
        ))
    }

    /// The error of a request that would return more buckets than allowed.
    pub fn buckets_exceeded(&self, buckets: u64) -> SearchError {
        SearchError::AggregationLimit(format!(
            "aggregation would return {buckets} buckets, more than the limit of {}; narrow the \
             time range, use a larger interval or lower size",
            self.max_buckets
        ))
    }

    /// Maps Tantivy's errors: limits to [`SearchError::AggregationLimit`], invalid requests to
    /// [`SearchError::BadAggregation`], the rest unchanged.
    pub fn map_error(&self, error: TantivyError) -> SearchError {
        match error {
            TantivyError::AggregationError(AggregationError::MemoryExceeded { .. }) => {
                self.memory_exceeded()
            }
            TantivyError::AggregationError(AggregationError::BucketLimitExceeded {
                current,
                ..
            }) => self.buckets_exceeded(u64::from(current)),
            TantivyError::AggregationError(AggregationError::InvalidRequest(reason)) => {
                SearchError::BadAggregation(reason)
            }
            other => SearchError::Tantivy(other),
        }
    }
}

/// `268435456` → `256 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if bytes >= unit {
            let whole = bytes / unit;
            return if whole * unit == bytes {
                format!("{whole} {name}")
            } else {
                format!("{:.1} {name}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// Estimated heap bytes held by merged (intermediate) results: bucket entries with their keys
/// and lookup tables, sketches of cardinality and percentiles. An estimate, like Tantivy's own
/// accounting of its collectors: it keeps the request within the same order of magnitude as
/// its limit.
pub fn estimate_bytes(results: &IntermediateAggregationResults) -> u64 {
    results
        .keys()
        .filter_map(|name| results.get(name).map(|r| (name, r)))
        .map(|(name, result)| {
            (name.len() + size_of::<String>() + size_of::<IntermediateAggregationResult>()) as u64
                + result_bytes(result)
        })
        .sum()
}

/// An HLL sketch of 2^11 registers (`lg_k` 11) in Tantivy, with its bookkeeping.
const CARDINALITY_SKETCH_BYTES: u64 = 4 << 10;
/// A DDSketch of percentiles holds a bounded number of bins.
const PERCENTILES_SKETCH_BYTES: u64 = 16 << 10;

fn result_bytes(result: &IntermediateAggregationResult) -> u64 {
    match result {
        IntermediateAggregationResult::Metric(metric) => match metric {
            IntermediateMetricResult::Cardinality(_) => CARDINALITY_SKETCH_BYTES,
            IntermediateMetricResult::Percentiles(_) => PERCENTILES_SKETCH_BYTES,
            _ => 0,
        },
        IntermediateAggregationResult::Bucket(bucket) => match bucket {
            IntermediateBucketResult::Terms { buckets } => buckets
                .entries()
                .iter()
                .map(|(key, entry)| {
                    // The entry, plus one slot of the key → position table built on merge.
                    (size_of::<(IntermediateKey, IntermediateTermBucketEntry)>()
                        + size_of::<(IntermediateKey, u32)>()
                        + 2 * key_bytes(key)) as u64
                        + estimate_bytes(&entry.sub_aggregation)
                })
                .sum(),
            IntermediateBucketResult::Histogram { buckets, .. } => buckets
                .iter()
                .map(|entry| {
                    size_of::<IntermediateHistogramBucketEntry>() as u64
                        + estimate_bytes(&entry.sub_aggregation)
                })
                .sum(),
            // Kinds Kestrel does not request.
            _ => 0,
        },
    }
}

fn key_bytes(key: &IntermediateKey) -> usize {
    match key {
        IntermediateKey::Str(text) => text.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_printed_for_people() {
        assert_eq!(human_bytes(DEFAULT_MEMORY_LIMIT), "256 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }

    #[test]
    fn limit_errors_are_client_errors() {
        let limits = AggregationLimits::default();
        let error = limits.map_error(TantivyError::AggregationError(
            AggregationError::MemoryExceeded {
                limit: 10u64.into(),
                current: 20u64.into(),
            },
        ));
        assert!(error.is_client_error());
        assert!(
            error.to_string().contains("memory limit of 256 MiB"),
            "{error}"
        );
    }
}
