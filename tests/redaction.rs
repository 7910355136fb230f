//! Secrets never leave the collector: a busybox container on a real Docker daemon prints a
//! planted set of (obviously fake) secrets of every kind, and audit events carrying Secrets,
//! ConfigMaps with credential keys and `Authorization` values come by an audit log file and by
//! the webhook; `kestrel run` publishes through a real Kafka-compatible broker (Tansu) into
//! its index. Afterwards no search finds a planted secret (by value, phrase, prefix wildcard,
//! regex), no file under the data directory holds one (dead letters decoded too), no Kafka
//! message holds one, and the markers are searchable and equal for equal secrets.
//!
//! `tests/run.sh` starts the Docker daemon (exporting `DOCKER_HOST`) and installs Tansu; without
//! either this test fails, it never skips.

mod common;
#[path = "common/docker.rs"]
mod docker_helpers;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use base64::Engine;
use common::*;
use docker_helpers::{docker_ready, Containers};
use kestrel_bus::rdkafka::consumer::{BaseConsumer, Consumer};
use kestrel_bus::rdkafka::{ClientConfig, Message};
use kestrel_collector::redact::Marker;
use serde_json::{json, Value};

/// The marker key, so that the test can compute the expected markers.
const KEY: &str = "redaction-test-key-0123456789abcdef";
const TOPIC: &str = "redaction-events";

/// A planted secret: its kind in the marker, the value, a line of text carrying it.
struct Planted {
    kind: &'static str,
    value: &'static str,
    line: &'static str,
}

/// Every kind of the text detectors; each value is fake but has the real format.
const PLANTED: &[Planted] = &[
    Planted {
        kind: "aws_access_key",
        value: "AKIAIOSFODNN7EXAMPLE",
        line: "uploading with AKIAIOSFODNN7EXAMPLE to s3",
    },
    Planted {
        kind: "aws_secret_key",
        value: "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY1",
        line: "aws_secret_access_key=wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY1",
    },
    Planted {
        kind: "gcp_private_key",
        // The body: the `-----BEGIN`/`-----END` lines stay.
        value: r"\nMIIEvgGcpFakeServiceAccountKeyBody0001\n",
        line: r#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEvgGcpFakeServiceAccountKeyBody0001\n-----END PRIVATE KEY-----\n","client_email":"ci@fake.iam.gserviceaccount.com"}"#,
    },
    Planted {
        kind: "azure_storage_key",
        value: "AzFakeStorageKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567==",
        line: "DefaultEndpointsProtocol=https;AccountName=fake;AccountKey=AzFakeStorageKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567==;EndpointSuffix=core.windows.net",
    },
    Planted {
        kind: "github_token",
        value: "ghp_FakeGithubToken0123456789abcdefghijk",
        line: "git push https://github.com with ghp_FakeGithubToken0123456789abcdefghijk",
    },
    Planted {
        kind: "github_token",
        value: "github_pat_11FAKEPAT0123456789_abcdefghijklmnopqrstuvwxyz",
        line: "GITHUB_PAT github_pat_11FAKEPAT0123456789_abcdefghijklmnopqrstuvwxyz loaded",
    },
    Planted {
        kind: "gitlab_token",
        value: "glpat-FakeGitlabToken01234",
        line: "cloning with glpat-FakeGitlabToken01234",
    },
    Planted {
        kind: "slack_token",
        value: "xoxb-000000000000-FakeSlackBotToken0123",
        line: "slack bot xoxb-000000000000-FakeSlackBotToken0123 connected",
    },
    Planted {
        kind: "stripe_key",
        value: "sk_live_FakeStripeKey0123456789ab",
        line: "charging with sk_live_FakeStripeKey0123456789ab",
    },
    Planted {
        kind: "stripe_key",
        value: "rk_live_FakeRestrictedKey012345678",
        line: "refunds with rk_live_FakeRestrictedKey012345678",
    },
    Planted {
        kind: "jwt",
        value: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlLXVzZXIifQ.FakeSignatureFakeSignature0123",
        line: "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlLXVzZXIifQ.FakeSignatureFakeSignature0123 issued",
    },
    Planted {
        kind: "authorization",
        value: "FakeOpaqueBearerToken0123456789",
        line: "GET /api/v1/orders Authorization: Bearer FakeOpaqueBearerToken0123456789",
    },
    Planted {
        kind: "authorization",
        value: "ZmFrZXVzZXI6RmFrZUJhc2ljUGFzcw==",
        line: "proxy request Authorization: Basic ZmFrZXVzZXI6RmFrZUJhc2ljUGFzcw==",
    },
    Planted {
        kind: "url_password",
        value: "FakeUrlPassw0rd42",
        line: "connecting to postgres://app:FakeUrlPassw0rd42@db.internal:5432/orders",
    },
    Planted {
        kind: "private_key",
        value: r"\nMIIEowFakeRsaPrivateKeyBody00000001\n",
        line: r"loaded key -----BEGIN RSA PRIVATE KEY-----\nMIIEowFakeRsaPrivateKeyBody00000001\n-----END RSA PRIVATE KEY----- from env",
    },
    Planted {
        kind: "password",
        value: "FakeTextPassw0rd77",
        line: "login user=bob password=FakeTextPassw0rd77 ok",
    },
    Planted {
        kind: "password",
        value: "FakeJsonPassw0rd88",
        line: r#"{"level":"info","msg":"login","user":"bob","password":"FakeJsonPassw0rd88"}"#,
    },
    Planted {
        kind: "secret",
        value: "FakeClientSecret99",
        line: "oauth client_secret=FakeClientSecret99 refreshed",
    },
    Planted {
        kind: "token",
        value: "FakeSessionToken55",
        line: "X-Session-Token: FakeSessionToken55",
    },
    Planted {
        kind: "api_key",
        value: "FakeApiKey0123456",
        line: "calling maps api_key=FakeApiKey0123456",
    },
    Planted {
        kind: "card_number",
        value: "4111 1111 1111 1111",
        line: "payment with card 4111 1111 1111 1111 accepted",
    },
    Planted {
        kind: "card_number",
        value: "5555-5555-5555-4444",
        line: "payment with card 5555-5555-5555-4444 declined",
    },
];

