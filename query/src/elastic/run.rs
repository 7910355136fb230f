//! Runs a translated search on Kestrel's engine: hits through [`SearchEngine::search`],
//! aggregations through [`SearchEngine::aggregate`].
//!
//! Kestrel nests aggregations one level deep (a bucket aggregation holding metrics or a plain
//! bucket aggregation). Deeper Elasticsearch trees (Grafana's terms > date_histogram > metric)
//! run level by level: the outer buckets first, then each bucket's sub-aggregations over the
//! events of that bucket (the query refined by the term, or the time range narrowed to the
//! interval). Terms ordered otherwise than by descending count fetch every term (exact counts),
//! then sort and cut.

use std::cmp::Ordering;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

use crate::aggregate::{
    AggregateParams, AggregateRequest, AggregateResponse, AggregationResult, Bucket, BucketKey,
    MetricValue,
};
use crate::language::Query;
use crate::search::{SearchEngine, SearchRequest, SortOrder};

use super::error::ElasticError;
use super::request::{EsAgg, MetricKind, Search, TermsOrder};
use super::response::{envelope, hit};

/// The events an aggregation level runs over.
#[derive(Debug, Clone)]
struct Scope {
    query: Query,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// Runs one search and answers it in Elasticsearch's shape. Blocking.
pub fn run_search(
    engine: &SearchEngine,
    search: &Search,
    max_size: usize,
) -> Result<Value, ElasticError> {
    let started = Instant::now();
    if search.size > max_size {
        return Err(ElasticError::Unsupported(format!(
            "size {} is above the maximum of {max_size} (query.max_limit)",
            search.size
        )));
    }
    let scope = Scope {
        query: search.query.clone(),
        from: search.from,
        to: search.to,
    };
    let mut total = None;
    let mut hits = Vec::new();
    if search.size > 0 || search.aggs.is_empty() {
        let response = engine.search(&SearchRequest {
            query: scope.query.clone(),
            from: scope.from,
            to: scope.to,
            limit: search.size,
            order: search.order,
            search_after: search.search_after.clone(),
            fields: Vec::new(),
            count_total: true,
        })?;
        total = Some(response.total);
        hits = response
            .hits
            .into_iter()
            .map(|event| hit(&search.index, event, search.time_fields))
            .collect();
    }
    let aggregations = if search.aggs.is_empty() {
        None
    } else {
        let (count, results) = evaluate(engine, &scope, &search.aggs)?;
        total.get_or_insert(count);
        Some(Value::Object(results))
    };
    Ok(envelope(
        started.elapsed().as_millis() as u64,
        total.unwrap_or(0),
        hits,
        aggregations,
    ))
}

/// Whether Kestrel computes `agg` inside a bucket in the same pass.
fn native_child(agg: &EsAgg) -> bool {
    match agg {
        EsAgg::Metric { .. } => true,
        EsAgg::DateHistogram { children, .. } => children.is_empty(),
        EsAgg::Terms {
            children,
            order,
            missing,
            ..
        } => children.is_empty() && *order == TermsOrder::CountDesc && missing.is_none(),
    }
}

/// Runs `aggs` over `scope`: one Kestrel aggregation request for this level, then the levels
/// below bucket by bucket. Returns the matching event count and the results by name.
fn evaluate(
    engine: &SearchEngine,
    scope: &Scope,
    aggs: &[EsAgg],
) -> Result<(u64, Map<String, Value>), ElasticError> {
    let mut request = Map::new();
    for agg in aggs {
        request.insert(agg.name().to_owned(), kestrel_agg(engine, agg, true));
    }
    let response = aggregate(engine, scope, request)?;
    let mut out = Map::new();
    for agg in aggs {
        let result = response.aggregations.get(agg.name()).ok_or_else(|| {
            ElasticError::Unsupported(format!("aggregation [{}] gave no result", agg.name()))
        })?;
        out.insert(agg.name().to_owned(), shape(engine, scope, agg, result)?);
    }
    Ok((response.total, out))
}

fn aggregate(
    engine: &SearchEngine,
    scope: &Scope,
    aggs: Map<String, Value>,
) -> Result<AggregateResponse, ElasticError> {
    let params = AggregateParams {
        aggs,
        ..AggregateParams::default()
    };
    let mut request = AggregateRequest::from_params(
        &params,
        engine.schema(),
        engine.aggregation_limits(),
        Utc::now(),
    )?;
    request.query = scope.query.clone();
    request.from = scope.from;
    request.to = scope.to;
    Ok(engine.aggregate(&request)?)
}

/// The Kestrel form of `agg`; `top` adds the sub-aggregations computed in the same pass.
fn kestrel_agg(engine: &SearchEngine, agg: &EsAgg, top: bool) -> Value {
    let children = |children: &[EsAgg]| -> Option<Map<String, Value>> {
        let native: Map<String, Value> = children
            .iter()
            .filter(|c| top && native_child(c))
            .map(|c| (c.name().to_owned(), kestrel_agg(engine, c, false)))
            .collect();
        (!native.is_empty()).then_some(native)
    };
    let mut body = match agg {
        EsAgg::Metric { kind, field, .. } => {
            return match kind {
                MetricKind::Percentiles(percents) => {
                    json!({"percentiles": {"field": field, "percents": percents}})
                }
                other => json!({ other.as_str(): {"field": field} }),
            }
        }
        EsAgg::Terms {
            field,
            size,
            order,
            missing,
            ..
        } => {
            let size = if *order == TermsOrder::CountDesc && missing.is_none() {
                *size
            } else {
                engine.aggregation_limits().max_buckets
            };
            json!({"terms": {"field": field, "size": size}})
        }
        EsAgg::DateHistogram {
            field,
            interval,
            min_doc_count,
            ..
        } => json!({"date_histogram": {
            "field": field,
            "interval": format!("{}ms", interval.nanos() / 1_000_000),
            "min_count": min_doc_count,
        }}),
    };
    if let Some(sub) = children(agg.children()) {
        body["aggs"] = Value::Object(sub);
    }
    body
}

/// Elasticsearch's form of a Kestrel result, with the levels Kestrel did not compute filled in.
fn shape(
    engine: &SearchEngine,
    scope: &Scope,
    agg: &EsAgg,
    result: &AggregationResult,
) -> Result<Value, ElasticError> {
    match agg {
        EsAgg::Metric { kind, .. } => Ok(metric(kind, result)),
        EsAgg::DateHistogram {
            interval, children, ..
        } => {
            let AggregationResult::DateHistogram { buckets, .. } = result else {
                return Err(unexpected(agg));
            };
            let mut out = Vec::with_capacity(buckets.len());
            for bucket in buckets {
                let start = key_nanos(&bucket.key)?;
                let end = start.saturating_add(interval.nanos() - 1);
                let sub = Scope {
                    query: scope.query.clone(),
                    from: Some(later(scope.from, Utc.timestamp_nanos(start))),
                    to: Some(earlier(scope.to, Utc.timestamp_nanos(end))),
                };
                let millis = start.div_euclid(1_000_000);
                let mut object = native_results(engine, &sub, children, bucket)?;
                object.insert("key_as_string".into(), json!(millis.to_string()));
                object.insert("key".into(), json!(millis));
                object.insert("doc_count".into(), json!(bucket.count));
                fan_out(engine, &sub, children, &mut object)?;
                out.push(Value::Object(object));
            }
            Ok(json!({ "buckets": out }))
        }
        EsAgg::Terms {
            field,
            size,
            order,
            min_doc_count,
            missing,
            children,
            ..
        } => {
            let AggregationResult::Terms {
                buckets,
                other_count,
                ..
            } = result
            else {
                return Err(unexpected(agg));
            };
            let mut rows = Vec::with_capacity(buckets.len() + 1);
            let mut all = *other_count;
            for bucket in buckets {
                all += bucket.count;
                if bucket.count < *min_doc_count {
                    continue;
                }
                let refine = key_query(field, &bucket.key);
                let mut object = native_results(engine, scope, children, bucket)?;
                object.insert("key".into(), key_json(&bucket.key));
                object.insert("doc_count".into(), json!(bucket.count));
                rows.push(Row {
                    count: bucket.count,
                    key: key_json(&bucket.key),
                    refine: Some(refine),
                    object,
                });
            }
            if let Some(missing) = missing {
                let sub = Scope {
                    query: Query::And(vec![
                        scope.query.clone(),
                        Query::Not(Box::new(Query::Exists {
                            field: field.clone(),
                        })),
                    ]),
                    ..scope.clone()
                };
                let count = count(engine, &sub)?;
                all += count;
                if count >= *min_doc_count {
                    let mut object = if children.is_empty() {
                        Map::new()
                    } else {
                        evaluate(engine, &sub, children)?.1
                    };
                    object.insert("key".into(), json!(missing));
                    object.insert("doc_count".into(), json!(count));
                    rows.push(Row {
                        count,
                        key: json!(missing),
                        refine: None,
                        object,
                    });
                }
            }
            sort_rows(&mut rows, order);
            rows.truncate(*size as usize);
            let kept: u64 = rows.iter().map(|r| r.count).sum();
            let mut out = Vec::with_capacity(rows.len());
            for mut row in rows {
                if let Some(refine) = row.refine {
                    let sub = Scope {
                        query: Query::And(vec![scope.query.clone(), refine]),
                        ..scope.clone()
                    };
                    fan_out(engine, &sub, children, &mut row.object)?;
                }
                out.push(Value::Object(row.object));
            }
            Ok(json!({
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": all.saturating_sub(kept),
                "buckets": out,
            }))
        }
    }
}

/// A terms bucket being built.
struct Row {
    count: u64,
    key: Value,
    /// The query selecting the bucket's events (`None`: its sub-aggregations are done).
    refine: Option<Query>,
    object: Map<String, Value>,
}

fn sort_rows(rows: &mut [Row], order: &TermsOrder) {
    let by_key = |a: &Row, b: &Row| compare_json(&a.key, &b.key);
    match order {
        TermsOrder::CountDesc => rows.sort_by(|a, b| b.count.cmp(&a.count).then(by_key(a, b))),
        TermsOrder::CountAsc => rows.sort_by(|a, b| a.count.cmp(&b.count).then(by_key(a, b))),
        TermsOrder::Key { descending } => rows.sort_by(|a, b| {
            let o = by_key(a, b);
            if *descending {
                o.reverse()
            } else {
                o
            }
        }),
        TermsOrder::Metric { name, descending } => {
            let value = |r: &Row| r.object.get(name).and_then(|m| m["value"].as_f64());
            rows.sort_by(|a, b| match (value(a), value(b)) {
                (Some(x), Some(y)) => {
                    let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                    (if *descending { o.reverse() } else { o }).then(by_key(a, b))
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => by_key(a, b),
            })
        }
    }
}

fn compare_json(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a
            .as_str()
            .unwrap_or_default()
            .cmp(b.as_str().unwrap_or_default()),
    }
}

/// The results of the sub-aggregations Kestrel computed within `bucket`.
fn native_results(
    engine: &SearchEngine,
    scope: &Scope,
    children: &[EsAgg],
    bucket: &Bucket,
) -> Result<Map<String, Value>, ElasticError> {
    let mut object = Map::new();
    for child in children.iter().filter(|c| native_child(c)) {
        let result = bucket
            .aggs
            .get(child.name())
            .ok_or_else(|| unexpected(child))?;
        object.insert(
            child.name().to_owned(),
            shape(engine, scope, child, result)?,
        );
    }
    Ok(object)
}

/// Computes the sub-aggregations Kestrel could not nest, over `scope` (one bucket's events).
fn fan_out(
    engine: &SearchEngine,
    scope: &Scope,
    children: &[EsAgg],
    object: &mut Map<String, Value>,
) -> Result<(), ElasticError> {
    let deeper: Vec<EsAgg> = children
        .iter()
        .filter(|c| !native_child(c))
        .cloned()
        .collect();
    if deeper.is_empty() {
        return Ok(());
    }
    let (_, results) = evaluate(engine, scope, &deeper)?;
    object.extend(results);
    Ok(())
}

fn count(engine: &SearchEngine, scope: &Scope) -> Result<u64, ElasticError> {
    Ok(engine
        .search(&SearchRequest {
            query: scope.query.clone(),
            from: scope.from,
            to: scope.to,
            limit: 0,
            order: SortOrder::Desc,
            search_after: None,
            fields: Vec::new(),
            count_total: true,
        })?
        .total)
}

fn metric(kind: &MetricKind, result: &AggregationResult) -> Value {
    match (kind, result) {
        (MetricKind::Percentiles(_), AggregationResult::Percentiles { values }) => {
            let values: Map<String, Value> = values
                .iter()
                .map(|p| (format!("{:?}", p.percent), json!(p.value)))
                .collect();
            json!({ "values": values })
        }
        (_, AggregationResult::Value { value }) => match value {
            None => json!({"value": null}),
            Some(MetricValue::Integer(i)) => json!({"value": i}),
            Some(MetricValue::Number(n)) => json!({"value": n}),
            Some(MetricValue::Time(text)) => {
                let millis = DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp_millis())
                    .ok();
                json!({"value": millis, "value_as_string": text})
            }
        },
        _ => json!({"value": null}),
    }
}

/// The query selecting a terms bucket's events: the whole value.
fn key_query(field: &str, key: &BucketKey) -> Query {
    match key {
        BucketKey::Text(text) => Query::Phrase {
            field: Some(field.to_owned()),
            text: text.clone(),
        },
        other => Query::Term {
            field: Some(field.to_owned()),
            value: other.to_string(),
        },
    }
}

fn key_json(key: &BucketKey) -> Value {
    match key {
        BucketKey::Integer(i) => json!(i),
        BucketKey::Number(n) => json!(n),
        BucketKey::Text(t) => json!(t),
    }
}

fn key_nanos(key: &BucketKey) -> Result<i64, ElasticError> {
    let text = key.to_string();
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            ElasticError::Unsupported(format!("date histogram key {text:?} is not an instant"))
        })
}

fn later(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> DateTime<Utc> {
    a.map_or(b, |a| a.max(b))
}

fn earlier(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> DateTime<Utc> {
    a.map_or(b, |a| a.min(b))
}

fn unexpected(agg: &EsAgg) -> ElasticError {
    ElasticError::Unsupported(format!(
        "aggregation [{}] gave a result of an unexpected kind",
        agg.name()
    ))
}
