//! The HTTP request each destination kind receives for an alert.

use base64::Engine;
use hmac::{Hmac, Mac};
use kestrel_config::{DestinationConfig, DestinationKind};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::error::AlertingError;

/// A request body with its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The body.
    pub body: Vec<u8>,
    /// Extra headers (content type included).
    pub headers: Vec<(String, String)>,
}

/// Rank of a Sigma level (`informational` 0 … `critical` 4; unknown levels count as medium).
pub fn level_rank(level: &str) -> u8 {
    match level {
        "informational" => 0,
        "low" => 1,
        "high" => 3,
        "critical" => 4,
        _ => 2,
    }
}

/// Whether `alert` reaches the destination's `min_level`.
pub fn wanted(destination: &DestinationConfig, alert: &Value) -> bool {
    level_rank(alert["level"].as_str().unwrap_or_default()) >= level_rank(&destination.min_level)
}

/// Builds the request of `alert` for `destination`; `delivery_id` is the idempotency key
/// (the same on every attempt) and `now_secs` the signing time.
pub fn build(
    destination: &DestinationConfig,
    delivery_id: &str,
    alert: &Value,
    now_secs: i64,
) -> Result<Request, AlertingError> {
    let body = match &destination.template {
        Some(template) => render(destination, template, alert)?.into_bytes(),
        None => default_body(destination, alert).to_string().into_bytes(),
    };
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if destination.kind == DestinationKind::Webhook {
        headers.push(("webhook-id".to_owned(), delivery_id.to_owned()));
        headers.push(("webhook-timestamp".to_owned(), now_secs.to_string()));
        if !destination.secrets.is_empty() {
            let signature = sign(&destination.secrets, delivery_id, now_secs, &body);
            headers.push(("webhook-signature".to_owned(), signature));
        }
    }
    Ok(Request { body, headers })
}

fn default_body(destination: &DestinationConfig, alert: &Value) -> Value {
    let text = |k: &str| alert[k].as_str().unwrap_or_default().to_owned();
    match destination.kind {
        DestinationKind::Webhook => alert.clone(),
        DestinationKind::Slack => json!({
            "text": format!(
                "[{}] {} — {} event(s){}{}{} — query: {}",
                text("level").to_uppercase(),
                text("title"),
                alert["count"],
                group_text(alert),
                fields_suffix(alert),
                suppressed_text(alert),
                text("query"),
            )
        }),
        DestinationKind::Pagerduty => json!({
            "routing_key": destination.routing_key.clone().unwrap_or_default(),
            "event_action": "trigger",
            "dedup_key": text("id"),
            "payload": {
                "summary": format!("{}{}{}", text("title"), group_text(alert), fields_suffix(alert)),
                "source": "kestrel",
                "severity": match level_rank(&text("level")) {
                    4 => "critical",
                    3 => "error",
                    2 => "warning",
                    _ => "info",
                },
                "timestamp": text("first_seen"),
                "component": text("rule_id"),
                "custom_details": alert,
            }
        }),
        DestinationKind::Alertmanager => {
            let mut labels = json!({
                "alertname": text("title"),
                "rule_id": text("rule_id"),
                "severity": text("level"),
                "source": "kestrel",
            });
            if let Some(group) = alert["group"].as_object() {
                for (k, v) in group {
                    labels[k.replace('.', "_")] = v.clone();
                }
            }
            let mut annotations = json!({
                "summary": text("title"),
                "query": text("query"),
                "count": alert["count"].to_string(),
                "suppressed": alert["suppressed"].as_u64().unwrap_or(0).to_string(),
            });
            let fields = fields_list(alert);
            if !fields.is_empty() {
                annotations["fields"] = json!(fields);
            }
            json!([{
                "labels": labels,
                "annotations": annotations,
                "startsAt": text("first_seen"),
            }])
        }
    }
}

/// ` — N repeats suppressed until <last_seen>` on the update of a suppressed alert.
fn suppressed_text(alert: &Value) -> String {
    let suppressed = alert["suppressed"].as_u64().unwrap_or(0);
    if suppressed == 0 {
        return String::new();
    }
    let last_seen = alert["last_seen"].as_str().unwrap_or_default();
    format!(" — update: {suppressed} repeat(s) suppressed until {last_seen}")
}

