//! Delivery of alerts to their destinations.
//!
//! - [`payload`]: the request of each destination kind (Standard Webhooks signing, Slack,
//!   PagerDuty Events v2, Alertmanager), or a template's.
//! - [`outbox`]: deliveries persisted one file each, so a restart loses none; a dead-letter
//!   list after the last attempt, and redelivery from it.
//! - [`worker`]: sends what is due, retries with exponential backoff and jitter, honours
//!   `Retry-After`.

mod error;
pub mod outbox;
pub mod payload;
pub mod worker;

pub use error::AlertingError;
pub use outbox::{Delivery, Outbox};
pub use worker::{run_worker, Destinations};
