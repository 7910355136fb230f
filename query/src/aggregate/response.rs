//! The aggregation response, built from Tantivy's final results.
//!
//! ```json
//! {"took_ms": 3, "total": 114,
//!  "aggregations": {
//!    "by_namespace": {"buckets": [{"key": "default", "count": 36,
//!                                  "aggs": {"by_verb": {"buckets": [...], "other_count": 0}}}],
//!                     "other_count": 17},
//!    "per_day": {"interval": "1d", "buckets": [{"key": "2018-10-25T00:00:00Z", "count": 9}]},
//!    "ips": {"value": 9},
//!    "codes": {"count": 114, "min": 101, "max": 409, "avg": 226.4, "sum": 25810},
//!    "p": {"values": [{"percent": 50.0, "value": 200.0}]}}}
//! ```

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use kestrel_indexer::FieldKind;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tantivy::aggregation::agg_result::{
    AggregationResult as TantivyResult, AggregationResults as TantivyResults, BucketEntries,
    BucketEntry, BucketResult, MetricResult,
};
use tantivy::aggregation::metric::PercentileValues;
use tantivy::aggregation::Key;

use crate::error::SearchError;

use super::plan::Planned;
use super::request::{AggField, Aggregation};

/// The answer to an aggregation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateResponse {
    /// Time spent, in milliseconds.
    pub took_ms: u64,
    /// Number of events matching the query in the time range.
    pub total: u64,
    /// The results, by name, in request order.
    pub aggregations: NamedResults,
}

/// Results by name, in request order (a JSON object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedResults(pub Vec<(String, AggregationResult)>);

impl NamedResults {
    /// The result named `name`.
    pub fn get(&self, name: &str) -> Option<&AggregationResult> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for NamedResults {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, result) in &self.0 {
            map.serialize_entry(name, result)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for NamedResults {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Named;
        impl<'de> Visitor<'de> for Named {
            type Value = NamedResults;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of aggregation results")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedResults, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(NamedResults(out))
            }
        }
        deserializer.deserialize_map(Named)
    }
}

/// The result of one aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AggregationResult {
    /// `date_histogram`: one bucket per interval, oldest first, keys are RFC 3339 instants
    /// (the bucket's start).
    DateHistogram {
        /// The interval used (the one chosen, for `auto`).
        interval: String,
        /// The buckets.
        buckets: Vec<Bucket>,
    },
    /// `terms`: the most frequent values, most frequent first (ties by value).
    Terms {
        /// The buckets.
        buckets: Vec<Bucket>,
        /// Values of matching events not in `buckets` (each value of a multi-valued field
        /// counts once per event).
        other_count: u64,
        /// With `shard_size` only: how much any count may be under its true value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_upper_bound: Option<u64>,
    },
    /// `stats`.
    Stats {
        /// Number of values.
        count: u64,
        /// Smallest value.
        min: Option<MetricValue>,
        /// Largest value.
        max: Option<MetricValue>,
        /// Mean value.
        avg: Option<f64>,
        /// Sum of the values.
        sum: Option<MetricValue>,
    },
    /// `percentiles`, in the requested order (approximate: within about 1%).
    Percentiles {
        /// One per requested percent.
        values: Vec<PercentileValue>,
    },
    /// `min`, `max`, `avg`, `sum`, `cardinality` and `count`: one value, `null` when no event
    /// has the field.
    Value {
        /// The value.
        value: Option<MetricValue>,
    },
}

/// One bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// The value (terms) or the interval's first instant (date histogram).
    pub key: BucketKey,
    /// Number of matching events in the bucket.
    pub count: u64,
    /// Sub-aggregation results.
    #[serde(default, skip_serializing_if = "NamedResults::is_empty")]
    pub aggs: NamedResults,
}

/// A bucket key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BucketKey {
    /// A whole number (numeric fields).
    Integer(i64),
    /// A number with a fraction.
    Number(f64),
    /// A keyword value or an RFC 3339 instant.
    Text(String),
}

impl fmt::Display for BucketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketKey::Integer(i) => write!(f, "{i}"),
            BucketKey::Number(n) => write!(f, "{n}"),
            BucketKey::Text(t) => f.write_str(t),
        }
    }
}

/// A metric value: whole numbers stay whole; timestamps are RFC 3339 instants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricValue {
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Number(f64),
    /// An instant, RFC 3339, to the microsecond.
    Time(String),
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricValue::Integer(i) => write!(f, "{i}"),
            MetricValue::Number(n) => write!(f, "{n}"),
            MetricValue::Time(t) => f.write_str(t),
        }
    }
}

