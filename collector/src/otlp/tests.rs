use std::io::Write;

use chrono::TimeZone;
use kestrel_event::{Event, Stream};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{json, Value};

use super::decode::{decode, decompress, DecodeError, Encoding};
use super::response::{export_response, status_response, RpcStatus};
use super::route::{normalize, Normalized};

/// The logs example of the OTLP specification (opentelemetry-proto `examples/logs.json`): ids
/// in uppercase hex, 64-bit integers as JSON numbers.
const SPEC_EXAMPLE: &str = r#"{
  "resourceLogs": [
    {
      "resource": {
        "attributes": [
          { "key": "service.name", "value": { "stringValue": "my.service" } }
        ]
      },
      "scopeLogs": [
        {
          "scope": {
            "name": "my.library",
            "version": "1.0.0",
            "attributes": [
              { "key": "my.scope.attribute", "value": { "stringValue": "some scope attribute" } }
            ]
          },
          "logRecords": [
            {
              "timeUnixNano": 1544712660300000000,
              "observedTimeUnixNano": 1544712660300000000,
              "severityText": "Information",
              "traceId": "5B8EFFF798038103D269B633813FC60C",
              "spanId": "EEE19B7EC3C1B174",
              "body": { "stringValue": "Example log record" },
              "attributes": [
                { "key": "string.attribute", "value": { "stringValue": "some string" } },
                { "key": "boolean.attribute", "value": { "boolValue": true } },
                { "key": "int.attribute", "value": { "intValue": 10 } },
                { "key": "double.attribute", "value": { "doubleValue": 637.704 } },
                { "key": "array.attribute", "value": { "arrayValue": { "values": [
                  { "stringValue": "many" }, { "stringValue": "values" } ] } } },
                { "key": "map.attribute", "value": { "kvlistValue": { "values": [
                  { "key": "some.map.key", "value": { "stringValue": "some value" } } ] } } }
              ]
            }
          ]
        }
      ]
    }
  ]
}"#;

fn string(text: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(text.to_owned())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        ..KeyValue::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, string(value))
}

/// The spec's example built with the crate's prost types.
fn spec_example_message() -> ExportLogsServiceRequest {
    let any = |value| Some(AnyValue { value: Some(value) });
    let record = LogRecord {
        time_unix_nano: 1_544_712_660_300_000_000,
        observed_time_unix_nano: 1_544_712_660_300_000_000,
        severity_text: "Information".into(),
        trace_id: vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c,
        ],
        span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74],
        body: string("Example log record"),
        attributes: vec![
            text("string.attribute", "some string"),
            kv("boolean.attribute", any(any_value::Value::BoolValue(true))),
            kv("int.attribute", any(any_value::Value::IntValue(10))),
            kv(
                "double.attribute",
                any(any_value::Value::DoubleValue(637.704)),
            ),
            kv(
                "array.attribute",
                any(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![string("many").unwrap(), string("values").unwrap()],
                })),
            ),
            kv(
                "map.attribute",
                any(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![text("some.map.key", "some value")],
                })),
            ),
        ],
        ..LogRecord::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", "my.service")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "my.library".into(),
                    version: "1.0.0".into(),
                    attributes: vec![text("my.scope.attribute", "some scope attribute")],
                    ..InstrumentationScope::default()
                }),
                log_records: vec![record],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A record as the OpenTelemetry Collector sends one read by the filelog receiver (container
/// parser) and described by the k8sattributes processor.
fn kubernetes_message(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    text("k8s.namespace.name", "shop"),
                    text("k8s.pod.name", "checkout-7d9f8b6c5d-x2x9q"),
                    text("k8s.pod.uid", "6f1c2a9e-3b1d-4c55-9a0e-0c7f1f2d8b11"),
                    text("k8s.container.name", "checkout"),
                    text("k8s.node.name", "worker-2"),
                    text("k8s.deployment.name", "checkout"),
                    kv(
                        "k8s.container.restart_count",
                        Some(AnyValue {
                            value: Some(any_value::Value::StringValue("0".into())),
                        }),
                    ),
                    text(
                        "container.id",
                        "3f4e1b2c9d8a7f6e5d4c3b2a19080706f5e4d3c2b1a09f8e7d6c5b4a39281706",
                    ),
                    text("container.image.name", "registry.example/shop/checkout"),
                    text("container.image.tag", "1.4.2"),
                    text("service.name", "checkout"),
                ],
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

fn container_record(time: u64, body: &str, stream: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time + 1_000_000,
        body: string(body),
        attributes: vec![
            text("log.iostream", stream),
            text("logtag", "F"),
            text(
                "log.file.path",
                "/var/log/pods/shop_checkout-7d9f8b6c5d-x2x9q_6f1c2a9e-3b1d-4c55-9a0e-0c7f1f2d8b11/checkout/0.log",
            ),
        ],
        ..LogRecord::default()
    }
}

