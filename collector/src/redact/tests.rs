//! Every detector on secrets of its kind and on text that only looks close; events, audit
//! objects and dead letters.

use std::collections::BTreeMap;

use kestrel_event::{DeadLetter, Event, EventKind};
use serde_json::{json, Value};

use super::*;

const KEY: &[u8] = b"unit-test-redaction-key-32-bytes";

fn redactor() -> Redactor {
    Redactor::new(&RedactionSettings {
        key: KEY.to_vec(),
        patterns: vec![PatternSettings {
            name: "internal_ticket".into(),
            regex: r"\bTCK-([0-9]{6})\b".into(),
        }],
        allow: BTreeMap::from([(
            "webhook".to_owned(),
            AllowSettings {
                values: vec!["AKIAIOSFODNN7EXAMPLE".into()],
                patterns: vec![],
            },
        )]),
    })
    .unwrap()
}

fn marker(kind: &str, value: &str) -> String {
    Marker::new(KEY).render(kind, value)
}

fn redact(text: &str) -> String {
    redactor().redact_text(Source::Files, text).into_owned()
}

/// `text` with `secret` replaced by its marker of `kind`, and nothing else changed.
fn assert_redacted(text: &str, secret: &str, kind: &str) {
    let expected = text.replacen(secret, &marker(kind, secret), 1);
    assert_ne!(expected, text, "{secret:?} is not in {text:?}");
    assert_eq!(redact(text), expected, "in {text:?}");
}

fn assert_untouched(text: &str) {
    let redacted = redactor().redact_text(Source::Files, text);
    assert!(
        matches!(redacted, std::borrow::Cow::Borrowed(_)),
        "changed: {text:?} -> {redacted:?}"
    );
}

const GITHUB: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
const STRIPE: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AZURE: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";

#[test]
fn cloud_keys() {
    assert_redacted(
        "using key AKIAIOSFODNN7EXAMPLE for s3",
        "AKIAIOSFODNN7EXAMPLE",
        "aws_access_key",
    );
    assert_redacted(
        "sts ASIAY34FZKBOKMUTVV7A ok",
        "ASIAY34FZKBOKMUTVV7A",
        "aws_access_key",
    );
    assert_redacted(
        &format!("aws_secret_access_key={AWS_SECRET}"),
        AWS_SECRET,
        "aws_secret_key",
    );
    assert_redacted(
        &format!("DefaultEndpointsProtocol=https;AccountName=kestrel;AccountKey={AZURE};EndpointSuffix=core.windows.net"),
        AZURE,
        "azure_storage_key",
    );
    let gcp = r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n", "client_email": "x@p.iam.gserviceaccount.com"}"#;
    // The body only: the header and end lines stay, for rules looking for them.
    let secret = r"\nMIIEvQIBADANBgkq\n";
    assert_redacted(gcp, secret, "gcp_private_key");
}

