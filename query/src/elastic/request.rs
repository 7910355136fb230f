//! Parsing of `_msearch` requests: the NDJSON pairs, and each search body (query, time range,
//! hits, sort, aggregations) into a [`Search`].

use chrono::{DateTime, TimeZone, Utc};
use kestrel_indexer::EventSchema;
use serde_json::{Map, Value};

use crate::aggregate::Interval;
use crate::language::{parse, parse_time, Query};
use crate::search::{Cursor, SortOrder};

use super::error::ElasticError;
use super::lucene::translate_query_string;
use super::{DEFAULT_INDEX, TIME_FIELD};

/// One search of an `_msearch` body, translated.
#[derive(Debug, Clone)]
pub struct Search {
    /// The index named by the header (echoed in hits as `_index`).
    pub index: String,
    /// The query, time range excluded.
    pub query: Query,
    /// Earliest `@timestamp` (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Latest `@timestamp` (inclusive).
    pub to: Option<DateTime<Utc>>,
    /// Hits to return.
    pub size: usize,
    /// Order of hits by `@timestamp`.
    pub order: SortOrder,
    /// Continue after this hit (from a previous hit's `sort` values).
    pub search_after: Option<Cursor>,
    /// Whether hits carry `fields` with the time field (asked by `fields` or
    /// `docvalue_fields`).
    pub time_fields: bool,
    /// The aggregations.
    pub aggs: Vec<EsAgg>,
}

/// An Elasticsearch aggregation Kestrel can compute.
#[derive(Debug, Clone, PartialEq)]
pub enum EsAgg {
    /// `terms`.
    Terms {
        /// Its name.
        name: String,
        /// The field.
        field: String,
        /// Buckets returned.
        size: u32,
        /// Bucket order.
        order: TermsOrder,
        /// Buckets with fewer events are left out (at least 1).
        min_doc_count: u64,
        /// Key of a bucket for events without the field.
        missing: Option<String>,
        /// Sub-aggregations.
        children: Vec<EsAgg>,
    },
    /// `date_histogram`.
    DateHistogram {
        /// Its name.
        name: String,
        /// The field.
        field: String,
        /// Bucket width.
        interval: Interval,
        /// Buckets with fewer events are left out (`0`: every bucket of the time range).
        min_doc_count: u64,
        /// Sub-aggregations.
        children: Vec<EsAgg>,
    },
    /// A metric.
    Metric {
        /// Its name.
        name: String,
        /// Which one.
        kind: MetricKind,
        /// The field.
        field: String,
    },
}

impl EsAgg {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            EsAgg::Terms { name, .. }
            | EsAgg::DateHistogram { name, .. }
            | EsAgg::Metric { name, .. } => name,
        }
    }

    /// Its sub-aggregations.
    pub fn children(&self) -> &[EsAgg] {
        match self {
            EsAgg::Terms { children, .. } | EsAgg::DateHistogram { children, .. } => children,
            EsAgg::Metric { .. } => &[],
        }
    }
}

/// The metrics Kestrel computes.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricKind {
    /// `avg`.
    Avg,
    /// `sum`.
    Sum,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `cardinality` (approximate).
    Cardinality,
    /// `percentiles` (approximate).
    Percentiles(Vec<f64>),
}

impl MetricKind {
    /// Kestrel's (and Elasticsearch's) name of the kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            MetricKind::Avg => "avg",
            MetricKind::Sum => "sum",
            MetricKind::Min => "min",
            MetricKind::Max => "max",
            MetricKind::Cardinality => "cardinality",
            MetricKind::Percentiles(_) => "percentiles",
        }
    }
}

/// Order of terms buckets.
#[derive(Debug, Clone, PartialEq)]
pub enum TermsOrder {
    /// Most events first (Kestrel's own order; ties by key).
    CountDesc,
    /// Fewest events first.
    CountAsc,
    /// By key.
    Key {
        /// Largest first.
        descending: bool,
    },
    /// By the value of a metric sub-aggregation.
    Metric {
        /// The sub-aggregation's name.
        name: String,
        /// Largest first.
        descending: bool,
    },
}

