//! The answers of the OTLP/HTTP logs endpoint, in the encoding of the request: an
//! `ExportLogsServiceResponse` (with `partial_success` when records were rejected), or for
//! every 4xx and 5xx a `google.rpc.Status` naming the reason, as the OTLP/HTTP specification
//! asks.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use prost::Message;

use super::decode::Encoding;

/// `google.rpc.Status` (`code`, `message`; no `details`).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Why the request failed.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `google.rpc.Code` values used here.
pub mod code {
    /// The body or its content cannot be read.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// The body is over the size limit.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// The content type or encoding is not supported.
    pub const UNIMPLEMENTED: i32 = 12;
    /// The records could not be stored now; retry.
    pub const UNAVAILABLE: i32 = 14;
    /// No valid credentials.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// A `200` holding an `ExportLogsServiceResponse`: empty when every record was accepted,
/// with `partial_success` (`rejected_log_records`, `error_message`) otherwise.
pub fn export_response(encoding: Encoding, rejected: usize, error_message: String) -> Response {
    let partial_success = (rejected > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message,
    });
    let response = ExportLogsServiceResponse { partial_success };
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        // The crate writes an unset `partialSuccess` as `null`; an empty object is the
        // canonical full success. `rejectedLogRecords` is written as a JSON number, which
        // OTLP/JSON decoders accept for 64-bit integers.
        Encoding::Json if response.partial_success.is_none() => b"{}".to_vec(),
        // Serializing these plain structs cannot fail.
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_default(),
    };
    with_body(StatusCode::OK, encoding, body)
}

/// An error answer: `status` with a `google.rpc.Status` body.
pub fn status_response(
    status: StatusCode,
    encoding: Encoding,
    code: i32,
    message: impl Into<String>,
) -> Response {
    let status_message = RpcStatus {
        code,
        message: message.into(),
    };
    let body = match encoding {
        Encoding::Protobuf => status_message.encode_to_vec(),
        // Serializing a struct of an integer and a string cannot fail.
        Encoding::Json => serde_json::to_vec(&status_message).unwrap_or_default(),
    };
    with_body(status, encoding, body)
}

fn with_body(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}