fn ingested() -> kestrel_event::Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
}

fn events_of(body: &[u8], encoding: Encoding) -> Normalized {
    let batches = decode(body, encoding).expect("body decodes");
    normalize(batches, encoding, "kestrel-node", ingested())
}

fn field(event: &Event, path: &str) -> Value {
    event.field(path).unwrap_or(Value::Null)
}

#[test]
fn the_specification_example_decodes_from_json_as_from_protobuf() {
    let from_json = events_of(SPEC_EXAMPLE.as_bytes(), Encoding::Json);
    assert!(from_json.letters.is_empty(), "{:?}", from_json.letters);
    let protobuf = spec_example_message().encode_to_vec();
    let from_protobuf = events_of(&protobuf, Encoding::Protobuf);
    assert_eq!(from_json.events, from_protobuf.events);
    // The crate's own JSON rendering of the message (64-bit integers as strings, lowercase
    // hex ids) decodes to the same events too.
    let crate_json = serde_json::to_vec(&spec_example_message()).unwrap();
    assert_eq!(
        events_of(&crate_json, Encoding::Json).events,
        from_json.events
    );

    let event = &from_json.events[0];
    assert_eq!(
        kestrel_event::format_timestamp(&event.timestamp),
        "2018-12-13T14:51:00.300000000Z"
    );
    assert_eq!(event.message, "Example log record");
    assert_eq!(field(event, "level"), "Information");
    assert_eq!(field(event, "service.name"), "my.service");
    assert_eq!(
        field(event, "otel.trace_id"),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(field(event, "otel.span_id"), "eee19b7ec3c1b174");
    assert_eq!(field(event, "otel.scope.name"), "my.library");
    assert_eq!(field(event, "otel.scope.version"), "1.0.0");
    assert_eq!(
        field(event, "otel.scope.attributes.my.scope.attribute"),
        "some scope attribute"
    );
    assert_eq!(
        field(event, "otel.attributes"),
        json!({
            "string.attribute": "some string",
            "boolean.attribute": true,
            "int.attribute": 10,
            "double.attribute": 637.704,
            "array.attribute": ["many", "values"],
            "map.attribute": {"some.map.key": "some value"}
        })
    );
    assert!(
        event.audit["otel"].get("resource").is_none(),
        "service.name is mapped"
    );
    assert_eq!(field(event, "log.file.path"), "otlp");
    assert_eq!(field(event, "host.name"), "kestrel-node");
    assert_eq!(field(event, "event.kind"), "container");
}

#[test]
fn kubernetes_and_container_attributes_fill_the_schema_fields() {
    let t = 1_765_108_800_123_456_789;
    let message = kubernetes_message(vec![
        container_record(t, "GET /cart 200 12ms", "stdout"),
        container_record(
            t + 1,
            r#"{"level":"error","msg":"payment declined","order":42}"#,
            "stderr",
        ),
    ]);
    let Normalized { events, letters } = events_of(&message.encode_to_vec(), Encoding::Protobuf);
    assert!(letters.is_empty());
    let [out, err] = &events[..] else {
        panic!("two events expected, got {events:?}")
    };
    assert_eq!(out.timestamp.timestamp_nanos_opt(), Some(t as i64));
    assert_eq!(out.message, "GET /cart 200 12ms");
    assert_eq!(out.stream, Some(Stream::Stdout));
    assert_eq!(err.stream, Some(Stream::Stderr));
    assert_eq!(field(out, "kubernetes.namespace"), "shop");
    assert_eq!(
        field(out, "kubernetes.pod.name"),
        "checkout-7d9f8b6c5d-x2x9q"
    );
    assert_eq!(
        field(out, "kubernetes.pod.uid"),
        "6f1c2a9e-3b1d-4c55-9a0e-0c7f1f2d8b11"
    );
    assert_eq!(field(out, "kubernetes.container.name"), "checkout");
    assert_eq!(field(out, "kubernetes.node.name"), "worker-2");
    assert_eq!(
        field(out, "container.id"),
        "3f4e1b2c9d8a7f6e5d4c3b2a19080706f5e4d3c2b1a09f8e7d6c5b4a39281706"
    );
    assert_eq!(
        field(out, "container.image"),
        "registry.example/shop/checkout:1.4.2"
    );
    assert_eq!(field(out, "container.name"), Value::Null);
    // Without host.name, the node the pod runs on.
    assert_eq!(field(out, "host.name"), "worker-2");
    assert_eq!(field(out, "service.name"), "checkout");
    assert!(field(out, "log.file.path")
        .as_str()
        .unwrap()
        .starts_with("/var/log/pods/shop_checkout"));
    // The unmapped attributes are kept, the mapped ones are not repeated.
    assert_eq!(
        field(out, "otel.resource"),
        json!({"k8s.deployment.name": "checkout", "k8s.container.restart_count": "0"})
    );
    assert_eq!(field(out, "otel.attributes"), json!({"logtag": "F"}));
    // A JSON line's fields are searchable under json.*, as for container lines.
    assert_eq!(field(err, "json.msg"), "payment declined");
    assert_eq!(field(err, "json.order"), 42);
    assert!(out.json.is_none());
    assert_ne!(out.id(), err.id());
}

#[test]
fn host_and_container_names_severity_numbers_and_structured_bodies() {
    let resource = Resource {
        attributes: vec![
            text("host.name", "build-agent-3"),
            text("container.name", "ci-runner"),
            text("container.image.name", "busybox"),
            text("k8s.node.name", "worker-9"),
        ],
        ..Resource::default()
    };
    let kvlist_body = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                text("event", "login"),
                kv(
                    "attempts",
                    Some(AnyValue {
                        value: Some(any_value::Value::IntValue(3)),
                    }),
                ),
            ],
        })),
    };
    let records = vec![
        LogRecord {
            observed_time_unix_nano: 1_700_000_000_000_000_000,
            severity_number: 17,
            body: Some(kvlist_body),
            flags: 1,
            event_name: "auth.login".into(),
            ..LogRecord::default()
        },
        LogRecord {
            severity_number: 10,
            body: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![string("a").unwrap(), string("b").unwrap()],
                })),
            }),
            ..LogRecord::default()
        },
    ];
    let message = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            schema_url: String::new(),
        }],
    };
    let Normalized { events, .. } = events_of(&message.encode_to_vec(), Encoding::Protobuf);
    let (first, second) = (&events[0], &events[1]);
    assert_eq!(field(first, "host.name"), "build-agent-3");
    assert_eq!(field(first, "container.name"), "ci-runner");
    assert_eq!(field(first, "container.image"), "busybox");
    assert_eq!(field(first, "kubernetes.node.name"), "worker-9");
    // No timeUnixNano: the observed time.
    assert_eq!(
        first.timestamp.timestamp_nanos_opt(),
        Some(1_700_000_000_000_000_000)
    );
    assert_eq!(field(first, "level"), "ERROR");
    assert_eq!(field(first, "otel.severity_number"), 17);
    assert_eq!(field(first, "otel.flags"), 1);
    assert_eq!(field(first, "otel.event_name"), "auth.login");
    assert_eq!(first.message, r#"{"event":"login","attempts":3}"#);
    assert_eq!(field(first, "json.event"), "login");
    assert_eq!(field(second, "level"), "INFO");
    assert_eq!(second.message, r#"["a","b"]"#);
    // Neither time: the time the export was received.
    assert_eq!(second.timestamp, ingested());
    assert!(first.stream.is_none());
}

#[test]
fn a_retried_export_gives_the_same_ids_and_other_records_other_ids() {
    let t = 1_765_108_800_000_000_000;
    let body = kubernetes_message(vec![container_record(t, "same line", "stdout")]).encode_to_vec();
    let first = events_of(&body, Encoding::Protobuf).events;
    // Received later, the same record keeps its id.
    let again = normalize(
        decode(&body, Encoding::Protobuf).unwrap(),
        Encoding::Protobuf,
        "kestrel-node",
        ingested() + chrono::Duration::minutes(5),
    )
    .events;
    assert_eq!(first[0].id(), again[0].id());
    let later = kubernetes_message(vec![container_record(t + 1, "same line", "stdout")]);
    assert_ne!(
        events_of(&later.encode_to_vec(), Encoding::Protobuf).events[0].id(),
        first[0].id()
    );
    // The same record from another pod is another event.
    let mut other_pod = kubernetes_message(vec![container_record(t, "same line", "stdout")]);
    other_pod.resource_logs[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes[1] = text("k8s.pod.name", "checkout-7d9f8b6c5d-other");
    assert_ne!(
        events_of(&other_pod.encode_to_vec(), Encoding::Protobuf).events[0].id(),
        first[0].id()
    );
}

#[test]
fn bad_json_records_are_rejected_alone_with_their_position() {
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1765108800000000000", "body": {"stringValue": "kept"}},
        {"timeUnixNano": "1765108800000000001", "traceId": "not-hex", "body": {"stringValue": "bad id"}},
        {"timeUnixNano": "soon", "body": {"stringValue": "bad time"}},
        {"timeUnixNano": 1765108800000000002u64, "body": {"stringValue": "kept too"}}
    ]}]}]});
    let Normalized { events, letters } = events_of(body.to_string().as_bytes(), Encoding::Json);
    let messages: Vec<_> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["kept", "kept too"]);
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(
        letters[0]
            .error
            .starts_with("resourceLogs[0].scopeLogs[0].logRecords[1]: traceId: "),
        "{letters:?}"
    );
    assert!(
        letters[1]
            .error
            .starts_with("resourceLogs[0].scopeLogs[0].logRecords[2]: timeUnixNano: "),
        "{letters:?}"
    );
    let raw: Value = serde_json::from_slice(&letters[1].raw).unwrap();
    assert_eq!(raw["body"]["stringValue"], "bad time");
    assert!(letters.iter().all(|l| l.source == "otlp"));
}

