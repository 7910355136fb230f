//! From a validated request to Tantivy's aggregation request: date histogram intervals
//! resolved against the time span, computed bucket columns registered, gap-filling bounds set.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::ValueSourceRegistry;

use crate::error::SearchError;

use super::interval::Interval;
use super::limits::AggregationLimits;
use super::request::{Aggregation, IntervalSpec, Metric, NamedAggregation};
use super::time_buckets;

/// The instants a date histogram covers, per timestamp column: the request's `from`/`to`
/// where given, else the earliest/latest matching event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeSpan {
    /// First instant, nanoseconds (`None`: no bound and no matching event).
    pub low: Option<i64>,
    /// Last instant, nanoseconds.
    pub high: Option<i64>,
}

/// An aggregation of the request with what running it needs.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The requested aggregation.
    pub name: String,
    /// What it computes.
    pub aggregation: Aggregation,
    /// The interval of a date histogram, resolved (`auto` chosen).
    pub interval: Option<Interval>,
    /// Its sub-aggregations.
    pub children: Vec<Planned>,
}

/// The whole plan: our tree and Tantivy's request.
pub struct Plan {
    /// The aggregations in request order, with resolved intervals.
    pub planned: Vec<Planned>,
    /// Tantivy's request (without `count`, which comes from document counts).
    pub tantivy: Aggregations,
    /// The computed columns the request refers to.
    pub registry: Arc<ValueSourceRegistry>,
}

impl Plan {
    /// Plans `aggs`, with the time span of every timestamp column a date histogram uses.
    pub fn new(
        aggs: &[NamedAggregation],
        spans: &HashMap<String, TimeSpan>,
        limits: &AggregationLimits,
    ) -> Result<Plan, SearchError> {
        let mut registry = ValueSourceRegistry::default();
        let mut builder = Builder {
            spans,
            limits,
            registry: &mut registry,
        };
        let planned = aggs
            .iter()
            .map(|agg| builder.plan(agg))
            .collect::<Result<Vec<_>, _>>()?;
        let request = builder.request(&planned)?;
        let tantivy: Aggregations = serde_json::from_value(Value::Object(request))
            .map_err(|e| SearchError::BadAggregation(format!("cannot build the request: {e}")))?;
        Ok(Plan {
            planned,
            tantivy,
            registry: Arc::new(registry),
        })
    }
}

struct Builder<'a> {
    spans: &'a HashMap<String, TimeSpan>,
    limits: &'a AggregationLimits,
    registry: &'a mut ValueSourceRegistry,
}

impl Builder<'_> {
    fn plan(&mut self, agg: &NamedAggregation) -> Result<Planned, SearchError> {
        let interval = match &agg.aggregation {
            Aggregation::DateHistogram {
                field, interval, ..
            } => {
                let span = self.spans.get(&field.column).copied().unwrap_or_default();
                Some(match (interval, span.low, span.high) {
                    (IntervalSpec::Fixed(interval), _, _) => *interval,
                    (IntervalSpec::Auto, Some(low), Some(high)) => {
                        Interval::auto(low, high, self.limits.auto_buckets)
                    }
                    // Nothing matches and the range is open: any interval gives no bucket.
                    (IntervalSpec::Auto, _, _) => Interval::auto(0, 0, 1),
                })
            }
            _ => None,
        };
        Ok(Planned {
            name: agg.name.clone(),
            aggregation: agg.aggregation.clone(),
            interval,
            children: agg
                .aggs
                .iter()
                .map(|sub| self.plan(sub))
                .collect::<Result<_, _>>()?,
        })
    }

    fn request(&mut self, planned: &[Planned]) -> Result<Map<String, Value>, SearchError> {
        let mut out = Map::new();
        for agg in planned {
            if let Some(mut body) = self.body(agg)? {
                let sub = self.request(&agg.children)?;
                if !sub.is_empty() {
                    body.insert("aggs".into(), Value::Object(sub));
                }
                out.insert(agg.name.clone(), Value::Object(body));
            }
        }
        Ok(out)
    }

    /// Tantivy's form of one aggregation; `None` for `count`.
    fn body(&mut self, agg: &Planned) -> Result<Option<Map<String, Value>>, SearchError> {
        let body = match &agg.aggregation {
            Aggregation::Count => return Ok(None),
            Aggregation::Terms {
                field,
                size,
                shard_size,
            } => json!({"terms": {
                "field": field.column,
                "size": size,
                // Every value of every segment is kept unless asked otherwise, so that counts
                // (and `other_count`) are exact; memory stays under the limit either way.
                "segment_size": shard_size.unwrap_or(u32::MAX),
            }}),
            Aggregation::DateHistogram {
                field, min_count, ..
            } => {
                // Planned above for every date histogram.
                let interval = agg.interval.ok_or_else(|| {
                    SearchError::BadAggregation(format!("{}: no interval", agg.name))
                })?;
                let column = time_buckets::register(self.registry, &field.column, interval);
                let mut histogram = json!({
                    "field": column,
                    "interval": 1.0,
                    "min_doc_count": min_count,
                });
                let span = self.spans.get(&field.column).copied().unwrap_or_default();
                if let (Some(low), Some(high), 0) = (span.low, span.high, *min_count) {
                    // The series covers the whole span, empty buckets included: refuse before
                    // Tantivy fills millions of them.
                    let buckets = interval.buckets_between(low, high);
                    if buckets > u64::from(self.limits.max_buckets) {
                        return Err(self.limits.buckets_exceeded(buckets));
                    }
                    histogram["extended_bounds"] = json!({
                        "min": interval.bucket_of(low) as f64,
                        "max": interval.bucket_of(high) as f64,
                    });
                }
                json!({ "histogram": histogram })
            }
            Aggregation::Cardinality { field } => {
                json!({"cardinality": {"field": field.column}})
            }
            Aggregation::Metric { metric, field } => {
                let kind = match metric {
                    Metric::Min => "min",
                    Metric::Max => "max",
                    Metric::Avg => "avg",
                    Metric::Sum => "sum",
                    Metric::Stats => "stats",
                };
                json!({ kind: {"field": field.column} })
            }
            Aggregation::Percentiles { field, percents } => json!({"percentiles": {
                "field": field.column,
                "percents": percents,
                "keyed": false,
            }}),
        };
        Ok(Some(object(body)))
    }
}

/// The map of a `json!({...})` value.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
