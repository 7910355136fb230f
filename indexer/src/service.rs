//! The indexing loop: drains batches from the bus, adds their events, commits by count and age,
//! and acknowledges each batch only once the commit that holds it has returned.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kestrel_bus::{Acker, Subscriber};
use kestrel_event::Event;
use tokio::time::Instant;

use crate::error::IndexError;
use crate::partition::PartitionKey;
use crate::retention::{RetentionHooks, RetentionOutcome, RetentionPolicy};
use crate::writer::{AddOutcome, Indexer};

/// Sees every event the index newly accepts (never a duplicate) and every commit: how
/// real-time detection follows indexing.
pub trait IndexObserver: Send {
    /// An event was added (it becomes durable at the next commit); `value` is the event as
    /// JSON.
    fn added(&mut self, event: &Event, value: &serde_json::Value);
    /// The events added since the last commit are about to be committed: the moment to make
    /// durable what the observer derived from them. A crash from here on may or may not have
    /// committed them; either way the bus redelivers the ones not yet acknowledged, and those
    /// not in the index are added (and observed) again.
    fn before_commit(&mut self) {}
    /// A commit made every event added so far durable.
    fn committed(&mut self);
    /// No event arrived for a commit interval: a chance to act on the passage of time (for
    /// example to close windows the stream has gone quiet in). Called from a blocking task.
    fn idle(&mut self) {}
}

/// An observer shared between the indexing loop and its blocking tasks.
pub type SharedObserver = Arc<std::sync::Mutex<dyn IndexObserver>>;

/// Runs `f` on the observer, if any (a poisoned lock is used anyway: the observer holds no
/// invariant the index depends on).
pub fn with_observer(observer: Option<&SharedObserver>, f: impl FnOnce(&mut dyn IndexObserver)) {
    if let Some(observer) = observer {
        let mut guard = observer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut *guard);
    }
}

/// When to commit, and what retention to enforce between commits.
#[derive(Debug, Clone, Default)]
pub struct CommitPolicy {
    /// Commit at the latest this long after the first uncommitted event arrived.
    pub interval: Duration,
    /// Commit as soon as this many events are uncommitted.
    pub max_events: usize,
    /// Retention, applied at most every minute; `None` deletes nothing.
    pub retention: Option<Retention>,
}

impl CommitPolicy {
    /// Commits every `interval` or `max_events`, without retention.
    pub fn new(interval: Duration, max_events: usize) -> CommitPolicy {
        CommitPolicy {
            interval,
            max_events,
            retention: None,
        }
    }
}

/// Retention as the indexing loops enforce it.
#[derive(Clone)]
pub struct Retention {
    /// The lifetimes of the partitions without a class of their own.
    pub policy: RetentionPolicy,
    /// Holds and the audit trail.
    pub hooks: Arc<dyn RetentionHooks>,
    /// The clock that says which lifetimes are over.
    pub clock: fn() -> chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Retention {
    /// Applies retention to `indexer` at the clock's instant.
    pub fn apply(&self, indexer: &mut Indexer) -> Result<RetentionOutcome, IndexError> {
        indexer.apply_retention(&self.policy, self.hooks.as_ref(), (self.clock)())
    }
}

/// Counters of the indexing loop, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct IndexingStats {
    /// Events added to the index.
    pub added: AtomicU64,
    /// Events dropped because the index already held them.
    pub duplicates: AtomicU64,
    /// Commits that made events durable.
    pub commits: AtomicU64,
    /// Messages that were not events, sent to the dead-letter topic.
    pub dead_letters: AtomicU64,
}

impl IndexingStats {
    /// Counts an event added to the index.
    pub fn record_added(&self) {
        self.added.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("kestrel_indexer_events_indexed_total").increment(1);
    }

    /// Counts an event the index already held.
    pub fn record_duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("kestrel_indexer_duplicates_total").increment(1);
    }

    /// Counts a message sent to the dead-letter topic.
    pub fn record_dead_letter(&self) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("kestrel_indexer_dead_letters_total").increment(1);
    }

    /// Counts a commit that made events durable, and its latency.
    pub fn record_commit(&self, took: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("kestrel_indexer_commits_total").increment(1);
        metrics::histogram!("kestrel_indexer_commit_duration_seconds").record(took.as_secs_f64());
    }

    /// Events added so far.
    pub fn added(&self) -> u64 {
        self.added.load(Ordering::Relaxed)
    }

    /// Duplicates dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
}

