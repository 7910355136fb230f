//! Retention: classes chosen at ingestion, partition lifetimes, legal holds and enforcement.
//!
//! A collected event is routed when it is indexed to the partition of its retention class
//! (see [`crate::partition::RetentionClass`]), chosen by a [`Classify`] the binary injects
//! (the rules are written in the query language, which this crate does not know). A
//! partition's lifetime is then its class's `keep`; the default class (and every partition
//! written before classes existed) lives as long as [`RetentionPolicy::default`] says, and
//! Kestrel's own audit trail as long as [`RetentionPolicy::audit`] says.
//!
//! [`Indexer::apply_retention`] deletes, at an injected instant, the partitions whose
//! lifetime is over, unless a standing hold keeps them ([`RetentionHooks::hold_on`]); every
//! deletion goes through [`Indexer::delete_partition`] and is recorded in the audit trail
//! ([`RetentionHooks::record`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kestrel_event::{Event, Timestamp};
use tantivy::schema::Value;
use tantivy::TantivyDocument;

use crate::error::IndexError;
use crate::partition::{list_partitions, PartitionKey, PartitionKind, RetentionClass};
use crate::schema::{tantivy_name, EventSchema};
use crate::storage::open_index;
use crate::writer::Indexer;

/// Chooses the retention class of a collected event from its JSON form.
pub trait Classify: Send + Sync {
    /// The class of `event`; `None` for the default class.
    fn class_of(&self, event: &serde_json::Value) -> Option<RetentionClass>;
}

/// A shared [`Classify`], as [`crate::IndexerOptions`] holds it.
#[derive(Clone)]
pub struct Classifier(Arc<dyn Classify>);

impl Classifier {
    /// Wraps `classify`.
    pub fn new(classify: impl Classify + 'static) -> Classifier {
        Classifier(Arc::new(classify))
    }

    /// The class of `event`.
    pub fn class_of(&self, event: &serde_json::Value) -> Option<RetentionClass> {
        self.0.class_of(event)
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Classifier")
    }
}

/// The lifetimes of the partitions that carry no class of their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Lifetime of the default class of collected events; `None` keeps them forever.
    pub default: Option<Duration>,
    /// Lifetime of Kestrel's own audit trail (`kestrel_audit`); `None` keeps it forever.
    pub audit: Option<Duration>,
}

impl RetentionPolicy {
    /// How long `key` is kept after its day ends; `None` for ever.
    pub fn lifetime(&self, key: &PartitionKey) -> Option<Duration> {
        match (key.class, key.kind) {
            (Some(class), _) => Some(class.keep()),
            (None, PartitionKind::KestrelAudit) => self.audit,
            (None, _) => self.default,
        }
    }

    /// The instant from which `key` may be deleted: the end of its day plus its lifetime.
    pub fn expires_at(&self, key: &PartitionKey) -> Option<Timestamp> {
        let lifetime = chrono::Duration::from_std(self.lifetime(key)?).ok()?;
        key.end().checked_add_signed(lifetime)
    }

    /// Whether `key`'s lifetime is over at `now`.
    pub fn is_due(&self, key: &PartitionKey, now: Timestamp) -> bool {
        self.expires_at(key).is_some_and(|at| at <= now)
    }

    /// What sets `key`'s lifetime, as deletions record it: `class keep-400d`,
    /// `retention.default 30d`, `retention.audit 400d`.
    pub fn source(&self, key: &PartitionKey) -> String {
        let days = |d: Option<Duration>| {
            d.map_or_else(
                || "forever".to_owned(),
                |d| format!("{}d", d.as_secs() / 86_400),
            )
        };
        match (key.class, key.kind) {
            (Some(class), _) => format!("class {class}"),
            (None, PartitionKind::KestrelAudit) => format!("retention.audit {}", days(self.audit)),
            (None, _) => format!("retention.default {}", days(self.default)),
        }
    }
}

/// One partition deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// Which partition.
    pub key: PartitionKey,
    /// Its directory, now gone.
    pub dir: PathBuf,
    /// Events it held.
    pub events: u64,
    /// Its earliest `@timestamp`, if it held any event.
    pub first: Option<Timestamp>,
    /// Its latest `@timestamp`, if it held any event.
    pub last: Option<Timestamp>,
    /// What expired it (see [`RetentionPolicy::source`]).
    pub why: String,
}

/// What retention asks of the world around the index: holds and the audit trail.
pub trait RetentionHooks: Send + Sync {
    /// The name of a standing hold that keeps the partition `key` (in `dir`), if any.
    fn hold_on(&self, key: &PartitionKey, dir: &Path) -> Result<Option<String>, IndexError>;
    /// The audit trail event recording `deletion`, made at `now` (the retention pass's
    /// instant), added to the index that deleted it.
    fn record(&self, deletion: &Deletion, now: Timestamp) -> Option<Event>;
}

