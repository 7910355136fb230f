//! Writing events into time-partitioned indexes, each event at most once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kestrel_event::Event;
use tantivy::schema::{Field, Term};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};

use crate::document::value_to_document;
use crate::error::IndexError;
use crate::id_filter::SegmentIdFilters;
use crate::partition::{list_partitions, PartitionKey};
use crate::retention::{Classifier, Deletion};
use crate::schema::EventSchema;
use crate::sealing::{is_sealed, SealSettings, Sealer};
use crate::storage::open_index;

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct IndexerOptions {
    /// Indexing memory per open partition writer, in bytes (at least 15 MB).
    pub writer_memory_bytes: usize,
    /// How many partition writers stay open; the least recently used is committed and closed
    /// beyond that.
    pub max_open_partitions: usize,
    /// Indexing threads per partition writer (each needs at least 15 MB of the memory
    /// budget, which grows to match).
    pub writer_threads: usize,
    /// Routes each collected event to the partition of its retention class; without one,
    /// every event goes to the default class. Kestrel's own audit trail always stays in the
    /// default class (it has its own retention).
    pub classifier: Option<Classifier>,
}

impl Default for IndexerOptions {
    fn default() -> Self {
        IndexerOptions {
            writer_memory_bytes: 64 << 20,
            max_open_partitions: 8,
            writer_threads: 1,
            classifier: None,
        }
    }
}

/// Whether an event was added or recognized as one the index already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The event is new and will be visible after the next commit.
    Added,
    /// An event with the same `event.id` is already indexed or pending; nothing was added.
    Duplicate,
}

/// What a commit made durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Partitions committed.
    pub partitions: usize,
    /// Events made durable by this commit.
    pub events: u64,
}

struct PartitionWriter {
    dir: PathBuf,
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    /// The `event.id` field.
    id_field: Field,
    /// Which committed segments may hold an id (refreshed at each reload of `reader`).
    id_filters: SegmentIdFilters,
    pending_ids: HashSet<String>,
    last_used: u64,
}

impl PartitionWriter {
    fn open(
        dir: PathBuf,
        schema: &EventSchema,
        options: &IndexerOptions,
    ) -> Result<Self, IndexError> {
        let index: Index = open_index(&dir, schema, true)?;
        let tantivy_err = |source| IndexError::Tantivy {
            path: dir.clone(),
            source,
        };
        let threads = options.writer_threads.max(1);
        let writer = index
            .writer_with_num_threads(
                threads,
                options.writer_memory_bytes.max(15_000_000 * threads),
            )
            .map_err(tantivy_err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_err)?;
        let id_field = schema
            .typed("event.id")
            .map(|(_, f)| f)
            // The schema always maps event.id (see schema::FIELD_SPECS).
            .expect("event.id is a typed field");
        let mut id_filters = SegmentIdFilters::default();
        id_filters
            .refresh(&reader.searcher(), id_field)
            .map_err(tantivy_err)?;
        Ok(PartitionWriter {
            dir,
            writer,
            reader,
            id_field,
            id_filters,
            pending_ids: HashSet::new(),
            last_used: 0,
        })
    }

    fn contains(&self, id_term: &Term, id: &str) -> Result<bool, IndexError> {
        if self.pending_ids.contains(id) {
            return Ok(true);
        }
        self.id_filters
            .holds(&self.reader.searcher(), id_term)
            .map_err(|source| IndexError::Tantivy {
                path: self.dir.clone(),
                source,
            })
    }

    /// Commits what was added, with `payload` in the commit's metadata. Without pending events
    /// nothing is written unless `force` (to record a payload alone).
    fn commit(&mut self, payload: Option<&str>, force: bool) -> Result<u64, IndexError> {
        if self.pending_ids.is_empty() && !force {
            return Ok(0);
        }
        let tantivy_err = |source| IndexError::Tantivy {
            path: self.dir.clone(),
            source,
        };
        let mut prepared = self.writer.prepare_commit().map_err(tantivy_err)?;
        if let Some(payload) = payload {
            prepared.set_payload(payload);
        }
        prepared.commit().map_err(tantivy_err)?;
        self.reader.reload().map_err(tantivy_err)?;
        self.id_filters
            .refresh(&self.reader.searcher(), self.id_field)
            .map_err(tantivy_err)?;
        let events = self.pending_ids.len() as u64;
        self.pending_ids.clear();
        Ok(events)
    }