/// The alert's `fields` (a correlation's `fields`, a baseline's figures) as `k=v, ...`.
fn fields_list(alert: &Value) -> String {
    let Some(fields) = alert["fields"].as_object() else {
        return String::new();
    };
    fields
        .iter()
        .map(|(k, v)| match v {
            Value::String(text) => format!("{k}={text}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` — k=v, ...` of the alert's fields, or nothing.
fn fields_suffix(alert: &Value) -> String {
    let fields = fields_list(alert);
    if fields.is_empty() {
        return String::new();
    }
    format!(" — {fields}")
}

fn group_text(alert: &Value) -> String {
    let Some(group) = alert["group"].as_object().filter(|g| !g.is_empty()) else {
        return String::new();
    };
    let parts: Vec<String> = group
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    format!(" ({})", parts.join(", "))
}

fn render(
    destination: &DestinationConfig,
    template: &str,
    alert: &Value,
) -> Result<String, AlertingError> {
    let env = minijinja::Environment::new();
    env.render_str(template, minijinja::context! { alert => alert })
        .map_err(|e| AlertingError::Template {
            destination: destination.name.clone(),
            message: e.to_string(),
        })
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` for
/// each secret, space-separated.
pub fn sign(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|secret| signature(secret, id, timestamp, body))
        .map(|s| format!("v1,{s}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `header` (a `webhook-signature` value) holds a valid signature by `secret`.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(expected) = signature(secret, id, timestamp, body) else {
        return false;
    };
    header.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
    })
}

fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Value {
        json!({"id": "a1", "rule_id": "r", "title": "Exec", "level": "high", "count": 2,
               "group": {"user.username": "eve"}, "first_seen": "2024-01-01T00:00:00Z",
               "query": "event.id:IN [x y]"})
    }

    #[test]
    fn standard_webhooks_reference_signature() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = br#"{"test": 2432232314}"#;
        let header = sign(
            std::slice::from_ref(&secret),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &header
        ));
        assert!(!verify(&secret, "msg_other", 1614265330, body, &header));
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let new = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24=".to_owned();
        let header = sign(&[new.clone(), old.clone()], "id", 1, b"{}");
        assert!(verify(&old, "id", 1, b"{}", &header));
        assert!(verify(&new, "id", 1, b"{}", &header));
    }

    #[test]
    fn each_kind_has_its_payload() {
        let mut d = DestinationConfig {
            name: "d".into(),
            kind: DestinationKind::Pagerduty,
            url: "http://x".into(),
            routing_key: Some("KEY".into()),
            ..DestinationConfig::default()
        };
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &alert(), 1).unwrap().body).unwrap();
        assert_eq!(body["dedup_key"], "a1");
        assert_eq!(body["payload"]["severity"], "error");
        d.kind = DestinationKind::Alertmanager;
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &alert(), 1).unwrap().body).unwrap();
        assert_eq!(body[0]["labels"]["user_username"], "eve");
        d.kind = DestinationKind::Slack;
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &alert(), 1).unwrap().body).unwrap();
        assert!(body["text"].as_str().unwrap().contains("[HIGH] Exec"));
        assert!(!body["text"].as_str().unwrap().contains(" — user"));
        // A correlation's fields name what its group does not (the user, Falco's rule).
        let mut with_fields = alert();
        with_fields["fields"] =
            json!({"user.username": "mallory", "falco.rule": "Terminal shell in container"});
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &with_fields, 1).unwrap().body).unwrap();
        assert!(
            body["text"].as_str().unwrap().contains(
                "(user.username=eve) — user.username=mallory, falco.rule=Terminal shell in container"
            ),
            "{body}"
        );
        d.kind = DestinationKind::Alertmanager;
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &with_fields, 1).unwrap().body).unwrap();
        assert_eq!(
            body[0]["annotations"]["fields"],
            "user.username=mallory, falco.rule=Terminal shell in container"
        );
        d.kind = DestinationKind::Pagerduty;
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &with_fields, 1).unwrap().body).unwrap();
        assert!(body["payload"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("falco.rule=Terminal shell in container"));
        d.kind = DestinationKind::Slack;
        d.template =
            Some(r#"{"t": "{{ alert.title }}/{{ alert.group['user.username'] }}"}"#.into());
        let body: Value =
            serde_json::from_slice(&build(&d, "del", &alert(), 1).unwrap().body).unwrap();
        assert_eq!(body["t"], "Exec/eve");
        d.min_level = "critical".into();
        assert!(!wanted(&d, &alert()));
    }
}