/// Splits an `_msearch` body into `(header, body)` pairs; blank lines are skipped. A line that
/// is not JSON fails the whole request, naming the line.
pub fn parse_msearch(body: &[u8]) -> Result<Vec<(Value, Value)>, ElasticError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ElasticError::Parsing(format!("_msearch body is not UTF-8: {e}")))?;
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            ElasticError::Parsing(format!("_msearch line {}: invalid JSON: {e}", number + 1))
        })?;
        lines.push(value);
    }
    if lines.len() % 2 != 0 {
        return Err(ElasticError::Parsing(
            "_msearch body must hold header and search lines in pairs; the last search line is \
             missing"
                .into(),
        ));
    }
    let mut pairs = Vec::with_capacity(lines.len() / 2);
    let mut iter = lines.into_iter();
    while let (Some(header), Some(body)) = (iter.next(), iter.next()) {
        pairs.push((header, body));
    }
    Ok(pairs)
}

/// Keys of a search body accepted and ignored (presentation only).
const IGNORED_KEYS: [&str; 9] = [
    "script_fields",
    "highlight",
    "_source",
    "track_total_hits",
    "stored_fields",
    "timeout",
    "version",
    "seq_no_primary_term",
    "explain",
];

/// Translates one search of an `_msearch` request (its header and body).
pub fn parse_search(
    header: &Value,
    body: &Value,
    schema: &EventSchema,
    now: DateTime<Utc>,
) -> Result<Search, ElasticError> {
    let index = match header.get("index") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .first()
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_INDEX)
            .to_owned(),
        _ => DEFAULT_INDEX.to_owned(),
    };
    let Value::Object(body) = body else {
        return Err(ElasticError::Parsing(format!(
            "a search body must be a JSON object, found {body}"
        )));
    };
    let mut search = Search {
        index,
        query: Query::All,
        from: None,
        to: None,
        size: 10,
        order: SortOrder::Desc,
        search_after: None,
        time_fields: false,
        aggs: Vec::new(),
    };
    for (key, value) in body {
        match key.as_str() {
            "size" => search.size = number(value, "size")? as usize,
            "from" if number(value, "from")? == 0 => {}
            "from" => {
                return Err(ElasticError::Unsupported(
                    "\"from\" (offset paging) is not supported: page with search_after".into(),
                ))
            }
            "query" => {
                let mut scope = TimeScope::default();
                search.query = clause(value, schema, &mut scope, now)?.simplify();
                search.from = scope.from;
                search.to = scope.to;
            }
            "sort" => search.order = sort(value)?,
            "aggs" | "aggregations" => search.aggs = aggregations(value, None)?,
            "docvalue_fields" | "fields" => search.time_fields |= names_time_field(value),
            "search_after" => search.search_after = search_after(value)?,
            other if IGNORED_KEYS.contains(&other) => {}
            other => {
                return Err(ElasticError::Unsupported(format!(
                    "search parameter {other:?} is not supported"
                )))
            }
        }
    }
    Ok(search)
}

fn number(value: &Value, name: &str) -> Result<u64, ElasticError> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        ElasticError::Parsing(format!(
            "[{name}] must be a non-negative whole number, found {value}"
        ))
    })
}

fn names_time_field(value: &Value) -> bool {
    value.as_array().is_some_and(|items| {
        items.iter().any(|item| match item {
            Value::String(s) => s == TIME_FIELD,
            Value::Object(o) => o.get("field").and_then(Value::as_str) == Some(TIME_FIELD),
            _ => false,
        })
    })
}