/// Runs the loop until every publisher is gone and the bus is drained; the last events are
/// committed and acknowledged before it returns the indexer. On error, unacknowledged batches
/// are dropped, which tells their producers they were not made durable.
pub async fn run_indexer(
    mut indexer: Indexer,
    mut subscriber: Subscriber,
    policy: CommitPolicy,
    stats: Arc<IndexingStats>,
    observer: Option<SharedObserver>,
) -> Result<Indexer, IndexError> {
    let mut waiting: Vec<Acker> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut retention_checked: Option<Instant> = None;
    let mut seal_checked: Option<Instant> = None;
    loop {
        if indexer.seals() && seal_checked.is_none_or(|at| at.elapsed() >= SEAL_CHECK) {
            seal_checked = Some(Instant::now());
            indexer = seal(indexer).await?;
        }
        if let Some(retention) = policy.retention.as_ref() {
            if retention_checked.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                retention_checked = Some(Instant::now());
                indexer = apply_retention(indexer, retention.clone()).await?;
            }
        }
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, subscriber.next()).await {
                Ok(next) => next,
                Err(_elapsed) => {
                    indexer = commit(indexer, &mut waiting, &stats, &observer).await?;
                    deadline = None;
                    continue;
                }
            },
            None => match tokio::time::timeout(policy.interval, subscriber.next()).await {
                Ok(next) => next,
                Err(_elapsed) => {
                    notify_idle(&observer).await;
                    continue;
                }
            },
        };
        let Some(batch) = next else {
            let indexer = commit(indexer, &mut waiting, &stats, &observer).await?;
            return seal(indexer).await;
        };
        let (events, acker) = batch.into_parts();
        indexer = add_events(indexer, events, &stats, &observer).await?;
        waiting.push(acker);
        deadline.get_or_insert_with(|| Instant::now() + policy.interval);
        if indexer.uncommitted() >= policy.max_events {
            indexer = commit(indexer, &mut waiting, &stats, &observer).await?;
            deadline = None;
        }
    }
}

/// Tells the observer the stream is idle (off the async threads: it may write files).
async fn notify_idle(observer: &Option<SharedObserver>) {
    let Some(observer) = observer.clone() else {
        return;
    };
    let task = tokio::task::spawn_blocking(move || with_observer(Some(&observer), |o| o.idle()));
    if let Err(error) = task.await {
        tracing::error!(%error, "idle observer task failed");
    }
}

async fn add_events(
    indexer: Indexer,
    events: Vec<Event>,
    stats: &Arc<IndexingStats>,
    observer: &Option<SharedObserver>,
) -> Result<Indexer, IndexError> {
    let stats = Arc::clone(stats);
    let observer = observer.clone();
    let (indexer, result) = tokio::task::spawn_blocking(move || {
        let mut indexer = indexer;
        let mut events = events;
        // Grouped by partition (stable, so each partition keeps the read order): a batch that
        // spans several days switches writers once per day, not once per event.
        events.sort_by_key(|e| PartitionKey::of(e.kind(), &e.timestamp));
        let result = events.iter().try_for_each(|event| {
            let outcome = match observer.as_ref() {
                Some(_) => indexer.add_observed(event, None, |value| {
                    with_observer(observer.as_ref(), |o| o.added(event, value));
                })?,
                None => indexer.add(event)?,
            };
            match outcome {
                AddOutcome::Added => stats.record_added(),
                AddOutcome::Duplicate => stats.record_duplicate(),
            }
            Ok(())
        });
        (indexer, result)
    })
    .await
    .map_err(join_error)?;
    result.map(|()| indexer)
}

async fn commit(
    indexer: Indexer,
    waiting: &mut Vec<Acker>,
    stats: &Arc<IndexingStats>,
    observer: &Option<SharedObserver>,
) -> Result<Indexer, IndexError> {
    let started = Instant::now();
    let observer = observer.clone();
    let (indexer, result) = tokio::task::spawn_blocking(move || {
        let mut indexer = indexer;
        with_observer(observer.as_ref(), |o| o.before_commit());
        let result = indexer.commit();
        if result.is_ok() {
            with_observer(observer.as_ref(), |o| o.committed());
        }
        (indexer, result)
    })
    .await
    .map_err(join_error)?;
    let committed = result?;
    if committed.events > 0 {
        stats.record_commit(started.elapsed());
        tracing::debug!(
            events = committed.events,
            partitions = committed.partitions,
            "index committed"
        );
    }
    for acker in waiting.drain(..) {
        acker.ack();
    }
    Ok(indexer)
}

/// How often the loop looks for partitions to seal and checkpoints due.
const SEAL_CHECK: Duration = Duration::from_secs(60);

/// Seals the partitions due and writes the checkpoint when due (see [`Indexer::seal_due`]).
async fn seal(indexer: Indexer) -> Result<Indexer, IndexError> {
    if !indexer.seals() {
        return Ok(indexer);
    }
    let (indexer, result) = tokio::task::spawn_blocking(move || {
        let mut indexer = indexer;
        let result = indexer.seal_due(chrono::Utc::now());
        (indexer, result)
    })
    .await
    .map_err(join_error)?;
    let sealed = result?;
    if !sealed.is_empty() {
        metrics::counter!("kestrel_indexer_partitions_sealed_total").increment(sealed.len() as u64);
    }
    Ok(indexer)
}

async fn apply_retention(indexer: Indexer, retention: Retention) -> Result<Indexer, IndexError> {
    let (indexer, result) = tokio::task::spawn_blocking(move || {
        let mut indexer = indexer;
        let result = retention.apply(&mut indexer);
        (indexer, result)
    })
    .await
    .map_err(join_error)?;
    result.map(|_| indexer)
}

fn join_error(e: tokio::task::JoinError) -> IndexError {
    IndexError::Io {
        path: "indexing task".into(),
        source: std::io::Error::other(e.to_string()),
    }
}
