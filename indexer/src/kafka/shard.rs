//! A shard: the indexes of one Kafka partition, and the offsets they absorbed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kestrel_event::Event;

use super::checkpoint::{member_name, resume_point, ShardCheckpoint};
use crate::error::IndexError;
use crate::partition::SHARDS_DIR;
use crate::sealing::SealSettings;
use crate::service::Retention;
use crate::writer::{commit_payloads, AddOutcome, CommitStats, Indexer, IndexerOptions};

/// The index root of a Kafka partition's shard.
pub fn shard_root(index_root: &Path, topic: &str, partition: i32) -> PathBuf {
    index_root
        .join(SHARDS_DIR)
        .join(format!("{topic}-{partition}"))
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorbed {
    /// Its event was added.
    Added,
    /// Its event was already indexed.
    Duplicate,
    /// The message lies before the resume point: it is already durable.
    Behind,
}

/// The indexes of one Kafka partition, with the round of commits in progress.
pub struct Shard {
    partition: i32,
    indexer: Indexer,
    round: u64,
    /// First offset of the current round (all before it is durable); `None` until known.
    start: Option<i64>,
    /// Offset after the last absorbed message.
    next: Option<i64>,
    /// When the round's first message arrived.
    dirty_since: Option<Instant>,
    absorbed: usize,
}

impl Shard {
    /// Opens the shard of `partition`, waiting up to `lock_wait` for a previous owner to let
    /// go of its writers, and reads where it must resume.
    pub fn open(
        root: PathBuf,
        partition: i32,
        options: IndexerOptions,
        seal: Option<SealSettings>,
    ) -> Result<Shard, IndexError> {
        let resume = resume_point(&commit_payloads(&root)?);
        let mut indexer = Indexer::open(root, options)?;
        if let Some(seal) = seal {
            indexer = indexer.with_seal(seal)?;
        }
        let offset = resume.map(|r| r.offset);
        Ok(Shard {
            partition,
            indexer,
            round: resume.map_or(1, |r| r.round + 1),
            start: offset,
            next: offset,
            dirty_since: None,
            absorbed: 0,
        })
    }

    /// The Kafka partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset to resume consuming at, when the indexes recorded one.
    pub fn resume_offset(&self) -> Option<i64> {
        self.next
    }

    /// Messages absorbed since the last round commit.
    pub fn uncommitted(&self) -> usize {
        self.absorbed
    }

    /// Whether the round is due: `max_events` absorbed or `interval` elapsed since its first.
    pub fn commit_due(&self, max_events: usize, interval: Duration) -> bool {
        self.absorbed >= max_events || self.dirty_since.is_some_and(|at| at.elapsed() >= interval)
    }

    /// Adds the event of the message at `offset`, whose payload `source` is the event's JSON
    /// (unless already durable or indexed).
    pub fn absorb(
        &mut self,
        offset: i64,
        event: &Event,
        source: &str,
        added: impl FnOnce(&serde_json::Value),
    ) -> Result<Absorbed, IndexError> {
        if !self.advance(offset) {
            return Ok(Absorbed::Behind);
        }
        Ok(
            match self.indexer.add_observed(event, Some(source), added)? {
                AddOutcome::Added => Absorbed::Added,
                AddOutcome::Duplicate => Absorbed::Duplicate,
            },
        )
    }

    /// Records that the message at `offset` was handled without an event (dead-lettered).
    /// Returns false when it lies before the resume point.
    pub fn skip(&mut self, offset: i64) -> bool {
        self.advance(offset)
    }

    fn advance(&mut self, offset: i64) -> bool {
        if self.next.is_some_and(|next| offset < next) {
            return false;
        }
        let start = *self.start.get_or_insert(offset);
        self.next = Some(offset + 1);
        self.absorbed += 1;
        self.dirty_since.get_or_insert_with(Instant::now);
        // Commits made on the indexer's own initiative during this round record its start.
        self.indexer.set_commit_payload(Some(
            ShardCheckpoint {
                round: self.round,
                start,
                end: None,
                members: Vec::new(),
            }
            .to_payload(),
        ));
        true
    }

    /// Ends the round: commits every index that received events with the offsets absorbed.
    /// Returns the offset after the last durable message, if the round had any message.
    pub fn commit(&mut self) -> Result<Option<(i64, CommitStats)>, IndexError> {
        let (Some(start), Some(end)) = (self.start, self.next) else {
            return Ok(None);
        };
        if self.absorbed == 0 {
            return Ok(None);
        }
        let round = self.round;
        let (_, stats) = self.indexer.commit_round(|members| {
            ShardCheckpoint {
                round,
                start,
                end: Some(end),
                members: members.iter().map(member_name).collect(),
            }
            .to_payload()
        })?;
        for (key, segments) in self.indexer.segment_counts() {
            metrics::gauge!(
                "kestrel_indexer_segments",
                "shard" => self.partition.to_string(),
                "index" => member_name(&key)
            )
            .set(segments as f64);
        }
        self.round += 1;
        self.start = Some(end);
        self.absorbed = 0;
        self.dirty_since = None;
        Ok(Some((end, stats)))
    }

    /// Seals the shard's partitions due (see [`Indexer::seal_due`]).
    pub fn seal_due(&mut self, now: chrono::DateTime<chrono::Utc>) -> Result<(), IndexError> {
        self.indexer.seal_due(now).map(|_| ())
    }

    /// Applies retention to the shard's partitions.
    pub fn apply_retention(&mut self, retention: &Retention) -> Result<(), IndexError> {
        retention.apply(&mut self.indexer).map(|_| ())
    }
}