/// The time range collected from `range` clauses on the time field (intersected).
#[derive(Default)]
struct TimeScope {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// One query clause.
fn clause(
    value: &Value,
    schema: &EventSchema,
    scope: &mut TimeScope,
    now: DateTime<Utc>,
) -> Result<Query, ElasticError> {
    let Some((kind, body)) = value.as_object().and_then(single_entry) else {
        return Err(ElasticError::Parsing(format!(
            "a query clause must be an object with one key, found {value}"
        )));
    };
    match kind {
        "match_all" => Ok(Query::All),
        "bool" => boolean(body, schema, scope, now),
        "range" => range(body, scope, now),
        "query_string" => {
            let text = body.get("query").and_then(Value::as_str).ok_or_else(|| {
                ElasticError::Parsing("[query_string] requires a \"query\" string".into())
            })?;
            let default_and = match body.get("default_operator").and_then(Value::as_str) {
                None => false,
                Some(op) if op.eq_ignore_ascii_case("or") => false,
                Some(op) if op.eq_ignore_ascii_case("and") => true,
                Some(op) => {
                    return Err(ElasticError::Parsing(format!(
                        "[query_string] default_operator must be AND or OR, not {op:?}"
                    )))
                }
            };
            translate_query_string(text, default_and, schema)
        }
        "term" | "match_phrase" => {
            let (field, value) = field_value(kind, body)?;
            Ok(match value {
                Value::String(text) => Query::Phrase {
                    field: Some(field.to_owned()),
                    text: text.clone(),
                },
                other => Query::Term {
                    field: Some(field.to_owned()),
                    value: other.to_string(),
                },
            })
        }
        "terms" => {
            let (field, values) = body
                .as_object()
                .and_then(single_entry)
                .ok_or_else(|| ElasticError::Parsing("[terms] needs one field".into()))?;
            let values = values
                .as_array()
                .ok_or_else(|| ElasticError::Parsing("[terms] values must be an array".into()))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>();
            if values.is_empty() {
                return Ok(Query::Not(Box::new(Query::All)));
            }
            Ok(Query::In {
                field: field.to_owned(),
                values,
            })
        }
        "exists" => {
            let field = body.get("field").and_then(Value::as_str).ok_or_else(|| {
                ElasticError::Parsing("[exists] requires a \"field\" string".into())
            })?;
            Ok(Query::Exists {
                field: field.to_owned(),
            })
        }
        other => Err(ElasticError::Unsupported(format!(
            "query type [{other}] is not supported; supported: bool, range, query_string, \
             match_all, term, terms, match_phrase, exists"
        ))),
    }
}

fn single_entry(object: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut iter = object.iter();
    match (iter.next(), iter.next()) {
        (Some((k, v)), None) => Some((k.as_str(), v)),
        _ => None,
    }
}

/// `{"field": value}` or `{"field": {"value"|"query": value}}`.
fn field_value<'a>(kind: &str, body: &'a Value) -> Result<(&'a str, &'a Value), ElasticError> {
    let (field, value) = body
        .as_object()
        .and_then(single_entry)
        .ok_or_else(|| ElasticError::Parsing(format!("[{kind}] needs exactly one field")))?;
    let value = match value {
        Value::Object(o) => o
            .get("value")
            .or_else(|| o.get("query"))
            .ok_or_else(|| ElasticError::Parsing(format!("[{kind}] {field}: missing value")))?,
        other => other,
    };
    Ok((field, value))
}

fn boolean(
    body: &Value,
    schema: &EventSchema,
    scope: &mut TimeScope,
    now: DateTime<Utc>,
) -> Result<Query, ElasticError> {
    let Value::Object(body) = body else {
        return Err(ElasticError::Parsing("[bool] must be an object".into()));
    };
    let mut required = Vec::new();
    let mut optional = Vec::new();
    for (key, value) in body {
        match key.as_str() {
            "filter" | "must" => {
                for item in one_or_many(value) {
                    required.push(clause(item, schema, scope, now)?);
                }
            }
            "must_not" => {
                // Time ranges inside must_not are not a scope: translate them as queries.
                let mut ignored = TimeScope::default();
                for item in one_or_many(value) {
                    let inner = clause(item, schema, &mut ignored, now)?;
                    if ignored.from.is_some() || ignored.to.is_some() {
                        return Err(ElasticError::Unsupported(
                            "a range on the time field inside bool.must_not is not supported"
                                .into(),
                        ));
                    }
                    required.push(Query::Not(Box::new(inner)));
                }
            }
            "should" => {
                let mut ignored = TimeScope::default();
                for item in one_or_many(value) {
                    optional.push(clause(item, schema, &mut ignored, now)?);
                }
                if ignored.from.is_some() || ignored.to.is_some() {
                    return Err(ElasticError::Unsupported(
                        "a range on the time field inside bool.should is not supported".into(),
                    ));
                }
            }
            "minimum_should_match" | "boost" | "adjust_pure_negative" => {}
            other => {
                return Err(ElasticError::Unsupported(format!(
                    "[bool] key {other:?} is not supported"
                )))
            }
        }
    }
    if !optional.is_empty() {
        let positive = required.iter().any(|q| !matches!(q, Query::Not(_)));
        if positive {
            return Err(ElasticError::Unsupported(
                "bool.should together with filter/must is not supported (it only changes \
                 scores there)"
                    .into(),
            ));
        }
        required.push(Query::Or(optional));
    }
    Ok(Query::And(required))
}

