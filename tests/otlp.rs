//! OTLP/HTTP logs end to end: `kestrel run` serving `POST /v1/logs` on the webhook listener.
//! Exports shaped like the OpenTelemetry Collector's `otlphttp` exporter sends them (protobuf
//! or JSON, gzip, its headers; records read by the filelog receiver's container parser and
//! described by the k8sattributes processor) are stored once each and searchable by the
//! schema's fields and by `otel.*`; a retried export is stored once; an export with bad
//! records is answered with `partial_success` while the rest is stored; unreadable bodies,
//! unknown content types, bodies over the limit and requests without credentials are refused
//! with a `google.rpc.Status` naming the reason. Every answer is decoded with the
//! `opentelemetry-proto` types, as the exporter decodes it.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use common::KestrelServer as Kestrel;
use common::*;
use kestrel_collector::otlp::response::RpcStatus;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{json, Value};

const TOKEN: &str = "otlp-token-7c1e0f4e9a2b4d6f";
const USER_AGENT: &str = "OpenTelemetry Collector Contrib/0.116.0 (linux/amd64)";
const MAX_BODY: usize = 256 * 1024;

fn config(dir: &Path, webhook_port: u16, api_port: u16) -> std::path::PathBuf {
    write_kestrel_config(
        dir,
        &format!(
            r#"[collector]
sources = []
[collector.webhook]
listen = "127.0.0.1:{webhook_port}"
max_body_bytes = {MAX_BODY}
[collector.ingest]
tokens = ["{TOKEN}"]
[collector.otlp]
enabled = true
[indexer]
commit_interval = "200ms"
[query]
listen = "127.0.0.1:{api_port}"
"#
        ),
    )
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// A pod as the k8sattributes processor and the container parser describe it.
struct Pod {
    namespace: &'static str,
    name: &'static str,
    uid: &'static str,
    container: &'static str,
    deployment: &'static str,
    image: &'static str,
    tag: &'static str,
    container_id: &'static str,
}

const CHECKOUT: Pod = Pod {
    namespace: "shop",
    name: "checkout-7d9f8b6c5d-x2x9q",
    uid: "6f1c2a9e-3b1d-4c55-9a0e-0c7f1f2d8b11",
    container: "checkout",
    deployment: "checkout",
    image: "registry.example/shop/checkout",
    tag: "1.4.2",
    container_id: "3f4e1b2c9d8a7f6e5d4c3b2a19080706f5e4d3c2b1a09f8e7d6c5b4a39281706",
};

const CART: Pod = Pod {
    namespace: "shop",
    name: "cart-5c8d7b9f4-qq7tn",
    uid: "0b8f2d4e-1a3c-4e5f-8a9b-7c6d5e4f3a21",
    container: "cart",
    deployment: "cart",
    image: "registry.example/shop/cart",
    tag: "2.0.1",
    container_id: "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b",
};

impl Pod {
    fn resource_attributes(&self) -> Vec<KeyValue> {
        vec![
            text("k8s.namespace.name", self.namespace),
            text("k8s.pod.name", self.name),
            text("k8s.pod.uid", self.uid),
            text("k8s.container.name", self.container),
            text("k8s.container.restart_count", "0"),
            text("k8s.deployment.name", self.deployment),
            text("k8s.node.name", "worker-2"),
            text("container.id", self.container_id),
            text("container.image.name", self.image),
            text("container.image.tag", self.tag),
            text("service.name", self.deployment),
        ]
    }

    fn file_path(&self) -> String {
        format!(
            "/var/log/pods/{}_{}_{}/{}/0.log",
            self.namespace, self.name, self.uid, self.container
        )
    }
}

/// A record of the filelog receiver's container parser: `log.iostream`, `logtag`,
/// `log.file.path`, the observed time a little after the line's time.
fn line(pod: &Pod, time: u64, stream: &str, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time + 2_000_000,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.to_owned())),
        }),
        attributes: vec![
            text("log.iostream", stream),
            text("logtag", "F"),
            text("log.file.path", &pod.file_path()),
        ],
        ..LogRecord::default()
    }
}

