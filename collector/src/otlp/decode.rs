//! Reading an OTLP/HTTP logs export body: its encoding (from `Content-Type`), its compression
//! (from `Content-Encoding`), and its records, each decoded on its own so that one malformed
//! record is rejected alone while the rest of the export is stored.
//!
//! The envelope (`ExportLogsServiceRequest`, `ResourceLogs`, `ScopeLogs`) is decoded first,
//! with each log record kept as its undecoded bytes (protobuf: an embedded message is
//! length-delimited bytes on the wire) or JSON value; then every record is decoded with the
//! `opentelemetry-proto` types (prost for protobuf, their OTLP/JSON serde mapping for JSON).
//!
//! That serde mapping follows the OTLP/JSON rules (lowerCamelCase keys, hex trace and span
//! ids in either case, 64-bit integers as strings or numbers, enums as integers, an empty
//! `AnyValue` as no value) except in one place: it requires the `values` of `kvlistValue` and
//! `arrayValue`, which OTLP/JSON senders leave out when the map or array is empty (proto3
//! omits empty repeated fields). [`fill_empty_lists`] puts them back before decoding.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::Deserialize;

/// The media type of protobuf-encoded OTLP.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The media type of JSON-encoded OTLP.
pub const JSON: &str = "application/json";

/// How a body is encoded; the response is encoded the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf (`application/x-protobuf`).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

impl Encoding {
    /// The encoding named by a `Content-Type` value (parameters such as `charset` ignored).
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let media = value.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case(PROTOBUF) {
            Some(Encoding::Protobuf)
        } else if media.eq_ignore_ascii_case(JSON) {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The media type of the encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

/// Why a body cannot be read at all (as opposed to one of its records).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `Content-Encoding` other than `gzip` and `identity`.
    #[error("unsupported Content-Encoding {0:?} (expected gzip or identity)")]
    UnsupportedCompression(String),
    /// The body is not valid gzip.
    #[error("body is not valid gzip: {0}")]
    Gzip(String),
    /// The decompressed body is larger than the limit.
    #[error("decompressed body over the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not a protobuf `ExportLogsServiceRequest`.
    #[error("body is not a protobuf ExportLogsServiceRequest: {0}")]
    Protobuf(String),
    /// The body is not an OTLP/JSON `ExportLogsServiceRequest`.
    #[error("body is not an OTLP/JSON ExportLogsServiceRequest: {0}")]
    Json(String),
}

/// The body, decompressed per `Content-Encoding` (absent, `identity` or `gzip`), at most
/// `limit` bytes once decompressed.
pub fn decompress(
    body: &[u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let coding = content_encoding.map(str::trim).unwrap_or_default();
    if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
        return Ok(body.to_vec());
    }
    if !coding.eq_ignore_ascii_case("gzip") && !coding.eq_ignore_ascii_case("x-gzip") {
        return Err(DecodeError::UnsupportedCompression(coding.to_owned()));
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    // One byte past the limit tells a body at the limit from one over it.
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(body)
        .take(read_limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// A record that could not be decoded: where it sits, why, and its bytes as posted (the
/// protobuf message, or the compact JSON of the record object).
#[derive(Debug, Clone, PartialEq)]
pub struct BadRecord {
    /// `resourceLogs[i].scopeLogs[j].logRecords[k]`.
    pub position: String,
    /// Why it does not decode.
    pub error: String,
    /// Its bytes.
    pub raw: Vec<u8>,
}

/// The records of one `ScopeLogs`, with the resource and scope they belong to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScopeBatch {
    /// The resource of the enclosing `ResourceLogs` (empty when absent).
    pub resource: Resource,
    /// The instrumentation scope (empty when absent).
    pub scope: InstrumentationScope,
    /// `resourceLogs[i].scopeLogs[j]`, the prefix of the records' positions.
    pub position: String,
    /// Each record, decoded or not.
    pub records: Vec<Result<LogRecord, BadRecord>>,
}

/// Decodes a (decompressed) export body into its scope batches.
pub fn decode(body: &[u8], encoding: Encoding) -> Result<Vec<ScopeBatch>, DecodeError> {
    match encoding {
        Encoding::Protobuf => decode_protobuf(body),
        Encoding::Json => decode_json(body),
    }
}

/// `ExportLogsServiceRequest` with its records left as bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct RequestFrame {
    #[prost(message, repeated, tag = "1")]
    resource_logs: Vec<ResourceLogsFrame>,
}

/// `ResourceLogs` (tags as in `logs.proto`; `schema_url` skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct ResourceLogsFrame {
    #[prost(message, optional, tag = "1")]
    resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    scope_logs: Vec<ScopeLogsFrame>,
}

/// `ScopeLogs` with each `LogRecord` as its encoded bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct ScopeLogsFrame {
    #[prost(message, optional, tag = "1")]
    scope: Option<InstrumentationScope>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    log_records: Vec<Vec<u8>>,
}