fn range(body: &Value, scope: &mut TimeScope, now: DateTime<Utc>) -> Result<Query, ElasticError> {
    let Some((field, bounds)) = body.as_object().and_then(single_entry) else {
        return Err(ElasticError::Parsing(
            "[range] needs exactly one field".into(),
        ));
    };
    let Value::Object(bounds) = bounds else {
        return Err(ElasticError::Parsing(format!(
            "[range] {field}: bounds must be an object"
        )));
    };
    let format = bounds.get("format").and_then(Value::as_str);
    if field == TIME_FIELD {
        for (key, value) in bounds {
            let nanos = match key.as_str() {
                "gte" | "gt" | "lte" | "lt" | "from" | "to" if value.is_null() => continue,
                "gte" | "gt" | "lte" | "lt" | "from" | "to" => time_bound(value, format, now)?,
                "format" | "boost" | "include_lower" | "include_upper" => continue,
                "time_zone" => continue,
                other => {
                    return Err(ElasticError::Unsupported(format!(
                        "[range] {field}: parameter {other:?} is not supported"
                    )))
                }
            };
            let (lower, bound) = match key.as_str() {
                "gte" | "from" => (true, nanos),
                "gt" => (true, nanos.saturating_add(1)),
                "lte" | "to" => (false, nanos),
                _ => (false, nanos.saturating_sub(1)),
            };
            let instant = Utc.timestamp_nanos(bound);
            if lower {
                scope.from = Some(scope.from.map_or(instant, |f| f.max(instant)));
            } else {
                scope.to = Some(scope.to.map_or(instant, |t| t.min(instant)));
            }
        }
        return Ok(Query::All);
    }
    let bound = |key: &str| -> Option<String> {
        bounds.get(key).filter(|v| !v.is_null()).map(|v| match v {
            Value::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            other => other.to_string(),
        })
    };
    let (lower, open) = match (bound("gte"), bound("gt")) {
        (Some(v), _) => (v, '['),
        (None, Some(v)) => (v, '{'),
        _ => ("*".to_owned(), '['),
    };
    let (upper, close) = match (bound("lte"), bound("lt")) {
        (Some(v), _) => (v, ']'),
        (None, Some(v)) => (v, '}'),
        _ => ("*".to_owned(), ']'),
    };
    let text = format!("{field}:{open}{lower} TO {upper}{close}");
    let query = parse(&text)
        .map_err(|e| ElasticError::Query(format!("[range] on {field}: {e} (in {text})")))?;
    Ok(query)
}

/// A time bound: epoch milliseconds (number, or string with `format: epoch_millis`), RFC 3339,
/// or `now-1h`-style date math; in nanoseconds.
fn time_bound(
    value: &Value,
    format: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i64, ElasticError> {
    let millis = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if format.is_some_and(|f| f.contains("epoch_millis")) => {
            s.trim().parse::<i64>().ok()
        }
        _ => None,
    };
    if let Some(millis) = millis {
        return millis.checked_mul(1_000_000).ok_or_else(|| {
            ElasticError::Parsing(format!("[range] time bound {value} is out of range"))
        });
    }
    let text = value.as_str().ok_or_else(|| {
        ElasticError::Parsing(format!("[range] time bound {value} is not a time"))
    })?;
    let instant = parse_time(text.trim(), now)
        .map_err(|e| ElasticError::Parsing(format!("[range] time bound {text:?}: {e}")))?;
    instant.timestamp_nanos_opt().ok_or_else(|| {
        ElasticError::Parsing(format!("[range] time bound {text:?} is out of range"))
    })
}

