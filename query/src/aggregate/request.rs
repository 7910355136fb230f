//! The aggregation request: its JSON form ([`AggregateParams`]) and the validated request
//! ([`AggregateRequest`]) whose fields are resolved against the index mapping.

use chrono::{DateTime, Utc};
use kestrel_indexer::schema::{EventSchema, FieldKind, FIELD_SPECS};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::SearchError;
use crate::language::{parse, parse_time, Query};

use super::interval::Interval;
use super::limits::AggregationLimits;

/// Terms buckets returned when a `terms` aggregation gives no `size`.
pub const DEFAULT_TERMS_SIZE: u32 = 10;
/// Percentiles computed when a `percentiles` aggregation gives no `percents`.
pub const DEFAULT_PERCENTS: [f64; 3] = [50.0, 95.0, 99.0];

/// The body of `POST /api/v1/aggregate`, as sent.
///
/// ```json
/// {"q": "verb:create", "from": "now-1d", "to": "now",
///  "aggs": {"by_namespace": {"terms": {"field": "objectRef.namespace", "size": 5},
///                            "aggs": {"by_verb": {"terms": {"field": "verb"}}}},
///           "per_hour": {"date_histogram": {"field": "@timestamp", "interval": "auto"}}}}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateParams {
    /// The query; empty or absent matches everything.
    #[serde(default)]
    pub q: Option<String>,
    /// Earliest `@timestamp`: RFC 3339 or relative (`now-15m`).
    #[serde(default)]
    pub from: Option<String>,
    /// Latest `@timestamp`.
    #[serde(default)]
    pub to: Option<String>,
    /// The aggregations, by name, each `{"<kind>": {...}, "aggs": {...}}`.
    #[serde(default)]
    pub aggs: Map<String, Value>,
}

/// A validated aggregation request.
#[derive(Debug, Clone)]
pub struct AggregateRequest {
    /// The parsed query.
    pub query: Query,
    /// Earliest `@timestamp` (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Latest `@timestamp` (inclusive).
    pub to: Option<DateTime<Utc>>,
    /// The aggregations, in request order.
    pub aggs: Vec<NamedAggregation>,
}

/// An aggregation and the name its result is returned under.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedAggregation {
    /// The caller's name for it.
    pub name: String,
    /// What to compute.
    pub aggregation: Aggregation,
    /// Aggregations computed in each bucket (bucket aggregations only; one level deep).
    pub aggs: Vec<NamedAggregation>,
}

/// One aggregation. Fields are dotted event paths (`objectRef.namespace`), already checked to
/// have a fast (columnar) copy of a suitable type.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregation {
    /// The `size` most frequent values of a keyword or numeric field, with their counts.
    Terms {
        /// The field.
        field: AggField,
        /// How many buckets to return.
        size: u32,
        /// Keep only the top `shard_size` values of each index segment: bounds memory on fields
        /// with very many values, at the price of approximate counts. `None` (the default)
        /// keeps every value, so counts are exact.
        shard_size: Option<u32>,
    },
    /// Counts per time interval.
    DateHistogram {
        /// A timestamp field (`@timestamp`, `event.ingested`).
        field: AggField,
        /// Bucket width.
        interval: IntervalSpec,
        /// Buckets with fewer events are left out; `0` (the default) returns a gap-free series.
        min_count: u64,
    },
    /// Approximate number of distinct values (HyperLogLog).
    Cardinality {
        /// The field.
        field: AggField,
    },
    /// A single-value or multi-value numeric metric.
    Metric {
        /// Which one.
        metric: Metric,
        /// The field.
        field: AggField,
    },
    /// Approximate percentiles of a numeric field.
    Percentiles {
        /// The field.
        field: AggField,
        /// Percents in `[0, 100]`.
        percents: Vec<f64>,
    },
    /// The number of matching events (in the enclosing bucket, if any).
    Count,
}