/// One percentile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PercentileValue {
    /// The percent asked for.
    pub percent: f64,
    /// The value (`null` when no event has the field).
    pub value: Option<f64>,
}

/// Builds the results of `planned` from Tantivy's `results`; `count` is the number of events in
/// the enclosing bucket (the total at the top).
pub fn build(
    planned: &[Planned],
    results: &TantivyResults,
    count: u64,
) -> Result<NamedResults, SearchError> {
    planned
        .iter()
        .map(|agg| {
            let result = match &agg.aggregation {
                Aggregation::Count => AggregationResult::Value {
                    value: Some(MetricValue::Integer(count as i64)),
                },
                _ => {
                    let raw = results.0.get(&agg.name).ok_or_else(|| missing(&agg.name))?;
                    convert(agg, raw)?
                }
            };
            Ok((agg.name.clone(), result))
        })
        .collect::<Result<_, SearchError>>()
        .map(NamedResults)
}

fn missing(name: &str) -> SearchError {
    SearchError::BadAggregation(format!("aggregation {name:?}: no result"))
}

fn unexpected(agg: &Planned, raw: &TantivyResult) -> SearchError {
    SearchError::BadAggregation(format!(
        "aggregation {:?}: unexpected result {raw:?}",
        agg.name
    ))
}

fn convert(agg: &Planned, raw: &TantivyResult) -> Result<AggregationResult, SearchError> {
    use MetricResult as M;
    let field_value = |field: &AggField, value: Option<f64>| value.map(|v| metric_value(field, v));
    Ok(match (&agg.aggregation, raw) {
        (
            Aggregation::Terms { shard_size, .. },
            TantivyResult::BucketResult(BucketResult::Terms {
                buckets,
                sum_other_doc_count,
                doc_count_error_upper_bound,
            }),
        ) => AggregationResult::Terms {
            buckets: buckets
                .iter()
                .map(|bucket| self::bucket(agg, bucket, term_key(&bucket.key)))
                .collect::<Result<_, _>>()?,
            other_count: *sum_other_doc_count,
            error_upper_bound: shard_size.and(Some(doc_count_error_upper_bound.unwrap_or(0))),
        },
        (
            Aggregation::DateHistogram { .. },
            TantivyResult::BucketResult(BucketResult::Histogram { buckets }),
        ) => {
            let interval = agg.interval.ok_or_else(|| unexpected(agg, raw))?;
            let mut entries: Vec<&BucketEntry> = match buckets {
                BucketEntries::Vec(entries) => entries.iter().collect(),
                BucketEntries::HashMap(entries) => entries.values().collect(),
            };
            entries.sort_by(|a, b| number_key(&a.key).total_cmp(&number_key(&b.key)));
            AggregationResult::DateHistogram {
                interval: interval.to_string(),
                buckets: entries
                    .into_iter()
                    .map(|bucket| {
                        let start = interval.bucket_start(number_key(&bucket.key) as i64);
                        self::bucket(agg, bucket, BucketKey::Text(rfc3339(start)))
                    })
                    .collect::<Result<_, _>>()?,
            }
        }
        (Aggregation::Cardinality { .. }, TantivyResult::MetricResult(M::Cardinality(single))) => {
            AggregationResult::Value {
                value: single.value.map(|v| MetricValue::Integer(v.round() as i64)),
            }
        }
        (Aggregation::Metric { field, .. }, TantivyResult::MetricResult(metric)) => match metric {
            M::Min(single) | M::Max(single) | M::Sum(single) => AggregationResult::Value {
                value: field_value(field, single.value),
            },
            M::Average(single) => AggregationResult::Value {
                value: single.value.map(MetricValue::Number),
            },
            M::Stats(stats) => AggregationResult::Stats {
                count: stats.count,
                min: field_value(field, stats.min),
                max: field_value(field, stats.max),
                avg: stats.avg,
                sum: (stats.count > 0).then(|| metric_value(field, stats.sum)),
            },
            _ => return Err(unexpected(agg, raw)),
        },
        (
            Aggregation::Percentiles { percents, .. },
            TantivyResult::MetricResult(M::Percentiles(result)),
        ) => {
            let found = |percent: f64| -> Option<f64> {
                match &result.values {
                    PercentileValues::Vec(entries) => {
                        entries.iter().find(|e| e.key == percent).map(|e| e.value)
                    }
                    PercentileValues::HashMap(entries) => entries
                        .iter()
                        .find(|(k, _)| k.parse::<f64>().ok() == Some(percent))
                        .map(|(_, v)| *v),
                }
            };
            AggregationResult::Percentiles {
                values: percents
                    .iter()
                    .map(|&percent| PercentileValue {
                        percent,
                        value: found(percent).filter(|v| v.is_finite()),
                    })
                    .collect(),
            }
        }
        _ => return Err(unexpected(agg, raw)),
    })
}