/// The order of hits: only the time field (then `_doc`/`_score`, ignored) can sort.
fn sort(value: &Value) -> Result<SortOrder, ElasticError> {
    let mut entries: Vec<(String, Value)> = Vec::new();
    for item in one_or_many(value) {
        match item {
            Value::String(field) => entries.push((field.clone(), Value::Null)),
            Value::Object(object) => {
                entries.extend(object.iter().map(|(k, v)| (k.clone(), v.clone())))
            }
            other => {
                return Err(ElasticError::Parsing(format!(
                    "[sort] entries must be field names or objects, found {other}"
                )))
            }
        }
    }
    let mut order = SortOrder::Desc;
    for (field, spec) in entries {
        if field == "_doc" || field == "_score" {
            continue;
        }
        if field != TIME_FIELD {
            return Err(ElasticError::Unsupported(format!(
                "sorting by {field:?} is not supported: hits are sorted by {TIME_FIELD}"
            )));
        }
        let direction = match &spec {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("order").and_then(Value::as_str),
            _ => None,
        };
        order = match direction {
            None | Some("desc") => SortOrder::Desc,
            Some("asc") => SortOrder::Asc,
            Some(other) => {
                return Err(ElasticError::Parsing(format!(
                    "[sort] order must be asc or desc, not {other:?}"
                )))
            }
        };
    }
    Ok(order)
}

/// `search_after`: the `sort` values of a hit answered before (the cursor is the second one).
fn search_after(value: &Value) -> Result<Option<Cursor>, ElasticError> {
    let cursor = value
        .as_array()
        .and_then(|items| items.iter().find_map(Value::as_str))
        .ok_or_else(|| {
            ElasticError::Unsupported(
                "search_after takes the sort values of a hit returned by this API".into(),
            )
        })?;
    Cursor::decode(cursor).map(Some).map_err(ElasticError::from)
}

const AGG_KINDS: &str = "date_histogram, terms, avg, sum, min, max, cardinality, percentiles";

/// The named aggregations of an `aggs` object.
fn aggregations(value: &Value, parent: Option<&str>) -> Result<Vec<EsAgg>, ElasticError> {
    let Value::Object(aggs) = value else {
        return Err(ElasticError::Parsing(format!(
            "[aggs] must be an object of named aggregations, found {value}"
        )));
    };
    aggs.iter()
        .map(|(name, body)| {
            let label = match parent {
                Some(p) => format!("{p} > {name}"),
                None => name.clone(),
            };
            aggregation(&label, name, body)
        })
        .collect()
}