impl Aggregation {
    /// The request name of the kind (`terms`, `date_histogram`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Aggregation::Terms { .. } => "terms",
            Aggregation::DateHistogram { .. } => "date_histogram",
            Aggregation::Cardinality { .. } => "cardinality",
            Aggregation::Metric { metric, .. } => metric.as_str(),
            Aggregation::Percentiles { .. } => "percentiles",
            Aggregation::Count => "count",
        }
    }

    /// Whether it makes buckets (and may hold sub-aggregations).
    pub fn is_bucket(&self) -> bool {
        matches!(
            self,
            Aggregation::Terms { .. } | Aggregation::DateHistogram { .. }
        )
    }
}

/// The numeric metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Mean value.
    Avg,
    /// Sum of the values.
    Sum,
    /// Count, min, max, avg and sum at once.
    Stats,
}

impl Metric {
    /// The request name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Min => "min",
            Metric::Max => "max",
            Metric::Avg => "avg",
            Metric::Sum => "sum",
            Metric::Stats => "stats",
        }
    }
}

/// Requested width of date histogram buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalSpec {
    /// Chosen to give at most [`AggregationLimits::auto_buckets`] buckets over the time range.
    Auto,
    /// A fixed width.
    Fixed(Interval),
}

/// A field being aggregated: its dotted path and its column in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggField {
    /// The dotted event path, as the caller wrote it.
    pub path: String,
    /// The Tantivy fast field name.
    pub column: String,
    /// How it is indexed.
    pub kind: FieldKind,
}

/// What a kind of aggregation accepts.
#[derive(Debug, Clone, Copy)]
enum Accepts {
    /// Keyword and integer fields (`terms`, `cardinality`).
    Discrete,
    /// Timestamps (`date_histogram`).
    Time,
    /// Integers and timestamps (`min`, `max`).
    Ordered,
    /// Integers (`avg`, `sum`, `stats`, `percentiles`).
    Numeric,
}

impl Accepts {
    fn allows(self, kind: FieldKind) -> bool {
        match self {
            Accepts::Discrete => matches!(kind, FieldKind::Keyword | FieldKind::Integer),
            Accepts::Time => kind == FieldKind::Timestamp,
            Accepts::Ordered => matches!(kind, FieldKind::Integer | FieldKind::Timestamp),
            Accepts::Numeric => kind == FieldKind::Integer,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Accepts::Discrete => "keyword and numeric fields",
            Accepts::Time => "timestamp fields",
            Accepts::Ordered => "numeric and timestamp fields",
            Accepts::Numeric => "numeric fields",
        }
    }

    /// The fields of the mapping this kind can aggregate.
    fn fields(self) -> Vec<&'static str> {
        FIELD_SPECS
            .iter()
            .filter(|spec| spec.fast && self.allows(spec.kind))
            .map(|spec| spec.path)
            .collect()
    }
}

fn kind_label(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Timestamp => "a timestamp field",
        FieldKind::Id => "an id field",
        FieldKind::Keyword => "a keyword field",
        FieldKind::Text => "a text field",
        FieldKind::Integer => "a numeric field",
        FieldKind::Json => "a sub-field of a JSON object",
        FieldKind::Ip => "an IP address field",
    }
}

impl AggregateRequest {
    /// Validates the JSON form: parses the query and times (relative to `now`), checks every
    /// aggregation and resolves its field against `schema`.
    pub fn from_params(
        params: &AggregateParams,
        schema: &EventSchema,
        limits: &AggregationLimits,
        now: DateTime<Utc>,
    ) -> Result<AggregateRequest, SearchError> {
        let text = params.q.as_deref().unwrap_or("").trim();
        let query = if text.is_empty() {
            Query::All
        } else {
            parse(text)?
        };
        let time = |name: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    parse_time(v.trim(), now).map_err(|e| SearchError::BadParameter {
                        name,
                        reason: e.to_string(),
                    })
                })
                .transpose()
        };
        let from = time("from", &params.from)?;
        let to = time("to", &params.to)?;
        if let (Some(f), Some(t)) = (&from, &to) {
            if f > t {
                return Err(SearchError::BadParameter {
                    name: "from",
                    reason: format!("{} is after to ({})", f.to_rfc3339(), t.to_rfc3339()),
                });
            }
        }
        if params.aggs.is_empty() {
            return Err(SearchError::BadAggregation(
                "\"aggs\" is empty: ask for at least one aggregation, e.g. \
                 {\"by_verb\": {\"terms\": {\"field\": \"verb\"}}}"
                    .into(),
            ));
        }
        let parser = Parser { schema, limits };
        let aggs = parser.aggregations(&params.aggs, None)?;
        Ok(AggregateRequest {
            query,
            from,
            to,
            aggs,
        })
    }
}

