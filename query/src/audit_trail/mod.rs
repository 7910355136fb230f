//! Kestrel's own audit trail: one `kestrel_audit` event per API request (and per start or stop
//! of a role, and per token change through [`AuditTrail::record`]), written in the background
//! to their own partitions, which only `GET /api/v1/audit` opens.
//!
//! - [`AuditEvent`]: what is recorded, and its form as an [`kestrel_event::Event`];
//! - [`AuditTrail`]: the bounded, never-blocking queue and the background writer;
//! - [`with_audit_trail`]: the outermost middleware of the API.

mod event;
mod middleware;
mod trail;

pub use event::AuditEvent;
pub use middleware::{with_audit_trail, AuditDetails, RecordedChange};
pub use trail::{AuditSink, AuditTrail, IndexSink};