fn aggregation(label: &str, name: &str, body: &Value) -> Result<EsAgg, ElasticError> {
    let Value::Object(object) = body else {
        return Err(ElasticError::Parsing(format!(
            "aggregation [{label}] must be an object"
        )));
    };
    let mut kind = None;
    let mut children = Vec::new();
    for (key, value) in object {
        match key.as_str() {
            "aggs" | "aggregations" => children = aggregations(value, Some(label))?,
            "meta" => {}
            other => {
                if kind.replace((other, value)).is_some() {
                    return Err(ElasticError::Parsing(format!(
                        "aggregation [{label}] defines more than one kind"
                    )));
                }
            }
        }
    }
    let Some((kind, spec)) = kind else {
        return Err(ElasticError::Parsing(format!(
            "aggregation [{label}] has no kind; supported: {AGG_KINDS}"
        )));
    };
    let field = || -> Result<String, ElasticError> {
        spec.get("field")
            .and_then(Value::as_str)
            .map(|f| f.strip_suffix(".keyword").unwrap_or(f).to_owned())
            .ok_or_else(|| {
                ElasticError::Parsing(format!("aggregation [{label}] {kind}: missing \"field\""))
            })
    };
    let metric = |kind: MetricKind| -> Result<EsAgg, ElasticError> {
        if !children.is_empty() {
            return Err(ElasticError::Parsing(format!(
                "aggregation [{label}]: metric aggregations take no sub-aggregations"
            )));
        }
        Ok(EsAgg::Metric {
            name: name.to_owned(),
            kind,
            field: field()?,
        })
    };
    match kind {
        "date_histogram" => Ok(EsAgg::DateHistogram {
            name: name.to_owned(),
            field: spec
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or(TIME_FIELD)
                .to_owned(),
            interval: histogram_interval(label, spec)?,
            min_doc_count: match spec.get("min_doc_count") {
                Some(v) => number(v, "min_doc_count")?,
                None => 0,
            },
            children,
        }),
        "terms" => terms(label, name, spec, field()?, children),
        "avg" => metric(MetricKind::Avg),
        "sum" => metric(MetricKind::Sum),
        "min" => metric(MetricKind::Min),
        "max" => metric(MetricKind::Max),
        "cardinality" => metric(MetricKind::Cardinality),
        "percentiles" => {
            let percents = match spec.get("percents") {
                None => vec![1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0],
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|p| match p {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| {
                        ElasticError::Parsing(format!(
                            "aggregation [{label}]: percents must be numbers"
                        ))
                    })?,
                Some(other) => {
                    return Err(ElasticError::Parsing(format!(
                        "aggregation [{label}]: percents must be an array, found {other}"
                    )))
                }
            };
            metric(MetricKind::Percentiles(percents))
        }
        other => Err(ElasticError::Unsupported(format!(
            "aggregation [{label}]: [{other}] is not supported by Kestrel; supported: \
             {AGG_KINDS} (Grafana's count metric needs no aggregation)"
        ))),
    }
}

fn histogram_interval(label: &str, spec: &Value) -> Result<Interval, ElasticError> {
    for (key, value) in spec.as_object().into_iter().flatten() {
        match key.as_str() {
            "field" | "min_doc_count" | "extended_bounds" | "format" | "hard_bounds"
            | "fixed_interval" | "calendar_interval" | "interval" => {}
            // Every event has a timestamp: a bucket for events without one would be empty.
            "missing" => {}
            "keyed" if value == &Value::Bool(false) => {}
            "time_zone" => {
                let zone = value.as_str().unwrap_or("");
                if !matches!(zone, "utc" | "UTC" | "Z" | "+00:00" | "Etc/UTC") {
                    return Err(ElasticError::Unsupported(format!(
                        "aggregation [{label}]: time_zone {value} is not supported: buckets \
                         are aligned in UTC"
                    )));
                }
            }
            "offset" if value.as_str().is_some_and(|s| s.trim().is_empty()) => {}
            other => {
                return Err(ElasticError::Unsupported(format!(
                    "aggregation [{label}]: date_histogram parameter {other:?} is not supported"
                )))
            }
        }
    }
    let text = ["fixed_interval", "calendar_interval", "interval"]
        .iter()
        .find_map(|key| spec.get(*key).and_then(Value::as_str))
        .ok_or_else(|| {
            ElasticError::Parsing(format!(
                "aggregation [{label}]: date_histogram needs fixed_interval"
            ))
        })?;
    let normalized = match text.trim() {
        "minute" | "1m" => "1m",
        "hour" | "1h" => "1h",
        "day" | "1d" => "1d",
        "week" | "1w" => "1w",
        other => other,
    };
    Interval::parse(normalized).map_err(|reason| {
        ElasticError::Unsupported(format!(
            "aggregation [{label}]: {reason} (months, quarters and years are not supported)"
        ))
    })
}