/// No holds and no records (tests, and tools without an audit trail).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl RetentionHooks for NoHooks {
    fn hold_on(&self, _: &PartitionKey, _: &Path) -> Result<Option<String>, IndexError> {
        Ok(None)
    }

    fn record(&self, _: &Deletion, _: Timestamp) -> Option<Event> {
        None
    }
}

/// What one pass of retention did.
#[derive(Debug, Default)]
pub struct RetentionOutcome {
    /// Partitions deleted.
    pub deleted: Vec<Deletion>,
    /// Partitions past their lifetime that a hold kept, with the hold's name.
    pub held: Vec<(PartitionKey, String)>,
}

impl Indexer {
    /// Deletes every partition of this root whose lifetime under `policy` is over at `now`,
    /// unless a standing hold keeps it, and adds the record of each deletion to the audit
    /// trail (committed before returning).
    pub fn apply_retention(
        &mut self,
        policy: &RetentionPolicy,
        hooks: &dyn RetentionHooks,
        now: Timestamp,
    ) -> Result<RetentionOutcome, IndexError> {
        let root = self.root().to_path_buf();
        let keys = list_partitions(&root).map_err(|source| IndexError::Io {
            path: root.clone(),
            source,
        })?;
        let mut outcome = RetentionOutcome::default();
        for key in keys.into_iter().filter(|k| policy.is_due(k, now)) {
            if let Some(hold) = hooks.hold_on(&key, &key.dir(&root))? {
                tracing::info!(partition = %key.relative(), hold, "partition past retention kept by a hold");
                outcome.held.push((key, hold));
                continue;
            }
            let deletion = self.delete_partition(key, &policy.source(&key), now)?;
            if let Some(record) = hooks.record(&deletion, now) {
                self.add(&record)?;
            }
            outcome.deleted.push(deletion);
        }
        if !outcome.deleted.is_empty() {
            self.commit()?;
            // The records went to the audit trail's partition, whose writer the query API
            // takes in turn: let go of it.
            self.close_kind(PartitionKind::KestrelAudit)?;
        }
        Ok(outcome)
    }
}

/// A searcher of the index as it is, without the file watcher of a reloading reader (which
/// would go on polling a directory about to be deleted).
fn read_once(index: &tantivy::Index) -> tantivy::Result<tantivy::Searcher> {
    let reader: tantivy::IndexReader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()?;
    Ok(reader.searcher())
}

/// Events, earliest and latest `@timestamp` of the partition in `dir`.
pub(crate) fn contents_summary(
    dir: &Path,
    schema: &EventSchema,
) -> Result<(u64, Option<Timestamp>, Option<Timestamp>), IndexError> {
    let tantivy_err = |source| IndexError::Tantivy {
        path: dir.to_owned(),
        source,
    };
    let index = open_index(dir, schema, false)?;
    let searcher = read_once(&index).map_err(tantivy_err)?;
    let column_name = tantivy_name("@timestamp");
    let mut range: Option<(i64, i64)> = None;
    for segment in searcher.segment_readers() {
        if segment.num_docs() == 0 {
            continue;
        }
        let column = segment
            .fast_fields()
            .column_opt::<i64>(&column_name)
            .map_err(tantivy_err)?;
        let Some(column) = column else { continue };
        let (low, high) = (column.min_value(), column.max_value());
        range = Some(range.map_or((low, high), |(l, h)| (l.min(low), h.max(high))));
    }
    let time = |nanos: i64| Some(chrono::DateTime::from_timestamp_nanos(nanos));
    Ok(match range {
        Some((low, high)) => (searcher.num_docs(), time(low), time(high)),
        None => (searcher.num_docs(), None, None),
    })
}

/// Calls `visit` with the stored JSON of each event of the partition in `dir` until it
/// returns `true`; says whether it did.
pub fn any_source(dir: &Path, mut visit: impl FnMut(&str) -> bool) -> Result<bool, IndexError> {
    let schema = EventSchema::new();
    let tantivy_err = |source| IndexError::Tantivy {
        path: dir.to_owned(),
        source,
    };
    let index = open_index(dir, &schema, false)?;
    let searcher = read_once(&index).map_err(tantivy_err)?;
    for segment in searcher.segment_readers() {
        let store = segment
            .get_store_reader(4)
            .map_err(|source| IndexError::Io {
                path: dir.to_owned(),
                source,
            })?;
        for doc in store.iter::<TantivyDocument>(segment.alive_bitset()) {
            let doc = doc.map_err(tantivy_err)?;
            let source = doc
                .get_first(schema.source_field())
                .and_then(|v| v.as_str())
                .unwrap_or("null");
            if visit(source) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