/// Secrets of the audit events (Secret data and stringData, ConfigMap credentials,
/// Authorization values); the `data` value is base64 of [`SECRET_VALUE`].
const SECRET_VALUE: &str = "FakeK8sSecretValue31";
const STRING_DATA_VALUE: &str = "FakeStringDataValue32";
const LAST_APPLIED_VALUE: &str = "FakeLastAppliedValue33";
const LIST_VALUE: &str = "FakeSecretListValue34";
const CONFIGMAP_VALUE: &str = "FakeConfigMapPassw0rd35";
const HEADER_VALUE: &str = "FakeHeaderBearerToken0123456789";
/// In the malformed line of the audit file, which becomes a dead letter.
const DEAD_LETTER_VALUE: &str = "FakeDeadLetterPassw0rd36";

fn marker(kind: &str, value: &str) -> String {
    Marker::new(KEY.as_bytes()).render(kind, value)
}

fn base64(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// Every value that must not be stored anywhere, with the base64 forms of Secret data.
fn forbidden() -> Vec<String> {
    let mut values: Vec<String> = PLANTED.iter().map(|p| p.value.to_owned()).collect();
    // The bodies of the PEM blocks, as they would be stored if the block were cut.
    values.push("MIIEvgGcpFakeServiceAccountKeyBody0001".into());
    values.push("MIIEowFakeRsaPrivateKeyBody00000001".into());
    for value in [
        SECRET_VALUE,
        STRING_DATA_VALUE,
        LAST_APPLIED_VALUE,
        LIST_VALUE,
        CONFIGMAP_VALUE,
        HEADER_VALUE,
        DEAD_LETTER_VALUE,
    ] {
        values.push(value.to_owned());
        values.push(base64(value));
    }
    values
}

/// An audit event of `verb` on `resource`, with request and response objects.
fn audit_event(id: &str, verb: &str, resource: &str, request: Value, response: Value) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": id, "stage": "ResponseComplete",
        "requestURI": format!("/api/v1/namespaces/shop/{resource}"), "verb": verb,
        "user": {"username": "deployer"}, "sourceIPs": ["10.0.0.7"],
        "objectRef": {"resource": resource, "namespace": "shop", "name": "db", "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestObject": request, "responseObject": response,
        "requestReceivedTimestamp": "2026-12-07T10:00:00.000000Z",
        "stageTimestamp": "2026-12-07T10:00:00.100000Z"
    })
}

/// The audit events carrying secrets; ids prefixed with `prefix` (file or webhook).
fn audit_events(prefix: &str) -> Vec<Value> {
    let last_applied = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "stringData": {"password": LAST_APPLIED_VALUE}
    })
    .to_string();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "type": "Opaque",
        "data": {"db-password": base64(SECRET_VALUE)},
        "stringData": {"api": STRING_DATA_VALUE}
    });
    let list = json!({
        "apiVersion": "v1", "kind": "SecretList",
        "items": [{"metadata": {"name": "db"}, "data": {"value": base64(LIST_VALUE), "same": base64(SECRET_VALUE)}}]
    });
    let configmap = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"},
        "data": {"DB_PASSWORD": CONFIGMAP_VALUE, "LOG_LEVEL": "debug",
                 "nginx.conf": format!("proxy_set_header Authorization \"Bearer {HEADER_VALUE}\";")}
    });
    vec![
        audit_event(
            &format!("{prefix}-create"),
            "create",
            "secrets",
            secret.clone(),
            secret,
        ),
        audit_event(
            &format!("{prefix}-list"),
            "list",
            "secrets",
            Value::Null,
            list,
        ),
        audit_event(
            &format!("{prefix}-cm"),
            "create",
            "configmaps",
            configmap.clone(),
            configmap,
        ),
    ]
}

fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BINARY") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("tansu"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain([home.join(".cargo/bin/tansu")])
        .find(|p| p.is_file())
        .expect("this test needs the Tansu broker: run `bash tests/run.sh` or set TANSU_BINARY")
}

/// A Tansu broker on a free port (in-memory storage), killed on drop.
struct Broker {
    child: Child,
    port: u16,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("tansu.log")).unwrap();
        let child = Command::new(tansu_binary())
            .current_dir(dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        wait_for_listener(port, "tansu");
        Broker { child, port }
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every message of the topic, read from the start until none comes for a while.
fn topic_messages(brokers: &str) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "redaction-check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut messages = Vec::new();
    let mut idle = 0;
    while idle < 20 {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                idle = 0;
                messages.push(message.payload().unwrap_or_default().to_vec());
            }
            Some(Err(error)) => panic!("consuming {TOPIC}: {error}"),
            None => idle += 1,
        }
    }
    messages
}

/// Every regular file under `dir`.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let lower = haystack.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    lower
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The longest alphanumeric prefix of `value`, at most 12 characters.
fn word_prefix(value: &str) -> String {
    value
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .take(12)
        .collect()
}

#[test]
fn planted_secrets_never_reach_the_bus_the_index_or_the_data_directory() {
    let root = docker_ready();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let data = dir.path().join("data");
    let key_file = dir.path().join("redaction.key");
    std::fs::write(&key_file, KEY).unwrap();

    // The audit log file: the events, then a malformed line holding a password.
    let audit_dir = dir.path().join("audit");
    std::fs::create_dir_all(&audit_dir).unwrap();
    let mut audit_log: String = audit_events("file")
        .iter()
        .map(|event| format!("{event}\n"))
        .collect();
    audit_log.push_str(&format!(
        "{{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"broken\" password={DEAD_LETTER_VALUE}\n"
    ));
    std::fs::write(audit_dir.join("audit.log"), audit_log).unwrap();

    // The container prints every planted line (twice the first, for equal markers).
    let mut containers = Containers::new();
    let mut script = String::new();
    for planted in PLANTED.iter().chain(PLANTED.first()) {
        let quoted = planted.line.replace('\'', r"'\''");
        script.push_str(&format!("printf '%s\\n' '{quoted}'\n"));
    }
    let (container_id, _) = containers.run("redaction", &[], &script);
    containers.wait_all();

    let (webhook_port, api_port) = (free_port(), free_port());
    let config = write_kestrel_config(
        dir.path(),
        &format!(
            r#"[collector]
poll_interval = "50ms"
batch_max_events = 20

[[collector.sources]]
name = "docker"
paths = ["{root}/containers/{container_id}/*-json.log"]
format = "docker"

[[collector.sources]]
name = "audit"
paths = ["{audit}/*.log"]
format = "k8s-audit"

[collector.webhook]
listen = "127.0.0.1:{webhook_port}"

[collector.redaction]
key_file = "{key_file}"

[bus]
kind = "kafka"

[bus.kafka]
brokers = "{brokers}"
topic = "{TOPIC}"
dead_letter_topic = "redaction-dead-letters"
group_id = "redaction-indexer"
partitions = 1

[indexer]
commit_interval = "200ms"

[query]
listen = "127.0.0.1:{api_port}"
"#,
            root = root.display(),
            audit = audit_dir.display(),
            key_file = key_file.display(),
            brokers = broker.brokers(),
        ),
    );
    let kestrel = KestrelServer::start(&config, api_port);

    // The same audit events, by the webhook.
    wait_for_listener(webhook_port, "collector.webhook");
    let body = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                      "items": audit_events("webhook")})
    .to_string();
    let mut response = ureq::post(&format!("http://127.0.0.1:{webhook_port}/audit/webhook"))
        .header("Content-Type", "application/json")
        .send(&body)
        .expect("the webhook accepts the batch");
    assert_eq!(
        response.status().as_u16(),
        200,
        "{:?}",
        response.body_mut().read_to_string()
    );

    // Everything indexed: the container's lines and the 6 audit events.
    let lines = PLANTED.len() as u64 + 1;
    kestrel.wait_for_hits(&format!("log.file.path:*{container_id}*"), lines);
    kestrel.wait_for_hits("objectRef.namespace:shop", 6);

    // No search finds a planted secret: by value, phrase, prefix wildcard, regex, over the
    // message and over the JSON fields that held them.
    let fields = [
        "",
        "json.password:",
        "requestObject.stringData.api:",
        "requestObject.data.DB_PASSWORD:",
    ];
    for value in forbidden() {
        let mut queries = Vec::new();
        if !value.contains(['\\', '"']) {
            queries.push(format!("\"{value}\""));
        }
        if value.chars().all(|c| c.is_ascii_alphanumeric()) {
            queries.push(value.clone());
        }
        let prefix = word_prefix(&value);
        if prefix.len() >= 8 {
            queries.push(format!("{prefix}*"));
            queries.push(format!("/{}.*/", prefix.to_ascii_lowercase()));
        }
        for field in fields {
            for query in &queries {
                let query = format!("{field}{query}");
                let found = kestrel.search(&query, 10);
                assert_eq!(found["total"], 0, "{query} finds a planted secret: {found}");
            }
        }
    }
    // Nor does any stored event hold one, in any field.
    let all = kestrel.search("*", 1000);
    assert_eq!(all["total"].as_u64(), Some(lines + 6), "{all}");
    let stored = all["hits"].to_string();
    for value in forbidden() {
        assert!(!stored.contains(&value), "a stored event holds {value}");
    }

    // The markers are searchable, and equal secrets carry equal markers.
    let phrase = |marker: &str| format!("\"{}\"", &marker[1..marker.len() - 1]);
    for planted in PLANTED {
        let marker = marker(planted.kind, planted.value);
        let found = kestrel.search(&phrase(&marker), 10);
        let expected = if std::ptr::eq(planted, &PLANTED[0]) {
            2
        } else {
            1
        };
        assert_eq!(
            found["total"], expected,
            "{marker} for {}: {found}",
            planted.line
        );
        assert!(found["hits"].to_string().contains(&marker), "{found}");
    }
    let stringdata = marker("k8s_secret", STRING_DATA_VALUE);
    let found = kestrel.search(
        &format!("requestObject.stringData.api:{}", phrase(&stringdata)),
        10,
    );
    assert_eq!(found["total"], 2, "{found}");
    // In the audit events: one Secret value, one marker, in `data` (base64) of the create
    // events and in their lists; each other value marked where it was.
    let audit = kestrel.search("objectRef.namespace:shop", 10);
    let hits = audit["hits"].as_array().unwrap();
    for (kind, value, events) in [
        ("k8s_secret", SECRET_VALUE, 4),
        ("k8s_secret", STRING_DATA_VALUE, 2),
        ("k8s_secret", LAST_APPLIED_VALUE, 2),
        ("k8s_secret", LIST_VALUE, 2),
        ("configmap_credential", CONFIGMAP_VALUE, 2),
        ("authorization", HEADER_VALUE, 2),
    ] {
        let marker = marker(kind, value);
        let carrying = hits
            .iter()
            .filter(|hit| hit.to_string().contains(&marker))
            .count();
        assert_eq!(carrying, events, "{kind} {value}: {marker} in {audit}");
    }
    let scrape = kestrel.metrics();
    let counted = scraped_value(
        &scrape,
        "kestrel_collector_redactions_total{kind=\"k8s_secret\"}",
    );
    assert!(counted.is_some_and(|n| n >= 8.0), "{counted:?}");

    // No Kafka message holds a planted secret.
    let messages = topic_messages(&broker.brokers());
    assert!(
        messages.len() as u64 >= lines + 6,
        "{} messages",
        messages.len()
    );
    for value in forbidden() {
        for message in &messages {
            assert!(
                !contains(message, &value),
                "a Kafka message holds {value}: {}",
                String::from_utf8_lossy(message)
            );
        }
    }
    kestrel.stop();

    // No file of the data directory holds one, dead letters (base64 in their JSON) decoded.
    let mut files = Vec::new();
    files_under(&data, &mut files);
    let mut letters = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for value in forbidden() {
            assert!(
                !contains(&bytes, &value),
                "{} holds {value}",
                file.display()
            );
        }
        if file.starts_with(data.join("dead-letters")) {
            for letter in read_jsonl(file) {
                letters += 1;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(letter["raw"].as_str().unwrap())
                    .unwrap();
                assert!(!contains(&raw, DEAD_LETTER_VALUE), "{letter}");
                let expected = marker("password", DEAD_LETTER_VALUE);
                assert!(
                    contains(&raw, &expected),
                    "{}",
                    String::from_utf8_lossy(&raw)
                );
            }
        }
    }
    assert_eq!(letters, 1, "the malformed audit line is a dead letter");
}
