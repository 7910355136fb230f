//! Running an aggregation: per partition of the time range, Tantivy's distributed collector
//! with the query and the time filter; the intermediate results merged across partitions
//! within the memory limit; one final conversion.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::{AggregationResult, MetricResult};
use tantivy::aggregation::intermediate_agg_result::{IntermediateAggregationResults, PruneMode};
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector, ValueSourceRegistry,
};
use tantivy::collector::Count;
use tantivy::query::Query as TantivyQuery;

use crate::error::SearchError;
use crate::search::{PartitionSearcher, SearchEngine};

use super::limits::{estimate_bytes, AggregationLimits};
use super::plan::{Plan, TimeSpan};
use super::request::{AggregateRequest, Aggregation, NamedAggregation};
use super::response::{build, AggregateResponse};

impl SearchEngine {
    /// Runs an aggregation request within the engine's [`AggregationLimits`]. Blocking: call it
    /// from a blocking thread in async code.
    ///
    /// Only the partitions overlapping `[from, to]` are opened. Limits: the estimated memory of
    /// the collectors and of the merged results stays under `memory_limit_bytes`, and the
    /// response holds at most `max_buckets` buckets; beyond either the request fails with
    /// [`SearchError::AggregationLimit`].
    pub fn aggregate(&self, request: &AggregateRequest) -> Result<AggregateResponse, SearchError> {
        let started = Instant::now();
        let limits = *self.aggregation_limits();
        let (from, to) = (request.from.as_ref(), request.to.as_ref());
        let query = self.compile(&request.query, from, to)?;
        let partitions = self.searchers(from, to)?;
        let run = Run {
            partitions: &partitions,
            query: query.as_ref(),
            limits: &limits,
        };

        let mut spans = HashMap::new();
        let bound = |t: Option<&chrono::DateTime<chrono::Utc>>| {
            t.map(kestrel_indexer::document::timestamp_nanos)
        };
        // `from` and `to` bound `@timestamp`; other timestamps (`event.ingested`) are only
        // bounded by the matching events.
        let range_column = self.schema().resolve("@timestamp").name;
        let mut unbounded = Vec::new();
        for column in histogram_columns(&request.aggs) {
            let (low, high) = if column == range_column {
                (bound(from), bound(to))
            } else {
                (None, None)
            };
            spans.insert(column.clone(), TimeSpan { low, high });
            if low.is_none() || high.is_none() {
                unbounded.push(column);
            }
        }
        if !unbounded.is_empty() {
            // Open ends of the range: the earliest and latest matching events.
            for (column, (min, max)) in run.data_span(&unbounded)? {
                if let Some(span) = spans.get_mut(&column) {
                    span.low = span.low.or(min);
                    span.high = span.high.or(max);
                }
            }
        }

        let plan = Plan::new(&request.aggs, &spans, &limits)?;
        let (total, merged) = run.collect(&plan.tantivy, &plan.registry)?;
        let results = match merged {
            Some(merged) => merged
                .into_final_result(
                    plan.tantivy.clone(),
                    AggregationLimitsGuard::new(
                        Some(limits.memory_limit_bytes),
                        Some(limits.max_buckets),
                    ),
                )
                .map_err(|e| limits.map_error(e))?,
            None => Default::default(),
        };
        let aggregations = build(&plan.planned, &results, total)?;
        Ok(AggregateResponse {
            took_ms: started.elapsed().as_millis() as u64,
            total,
            aggregations,
        })
    }
}

/// The timestamp columns of every date histogram of the request.
fn histogram_columns(aggs: &[NamedAggregation]) -> Vec<String> {
    let mut columns = Vec::new();
    let mut stack: Vec<&NamedAggregation> = aggs.iter().collect();
    while let Some(agg) = stack.pop() {
        if let Aggregation::DateHistogram { field, .. } = &agg.aggregation {
            if !columns.contains(&field.column) {
                columns.push(field.column.clone());
            }
        }
        stack.extend(agg.aggs.iter());
    }
    columns
}

/// Earliest and latest instant of a column among matching events, nanoseconds.
type DataSpan = (Option<i64>, Option<i64>);

struct Run<'a> {
    partitions: &'a [PartitionSearcher],
    query: &'a dyn TantivyQuery,
    limits: &'a AggregationLimits,
}

impl Run<'_> {
    /// Counts matching events and, unless `aggs` is empty, runs the aggregations on every
    /// partition and merges their intermediate results.
    fn collect(
        &self,
        aggs: &Aggregations,
        registry: &Arc<ValueSourceRegistry>,
    ) -> Result<(u64, Option<IntermediateAggregationResults>), SearchError> {
        let limits = self.limits;
        let mut total = 0u64;
        if aggs.is_empty() {
            for partition in self.partitions {
                total += partition.search(self.query, &Count)? as u64;
            }
            return Ok((total, None));
        }
        let mut merged = IntermediateAggregationResults::default();
        let mut merged_bytes = 0u64;
        for partition in self.partitions {
            // The collectors of this partition get what the merged results leave.
            let budget = limits.memory_limit_bytes.saturating_sub(merged_bytes);
            if budget == 0 {
                return Err(limits.memory_exceeded());
            }
            let context = AggContextParams::new(
                AggregationLimitsGuard::new(Some(budget), Some(limits.max_buckets)),
                partition.tokenizers(),
            )
            .with_value_sources(Arc::clone(registry));
            let collector = DistributedAggregationCollector::from_aggs(aggs.clone(), context);
            let (count, fruit) = partition
                .search(self.query, &(Count, collector))
                .map_err(|e| limits.map_error(e))?;
            total += count as u64;
            if merged_bytes + estimate_bytes(&fruit) > limits.memory_limit_bytes {
                return Err(limits.memory_exceeded());
            }
            merged
                .merge_fruits(fruit)
                .and_then(|()| merged.prune_intermediate_results(aggs, PruneMode::Intermediate))
                .map_err(|e| limits.map_error(e))?;
            merged_bytes = estimate_bytes(&merged);
            if merged_bytes > limits.memory_limit_bytes {
                return Err(limits.memory_exceeded());
            }
        }
        Ok((total, Some(merged)))
    }

    /// Earliest and latest value of each timestamp column among matching events (nanoseconds,
    /// to within a microsecond: enough to choose intervals and bounds).
    fn data_span(&self, columns: &[String]) -> Result<Vec<(String, DataSpan)>, SearchError> {
        let mut request = serde_json::Map::new();
        for (i, column) in columns.iter().enumerate() {
            request.insert(format!("min{i}"), json!({"min": {"field": column}}));
            request.insert(format!("max{i}"), json!({"max": {"field": column}}));
        }
        let aggs: Aggregations = serde_json::from_value(serde_json::Value::Object(request))?;
        let (_, merged) = self.collect(&aggs, &Arc::new(ValueSourceRegistry::default()))?;
        let Some(merged) = merged else {
            return Ok(Vec::new());
        };
        let results = merged
            .into_final_result(aggs, AggregationLimitsGuard::default())
            .map_err(|e| self.limits.map_error(e))?;
        let value = |name: String| match results.0.get(&name) {
            Some(AggregationResult::MetricResult(
                MetricResult::Min(single) | MetricResult::Max(single),
            )) => single.value.map(|v| v as i64),
            _ => None,
        };
        Ok(columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                (
                    column.clone(),
                    (value(format!("min{i}")), value(format!("max{i}"))),
                )
            })
            .collect())
    }
}