#[test]
fn bad_protobuf_records_are_rejected_alone() {
    let message = kubernetes_message(vec![
        container_record(1_765_108_800_000_000_000, "kept", "stdout"),
        container_record(1_765_108_800_000_000_001, "MARKER-bad-utf8", "stdout"),
        LogRecord {
            time_unix_nano: u64::MAX,
            body: string("far future"),
            ..LogRecord::default()
        },
    ]);
    let mut body = message.encode_to_vec();
    // Same length, so every enclosing length prefix stays right: invalid UTF-8 in a string.
    let at = body
        .windows(6)
        .position(|w| w == b"MARKER")
        .expect("marker in the encoding");
    body[at] = 0xff;
    body[at + 1] = 0xfe;
    let Normalized { events, letters } = events_of(&body, Encoding::Protobuf);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "kept");
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(
        letters[0]
            .error
            .starts_with("resourceLogs[0].scopeLogs[0].logRecords[1]: "),
        "{letters:?}"
    );
    assert!(
        letters[1]
            .error
            .contains("timeUnixNano 18446744073709551615 is past 2262"),
        "{letters:?}"
    );
    // The rejected record's bytes are kept as posted.
    assert!(LogRecord::decode(letters[1].raw.as_slice()).is_ok());
}

#[test]
fn undecodable_bodies_are_errors_naming_the_problem() {
    let err = decode(b"{\"resourceLogs\": 7}", Encoding::Json).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Json(m) if m.starts_with("resourceLogs: invalid type")),
        "{err}"
    );
    let err = decode(b"{\"resourceLogs\": []} trailing", Encoding::Json).unwrap_err();
    assert!(matches!(err, DecodeError::Json(_)), "{err}");
    let err = decode(b"\x0a\x05\x0a", Encoding::Protobuf).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf(_)), "{err}");
    // An empty export is valid in both encodings.
    assert!(decode(b"", Encoding::Protobuf).unwrap().is_empty());
    assert!(decode(b"{}", Encoding::Json).unwrap().is_empty());
}

