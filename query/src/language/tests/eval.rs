//! Evaluation against realistic events.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::p;
use crate::language::{MatchOptions, Matcher};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn audit_event() -> Value {
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/secrets/db-password",
        "verb": "get",
        "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
        "sourceIPs": ["10.0.0.1", "192.168.1.20"],
        "userAgent": "curl/7.88.1",
        "objectRef": {"resource": "secrets", "namespace": "default", "name": "db-password", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 403, "status": "Failure", "reason": "Forbidden"},
        "@timestamp": "2024-05-01T11:59:58.5Z",
        "annotations": {"authorization.k8s.io/decision": "forbid"}
    })
}

fn container_event() -> Value {
    json!({
        "@timestamp": "2024-05-01T10:00:00+02:00",
        "message": "dial tcp 10.96.0.10:53: connect: Connection refused (retrying in 5s)",
        "stream": "stderr",
        "container": {
            "name": "api",
            "image": "ghcr.io/acme/api:1.4.2",
            "labels": {"app": "api", "app.kubernetes.io/name": "acme-api", "tier": "Backend"}
        },
        "kubernetes": {"namespace": "prod", "pod": {"name": "api-7d9f8-xk2p"}},
        "json": {"level": "ERROR", "latency_ms": 1532.5, "retry": true, "tags": ["net", "dns"], "nothing": null},
        "event": {"kind": "log"}
    })
}

fn check(event: &Value, cases: &[(&str, bool)]) {
    for (query, expected) in cases {
        assert_eq!(p(query).matches_at(event, now()), *expected, "{query}");
    }
}

#[test]
fn kubernetes_audit_event() {
    check(
        &audit_event(),
        &[
            ("user.username:\"system:anonymous\"", true),
            ("user.username:system:anonymous", true),
            ("user.username:SYSTEM:Anonymous", true),
            ("user.username:system", false),
            ("user.groups:\"system:unauthenticated\"", true),
            ("sourceIPs:192.168.1.20", true),
            ("sourceIPs:10.0.0.3", false),
            ("sourceIPs:10.0.0.*", true),
            ("sourceIPs:IN [10.9.9.9 \"10.0.0.1\"]", true),
            ("responseStatus.code:403", true),
            ("responseStatus.code:403.0", true),
            ("responseStatus.code:\"403\"", true),
            ("responseStatus.code:404", false),
            ("responseStatus.code:[400 TO 499]", true),
            ("responseStatus.code:{403 TO 499]", false),
            ("responseStatus.code:[400 TO 403}", false),
            ("responseStatus.code:>=500", false),
            ("responseStatus.code:<404", true),
            ("responseStatus.code:IN [401 403]", true),
            ("responseStatus.reason:forbidden", true),
            ("objectRef.resource:secrets verb:IN [get list watch]", true),
            (
                "objectRef.resource:secrets AND verb:IN [create patch]",
                false,
            ),
            ("verb:(get OR list) -user.username:admin", true),
            ("NOT verb:get", false),
            (
                "requestURI:/api/v1/namespaces/default/secrets/db-password",
                true,
            ),
            ("requestURI:/api/v1/*", true),
            ("requestURI:/api/v1/pods", false),
            (r"requestURI:/\/api\/v1\/.*secrets.*/", true),
            ("userAgent:*curl*", true),
            ("userAgent:*CURL*", true),
            ("userAgent:curl?7.88.1", true),
            ("userAgent:/curl.*/", true),
            ("userAgent:/CURL.*/", true),
            ("userAgent:/(?i)CURL.*/", true),
            ("userAgent:/curl/", false),
            ("annotations.authorization.k8s.io/decision:forbid", true),
            ("@timestamp:>now-1h", true),
            ("@timestamp:>now-1s", false),
            ("@timestamp:[2024-05-01 TO now]", true),
            (
                "@timestamp:[2024-01-01T00:00:00Z TO 2024-05-01T11:00:00Z]",
                false,
            ),
            ("objectRef.subresource:*", false),
            ("objectRef.name:*", true),
            ("responseStatus.metadata:*", true),
            ("forbid", false),
            ("*", true),
            ("NOT *", false),
        ],
    );
}