fn decode_protobuf(body: &[u8]) -> Result<Vec<ScopeBatch>, DecodeError> {
    let frame = RequestFrame::decode(body).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let mut batches = Vec::new();
    for (i, resource_logs) in frame.resource_logs.into_iter().enumerate() {
        let resource = resource_logs.resource.unwrap_or_default();
        for (j, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            let position = format!("resourceLogs[{i}].scopeLogs[{j}]");
            let records = scope_logs
                .log_records
                .into_iter()
                .enumerate()
                .map(|(k, raw)| {
                    LogRecord::decode(raw.as_slice()).map_err(|e| BadRecord {
                        position: format!("{position}.logRecords[{k}]"),
                        error: e.to_string(),
                        raw,
                    })
                })
                .collect();
            batches.push(ScopeBatch {
                resource: resource.clone(),
                scope: scope_logs.scope.unwrap_or_default(),
                position,
                records,
            });
        }
    }
    Ok(batches)
}

/// `ExportLogsServiceRequest` in OTLP/JSON with its records left as JSON values.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonRequest {
    resource_logs: Vec<JsonResourceLogs>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonResourceLogs {
    resource: Option<serde_json::Value>,
    scope_logs: Vec<JsonScopeLogs>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonScopeLogs {
    scope: Option<serde_json::Value>,
    log_records: Vec<serde_json::Value>,
}

/// Adds the `values: []` that OTLP/JSON senders omit from an empty `kvlistValue` or
/// `arrayValue`, anywhere in `value`.
fn fill_empty_lists(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in ["kvlistValue", "arrayValue"] {
                if let Some(serde_json::Value::Object(list)) = map.get_mut(key) {
                    list.entry("values")
                        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                }
            }
            map.values_mut().for_each(fill_empty_lists);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fill_empty_lists),
        _ => {}
    }
}

/// Decodes a JSON value (an envelope part or a record) with the crate's OTLP/JSON mapping.
fn from_json<T: serde::de::DeserializeOwned>(mut value: serde_json::Value) -> Result<T, String> {
    fill_empty_lists(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| path_error(&e))
}

/// A resource or scope, absent (or null) as empty.
fn envelope_part<T: serde::de::DeserializeOwned + Default>(
    value: Option<serde_json::Value>,
    position: &str,
) -> Result<T, DecodeError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(T::default()),
        Some(value) => from_json(value).map_err(|e| DecodeError::Json(format!("{position}: {e}"))),
    }
}

fn decode_json(body: &[u8]) -> Result<Vec<ScopeBatch>, DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: JsonRequest = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| DecodeError::Json(path_error(&e)))?;
    deserializer
        .end()
        .map_err(|e| DecodeError::Json(e.to_string()))?;
    let mut batches = Vec::new();
    for (i, resource_logs) in request.resource_logs.into_iter().enumerate() {
        let resource: Resource = envelope_part(
            resource_logs.resource,
            &format!("resourceLogs[{i}].resource"),
        )?;
        for (j, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            let position = format!("resourceLogs[{i}].scopeLogs[{j}]");
            let scope = envelope_part(scope_logs.scope, &format!("{position}.scope"))?;
            let records = scope_logs
                .log_records
                .into_iter()
                .enumerate()
                .map(|(k, value)| json_record(value, &format!("{position}.logRecords[{k}]")))
                .collect();
            batches.push(ScopeBatch {
                resource: resource.clone(),
                scope,
                position,
                records,
            });
        }
    }
    Ok(batches)
}

/// Decodes one OTLP/JSON log record.
fn json_record(value: serde_json::Value, position: &str) -> Result<LogRecord, BadRecord> {
    // Serializing a `Value` cannot fail: its keys are strings.
    let raw = serde_json::to_vec(&value).unwrap_or_default();
    from_json(value).map_err(|error| BadRecord {
        position: position.to_owned(),
        error,
        raw,
    })
}

/// A serde error with the path of the value it is about (`body.kvlistValue...: reason`).
fn path_error(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    if path == "." || path.is_empty() {
        error.inner().to_string()
    } else {
        format!("{path}: {}", error.inner())
    }
}
