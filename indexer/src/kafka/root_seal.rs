//! The index root's own partitions in Kafka mode. The shards hold the collected events, but
//! Kestrel's audit trail (`kestrel_audit`) is written into the root tree by the query
//! processes. Every indexer of the group tries to take the root tree's chain; the one whose
//! lock succeeds seals the root's partitions, and the others leave it to that one.

use std::path::PathBuf;

use crate::error::IndexError;
use crate::sealing::SealSettings;
use crate::writer::{Indexer, IndexerOptions};

/// Seals the root tree once it holds its chain.
pub struct RootSealer {
    root: PathBuf,
    settings: SealSettings,
    indexer: Option<Indexer>,
}

impl RootSealer {
    /// A sealer of the tree at `root` (the index root) with `settings`.
    pub fn new(root: PathBuf, settings: SealSettings) -> RootSealer {
        RootSealer {
            root,
            settings,
            indexer: None,
        }
    }

    /// Seals the root's partitions due and checkpoints its open ones, after taking the root
    /// chain if it is free. A chain held by another indexer is not an error: that one seals.
    pub fn seal_due(&mut self, now: chrono::DateTime<chrono::Utc>) -> Result<(), IndexError> {
        if self.indexer.is_none() {
            let opened = Indexer::open(&self.root, IndexerOptions::default())
                .and_then(|indexer| indexer.with_seal(self.settings.clone()));
            match opened {
                Ok(indexer) => {
                    tracing::info!(root = %self.root.display(), "sealing the index root's own partitions");
                    self.indexer = Some(indexer);
                }
                Err(error) => {
                    tracing::debug!(root = %self.root.display(), %error, "the index root's chain is held elsewhere");
                    return Ok(());
                }
            }
        }
        match self.indexer.as_mut() {
            Some(indexer) => indexer.seal_due(now).map(|_| ()),
            None => Ok(()),
        }
    }
}
