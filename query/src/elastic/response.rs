//! Response shaping: hits and the envelope of one search answer.

use serde_json::{json, Value};

use crate::search::Cursor;

use super::TIME_FIELD;

/// One hit: `_index`, `_id` (the event id), `_source` (the event), `sort` (`@timestamp` in
/// epoch milliseconds, then the cursor that `search_after` accepts) and, when asked,
/// `fields` with the time field.
pub fn hit(index: &str, event: Value, time_fields: bool) -> Value {
    let id = event
        .pointer("/event/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let timestamp = event
        .get(TIME_FIELD)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let nanos = chrono::DateTime::parse_from_rfc3339(&timestamp)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt());
    let sort = match nanos {
        Some(nanos) => json!([
            nanos.div_euclid(1_000_000),
            Cursor {
                timestamp: nanos,
                id: id.clone()
            }
            .encode()
        ]),
        None => json!([]),
    };
    let mut hit = json!({
        "_index": index,
        "_id": id,
        "_score": null,
        "_source": event,
        "sort": sort,
    });
    if time_fields {
        hit["fields"] = json!({ TIME_FIELD: [timestamp] });
    }
    hit
}

/// The answer to one search: `took`, `timed_out`, `_shards`, `hits` and, when asked,
/// `aggregations`; `status` 200.
pub fn envelope(took_ms: u64, total: u64, hits: Vec<Value>, aggregations: Option<Value>) -> Value {
    let mut response = json!({
        "took": took_ms,
        "timed_out": false,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": total, "relation": "eq"},
            "max_score": null,
            "hits": hits,
        },
        "status": 200,
    });
    if let Some(aggregations) = aggregations {
        response["aggregations"] = aggregations;
    }
    response
}

/// Cluster information (`GET /`) as Elasticsearch reports it.
pub fn cluster_info() -> Value {
    json!({
        "name": "kestrel",
        "cluster_name": "kestrel",
        "cluster_uuid": "kestrel",
        "version": {
            "number": super::REPORTED_VERSION,
            "build_flavor": "default",
            "build_type": "kestrel",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
            "kestrel_version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// Cluster health (`GET /_cluster/health`): green while the index is readable.
pub fn cluster_health(readable: bool) -> Value {
    json!({
        "cluster_name": "kestrel",
        "status": if readable { "green" } else { "red" },
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
    })
}