fn export(pod: &Pod, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: pod.resource_attributes(),
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope::default()),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// What the listener answered: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Posts `body` as the `otlphttp` exporter does (its User-Agent, the given content type and
/// encoding, the authorization).
fn post(
    port: u16,
    content_type: &str,
    encoding: Option<&str>,
    authorization: Option<&str>,
    body: &[u8],
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut request = agent
        .post(&format!("http://127.0.0.1:{port}/v1/logs"))
        .header("Content-Type", content_type)
        .header("User-Agent", USER_AGENT);
    if let Some(encoding) = encoding {
        request = request.header("Content-Encoding", encoding);
    }
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.send(body).expect("the listener answers");
    Answer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: response.body_mut().read_to_vec().unwrap_or_default(),
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn post_protobuf(port: u16, request: &ExportLogsServiceRequest) -> ExportLogsServiceResponse {
    let answer = post(
        port,
        "application/x-protobuf",
        Some("gzip"),
        Some(&bearer()),
        &gzip(&request.encode_to_vec()),
    );
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type, "application/x-protobuf");
    ExportLogsServiceResponse::decode(answer.body.as_slice()).expect("a protobuf response")
}

fn post_json(port: u16, body: &Value) -> ExportLogsServiceResponse {
    let answer = post(
        port,
        "application/json",
        Some("gzip"),
        Some(&bearer()),
        &gzip(body.to_string().as_bytes()),
    );
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type, "application/json");
    serde_json::from_slice(&answer.body).expect("a JSON ExportLogsServiceResponse")
}

/// A refused request's `google.rpc.Status`, decoded in the request's encoding.
fn status_of(answer: &Answer) -> RpcStatus {
    if answer.content_type == "application/x-protobuf" {
        RpcStatus::decode(answer.body.as_slice()).expect("a protobuf Status")
    } else {
        serde_json::from_slice(&answer.body).expect("a JSON Status")
    }
}

/// Sends only the head of a request declaring a `Content-Length` of `length`, and reads the
/// answer's head (a server that reads bodies over the limit would wait for the body).
fn declared_over_the_limit(port: u16, length: usize) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {USER_AGENT}\r\nContent-Type: application/x-protobuf\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    let mut head = vec![0; 1024];
    let read = stream.read(&mut head).expect("an answer before the body");
    String::from_utf8_lossy(&head[..read]).into_owned()
}