    /// Commits what was added and closes the writer once its merges are done.
    fn finish(mut self, payload: Option<&str>) -> Result<(), IndexError> {
        self.commit(payload, false)?;
        let PartitionWriter { dir, writer, .. } = self;
        writer
            .wait_merging_threads()
            .map_err(|source| IndexError::Tantivy { path: dir, source })
    }
}

/// Writes events into the partition indexes under one root directory.
///
/// De-duplication: before adding an event, the writer looks its `event.id` up in the
/// partition's committed segments and in the ids added since the last commit, so replaying the
/// same records (after a crash, or ingesting a file twice) never adds a second copy. One
/// `Indexer` must own a root directory at a time.
///
/// Sealed partitions are never written again: an event for a sealed day goes to the day's
/// next late partition (`<YYYY-MM-DD>.n`), after its id is looked up in the sealed ones.
/// With [`Indexer::with_seal`] the indexer seals its tree ([`Indexer::seal_due`]).
pub struct Indexer {
    root: PathBuf,
    schema: Arc<EventSchema>,
    options: IndexerOptions,
    partitions: HashMap<PartitionKey, PartitionWriter>,
    clock: u64,
    payload: Option<String>,
    sealer: Option<Sealer>,
    /// Where events of a day go (its partition, or a late one when it is sealed).
    routes: HashMap<PartitionKey, PartitionKey>,
    /// Readers of sealed partitions, for the de-duplication of late events.
    sealed_readers: HashMap<PartitionKey, IndexReader>,
}

