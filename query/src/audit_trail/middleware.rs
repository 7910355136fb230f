//! The outermost middleware of the API: one audit event per request, recorded when the
//! response body has been sent (or dropped), so that a streamed export records its bytes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, MatchedPath, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio_stream::StreamExt as _;

use super::{AuditEvent, AuditTrail};
use crate::access::AccessOutcome;

/// What a handler adds to its request's audit event, through the response's extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditDetails {
    /// Hits (or alerts) returned.
    pub hits: Option<u64>,
    /// Matching events counted.
    pub total: Option<u64>,
}

/// A change a handler made (a hold placed or released), recorded in the audit trail as an
/// entry of its own next to the request's, with the caller's identity.
#[derive(Debug, Clone)]
pub struct RecordedChange(pub AuditEvent);

/// `router` with every request recorded in `trail` (add it last: outside authentication).
/// The source address is recorded when the router is served with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn with_audit_trail(router: Router, trail: AuditTrail) -> Router {
    router.layer(middleware::from_fn_with_state(trail, record))
}

async fn record(State(trail): State<AuditTrail>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut event = describe(&request);
    let response = next.run(request).await;
    event.status = Some(response.status().as_u16());
    if let Some(outcome) = response.extensions().get::<AccessOutcome>() {
        event = event.with_outcome(outcome);
    }
    if let Some(RecordedChange(change)) = response.extensions().get::<RecordedChange>() {
        let mut change = change.clone();
        if let Some(outcome) = response.extensions().get::<AccessOutcome>() {
            change = change.with_outcome(outcome);
        }
        change.route = event.route.clone();
        change.method = event.method.clone();
        trail.record(change);
    }
    if let Some(details) = response.extensions().get::<AuditDetails>() {
        event.hits = details.hits;
        event.total = details.total;
    }
    let (parts, body) = response.into_parts();
    if let Some(bytes) = body.size_hint().exact() {
        event.bytes = Some(bytes);
        event.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        trail.record(event);
        return Response::from_parts(parts, body);
    }
    // A streamed body: recorded when the stream ends or the reader goes away.
    let mut pending = Pending {
        trail,
        event: Some(event),
        started,
        bytes: 0,
    };
    let stream = body.into_data_stream().map(move |chunk| {
        if let Ok(data) = &chunk {
            pending.sent(data.len());
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The request's side of its audit event.
fn describe(request: &Request) -> AuditEvent {
    let mut event = AuditEvent::new("request");
    event.method = Some(request.method().as_str().to_owned());
    event.route = Some(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned()),
    );
    event.source_address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.to_string());
    if let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(request.uri()) {
        event.query = params.get("q").cloned();
        event.from = params.get("from").cloned();
        event.to = params.get("to").cloned();
    }
    event
}

/// The audit event of a streamed response, recorded when dropped.
struct Pending {
    trail: AuditTrail,
    event: Option<AuditEvent>,
    started: Instant,
    bytes: u64,
}

impl Pending {
    fn sent(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut event) = self.event.take() {
            event.bytes = Some(self.bytes);
            event.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1000.0);
            self.trail.record(event);
        }
    }
}