#[test]
fn gzip_bodies_are_decompressed_within_the_limit() {
    let plain = spec_example_message().encode_to_vec();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).unwrap();
    let gzipped = encoder.finish().unwrap();
    assert_eq!(decompress(&gzipped, Some("gzip"), 1 << 20).unwrap(), plain);
    assert_eq!(decompress(&plain, None, 1 << 20).unwrap(), plain);
    assert_eq!(
        decompress(&plain, Some("identity"), 1 << 20).unwrap(),
        plain
    );
    assert_eq!(
        decompress(&gzipped, Some("gzip"), plain.len() - 1),
        Err(DecodeError::TooLarge {
            limit: plain.len() - 1
        })
    );
    assert_eq!(
        decompress(&gzipped, Some("gzip"), plain.len()).unwrap(),
        plain
    );
    assert!(matches!(
        decompress(&plain, Some("gzip"), 1 << 20),
        Err(DecodeError::Gzip(_))
    ));
    assert_eq!(
        decompress(&plain, Some("br"), 1 << 20),
        Err(DecodeError::UnsupportedCompression("br".into()))
    );
    let events = events_of(
        &decompress(&gzipped, Some("gzip"), 1 << 20).unwrap(),
        Encoding::Protobuf,
    );
    assert_eq!(events.events.len(), 1);
}