#[test]
fn otlp_exports_are_stored_once_searchable_and_bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (webhook, api) = (free_port(), free_port());
    let kestrel = Kestrel::start(&config(dir.path(), webhook, api), api);
    wait_for_listener(webhook, "the webhook listener accepts connections");
    let t0 = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .timestamp_nanos_opt()
        .unwrap() as u64;
    let second = 1_000_000_000;

    // Protobuf, gzip: three lines of the checkout pod.
    let checkout = export(
        &CHECKOUT,
        vec![
            line(&CHECKOUT, t0, "stdout", "GET /cart 200 12ms"),
            line(
                &CHECKOUT,
                t0 + second,
                "stderr",
                r#"{"level":"error","msg":"payment declined","order":4711}"#,
            ),
            LogRecord {
                severity_number: 13,
                severity_text: "WARN".into(),
                trace_id: (1..=16).collect(),
                span_id: (1..=8).collect(),
                ..line(
                    &CHECKOUT,
                    t0 + 2 * second,
                    "stdout",
                    "retrying payment provider",
                )
            },
        ],
    );
    let response = post_protobuf(webhook, &checkout);
    assert_eq!(response.partial_success, None);

    // JSON, gzip, as the exporter's `encoding: json` writes it: 64-bit integers as strings,
    // ids in hex, enums as integers.
    let cart_json = json!({"resourceLogs": [{
        "resource": {"attributes": CART.resource_attributes().iter().map(|kv| json!({
            "key": kv.key,
            "value": {"stringValue": match kv.value.as_ref().unwrap().value.as_ref().unwrap() {
                any_value::Value::StringValue(s) => s.clone(),
                _ => unreachable!("string attributes only"),
            }}
        })).collect::<Vec<_>>()},
        "scopeLogs": [{"scope": {}, "logRecords": [
            {"timeUnixNano": (t0 + 3 * second).to_string(), "observedTimeUnixNano": (t0 + 3 * second + 5).to_string(),
             "severityNumber": 17, "severityText": "ERROR",
             "body": {"stringValue": "cart store unreachable: dial tcp 10.0.4.7:6379: connect: connection refused"},
             "attributes": [{"key": "log.iostream", "value": {"stringValue": "stderr"}},
                            {"key": "logtag", "value": {"stringValue": "F"}},
                            {"key": "log.file.path", "value": {"stringValue": CART.file_path()}}],
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"},
            {"timeUnixNano": (t0 + 4 * second).to_string(),
             "body": {"kvlistValue": {"values": [
                 {"key": "event", "value": {"stringValue": "cart.checkout"}},
                 {"key": "items", "value": {"intValue": "3"}}]}},
             "attributes": [{"key": "log.iostream", "value": {"stringValue": "stdout"}}]}
        ]}]
    }]});
    let response = post_json(webhook, &cart_json);
    assert_eq!(response.partial_success, None);

    // Every record searchable once, by the schema's fields and by otel.*.
    let all = kestrel.wait_for_hits("kubernetes.namespace:shop", 5);
    assert!(all.iter().all(|e| e["event"]["kind"] == "container"));
    for (query, count) in [
        ("kubernetes.pod.name:checkout-7d9f8b6c5d-x2x9q", 3),
        (&format!("kubernetes.pod.uid:{}", CART.uid), 2),
        ("kubernetes.container.name:checkout AND stream:stderr", 1),
        ("kubernetes.node.name:worker-2 AND host.name:worker-2", 5),
        (&format!("container.id:{}", CHECKOUT.container_id), 3),
        ("container.image:\"registry.example/shop/cart:2.0.1\"", 2),
        ("service.name:checkout", 3),
        ("level:error", 1),
        ("level:warn AND otel.severity_number:13", 1),
        ("otel.trace_id:0102030405060708090a0b0c0d0e0f10", 1),
        ("otel.span_id:eee19b7ec3c1b174", 1),
        ("otel.resource.k8s.deployment.name:cart", 2),
        ("otel.attributes.logtag:F", 4),
        ("json.msg:\"payment declined\" AND json.order:4711", 1),
        ("json.event:\"cart.checkout\"", 1),
        ("\"connection refused\" AND stream:stderr", 1),
        (&format!("log.file.path:\"{}\"", CHECKOUT.file_path()), 3),
    ] {
        let body = kestrel.search(query, 100);
        assert_eq!(body["total"], count, "{query}: {body}");
    }
    let retry = kestrel.search("message:retrying", 10)["hits"][0].clone();
    assert_eq!(
        retry["@timestamp"],
        kestrel_event::format_timestamp(&chrono::DateTime::from_timestamp_nanos(
            (t0 + 2 * second) as i64
        ))
    );
    let checkout_body = kestrel.search("json.event:\"cart.checkout\"", 10)["hits"][0].clone();
    assert_eq!(
        checkout_body["message"],
        r#"{"event":"cart.checkout","items":3}"#
    );
    // The JSON record without log.file.path is under the source name.
    assert_eq!(checkout_body["log"]["file"]["path"], "otlp");

    // A retried export (the exporter's retry after a timeout) is stored once.
    assert_eq!(post_protobuf(webhook, &checkout).partial_success, None);
    assert_eq!(post_json(webhook, &cart_json).partial_success, None);
    let duplicates = wait_for(Duration::from_secs(20), || {
        let scrape = kestrel.metrics();
        (scraped_value(&scrape, "kestrel_indexer_duplicates_total") >= Some(5.0)).then_some(scrape)
    })
    .expect("the retried records are recognized as duplicates");
    assert_eq!(
        scraped_value(&duplicates, "kestrel_indexer_duplicates_total"),
        Some(5.0)
    );
    assert_eq!(kestrel.search("kubernetes.namespace:shop", 100)["total"], 5);

    // Bad records: rejected in partial_success, kept as dead letters, the rest stored.
    let mixed = json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "k8s.namespace.name", "value": {"stringValue": "batch"}}]},
    "scopeLogs": [{"logRecords": [
        {"timeUnixNano": (t0 + 5 * second).to_string(), "body": {"stringValue": "job started"}},
        {"timeUnixNano": (t0 + 6 * second).to_string(), "traceId": "not-a-hex-id", "body": {"stringValue": "bad id"}},
        {"timeUnixNano": "18446744073709551615", "body": {"stringValue": "far future"}},
        {"timeUnixNano": (t0 + 7 * second).to_string(), "body": {"stringValue": "job finished"}}
    ]}]}]});
    let partial = post_json(webhook, &mixed)
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_log_records, 2);
    assert!(
        partial
            .error_message
            .contains("2 of 4 log records rejected"),
        "{}",
        partial.error_message
    );
    assert!(
        partial
            .error_message
            .contains("resourceLogs[0].scopeLogs[0].logRecords[1]: traceId"),
        "{}",
        partial.error_message
    );
    let batch = kestrel.wait_for_hits("kubernetes.namespace:batch", 2);
    let mut messages: Vec<_> = batch.iter().filter_map(|e| e["message"].as_str()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["job finished", "job started"]);
    let store = kestrel_bus::DeadLetterStore::open(dir.path().join("data/dead-letters")).unwrap();
    let letters: Vec<_> = store
        .read_all()
        .unwrap()
        .into_iter()
        .filter(|l| l.source == "otlp")
        .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters[1].error.contains("past 2262"), "{letters:?}");
    let raw: Value = serde_json::from_slice(&letters[0].raw).unwrap();
    assert_eq!(raw["body"]["stringValue"], "bad id");

    // Bodies that cannot be read: 400 with the reason, in the request's encoding.
    let answer = post(
        webhook,
        "application/x-protobuf",
        None,
        Some(&bearer()),
        b"\x0a\x05\x0a",
    );
    assert_eq!(answer.status, 400);
    let status = status_of(&answer);
    assert_eq!(status.code, 3);
    assert!(
        status
            .message
            .contains("not a protobuf ExportLogsServiceRequest"),
        "{}",
        status.message
    );
    let answer = post(
        webhook,
        "application/json",
        None,
        Some(&bearer()),
        b"{\"resourceLogs\": {\"oops\": 1}}",
    );
    assert_eq!(answer.status, 400);
    assert!(status_of(&answer)
        .message
        .contains("resourceLogs: invalid type"));
    let answer = post(
        webhook,
        "application/json",
        Some("gzip"),
        Some(&bearer()),
        b"{\"resourceLogs\": []}",
    );
    assert_eq!(answer.status, 400);
    assert!(status_of(&answer).message.contains("not valid gzip"));
    // Unknown content type or encoding: 415.
    let answer = post(webhook, "text/plain", None, Some(&bearer()), b"hello");
    assert_eq!(answer.status, 415);
    assert!(status_of(&answer).message.contains("text/plain"));
    let answer = post(
        webhook,
        "application/json",
        Some("br"),
        Some(&bearer()),
        b"{}",
    );
    assert_eq!(answer.status, 415);
    // Over the limit, as sent or once decompressed: 413.
    let huge = export(
        &CHECKOUT,
        vec![line(&CHECKOUT, t0, "stdout", &"x".repeat(MAX_BODY))],
    )
    .encode_to_vec();
    // A body declared over the limit is answered before it is sent.
    let head = declared_over_the_limit(webhook, huge.len());
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let answer = post(
        webhook,
        "application/x-protobuf",
        Some("gzip"),
        Some(&bearer()),
        &gzip(&huge),
    );
    assert_eq!(answer.status, 413);
    assert!(status_of(&answer).message.contains("over the limit"));

    // Without the token, or with another: 401, nothing stored.
    let body =
        gzip(&export(&CHECKOUT, vec![line(&CHECKOUT, t0, "stdout", "intruder")]).encode_to_vec());
    for authorization in [
        None,
        Some("Bearer otlp-token-0000000000000000"),
        Some(TOKEN),
    ] {
        let answer = post(
            webhook,
            "application/x-protobuf",
            Some("gzip"),
            authorization,
            &body,
        );
        assert_eq!(answer.status, 401, "{authorization:?}");
        assert_eq!(status_of(&answer).code, 16);
    }
    // The basicauth extension's user:token is accepted.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("otelcol:{TOKEN}"))
    );
    let answer = post(
        webhook,
        "application/x-protobuf",
        Some("gzip"),
        Some(&basic),
        &gzip(
            &export(
                &CART,
                vec![line(&CART, t0 + 8 * second, "stdout", "basic auth line")],
            )
            .encode_to_vec(),
        ),
    );
    assert_eq!(answer.status, 200);
    kestrel.wait_for_hits("message:\"basic auth line\"", 1);
    assert_eq!(kestrel.search("message:intruder", 10)["total"], 0);

    let scrape = kestrel.metrics();
    assert_eq!(
        scraped_value(&scrape, "kestrel_collector_otlp_records_total"),
        Some(13.0)
    );
    assert_eq!(
        scraped_value(&scrape, "kestrel_collector_otlp_rejected_records_total"),
        Some(2.0)
    );
    assert_eq!(
        scraped_value(&scrape, "kestrel_collector_otlp_unauthorized_total"),
        Some(3.0)
    );
    assert_eq!(
        scraped_value(&scrape, "kestrel_collector_otlp_rejected_total"),
        Some(7.0)
    );
}

#[test]
fn an_otlp_endpoint_without_a_listener_or_credentials_is_refused_at_start() {
    for (settings, reason) in [
        (
            format!("[collector.ingest]\ntokens = [\"{TOKEN}\"]\n[collector.otlp]\nenabled = true\n"),
            "collector.otlp.enabled: needs collector.webhook.listen",
        ),
        (
            format!(
                "[collector.webhook]\nlisten = \"127.0.0.1:{}\"\n[collector.otlp]\nenabled = true\n",
                free_port()
            ),
            "collector.otlp.enabled: no collector.ingest.tokens",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_kestrel_config(dir.path(), &settings);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env_remove("KESTREL_CONFIG")
            .output()
            .expect("kestrel runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{stderr}");
    }
}