#[test]
fn cloud_key_look_alikes() {
    // Too short, lowercase, inside a longer word, a continent.
    assert_untouched("AKIA1234 akiaiosfodnn7example XAKIAIOSFODNN7EXAMPLE1 shipped to Asia");
    // A secret key without its key-value context is 40 ordinary characters.
    assert_untouched("hash wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
}

#[test]
fn service_tokens() {
    assert_redacted(&format!("push with {GITHUB}"), GITHUB, "github_token");
    let pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz";
    assert_redacted(&format!("GH={pat} "), pat, "github_token");
    let gitlab = "glpat-xxxxXXXXyyyyYYYY1234";
    assert_redacted(&format!("clone using {gitlab}"), gitlab, "gitlab_token");
    let slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    assert_redacted(&format!("slack client {slack} ready"), slack, "slack_token");
    assert_redacted(&format!("charge via {STRIPE}"), STRIPE, "stripe_key");
    assert_redacted(&format!("jwt {JWT} accepted"), JWT, "jwt");
}

#[test]
fn service_token_look_alikes() {
    assert_untouched("ghp_short gho_ is a prefix; glpat- alone; xoxo hugs; sk_live_docs");
    assert_untouched("eyJ is base64 for {\" but eyJhbGci alone is not a token");
}

#[test]
fn authorization_values() {
    assert_redacted(&format!("GET /api Authorization: Bearer {JWT}"), JWT, "jwt");
    assert_redacted(
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "dXNlcjpwYXNzd29yZA==",
        "authorization",
    );
    assert_redacted(
        r#"{"headers":{"authorization":"Bearer opaque-token-1234567890"}}"#,
        "opaque-token-1234567890",
        "authorization",
    );
    assert_untouched("basic authentication failed; bearer tokens are documented");
}

#[test]
fn url_passwords_only_the_password() {
    assert_redacted(
        "connecting to postgres://app:s3cr3t-Pw@db.internal:5432/orders",
        "s3cr3t-Pw",
        "url_password",
    );
    assert_redacted(
        "redis://:hunter2@cache:6379/0 up",
        "hunter2",
        "url_password",
    );
    assert_untouched("GET https://example.com:8443/path?q=1 and ssh://git@github.com/x.git");
}

#[test]
fn pem_private_keys() {
    let body = "\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n";
    assert_redacted(&format!("key:\n{PEM}\ndone"), body, "private_key");
    // A block cut short (a line at the event size limit) is redacted to its end.
    let cut = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA";
    assert_redacted(&format!("x {cut}"), "\nMIIEowIBAAKCAQEA", "private_key");
    // Under a credential key, a PEM block keeps its header lines too.
    let mut event = event(EventKind::Container, "");
    event.json = json!({"tls_private_key": PEM}).as_object().cloned();
    redactor().redact_event(Source::Files, &mut event);
    assert_eq!(
        event.json.unwrap()["tls_private_key"],
        PEM.replace(body, &marker("private_key", body)).as_str()
    );
    assert_untouched("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
}

#[test]
fn credential_key_values_in_text_and_json_text() {
    assert_redacted("login user=bob password=hunter2 ok", "hunter2", "password");
    assert_redacted("DB_PASSWD='p4ss word' next", "p4ss word", "password");
    assert_redacted("secret: abc123def", "abc123def", "secret");
    assert_redacted("X-Auth-Token: tok_9f8e7d6c", "tok_9f8e7d6c", "token");
    assert_redacted("api_key=AIzaSyExample123", "AIzaSyExample123", "api_key");
    assert_redacted(
        r#"{"user":"bob","password":"hunter2"}"#,
        "hunter2",
        "password",
    );
    assert_redacted(
        r#"{\"user\":\"bob\",\"password\":\"hunter2\"}"#,
        "hunter2",
        "password",
    );
    assert_redacted(
        r#"{"client_secret": "quote\"inside"}"#,
        r#"quote\"inside"#,
        "secret",
    );
}

#[test]
fn credential_key_look_alikes() {
    assert_untouched("token_count=3 max_tokens=512 secretName=db-creds");
    assert_untouched("password=  password=true secret=null token=*** password_changed_at=2024");
    assert_untouched("the password was rotated; a secret garden");
}

#[test]
fn card_numbers_pass_luhn() {
    assert_redacted(
        "paid with 4111 1111 1111 1111 today",
        "4111 1111 1111 1111",
        "card_number",
    );
    assert_redacted(
        "card=5555-5555-5555-4444",
        "5555-5555-5555-4444",
        "card_number",
    );
    // A 16-digit order id failing Luhn, epoch milliseconds, a short hex id, a UUID.
    assert_untouched(
        "order 4111111111111112 at 1714557600009 id 4f3c2a1b9d8e uuid 0f8e4a52-3c1d-4e5f-9a7b-1c2d3e4f5a6b",
    );
}

#[test]
fn configured_patterns_and_allow_lists() {
    assert_redacted("see TCK-123456 now", "123456", "internal_ticket");
    let redactor = redactor();
    let text = "key AKIAIOSFODNN7EXAMPLE";
    // Allowed from the webhook only.
    assert_eq!(redactor.redact_text(Source::Webhook, text), text);
    assert_ne!(redactor.redact_text(Source::Files, text), text);
}

#[test]
fn a_bad_configured_pattern_names_its_key() {
    let error = Redactor::new(&RedactionSettings {
        key: KEY.to_vec(),
        patterns: vec![PatternSettings {
            name: "x".into(),
            regex: "([a-z]".into(),
        }],
        allow: BTreeMap::new(),
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("collector.redaction.patterns[0].regex: invalid regular expression"),
        "{error}"
    );
}

#[test]
fn several_secrets_in_one_line_and_equal_markers() {
    let text = format!("a={GITHUB} b={GITHUB} c={STRIPE}");
    let redacted = redact(&text);
    let github = marker("github_token", GITHUB);
    assert_eq!(
        redacted,
        format!("a={github} b={github} c={}", marker("stripe_key", STRIPE))
    );
}

fn event(kind: EventKind, message: &str) -> Event {
    let now = chrono::Utc::now();
    Event::new(kind, "id".into(), now, now).with_message(message)
}

trait WithMessage {
    fn with_message(self, message: &str) -> Self;
}

impl WithMessage for Event {
    fn with_message(mut self, message: &str) -> Self {
        self.message = message.to_owned();
        self
    }
}

#[test]
fn container_event_message_and_json_fields() {
    let mut event = event(
        EventKind::Container,
        r#"{"msg":"login","password":"hunter2"}"#,
    );
    event.json = Some(
        json!({"msg": "login", "password": "hunter2", "nested": {"dsn": "mysql://u:pw123@db/x"}, "tokens": 3})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let count = redactor().redact_event(Source::Files, &mut event);
    assert_eq!(count, 3);
    let hunter = marker("password", "hunter2");
    assert_eq!(
        event.message,
        format!(r#"{{"msg":"login","password":"{hunter}"}}"#)
    );
    let json = Value::Object(event.json.unwrap());
    assert_eq!(json["password"], hunter.as_str());
    assert_eq!(
        json["nested"]["dsn"],
        format!("mysql://u:{}@db/x", marker("url_password", "pw123")).as_str()
    );
    assert_eq!(json["tokens"], 3);
}

fn audit_event(fields: Value) -> Event {
    let mut event = event(EventKind::K8sAudit, "create secrets default/db");
    event.audit = fields.as_object().cloned().unwrap();
    event
}

#[test]
fn audit_secrets_whatever_the_shape() {
    let plain = "s3cr3t-value";
    let encoded = "czNjcjN0LXZhbHVl";
    let manifest = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"plain": plain}
    })
    .to_string();
    let mut event = audit_event(json!({
        "objectRef": {"resource": "secrets", "namespace": "default", "name": "db"},
        "requestObject": {
            "kind": "Secret",
            "metadata": {"name": "db", "annotations": {audit::LAST_APPLIED: manifest}},
            "data": {"encoded": encoded},
            "stringData": {"plain": plain}
        },
        "responseObject": {
            "kind": "SecretList",
            "items": [{"metadata": {"name": "db"}, "data": {"encoded": encoded, "other": "b3RoZXI="}}]
        },
        "requestReceivedTimestamp": "2024-05-01T10:00:00Z"
    }));
    let count = redactor().redact_event(Source::Webhook, &mut event);
    assert_eq!(count, 5);
    let same = marker(audit::SECRET_KIND, plain);
    let audit = Value::Object(event.audit.clone());
    // `data` is marked by its decoded value: one marker for one secret.
    assert_eq!(audit["requestObject"]["data"]["encoded"], same.as_str());
    assert_eq!(audit["requestObject"]["stringData"]["plain"], same.as_str());
    assert_eq!(
        audit["responseObject"]["items"][0]["data"]["encoded"],
        same.as_str()
    );
    assert_eq!(
        audit["responseObject"]["items"][0]["data"]["other"],
        marker(audit::SECRET_KIND, "other").as_str()
    );
    let annotation = audit["requestObject"]["metadata"]["annotations"][audit::LAST_APPLIED]
        .as_str()
        .unwrap();
    let applied: Value = serde_json::from_str(annotation).unwrap();
    assert_eq!(applied["stringData"]["plain"], same.as_str());
    let serialized = serde_json::to_string(&event).unwrap();
    assert!(!serialized.contains(plain) && !serialized.contains(encoded));
    assert_eq!(audit["requestReceivedTimestamp"], "2024-05-01T10:00:00Z");
}

#[test]
fn audit_secret_patches_configmaps_and_headers() {
    let mut event = audit_event(json!({
        "objectRef": {"resource": "secrets", "name": "db"},
        "requestObject": [{"op": "replace", "path": "/data/password", "value": "aHVudGVyMg=="},
                          {"op": "replace", "path": "/metadata/labels/app", "value": "db"}],
    }));
    redactor().redact_event(Source::Files, &mut event);
    let audit = Value::Object(event.audit);
    assert!(is_marker(
        audit["requestObject"][0]["value"].as_str().unwrap()
    ));
    assert_eq!(audit["requestObject"][1]["value"], "db");

    let mut event = audit_event(json!({
        "objectRef": {"resource": "configmaps", "name": "app"},
        "requestObject": {"kind": "ConfigMap", "data": {
            "DB_PASSWORD": "hunter2", "ldap-credentials": "cn=admin/pw", "tls.key": "abc",
            "app.properties": "db.url=x\nspring.datasource.password=hunter3\n", "LOG_LEVEL": "debug",
            "db-credentials.conf": "user=app\npassword=hunter4\n"}},
        "impersonatedUser": {"username": "x"},
        "annotations": {"authorization.k8s.io/decision": "allow"},
        "requestHeaders": {"Authorization": ["Bearer abcdefghijklmnop"]}
    }));
    redactor().redact_event(Source::Files, &mut event);
    let audit = Value::Object(event.audit);
    let data = &audit["requestObject"]["data"];
    assert_eq!(
        data["DB_PASSWORD"],
        marker("configmap_credential", "hunter2").as_str()
    );
    assert_eq!(
        data["ldap-credentials"],
        marker("configmap_credential", "cn=admin/pw").as_str()
    );
    assert_eq!(
        data["tls.key"],
        marker("configmap_credential", "abc").as_str()
    );
    assert_eq!(
        data["app.properties"],
        format!(
            "db.url=x\nspring.datasource.password={}\n",
            marker("password", "hunter3")
        )
        .as_str()
    );
    assert_eq!(data["LOG_LEVEL"], "debug");
    assert_eq!(
        data["db-credentials.conf"],
        format!("user=app\npassword={}\n", marker("password", "hunter4")).as_str()
    );
    assert_eq!(
        audit["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert_eq!(
        audit["requestHeaders"]["Authorization"][0],
        marker("authorization", "Bearer abcdefghijklmnop").as_str()
    );
}

#[test]
fn dead_letters_raw_bytes_and_invalid_utf8() {
    let mut letter = DeadLetter {
        source: "/var/log/x.log".into(),
        line: Some(3),
        offset: None,
        error: "expected value".into(),
        raw: b"{\"log\":\"token=abc123 \xff".to_vec(),
        received: chrono::Utc::now(),
    };
    let count = redactor().redact_dead_letter(Source::Files, &mut letter);
    assert_eq!(count, 1);
    let raw = String::from_utf8(letter.raw).unwrap();
    assert!(!raw.contains("abc123"), "{raw}");
    assert!(raw.contains(&marker("token", "abc123")), "{raw}");
}

#[test]
fn disabled_redaction_changes_nothing() {
    let mut events = vec![event(EventKind::Container, "password=hunter2")];
    assert_eq!(Redaction::disabled().events(Source::Files, &mut events), 0);
    assert_eq!(events[0].message, "password=hunter2");
}