impl Indexer {
    /// Opens (creating as needed) the index root.
    pub fn open(root: impl Into<PathBuf>, options: IndexerOptions) -> Result<Indexer, IndexError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| IndexError::Io {
            path: root.clone(),
            source,
        })?;
        Ok(Indexer {
            root,
            schema: Arc::new(EventSchema::new()),
            options,
            partitions: HashMap::new(),
            clock: 0,
            payload: None,
            sealer: None,
            routes: HashMap::new(),
            sealed_readers: HashMap::new(),
        })
    }

    /// Makes this indexer the sealer of its tree: it appends to the chain
    /// `settings.chain` under the root, seals partitions past their day and grace, and
    /// records its retention deletions.
    pub fn with_seal(mut self, settings: SealSettings) -> Result<Indexer, IndexError> {
        self.sealer = Some(Sealer::open(&self.root, settings)?);
        Ok(self)
    }

    /// Whether this indexer seals its tree.
    pub fn seals(&self) -> bool {
        self.sealer.is_some()
    }

    /// Seals every partition of the tree whose day ended a grace before `now` (committing and
    /// closing its writer first), then, when a checkpoint is due, appends the manifests of the
    /// open partitions and alert files that changed. Returns the partitions sealed; without
    /// a seal, does nothing.
    pub fn seal_due(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PartitionKey>, IndexError> {
        let Some(grace) = self.sealer.as_ref().map(Sealer::grace) else {
            return Ok(Vec::new());
        };
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let keys = list_partitions(&self.root).map_err(|source| IndexError::Io {
            path: self.root.clone(),
            source,
        })?;
        let mut sealed = Vec::new();
        let mut open = Vec::new();
        for key in keys {
            if is_sealed(&self.root, &key) {
                continue;
            }
            let due = key
                .end()
                .checked_add_signed(grace)
                .is_some_and(|t| t <= now);
            if !due {
                open.push(key);
                continue;
            }
            if let Some(partition) = self.partitions.remove(&key) {
                partition.finish(self.payload.as_deref())?;
            }
            let Some(sealer) = self.sealer.as_mut() else {
                break;
            };
            match sealer.seal(&key, &self.schema, now)? {
                true => sealed.push(key),
                false => open.push(key),
            }
        }
        if !sealed.is_empty() {
            self.routes.clear();
        }
        if let Some(sealer) = self.sealer.as_mut() {
            if sealer.checkpoint_due(now) {
                sealer.checkpoint(&open, &self.schema, now)?;
            }
        }
        Ok(sealed)
    }

    /// The partition that takes the events of `base`'s day: `base`, or its first late
    /// partition not sealed.
    fn route(&mut self, base: PartitionKey) -> PartitionKey {
        if self.partitions.contains_key(&base) {
            return base;
        }
        if let Some(key) = self.routes.get(&base) {
            return *key;
        }
        let mut key = base;
        while key.part < u16::MAX && is_sealed(&self.root, &key) {
            key = key.with_part(key.part + 1);
        }
        self.routes.insert(base, key);
        key
    }

    /// Whether a sealed partition before `key` of its day holds `id_term`.
    fn sealed_parts_hold(&mut self, key: PartitionKey, id_term: &Term) -> Result<bool, IndexError> {
        for part in 0..key.part {
            let sealed = key.with_part(part);
            let dir = sealed.dir(&self.root);
            if !self.sealed_readers.contains_key(&sealed) {
                if !dir.join("meta.json").exists() {
                    continue;
                }
                let tantivy_err = |source| IndexError::Tantivy {
                    path: dir.clone(),
                    source,
                };
                let reader = open_index(&dir, &self.schema, false)?
                    .reader_builder()
                    .reload_policy(ReloadPolicy::Manual)
                    .try_into()
                    .map_err(tantivy_err)?;
                self.sealed_readers.insert(sealed, reader);
            }
            // Inserted just above when missing.
            let reader = &self.sealed_readers[&sealed];
            let found = reader
                .searcher()
                .doc_freq(id_term)
                .map_err(|source| IndexError::Tantivy { path: dir, source })?;
            if found > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records in the chain, if this indexer seals, that `key` is about to be deleted by
    /// `rule`.
    fn record_deletion(
        &mut self,
        key: &PartitionKey,
        rule: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), IndexError> {
        self.sealed_readers.remove(key);
        self.routes.clear();
        match self.sealer.as_mut() {
            Some(sealer) => sealer.record_deletion(key, rule, now),
            None => Ok(()),
        }
    }

    /// The index root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Adds an event unless the index already holds one with the same id.
    pub fn add(&mut self, event: &Event) -> Result<AddOutcome, IndexError> {
        self.add_inner(event, None, |_| {})
    }

    /// Like [`Indexer::add`] (with `source` when at hand), and hands a newly added event, as
    /// the JSON value its document was built from, to `added` (real-time detection reads
    /// the same value instead of converting the event again).
    pub fn add_observed(
        &mut self,
        event: &Event,
        source: Option<&str>,
        added: impl FnOnce(&serde_json::Value),
    ) -> Result<AddOutcome, IndexError> {
        self.add_inner(event, source, added)
    }

    fn add_inner(
        &mut self,
        event: &Event,
        source: Option<&str>,
        added: impl FnOnce(&serde_json::Value),
    ) -> Result<AddOutcome, IndexError> {
        // An `Event` always serializes to a JSON object (see kestrel_event::Event::to_json).
        let value = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
        let class = match (&self.options.classifier, event.kind()) {
            (_, kestrel_event::EventKind::KestrelAudit) | (None, _) => None,
            (Some(classifier), _) => classifier.class_of(&value),
        };
        let base = PartitionKey::of(event.kind(), &event.timestamp).with_class(class);
        let mut key = self.route(base);
        // A partition sealed by another process between the routing and the taking of its
        // writer lock is let go, and the day routed again.
        while !self.partitions.contains_key(&key) {
            self.partition(key)?;
            if !is_sealed(&self.root, &key) {
                break;
            }
            self.partitions.remove(&key);
            self.routes.remove(&base);
            key = self.route(base);
        }
        let id_field = self
            .schema
            .typed("event.id")
            .map(|(_, f)| f)
            // The schema always maps event.id (see schema::FIELD_SPECS).
            .expect("event.id is a typed field");
        let id_term = Term::from_field_text(id_field, event.id());
        if key.part > 0 && self.sealed_parts_hold(key, &id_term)? {
            return Ok(AddOutcome::Duplicate);
        }
        let schema = Arc::clone(&self.schema);
        let partition = self.partition(key)?;
        if partition.contains(&id_term, event.id())? {
            return Ok(AddOutcome::Duplicate);
        }
        let source = source.map_or_else(|| event.to_json(), str::to_owned);
        let doc = value_to_document(&schema, &value, source);
        partition
            .writer
            .add_document(doc)
            .map_err(|source| IndexError::Tantivy {
                path: partition.dir.clone(),
                source,
            })?;
        partition.pending_ids.insert(event.id().to_owned());
        added(&value);
        Ok(AddOutcome::Added)
    }

    /// Number of events added since the last commit.
    pub fn uncommitted(&self) -> usize {
        self.partitions.values().map(|p| p.pending_ids.len()).sum()
    }

    /// Searchable segments of every open partition, as of its last commit.
    pub fn segment_counts(&self) -> Vec<(PartitionKey, usize)> {
        self.partitions
            .iter()
            .map(|(key, p)| (*key, p.reader.searcher().segment_readers().len()))
            .collect()
    }

    /// Sets the payload that every later commit writes into the partitions' commit metadata,
    /// including the commits the indexer makes on its own (closing the least recently used
    /// writer, retention).
    pub fn set_commit_payload(&mut self, payload: Option<String>) {
        self.payload = payload;
    }

    /// Makes every added event durable and searchable.
    pub fn commit(&mut self) -> Result<CommitStats, IndexError> {
        let mut stats = CommitStats::default();
        for partition in self.partitions.values_mut() {
            let events = partition.commit(self.payload.as_deref(), false)?;
            if events > 0 {
                stats.partitions += 1;
                stats.events += events;
            }
        }
        Ok(stats)
    }

    /// Commits every partition holding added events with the payload `payload_for(members)`,
    /// where `members` lists those partitions. When none holds any, the most recently used
    /// open partition is committed with the payload alone, so the payload is recorded anyway
    /// (if no partition is open, nothing is written and `members` is empty).
    pub fn commit_round(
        &mut self,
        payload_for: impl FnOnce(&[PartitionKey]) -> String,
    ) -> Result<(Vec<PartitionKey>, CommitStats), IndexError> {
        let mut members: Vec<PartitionKey> = self
            .partitions
            .iter()
            .filter(|(_, p)| !p.pending_ids.is_empty())
            .map(|(k, _)| *k)
            .collect();
        if members.is_empty() {
            members.extend(
                self.partitions
                    .iter()
                    .max_by_key(|(_, p)| p.last_used)
                    .map(|(k, _)| *k),
            );
        }
        members.sort();
        let payload = payload_for(&members);
        let mut stats = CommitStats::default();
        for key in &members {
            // Every member was listed from the open partitions just above.
            let partition = self.partitions.get_mut(key).expect("member is open");
            stats.events += partition.commit(Some(&payload), true)?;
            stats.partitions += 1;
        }
        Ok((members, stats))
    }

    /// Deletes the partition `key` of this root, committing and closing its writer first if
    /// open, and says what it held. `why` names the rule or setting that expired it (it is
    /// logged and returned in the [`Deletion`]).
    ///
    /// Every deletion of a partition goes through here: nothing else in Kestrel removes a
    /// partition directory.
    pub fn delete_partition(
        &mut self,
        key: PartitionKey,
        why: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Deletion, IndexError> {
        let dir = key.dir(&self.root);
        if let Some(mut partition) = self.partitions.remove(&key) {
            partition.commit(self.payload.as_deref(), false)?;
            // Merges write into the directory: let them finish before it goes.
            partition
                .writer
                .wait_merging_threads()
                .map_err(|source| IndexError::Tantivy {
                    path: dir.clone(),
                    source,
                })?;
        }
        let (events, first, last) = crate::retention::contents_summary(&dir, &self.schema)?;
        // Signed into the seal chain first: a deletion by retention verifies, one by hand
        // does not.
        self.record_deletion(&key, why, now)?;
        std::fs::remove_dir_all(&dir).map_err(|source| IndexError::Io {
            path: dir.clone(),
            source,
        })?;
        tracing::info!(
            partition = %dir.display(),
            events,
            why,
            "partition deleted"
        );
        Ok(Deletion {
            key,
            dir,
            events,
            first,
            last,
            why: why.to_owned(),
        })
    }

    /// Commits and closes the open writers of `kind`'s partitions, releasing their locks (the
    /// audit trail's partitions are shared with the query API's own writer).
    pub(crate) fn close_kind(
        &mut self,
        kind: crate::partition::PartitionKind,
    ) -> Result<(), IndexError> {
        let keys: Vec<PartitionKey> = self
            .partitions
            .keys()
            .filter(|k| k.kind == kind)
            .copied()
            .collect();
        for key in keys {
            if let Some(mut partition) = self.partitions.remove(&key) {
                partition.commit(self.payload.as_deref(), false)?;
            }
        }
        Ok(())
    }

    fn partition(&mut self, key: PartitionKey) -> Result<&mut PartitionWriter, IndexError> {
        self.clock += 1;
        if !self.partitions.contains_key(&key) {
            self.evict_if_full()?;
            let writer = PartitionWriter::open(key.dir(&self.root), &self.schema, &self.options)?;
            self.partitions.insert(key, writer);
        }
        let clock = self.clock;
        // Inserted just above when it was missing.
        let partition = self.partitions.get_mut(&key).expect("partition is open");
        partition.last_used = clock;
        Ok(partition)
    }

    /// Commits every open partition and waits for its merges, then closes the writers.
    /// Dropping an `Indexer` instead leaves merges in progress to be abandoned.
    pub fn close(mut self) -> Result<(), IndexError> {
        let payload = self.payload.take();
        for (_, partition) in self.partitions.drain() {
            partition.finish(payload.as_deref())?;
        }
        Ok(())
    }

    fn evict_if_full(&mut self) -> Result<(), IndexError> {
        if self.partitions.len() < self.options.max_open_partitions.max(1) {
            return Ok(());
        }
        let Some(oldest) = self
            .partitions
            .iter()
            .min_by_key(|(_, p)| p.last_used)
            .map(|(k, _)| *k)
        else {
            return Ok(());
        };
        if let Some(mut partition) = self.partitions.remove(&oldest) {
            partition.commit(self.payload.as_deref(), false)?;
            tracing::debug!(partition = %partition.dir.display(), "closed partition writer");
        }
        Ok(())
    }
}

/// The payload of the last commit of every partition under `root` (not its shards).
pub fn commit_payloads(root: &Path) -> Result<Vec<(PartitionKey, Option<String>)>, IndexError> {
    let keys = list_partitions(root).map_err(|source| IndexError::Io {
        path: root.to_owned(),
        source,
    })?;
    let schema = EventSchema::new();
    let mut payloads = Vec::with_capacity(keys.len());
    for key in keys {
        let dir = key.dir(root);
        let index = open_index(&dir, &schema, false)?;
        let metas = index
            .load_metas()
            .map_err(|source| IndexError::Tantivy { path: dir, source })?;
        payloads.push((key, metas.payload));
    }
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{PartitionKind, RetentionClass};
    use crate::retention::{NoHooks, RetentionPolicy};
    use kestrel_event::{parse_timestamp, EventKind};

    fn event(id: &str, ts: &str) -> Event {
        let ts = parse_timestamp(ts).unwrap();
        let mut event = Event::new(EventKind::Container, id.into(), ts, ts);
        event.message = format!("message {id}");
        event
    }

    fn count(root: &Path, key: PartitionKey) -> u64 {
        let index = open_index(&key.dir(root), &EventSchema::new(), false).unwrap();
        index.reader().unwrap().searcher().num_docs()
    }

    #[test]
    fn an_id_is_added_once_before_and_after_commit_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = event("a", "2024-01-01T10:00:00Z");
        let key = PartitionKey::of(a.kind(), &a.timestamp);
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        assert_eq!(indexer.add(&a).unwrap(), AddOutcome::Added);
        assert_eq!(indexer.add(&a).unwrap(), AddOutcome::Duplicate);
        assert_eq!(indexer.commit().unwrap().events, 1);
        assert_eq!(indexer.add(&a).unwrap(), AddOutcome::Duplicate);
        drop(indexer);
        let mut reopened = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        assert_eq!(reopened.add(&a).unwrap(), AddOutcome::Duplicate);
        assert_eq!(
            reopened.add(&event("b", "2024-01-01T11:00:00Z")).unwrap(),
            AddOutcome::Added
        );
        reopened.commit().unwrap();
        assert_eq!(count(dir.path(), key), 2);
    }

    #[test]
    fn uncommitted_events_are_lost_on_drop_and_can_be_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let a = event("a", "2024-01-01T10:00:00Z");
        let key = PartitionKey::of(a.kind(), &a.timestamp);
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        indexer.add(&a).unwrap();
        indexer.commit().unwrap();
        let b = event("b", "2024-01-01T10:00:01Z");
        indexer.add(&b).unwrap();
        drop(indexer); // no commit: as if the process died
        assert_eq!(count(dir.path(), key), 1);
        let mut again = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        assert_eq!(again.add(&a).unwrap(), AddOutcome::Duplicate);
        assert_eq!(again.add(&b).unwrap(), AddOutcome::Added);
        again.commit().unwrap();
        assert_eq!(count(dir.path(), key), 2);
    }

    fn policy(default_secs: u64, audit_secs: u64) -> RetentionPolicy {
        RetentionPolicy {
            default: Some(std::time::Duration::from_secs(default_secs)),
            audit: Some(std::time::Duration::from_secs(audit_secs)),
        }
    }

    #[test]
    fn retention_deletes_only_days_entirely_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        for day in 1..=3 {
            indexer
                .add(&event(
                    &format!("d{day}"),
                    &format!("2024-01-0{day}T12:00:00Z"),
                ))
                .unwrap();
        }
        indexer.commit().unwrap();
        let now = parse_timestamp("2024-01-04T06:00:00Z").unwrap();
        // 30 hours back is 2024-01-03T00:00: days 1 and 2 are entirely older.
        let outcome = indexer
            .apply_retention(&policy(30 * 3600, 400 * 86_400), &NoHooks, now)
            .unwrap();
        let days: Vec<String> = outcome
            .deleted
            .iter()
            .map(|d| d.key.day.to_string())
            .collect();
        assert_eq!(days, ["2024-01-01", "2024-01-02"]);
        let first = &outcome.deleted[0];
        assert_eq!(first.events, 1);
        assert_eq!(
            first.first,
            Some(parse_timestamp("2024-01-01T12:00:00Z").unwrap())
        );
        assert_eq!(first.last, first.first);
        assert_eq!(first.why, "retention.default 1d");
        let left: Vec<String> = list_partitions(dir.path())
            .unwrap()
            .iter()
            .map(|k| k.day.to_string())
            .collect();
        assert_eq!(left, ["2024-01-03"]);
        assert_eq!(
            indexer.add(&event("d3", "2024-01-03T12:00:00Z")).unwrap(),
            AddOutcome::Duplicate
        );
    }

    #[test]
    fn the_audit_trail_has_its_own_retention() {
        let dir = tempfile::tempdir().unwrap();
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        for (id, kind) in [("c", EventKind::Container), ("k", EventKind::KestrelAudit)] {
            let ts = parse_timestamp("2024-01-01T12:00:00Z").unwrap();
            indexer.add(&Event::new(kind, id.into(), ts, ts)).unwrap();
        }
        indexer.commit().unwrap();
        let now = parse_timestamp("2024-01-10T00:00:00Z").unwrap();
        let day = 86_400;
        let kinds = |dir: &Path| -> Vec<PartitionKind> {
            list_partitions(dir)
                .unwrap()
                .iter()
                .map(|k| k.kind)
                .collect()
        };
        let outcome = indexer
            .apply_retention(&policy(day, 30 * day), &NoHooks, now)
            .unwrap();
        assert_eq!(outcome.deleted.len(), 1);
        assert_eq!(kinds(dir.path()), [PartitionKind::KestrelAudit]);
        let outcome = indexer
            .apply_retention(&policy(day, day), &NoHooks, now)
            .unwrap();
        assert_eq!(outcome.deleted.len(), 1);
        assert!(kinds(dir.path()).is_empty());
    }

    struct Recording;

    impl crate::retention::RetentionHooks for Recording {
        fn hold_on(&self, _: &PartitionKey, _: &Path) -> Result<Option<String>, IndexError> {
            Ok(None)
        }

        fn record(
            &self,
            deletion: &crate::retention::Deletion,
            now: kestrel_event::Timestamp,
        ) -> Option<Event> {
            let id = format!("deleted {}", deletion.key.relative());
            Some(Event::new(EventKind::KestrelAudit, id, now, now))
        }
    }

    #[test]
    fn records_of_deletions_are_committed_and_their_writer_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        indexer.add(&event("a", "2024-01-01T12:00:00Z")).unwrap();
        indexer.commit().unwrap();
        let now = parse_timestamp("2024-03-01T00:00:00Z").unwrap();
        let outcome = indexer
            .apply_retention(&policy(86_400, 400 * 86_400), &Recording, now)
            .unwrap();
        assert_eq!(outcome.deleted.len(), 1);
        let audit = PartitionKey::of(EventKind::KestrelAudit, &now);
        assert_eq!(count(dir.path(), audit), 1);
        // Another writer (the query API's audit trail) can take the partition at once.
        let mut other = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        other
            .add(&Event::new(EventKind::KestrelAudit, "api".into(), now, now))
            .unwrap();
        other.commit().unwrap();
        assert_eq!(count(dir.path(), audit), 2);
    }

    struct ByNamespace;

    impl crate::retention::Classify for ByNamespace {
        fn class_of(&self, event: &serde_json::Value) -> Option<RetentionClass> {
            let ns = event.pointer("/kubernetes/namespace")?.as_str()?;
            (ns == "payments").then_some(RetentionClass { keep_days: 365 })
        }
    }

    #[test]
    fn events_are_routed_to_the_partition_of_their_class() {
        let dir = tempfile::tempdir().unwrap();
        let options = IndexerOptions {
            classifier: Some(Classifier::new(ByNamespace)),
            ..IndexerOptions::default()
        };
        let mut indexer = Indexer::open(dir.path(), options).unwrap();
        let mut paid = event("p", "2024-01-01T10:00:00Z");
        paid.kubernetes = Some(kestrel_event::KubernetesMeta {
            namespace: Some("payments".into()),
            ..Default::default()
        });
        let plain = event("o", "2024-01-01T11:00:00Z");
        let ts = parse_timestamp("2024-01-01T12:00:00Z").unwrap();
        let mut audit = Event::new(EventKind::KestrelAudit, "k".into(), ts, ts);
        audit.kubernetes = paid.kubernetes.clone();
        for e in [&paid, &plain, &audit] {
            assert_eq!(indexer.add(e).unwrap(), AddOutcome::Added);
        }
        assert_eq!(indexer.add(&paid).unwrap(), AddOutcome::Duplicate);
        indexer.commit().unwrap();
        let names: Vec<String> = list_partitions(dir.path())
            .unwrap()
            .iter()
            .map(PartitionKey::relative)
            .collect();
        assert_eq!(
            names,
            [
                "container/2024-01-01",
                "container/2024-01-01.keep-365d",
                "kestrel_audit/2024-01-01"
            ]
        );
        let classed = list_partitions(dir.path()).unwrap()[1];
        assert_eq!(count(dir.path(), classed), 1);
        // The class, not today's default, sets the lifetime.
        let now = parse_timestamp("2024-12-31T00:00:00Z").unwrap();
        let outcome = indexer
            .apply_retention(&policy(86_400, 400 * 86_400), &NoHooks, now)
            .unwrap();
        assert_eq!(outcome.deleted.len(), 1);
        assert_eq!(outcome.deleted[0].key.relative(), "container/2024-01-01");
        let later = parse_timestamp("2025-01-01T00:00:00Z").unwrap();
        let outcome = indexer
            .apply_retention(&policy(86_400, 400 * 86_400), &NoHooks, later)
            .unwrap();
        assert_eq!(outcome.deleted[0].key, classed);
        assert_eq!(outcome.deleted[0].why, "class keep-365d");
    }

    #[test]
    fn more_days_than_open_writers_are_all_committed() {
        let dir = tempfile::tempdir().unwrap();
        let options = IndexerOptions {
            writer_memory_bytes: 15_000_000,
            max_open_partitions: 2,
            writer_threads: 1,
            classifier: None,
        };
        let mut indexer = Indexer::open(dir.path(), options).unwrap();
        let days: Vec<Event> = (1..=5)
            .map(|d| event(&format!("e{d}"), &format!("2024-01-0{d}T00:00:00Z")))
            .collect();
        for e in &days {
            assert_eq!(indexer.add(e).unwrap(), AddOutcome::Added);
        }
        indexer.commit().unwrap();
        for e in &days {
            assert_eq!(indexer.add(e).unwrap(), AddOutcome::Duplicate);
            assert_eq!(
                count(dir.path(), PartitionKey::of(e.kind(), &e.timestamp)),
                1
            );
        }
    }

    fn seal_settings() -> SealSettings {
        let (private, _) = kestrel_seal::generate_key_pem().unwrap();
        SealSettings {
            signer: Arc::new(kestrel_seal::Signer::from_pem(&private, "test").unwrap()),
            chain: "indexer".into(),
            grace: std::time::Duration::from_secs(3600),
            checkpoint_every: std::time::Duration::from_secs(3600),
            alerts_dir: None,
        }
    }

    #[test]
    fn a_day_is_sealed_after_its_grace_and_late_events_go_next_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default())
            .unwrap()
            .with_seal(seal_settings())
            .unwrap();
        let a = event("a", "2024-01-01T10:00:00Z");
        let day = PartitionKey::of(a.kind(), &a.timestamp);
        indexer.add(&a).unwrap();
        indexer.commit().unwrap();
        // Within the grace: still open.
        let t = |s: &str| parse_timestamp(s).unwrap();
        assert!(indexer
            .seal_due(t("2024-01-02T00:30:00Z"))
            .unwrap()
            .is_empty());
        assert_eq!(
            indexer.add(&event("b", "2024-01-01T11:00:00Z")).unwrap(),
            AddOutcome::Added
        );
        assert_eq!(indexer.seal_due(t("2024-01-02T01:00:00Z")).unwrap(), [day]);
        assert_eq!(count(dir.path(), day), 2);
        // A replayed event is recognized in the sealed partition; a new one goes to `.1`.
        assert_eq!(indexer.add(&a).unwrap(), AddOutcome::Duplicate);
        assert_eq!(
            indexer.add(&event("c", "2024-01-01T12:00:00Z")).unwrap(),
            AddOutcome::Added
        );
        indexer.commit().unwrap();
        assert_eq!(count(dir.path(), day), 2);
        assert_eq!(count(dir.path(), day.with_part(1)), 1);
        // Another writer of the tree (without the key) respects the seal too.
        drop(indexer);
        let mut other = Indexer::open(dir.path(), IndexerOptions::default()).unwrap();
        assert_eq!(
            other.add(&event("b", "2024-01-01T11:00:00Z")).unwrap(),
            AddOutcome::Duplicate
        );
        assert_eq!(
            other.add(&event("c", "2024-01-01T12:00:00Z")).unwrap(),
            AddOutcome::Duplicate
        );
        assert_eq!(
            other.add(&event("d", "2024-01-01T13:00:00Z")).unwrap(),
            AddOutcome::Added
        );
        other.commit().unwrap();
        assert_eq!(count(dir.path(), day), 2);
        assert_eq!(count(dir.path(), day.with_part(1)), 2);
    }
}