fn terms(
    label: &str,
    name: &str,
    spec: &Value,
    field: String,
    children: Vec<EsAgg>,
) -> Result<EsAgg, ElasticError> {
    let mut size = 10u64;
    let mut order = TermsOrder::CountDesc;
    let mut min_doc_count = 1u64;
    let mut missing = None;
    for (key, value) in spec.as_object().into_iter().flatten() {
        match key.as_str() {
            "field" | "shard_size" | "execution_hint" | "show_term_doc_count_error" => {}
            "size" => size = number(value, "size")?,
            "min_doc_count" => min_doc_count = number(value, "min_doc_count")?.max(1),
            "missing" => {
                missing = Some(
                    value
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| value.to_string()),
                )
            }
            "order" => order = terms_order(label, value, &children)?,
            other => {
                return Err(ElasticError::Unsupported(format!(
                    "aggregation [{label}]: terms parameter {other:?} is not supported"
                )))
            }
        }
    }
    if size == 0 {
        return Err(ElasticError::Parsing(format!(
            "aggregation [{label}]: [size] must be greater than 0"
        )));
    }
    Ok(EsAgg::Terms {
        name: name.to_owned(),
        field,
        size: u32::try_from(size).unwrap_or(u32::MAX),
        order,
        min_doc_count,
        missing,
        children,
    })
}