#[test]
fn content_types_name_the_encoding() {
    assert_eq!(
        Encoding::from_content_type("application/x-protobuf"),
        Some(Encoding::Protobuf)
    );
    assert_eq!(
        Encoding::from_content_type("application/json; charset=utf-8"),
        Some(Encoding::Json)
    );
    assert_eq!(Encoding::from_content_type("text/plain"), None);
}

async fn body_of(response: axum::response::Response) -> (axum::http::StatusCode, String, Vec<u8>) {
    let status = response.status();
    let content_type = response.headers()[axum::http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, content_type, bytes.to_vec())
}

#[tokio::test]
async fn responses_decode_with_the_crate_types_in_the_request_encoding() {
    let (status, content_type, body) = body_of(export_response(
        Encoding::Protobuf,
        2,
        "2 of 5 rejected".into(),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-protobuf");
    let response = ExportLogsServiceResponse::decode(body.as_slice()).unwrap();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 2);
    assert_eq!(partial.error_message, "2 of 5 rejected");

    let (_, content_type, body) =
        body_of(export_response(Encoding::Json, 1, "1 of 1 rejected".into())).await;
    assert_eq!(content_type, "application/json");
    let response: ExportLogsServiceResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(response.partial_success.unwrap().rejected_log_records, 1);

    let (_, _, body) = body_of(export_response(Encoding::Json, 0, String::new())).await;
    assert_eq!(body, b"{}");
    let response: ExportLogsServiceResponse = serde_json::from_slice(&body).unwrap();
    assert!(response.partial_success.is_none());
    let (_, _, body) = body_of(export_response(Encoding::Protobuf, 0, String::new())).await;
    assert!(ExportLogsServiceResponse::decode(body.as_slice())
        .unwrap()
        .partial_success
        .is_none());

    let (status, _, body) = body_of(status_response(
        axum::http::StatusCode::BAD_REQUEST,
        Encoding::Protobuf,
        3,
        "body is not a protobuf ExportLogsServiceRequest",
    ))
    .await;
    assert_eq!(status, 400);
    let rpc = RpcStatus::decode(body.as_slice()).unwrap();
    assert_eq!(
        (rpc.code, rpc.message.as_str()),
        (3, "body is not a protobuf ExportLogsServiceRequest")
    );
    let (_, _, body) = body_of(status_response(
        axum::http::StatusCode::BAD_REQUEST,
        Encoding::Json,
        3,
        "bad",
    ))
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"code": 3, "message": "bad"})
    );
}

#[test]
fn empty_values_maps_and_arrays_in_json_are_accepted() {
    // OTLP/JSON senders omit empty fields: an unset AnyValue is `{}`, an empty map or array
    // has no `values`.
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "empty.map", "value": {"kvlistValue": {}}}]},
        "scopeLogs": [{"scope": null, "logRecords": [
            {"timeUnixNano": "1765108800000000000", "body": {},
             "attributes": [{"key": "unset", "value": {}}, {"key": "absent"}]},
            {"timeUnixNano": "1765108800000000001", "body": {"kvlistValue": {}}},
            {"timeUnixNano": "1765108800000000002", "body": {"arrayValue": {}}},
            {"severityNumber": "SEVERITY_NUMBER_INFO"}
        ]}]
    }]});
    let Normalized { events, letters } = events_of(body.to_string().as_bytes(), Encoding::Json);
    let messages: Vec<_> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["", "{}", "[]"]);
    assert_eq!(
        field(&events[0], "otel.attributes"),
        json!({"unset": null, "absent": null})
    );
    assert_eq!(field(&events[0], "otel.resource"), json!({"empty.map": {}}));
    // Enum values are integers in OTLP/JSON.
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0]
            .error
            .contains("logRecords[3]: severityNumber: invalid type"),
        "{letters:?}"
    );
}

