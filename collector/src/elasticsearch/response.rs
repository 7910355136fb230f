//! Answers in Elasticsearch's shapes: the bulk response and its items, error bodies, and the
//! small documents of the calls shippers make at start.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::bulk::Action;

/// The version announced by `GET /`: an 8.x, so that Vector's `api_version = "auto"` picks
/// its v8 API and Filebeat 8.x (which refuses a server older than itself unless
/// `allow_older_versions`) connects.
pub const VERSION: &str = "8.19.0";

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored: `201 created`.
    Created,
    /// An `index` of an `_id` already stored: `200`, kept as first stored.
    Noop,
    /// A `create` of an `_id` already stored: `409`.
    Conflict,
    /// Refused, with its status, Elasticsearch error type and reason.
    Failed {
        /// The HTTP status of the item.
        status: u16,
        /// The error type (`mapper_parsing_exception`, ...).
        kind: &'static str,
        /// Why.
        reason: String,
    },
}

/// One item of the bulk response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    /// The action answered (`index` for a line that is not an action).
    pub action: Action,
    /// The index, if known.
    pub index: Option<String>,
    /// The `_id` given, or the event id of a document stored without one.
    pub id: Option<String>,
    /// What became of it.
    pub outcome: Outcome,
}

impl ItemResult {
    /// The item's HTTP status.
    pub fn status(&self) -> u16 {
        match &self.outcome {
            Outcome::Created => 201,
            Outcome::Noop => 200,
            Outcome::Conflict => 409,
            Outcome::Failed { status, .. } => *status,
        }
    }

    /// The item as Elasticsearch writes it: `{"<action>": {"_index", "_id", "status", ...}}`.
    pub fn to_json(&self, seq_no: u64) -> Value {
        let mut body = json!({
            "_index": self.index.as_deref().unwrap_or_default(),
            "status": self.status(),
        });
        if let Some(id) = &self.id {
            body["_id"] = json!(id);
        }
        match &self.outcome {
            Outcome::Created | Outcome::Noop => {
                let result = if self.outcome == Outcome::Created {
                    "created"
                } else {
                    "noop"
                };
                body["_version"] = json!(1);
                body["result"] = json!(result);
                body["_shards"] = json!({"total": 1, "successful": 1, "failed": 0});
                body["_seq_no"] = json!(seq_no);
                body["_primary_term"] = json!(1);
            }
            Outcome::Conflict => {
                let id = self.id.as_deref().unwrap_or_default();
                body["error"] = json!({
                    "type": "version_conflict_engine_exception",
                    "reason": format!("[{id}]: version conflict, document already exists (current version [1])"),
                    "index": self.index.as_deref().unwrap_or_default(),
                    "shard": "0",
                });
            }
            Outcome::Failed { kind, reason, .. } => {
                body["error"] = json!({"type": kind, "reason": reason});
            }
        }
        json!({ self.action.as_str(): body })
    }
}

/// The bulk response: `took` (milliseconds), `errors` (whether any item failed, `409`s
/// included, as Elasticsearch counts them) and `items`, in the order of the request.
pub fn bulk_body(took_ms: u128, items: &[ItemResult]) -> Value {
    let errors = items.iter().any(|item| item.status() >= 300);
    let items: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(seq_no, item)| item.to_json(seq_no as u64))
        .collect();
    json!({"took": took_ms, "errors": errors, "items": items})
}

/// An error answer: `{"error": {"root_cause": [..], "type", "reason"}, "status"}`.
pub fn error(status: StatusCode, kind: &str, reason: &str) -> Response {
    let cause = json!({"type": kind, "reason": reason});
    let body = json!({
        "error": {"root_cause": [cause], "type": kind, "reason": reason},
        "status": status.as_u16(),
    });
    json_response(status, &body)
}

/// The `401` answer to a refused request, naming the schemes accepted.
pub fn unauthorized(reason: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "security_exception", reason);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"kestrel\", ApiKey, Bearer"),
    );
    response
}

/// A JSON answer, with the `X-Elastic-Product` header Elastic's own clients look for.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// `GET /`: the node and its version.
pub fn info(node_name: &str) -> Value {
    json!({
        "name": node_name,
        "cluster_name": "kestrel",
        "cluster_uuid": "kestrel",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "kestrel",
            "build_date": "2025-07-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.12.2",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    })
}

/// `GET /_cluster/health`: always green (the bus answers each bulk request itself).
pub fn cluster_health() -> Value {
    json!({
        "cluster_name": "kestrel",
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
    })
}

/// `GET /_license`: an active basic license.
pub fn license() -> Value {
    json!({
        "license": {
            "status": "active",
            "uid": "kestrel",
            "type": "basic",
            "issue_date_in_millis": 0,
            "max_nodes": 1000,
            "issued_to": "kestrel",
            "issuer": "kestrel",
            "start_date_in_millis": -1,
        }
    })
}

/// `GET /_xpack`: the basic license, no features.
pub fn xpack() -> Value {
    json!({
        "build": {"hash": "kestrel", "date": "2025-07-01T00:00:00.000Z"},
        "license": {"uid": "kestrel", "type": "basic", "mode": "basic", "status": "active"},
        "features": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(action: Action, outcome: Outcome) -> ItemResult {
        ItemResult {
            action,
            index: Some("logs".into()),
            id: Some("7".into()),
            outcome,
        }
    }

    #[test]
    fn items_have_the_keys_clients_read() {
        let body = bulk_body(
            3,
            &[
                item(Action::Create, Outcome::Created),
                item(Action::Index, Outcome::Noop),
            ],
        );
        assert_eq!(body["errors"], false);
        assert_eq!(body["took"], 3);
        let created = &body["items"][0]["create"];
        assert_eq!(created["status"], 201);
        assert_eq!(created["result"], "created");
        assert_eq!(created["_index"], "logs");
        assert_eq!(created["_id"], "7");
        assert_eq!(body["items"][1]["index"]["status"], 200);
        assert_eq!(body["items"][1]["index"]["_seq_no"], 1);
    }

    #[test]
    fn conflicts_and_failures_are_errors_with_a_type() {
        let failed = Outcome::Failed {
            status: 400,
            kind: "mapper_parsing_exception",
            reason: "failed to parse".into(),
        };
        let body = bulk_body(
            0,
            &[
                item(Action::Create, Outcome::Conflict),
                item(Action::Index, failed),
            ],
        );
        assert_eq!(body["errors"], true);
        let conflict = &body["items"][0]["create"];
        assert_eq!(conflict["status"], 409);
        assert_eq!(
            conflict["error"]["type"],
            "version_conflict_engine_exception"
        );
        let failed = &body["items"][1]["index"];
        assert_eq!(failed["status"], 400);
        assert_eq!(failed["error"]["type"], "mapper_parsing_exception");
        assert_eq!(failed["error"]["reason"], "failed to parse");
        assert!(failed.get("result").is_none());
    }

    #[test]
    fn the_version_is_an_8x_release() {
        let info = info("node-1");
        let number = info["version"]["number"].as_str().unwrap();
        assert!(number.starts_with("8."), "{number}");
        assert_eq!(info["version"]["build_flavor"], "default");
    }
}