fn terms_order(label: &str, value: &Value, children: &[EsAgg]) -> Result<TermsOrder, ElasticError> {
    let entries = one_or_many(value);
    let Some((key, direction)) = entries
        .first()
        .and_then(|v| v.as_object())
        .and_then(single_entry)
    else {
        return Err(ElasticError::Parsing(format!(
            "aggregation [{label}]: terms order must be {{\"<key>\": \"asc\"|\"desc\"}}"
        )));
    };
    let descending = match direction.as_str() {
        Some("desc") => true,
        Some("asc") => false,
        _ => {
            return Err(ElasticError::Parsing(format!(
                "aggregation [{label}]: terms order direction must be asc or desc"
            )))
        }
    };
    Ok(match key {
        "_count" if descending => TermsOrder::CountDesc,
        "_count" => TermsOrder::CountAsc,
        "_key" | "_term" => TermsOrder::Key { descending },
        metric => {
            let known = children
                .iter()
                .any(|c| c.name() == metric && matches!(c, EsAgg::Metric { kind, .. } if !matches!(kind, MetricKind::Percentiles(_))));
            if !known {
                return Err(ElasticError::Unsupported(format!(
                    "aggregation [{label}]: terms order by {metric:?} must name a single-value \
                     metric sub-aggregation, _count or _key"
                )));
            }
            TermsOrder::Metric {
                name: metric.to_owned(),
                descending,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn search(body: Value) -> Result<Search, ElasticError> {
        parse_search(
            &json!({"index": "logs", "ignore_unavailable": true}),
            &body,
            &EventSchema::new(),
            Utc::now(),
        )
    }

    fn error(body: Value) -> String {
        search(body)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn time_range_and_query_string_of_a_grafana_filter() {
        let parsed = search(json!({
            "size": 500,
            "query": {"bool": {"filter": [
                {"range": {"@timestamp": {"format": "epoch_millis", "gte": 1668422437218_i64, "lte": 1668422625668_i64}}},
                {"query_string": {"analyze_wildcard": true, "query": "verb:get stage:ResponseComplete"}}
            ]}},
            "sort": {"@timestamp": {"order": "asc", "unmapped_type": "boolean"}, "_doc": {"order": "desc"}},
            "fields": [{"field": "@timestamp", "format": "strict_date_optional_time_nanos"}],
            "script_fields": {},
        }))
        .unwrap();
        assert_eq!(parsed.index, "logs");
        assert_eq!(parsed.size, 500);
        assert_eq!(parsed.order, SortOrder::Asc);
        assert!(parsed.time_fields);
        assert_eq!(parsed.from.unwrap().timestamp_millis(), 1668422437218);
        assert_eq!(parsed.to.unwrap().timestamp_millis(), 1668422625668);
        assert_eq!(
            parsed.query.to_string(),
            "verb:get OR stage:ResponseComplete"
        );
    }

    #[test]
    fn exclusive_bounds_and_ranges_on_other_fields() {
        let parsed = search(json!({"query": {"bool": {
            "filter": [{"range": {"@timestamp": {"gt": 1000, "lt": 2000}}},
                       {"range": {"@timestamp": {"gte": "2024-01-01T00:00:00Z"}}},
                       {"range": {"responseStatus.code": {"gte": 400, "lt": 500}}}],
            "must_not": {"term": {"verb": "watch"}}}}}))
        .unwrap();
        // The later lower bound wins; exclusive bounds move by a nanosecond.
        assert_eq!(
            parsed.from.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
        assert_eq!(
            parsed.to.unwrap().timestamp_nanos_opt(),
            Some(2000 * 1_000_000 - 1)
        );
        assert_eq!(
            parsed.query.to_string(),
            "responseStatus.code:[400 TO 500} AND NOT verb:\"watch\""
        );
    }

    #[test]
    fn aggregations_of_grafana_metric_queries() {
        let parsed = search(json!({"size": 0, "aggs": {"4": {
            "terms": {"field": "verb", "size": "5", "order": {"1": "desc"}, "min_doc_count": 0},
            "aggs": {"1": {"avg": {"field": "responseStatus.code"}},
                     "2": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30s",
                            "min_doc_count": 0, "extended_bounds": {"min": 1, "max": 2},
                            "format": "epoch_millis"}}}}}}))
        .unwrap();
        let EsAgg::Terms {
            size,
            order,
            min_doc_count,
            children,
            ..
        } = &parsed.aggs[0]
        else {
            panic!("{:?}", parsed.aggs)
        };
        assert_eq!((*size, *min_doc_count), (5, 1));
        assert_eq!(
            order,
            &TermsOrder::Metric {
                name: "1".into(),
                descending: true
            }
        );
        match &children[1] {
            EsAgg::DateHistogram { interval, .. } => assert_eq!(interval.nanos(), 30_000_000_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_cannot_be_translated_is_named() {
        for (body, needle) in [
            (
                json!({"aggs": {"1": {"moving_avg": {"buckets_path": "x"}}}}),
                "[moving_avg]",
            ),
            (
                json!({"aggs": {"1": {"date_histogram": {"calendar_interval": "1M"}}}}),
                "months",
            ),
            (
                json!({"aggs": {"1": {"date_histogram": {"fixed_interval": "1m", "time_zone": "Europe/Paris"}}}}),
                "UTC",
            ),
            (
                json!({"aggs": {"1": {"terms": {"field": "verb", "order": {"9": "asc"}}}}}),
                "\"9\"",
            ),
            (json!({"sort": [{"verb": "asc"}]}), "sorting by \"verb\""),
            (json!({"from": 20}), "search_after"),
            (json!({"query": {"fuzzy": {"verb": "gte"}}}), "[fuzzy]"),
            (
                json!({"query": {"query_string": {"query": "verb:get^2"}}}),
                "boost",
            ),
            (json!({"suggest": {}}), "\"suggest\""),
        ] {
            let text = error(body.clone());
            assert!(text.contains(needle), "{body}: {text}");
        }
    }

    #[test]
    fn msearch_lines_come_in_pairs_and_bad_lines_are_named() {
        let pairs = parse_msearch(b"{\"index\":\"a\"}\n{\"size\":0}\n\n{}\n{}\n").unwrap();
        assert_eq!(pairs.len(), 2);
        let text = parse_msearch(b"{}\n{\"size\":\n").unwrap_err().to_string();
        assert!(text.contains("line 2"), "{text}");
        let text = parse_msearch(b"{}\n").unwrap_err().to_string();
        assert!(text.contains("pairs"), "{text}");
    }

    #[test]
    fn errors_have_the_elasticsearch_shape() {
        let json = ElasticError::Unsupported("no".into()).to_json();
        assert_eq!(json["status"], 400);
        assert_eq!(json["error"]["type"], "illegal_argument_exception");
        assert_eq!(json["error"]["root_cause"][0]["reason"], "no");
    }
}