#[test]
fn container_log_event() {
    check(
        &container_event(),
        &[
            ("refused", true),
            ("Connection", true),
            ("\"connection refused\"", true),
            ("\"refused connection\"", false),
            ("message:\"CONNECT: connection\"", true),
            ("connect", true),
            ("conn", false),
            ("conn*", true),
            ("message:*refused*", true),
            ("\"10.96.0.10\"", true),
            ("10.96.0.10", true),
            (r"message:/.*retrying\sin\ [0-9]+s.*/", true),
            ("message:/conn.*/", true),
            ("message:/CONN.*/", true),
            ("message:/conn/", false),
            ("message:IN [timeout refused]", true),
            ("\"!!!\"", false),
            ("error OR refused", true),
            ("error AND refused", false),
            ("container.labels.app.kubernetes.io/name:acme-api", true),
            ("container.labels.app:api", true),
            ("container.labels.tier:backend", true),
            ("container.image:ghcr.io/acme/api:1.4.2", true),
            ("container.image:ghcr.io/acme/api", false),
            ("kubernetes.pod.name:api-*", true),
            ("json.level:error", true),
            ("json.level:IN [warn error]", true),
            ("json.latency_ms:>1000", true),
            ("json.latency_ms:[1532.5 TO 1532.5]", true),
            ("json.latency_ms:1532.5", true),
            ("json.latency_ms:<1e3", false),
            ("json.retry:true", true),
            ("json.retry:TRUE", true),
            ("json.tags:dns", true),
            ("json.nothing:*", false),
            ("json.level:*", true),
            (
                "@timestamp:[2024-05-01T07:59:00Z TO 2024-05-01T08:00:00Z]",
                true,
            ),
            (
                "@timestamp:{2024-05-01T07:59:00Z TO 2024-05-01T08:00:00Z}",
                false,
            ),
            ("@timestamp:2024-05-01T08:00:00Z", true),
            ("@timestamp:>now-1h", false),
            ("event.kind:log AND kubernetes.namespace:prod", true),
            ("stream:stderr AND NOT json.level:debug", true),
            ("kubernetes.namespace:[a TO q]", true),
            ("kubernetes.namespace:[q TO z]", false),
        ],
    );
}

#[test]
fn custom_text_fields_and_reusable_matcher() {
    let options = MatchOptions {
        default_field: "log".to_string(),
        text_fields: vec!["log".to_string(), "message".to_string()],
    };
    let matcher = Matcher::with_options(&p("\"out of memory\" -level:info"), &options);
    let event = json!({"log": "Fatal: OUT OF MEMORY!", "level": "fatal"});
    assert!(matcher.matches_at(&event, now()));
    assert!(matcher.matches(&event));
    assert!(!matcher.matches_at(&json!({"log": "out of memory", "level": "INFO"}), now()));
    assert!(!matcher.matches_at(&json!({"message": "out of memory"}), now()));
    let keyword = Matcher::new(&p("log:\"out of memory\""));
    assert!(!keyword.matches_at(&event, now()));
    assert!(keyword.matches_at(&json!({"log": "Out Of Memory"}), now()));
}

#[test]
fn programmatic_trees_with_invalid_patterns_never_match() {
    use crate::language::Query;
    let bad = Query::Regex {
        field: Some("verb".into()),
        pattern: "(".into(),
    };
    assert!(!bad.matches(&audit_event()));
    assert!(Query::Not(Box::new(bad)).matches(&audit_event()));
}

#[test]
fn cidr_terms_match_addresses_inside_the_block() {
    use crate::language::{parse, Matcher};
    let event = serde_json::json!({"sourceIPs": ["192.168.1.20", "fd00::5"]});
    for (query, expected) in [
        ("sourceIPs:192.168.0.0/16", true),
        ("sourceIPs:10.0.0.0/8", false),
        ("sourceIPs:fd00::/8", true),
        ("sourceIPs:192.168.1.20/32", true),
        ("sourceIPs:IN [10.0.0.0/8 192.168.1.0/24]", true),
    ] {
        let matcher = Matcher::new(&parse(query).unwrap());
        assert_eq!(matcher.matches(&event), expected, "{query}");
    }
}