const TOKEN: &str = "otlp-unit-token-0123456789";

fn export_request(body: Vec<u8>) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/v1/logs")
        .header("Content-Type", "application/x-protobuf")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(axum::body::Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn the_answer_waits_for_the_bus_and_a_bus_that_cannot_take_the_records_gets_503() {
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let store = kestrel_bus::DeadLetterStore::open(dir.path().join("dead-letters")).unwrap();
    let options = super::OtlpOptions {
        path: "/v1/logs".into(),
        credentials: crate::credentials::IngestCredentials::new(vec![TOKEN.into()], false),
        max_body_bytes: 1 << 20,
        host_name: "kestrel-node".into(),
        redaction: crate::redact::Redaction::disabled(),
    };
    let (publisher, mut subscriber) = kestrel_bus::embedded(4);
    let router = super::otlp_router(&options, publisher, store);
    let t = 1_765_108_800_000_000_000;
    let body = kubernetes_message(vec![
        container_record(t, "one", "stdout"),
        container_record(t + 1, "two", "stderr"),
    ])
    .encode_to_vec();

    // The indexer acknowledges the batch: 200.
    let acking = tokio::spawn(async move {
        let (events, acker) = subscriber.next().await.unwrap().into_parts();
        acker.ack();
        (events, subscriber)
    });
    let response = router
        .clone()
        .oneshot(export_request(body.clone()))
        .await
        .unwrap();
    let (status, _, bytes) = body_of(response).await;
    assert_eq!(status, 200);
    assert!(ExportLogsServiceResponse::decode(bytes.as_slice())
        .unwrap()
        .partial_success
        .is_none());
    let (events, mut subscriber) = acking.await.unwrap();
    assert_eq!(events.len(), 2);

    // The batch is taken but never acknowledged (the indexer failed): 503, to be retried.
    let dropping = tokio::spawn(async move {
        drop(subscriber.next().await.unwrap());
        subscriber
    });
    let response = router
        .clone()
        .oneshot(export_request(body.clone()))
        .await
        .unwrap();
    let (status, content_type, bytes) = body_of(response).await;
    assert_eq!(status, 503);
    assert_eq!(content_type, "application/x-protobuf");
    let rpc = RpcStatus::decode(bytes.as_slice()).unwrap();
    assert_eq!(rpc.code, super::response::code::UNAVAILABLE);
    assert!(rpc.message.contains("retry"), "{}", rpc.message);

    // The bus is gone: 503 as well.
    drop(dropping.await.unwrap());
    let response = router.oneshot(export_request(body)).await.unwrap();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn records_reach_the_bus_redacted() {
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let store = kestrel_bus::DeadLetterStore::open(dir.path().join("dead-letters")).unwrap();
    let key = b"otlp-test-redaction-key-01234567".to_vec();
    let redactor = crate::redact::Redactor::new(&crate::redact::RedactionSettings {
        key: key.clone(),
        patterns: Vec::new(),
        allow: Default::default(),
    })
    .unwrap();
    let options = super::OtlpOptions {
        path: "/v1/logs".into(),
        credentials: crate::credentials::IngestCredentials::new(vec![TOKEN.into()], false),
        max_body_bytes: 1 << 20,
        host_name: "kestrel-node".into(),
        redaction: crate::redact::Redaction::new(redactor),
    };
    let (publisher, mut subscriber) = kestrel_bus::embedded(4);
    let router = super::otlp_router(&options, publisher, store);
    let t = 1_765_108_800_000_000_000;
    let body = kubernetes_message(vec![container_record(
        t,
        "login ok password=hunter2 for bob",
        "stdout",
    )])
    .encode_to_vec();
    let acking = tokio::spawn(async move {
        let (events, acker) = subscriber.next().await.unwrap().into_parts();
        acker.ack();
        events
    });
    let response = router.oneshot(export_request(body)).await.unwrap();
    assert_eq!(response.status(), 200);
    let events = acking.await.unwrap();
    let marker = crate::redact::Marker::new(&key).render("password", "hunter2");
    assert_eq!(
        events[0].message,
        format!("login ok password={marker} for bob")
    );
}