fn bucket(agg: &Planned, entry: &BucketEntry, key: BucketKey) -> Result<Bucket, SearchError> {
    Ok(Bucket {
        key,
        count: entry.doc_count,
        aggs: build(&agg.children, &entry.sub_aggregation, entry.doc_count)?,
    })
}

fn term_key(key: &Key) -> BucketKey {
    match key {
        Key::Str(text) => BucketKey::Text(text.clone()),
        Key::I64(i) => BucketKey::Integer(*i),
        Key::U64(u) => i64::try_from(*u)
            .map(BucketKey::Integer)
            .unwrap_or(BucketKey::Number(*u as f64)),
        Key::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => BucketKey::Integer(*f as i64),
        Key::F64(f) => BucketKey::Number(*f),
    }
}

fn number_key(key: &Key) -> f64 {
    match key {
        Key::F64(f) => *f,
        Key::I64(i) => *i as f64,
        Key::U64(u) => *u as f64,
        Key::Str(s) => s.parse().unwrap_or(f64::NAN),
    }
}

/// A metric value of `field`: instants for timestamps, whole numbers for integers.
fn metric_value(field: &AggField, value: f64) -> MetricValue {
    match field.kind {
        // Metrics are computed on f64, which holds nanosecond timestamps to about 0.25 µs:
        // round to the microsecond.
        FieldKind::Timestamp => MetricValue::Time(rfc3339(
            ((value / 1_000.0).round() as i64).saturating_mul(1_000),
        )),
        _ if value.fract() == 0.0 && value.abs() < 9.0e15 => MetricValue::Integer(value as i64),
        _ => MetricValue::Number(value),
    }
}

/// RFC 3339 in UTC, with as many fraction digits as needed (none, 3, 6 or 9).
fn rfc3339(nanos: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_round_trip_in_request_order() {
        let response = AggregateResponse {
            took_ms: 1,
            total: 3,
            aggregations: NamedResults(vec![
                (
                    "z".into(),
                    AggregationResult::DateHistogram {
                        interval: "1h".into(),
                        buckets: vec![Bucket {
                            key: BucketKey::Text("2024-01-01T00:00:00Z".into()),
                            count: 3,
                            aggs: NamedResults::default(),
                        }],
                    },
                ),
                (
                    "a".into(),
                    AggregationResult::Terms {
                        buckets: vec![Bucket {
                            key: BucketKey::Integer(200),
                            count: 2,
                            aggs: NamedResults(vec![(
                                "n".into(),
                                AggregationResult::Value {
                                    value: Some(MetricValue::Integer(2)),
                                },
                            )]),
                        }],
                        other_count: 1,
                        error_upper_bound: None,
                    },
                ),
                (
                    "s".into(),
                    AggregationResult::Stats {
                        count: 3,
                        min: Some(MetricValue::Integer(1)),
                        max: Some(MetricValue::Integer(5)),
                        avg: Some(2.5),
                        sum: Some(MetricValue::Integer(7)),
                    },
                ),
                (
                    "p".into(),
                    AggregationResult::Percentiles {
                        values: vec![PercentileValue {
                            percent: 50.0,
                            value: None,
                        }],
                    },
                ),
                ("v".into(), AggregationResult::Value { value: None }),
            ]),
        };
        let text = serde_json::to_string(&response).unwrap();
        assert!(
            text.find("\"z\"").unwrap() < text.find("\"a\"").unwrap(),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["aggregations"]["a"]["buckets"][0]["aggs"]["n"],
            json!({"value": 2})
        );
        assert!(value["aggregations"]["z"]["buckets"][0]
            .get("aggs")
            .is_none());
        let back: AggregateResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn timestamps_are_rounded_to_the_microsecond() {
        let field = AggField {
            path: "@timestamp".into(),
            column: "timestamp".into(),
            kind: FieldKind::Timestamp,
        };
        // 2018-10-26T11:02:48.123456Z as f64 nanoseconds is not exact.
        let nanos = 1_540_551_768_123_456_000i64;
        assert_eq!(
            metric_value(&field, nanos as f64),
            MetricValue::Time("2018-10-26T11:02:48.123456Z".into())
        );
    }
}