struct Parser<'a> {
    schema: &'a EventSchema,
    limits: &'a AggregationLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TermsBody {
    field: String,
    #[serde(default)]
    size: Option<u32>,
    #[serde(default)]
    shard_size: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DateHistogramBody {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    min_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldBody {
    field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PercentilesBody {
    field: String,
    #[serde(default)]
    percents: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountBody {}

const KINDS: &str =
    "terms, date_histogram, cardinality, min, max, avg, sum, stats, percentiles, count";

impl Parser<'_> {
    fn aggregations(
        &self,
        aggs: &Map<String, Value>,
        parent: Option<&str>,
    ) -> Result<Vec<NamedAggregation>, SearchError> {
        aggs.iter()
            .map(|(name, body)| {
                let label = match parent {
                    Some(parent) => format!("{parent} > {name}"),
                    None => name.clone(),
                };
                if name.trim().is_empty() {
                    return Err(bad(&label, "aggregation names must not be empty"));
                }
                self.aggregation(&label, name, body, parent.is_some())
            })
            .collect()
    }

    fn aggregation(
        &self,
        label: &str,
        name: &str,
        body: &Value,
        nested: bool,
    ) -> Result<NamedAggregation, SearchError> {
        let Value::Object(object) = body else {
            return Err(bad(
                label,
                format!("expected an object such as {{\"terms\": {{\"field\": \"verb\"}}}}, found {body}"),
            ));
        };
        let mut kind = None;
        let mut sub = None;
        for (key, value) in object {
            if key == "aggs" {
                sub = Some(value);
            } else if kind.replace((key.as_str(), value)).is_some() {
                return Err(bad(
                    label,
                    "give exactly one aggregation kind per name (sub-aggregations go in \"aggs\")",
                ));
            }
        }
        let Some((kind, spec)) = kind else {
            return Err(bad(
                label,
                format!("missing the aggregation kind, one of {KINDS}"),
            ));
        };
        let aggregation = self.kind(label, kind, spec)?;
        let aggs =
            match sub {
                None => Vec::new(),
                Some(_) if nested => return Err(bad(
                    label,
                    "sub-aggregations nest one level only: this aggregation is already inside a \
                     bucket",
                )),
                Some(_) if !aggregation.is_bucket() => {
                    return Err(bad(
                        label,
                        format!(
                        "{} makes no buckets: only terms and date_histogram take sub-aggregations",
                        aggregation.kind()
                    ),
                    ))
                }
                Some(Value::Object(sub)) => self.aggregations(sub, Some(label))?,
                Some(other) => {
                    return Err(bad(
                        label,
                        format!("\"aggs\" must be an object of named aggregations, found {other}"),
                    ))
                }
            };
        Ok(NamedAggregation {
            name: name.to_owned(),
            aggregation,
            aggs,
        })
    }

    fn kind(&self, label: &str, kind: &str, spec: &Value) -> Result<Aggregation, SearchError> {
        let metric = |metric: Metric| -> Result<Aggregation, SearchError> {
            let body: FieldBody = body(label, kind, spec)?;
            let accepts = match metric {
                Metric::Min | Metric::Max => Accepts::Ordered,
                _ => Accepts::Numeric,
            };
            Ok(Aggregation::Metric {
                metric,
                field: self.field(label, kind, &body.field, accepts)?,
            })
        };
        match kind {
            "terms" => {
                let body: TermsBody = body(label, kind, spec)?;
                let size = body.size.unwrap_or(DEFAULT_TERMS_SIZE);
                let max = self.limits.max_buckets;
                if size == 0 || size > max {
                    return Err(bad(
                        label,
                        format!("terms size must be between 1 and {max}, not {size}"),
                    ));
                }
                if body.shard_size.is_some_and(|s| s < size) {
                    return Err(bad(label, "terms shard_size must be at least size"));
                }
                Ok(Aggregation::Terms {
                    field: self.field(label, kind, &body.field, Accepts::Discrete)?,
                    size,
                    shard_size: body.shard_size,
                })
            }
            "date_histogram" => {
                let body: DateHistogramBody = body(label, kind, spec)?;
                let path = body.field.as_deref().unwrap_or("@timestamp");
                let interval = match body.interval.as_deref().map(str::trim) {
                    None | Some("auto") | Some("") => IntervalSpec::Auto,
                    Some(text) => IntervalSpec::Fixed(
                        Interval::parse(text).map_err(|reason| bad(label, reason))?,
                    ),
                };
                Ok(Aggregation::DateHistogram {
                    field: self.field(label, kind, path, Accepts::Time)?,
                    interval,
                    min_count: body.min_count.unwrap_or(0),
                })
            }
            "cardinality" => {
                let body: FieldBody = body(label, kind, spec)?;
                Ok(Aggregation::Cardinality {
                    field: self.field(label, kind, &body.field, Accepts::Discrete)?,
                })
            }
            "min" => metric(Metric::Min),
            "max" => metric(Metric::Max),
            "avg" => metric(Metric::Avg),
            "sum" => metric(Metric::Sum),
            "stats" => metric(Metric::Stats),
            "percentiles" => {
                let body: PercentilesBody = body(label, kind, spec)?;
                let percents = body.percents.unwrap_or_else(|| DEFAULT_PERCENTS.to_vec());
                if percents.is_empty() || percents.len() > 100 {
                    return Err(bad(label, "percents must list 1 to 100 values"));
                }
                if let Some(p) = percents
                    .iter()
                    .find(|p| !(0.0..=100.0).contains(*p) || p.is_nan())
                {
                    return Err(bad(
                        label,
                        format!("percents must be between 0 and 100, not {p}"),
                    ));
                }
                Ok(Aggregation::Percentiles {
                    field: self.field(label, kind, &body.field, Accepts::Numeric)?,
                    percents,
                })
            }
            "count" => {
                let _: CountBody = body(label, kind, spec)?;
                Ok(Aggregation::Count)
            }
            other => Err(bad(
                label,
                format!("unknown aggregation kind {other:?}; expected one of {KINDS}"),
            )),
        }
    }

    /// Resolves `path` and checks that `kind` can aggregate it.
    fn field(
        &self,
        label: &str,
        kind: &str,
        path: &str,
        accepts: Accepts,
    ) -> Result<AggField, SearchError> {
        let allowed = || {
            format!(
                "{kind} accepts {} with a fast (columnar) copy: {}",
                accepts.describe(),
                accepts.fields().join(", ")
            )
        };
        let resolved = self.schema.resolve(path);
        if resolved.json_path.is_some() {
            return Err(bad(
                label,
                format!(
                    "field {path:?} cannot be aggregated: it is not a typed field of the event \
                     schema (only searchable as text); {}",
                    allowed()
                ),
            ));
        }
        if !resolved.fast {
            return Err(bad(
                label,
                format!(
                    "field {path:?} cannot be aggregated: it is {} without a fast (columnar) \
                     copy; {}",
                    kind_label(resolved.kind),
                    allowed()
                ),
            ));
        }
        if !accepts.allows(resolved.kind) {
            return Err(bad(
                label,
                format!(
                    "field {path:?} is {}; {}",
                    kind_label(resolved.kind),
                    allowed()
                ),
            ));
        }
        Ok(AggField {
            path: path.to_owned(),
            column: resolved.name,
            kind: resolved.kind,
        })
    }
}

fn body<T: DeserializeOwned>(label: &str, kind: &str, spec: &Value) -> Result<T, SearchError> {
    T::deserialize(spec).map_err(|e| bad(label, format!("{kind}: {e}")))
}

fn bad(label: &str, reason: impl std::fmt::Display) -> SearchError {
    SearchError::BadAggregation(format!("aggregation {label:?}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(aggs: Value) -> Result<AggregateRequest, SearchError> {
        let params: AggregateParams = serde_json::from_value(json!({ "aggs": aggs })).unwrap();
        AggregateRequest::from_params(
            &params,
            &EventSchema::new(),
            &AggregationLimits::default(),
            Utc::now(),
        )
    }

    fn error(aggs: Value) -> String {
        request(aggs).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_kind_with_defaults() {
        let request = request(json!({
            "ns": {"terms": {"field": "objectRef.namespace"}, "aggs": {"v": {"terms": {"field": "verb", "size": 3}}}},
            "t": {"date_histogram": {}},
            "ips": {"cardinality": {"field": "sourceIPs"}},
            "lo": {"min": {"field": "@timestamp"}},
            "s": {"stats": {"field": "responseStatus.code"}},
            "p": {"percentiles": {"field": "responseStatus.code"}},
            "n": {"count": {}},
        }))
        .unwrap();
        let names: Vec<&str> = request.aggs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            ["ns", "t", "ips", "lo", "s", "p", "n"],
            "request order kept"
        );
        match &request.aggs[0].aggregation {
            Aggregation::Terms {
                field,
                size,
                shard_size,
            } => {
                assert_eq!(field.column, "objectRef_namespace");
                assert_eq!((*size, *shard_size), (DEFAULT_TERMS_SIZE, None));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(request.aggs[0].aggs[0].name, "v");
        match &request.aggs[1].aggregation {
            Aggregation::DateHistogram {
                field,
                interval,
                min_count,
            } => {
                assert_eq!(field.column, "timestamp");
                assert_eq!((*interval, *min_count), (IntervalSpec::Auto, 0));
            }
            other => panic!("{other:?}"),
        }
        match &request.aggs[5].aggregation {
            Aggregation::Percentiles { percents, .. } => assert_eq!(percents, &DEFAULT_PERCENTS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fields_that_cannot_be_aggregated_are_named_with_what_is_allowed() {
        let text = error(json!({"m": {"terms": {"field": "message"}}}));
        assert!(
            text.contains("\"message\"") && text.contains("text field"),
            "{text}"
        );
        assert!(
            text.contains("verb") && text.contains("responseStatus.code"),
            "{text}"
        );
        let text = error(json!({"u": {"terms": {"field": "user.extra.scopes"}}}));
        assert!(text.contains("not a typed field"), "{text}");
        let text = error(json!({"a": {"avg": {"field": "verb"}}}));
        assert!(
            text.contains("keyword field") && text.contains("numeric fields"),
            "{text}"
        );
        let text = error(json!({"r": {"terms": {"field": "requestURI"}}}));
        assert!(text.contains("without a fast"), "{text}");
        let text = error(json!({"h": {"date_histogram": {"field": "verb"}}}));
        assert!(text.contains("@timestamp, event.ingested"), "{text}");
    }

    #[test]
    fn malformed_requests_are_explained() {
        assert!(
            error(json!({"x": {"median": {"field": "verb"}}})).contains("unknown aggregation kind")
        );
        assert!(
            error(json!({"x": {"terms": {"field": "verb", "siz": 3}}})).contains("unknown field")
        );
        assert!(error(
            json!({"x": {"terms": {"field": "verb"}, "min": {"field": "responseStatus.code"}}})
        )
        .contains("exactly one"));
        assert!(
            error(json!({"x": {"count": {}, "aggs": {"y": {"count": {}}}}})).contains("no buckets")
        );
        assert!(error(json!({"x": {"terms": {"field": "verb"}, "aggs": {
            "y": {"terms": {"field": "stage"}, "aggs": {"z": {"count": {}}}}}}}))
        .contains("one level"));
        assert!(error(json!({"x": {"terms": {"field": "verb", "size": 0}}})).contains("size"));
        assert!(error(json!({"x": {"date_histogram": {"interval": "1y"}}})).contains("interval"));
        assert!(error(
            json!({"x": {"percentiles": {"field": "responseStatus.code", "percents": [101]}}})
        )
        .contains("between 0 and 100"));
        assert!(error(json!({})).contains("empty"));
    }
}
