//! Metadata from outside the log files, added to events before they are published: the
//! Docker API's container names, images and labels, the Kubernetes API's pod labels, owners
//! and nodes.

pub mod docker;
pub mod kubernetes;

use std::sync::Arc;

use kestrel_event::Event;

/// Adds metadata from an outside source to events.
///
/// Called on the tailer's thread for every event: implementations answer from a cache kept up
/// to date in the background and never wait on the network.
pub trait Enricher: Send + Sync + std::fmt::Debug {
    /// Adds what is known about the event's container or pod (nothing when unknown).
    fn enrich(&self, event: &mut Event);

    /// Whether the enricher is about to learn about the container of the new file at `path`
    /// (its source is reachable but has not described it yet): the tailer then waits a little
    /// ([`crate::tail::ENRICHMENT_WAIT`] at most) before reading the file, so that its first
    /// lines are enriched too. Must answer at once, like [`Enricher::enrich`]. Default: `false`.
    fn expects(&self, _path: &str) -> bool {
        false
    }
}

/// The enrichers of a tailer, applied in order.
pub type Enrichers = Vec<Arc<dyn Enricher>>;

/// Applies every enricher to an event.
pub fn enrich_all(enrichers: &[Arc<dyn Enricher>], event: &mut Event) {
    for enricher in enrichers {
        enricher.enrich(event);
    }
}
