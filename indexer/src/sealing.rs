//! Sealing: the manifests an indexer appends to its hash chain.
//!
//! Layout under an index tree (the root, or a shard of it):
//!
//! - `seal/chains/<writer>/0000000001.json, ...`: the chain of the writer that owns the tree
//!   (see [`kestrel_seal::chain`]);
//! - `seal/sealed/<kind>/<YYYY-MM-DD[.n]>`: an empty marker per sealed partition, so that any
//!   writer of the tree (the audit trail's included) sends events for a sealed day to a late
//!   partition instead ([`is_sealed`]). The chain is the record; markers are rebuilt from it.
//!
//! A partition is sealed once its day is over plus a grace for late events: its writer commits,
//! its merges finish, unreferenced files are collected, then every file of the directory is
//! hashed into a signed manifest with the partition's event count, time range, first and last
//! `event.id` and the payload of its last commit (Kafka offsets or file checkpoints). Open
//! partitions get a manifest at each checkpoint (hourly) listing `meta.json` and the files of
//! their committed segments, and the alert files are covered by prefix, as they only grow.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kestrel_seal::chain::{Deletion, FilesManifest, PartitionManifest};
use kestrel_seal::{ChainWriter, FileDigest, Record, Signer};
use tantivy::{Index, ReloadPolicy};

use crate::error::IndexError;
use crate::partition::PartitionKey;
use crate::schema::{tantivy_name, EventSchema};
use crate::storage::open_index;

/// Directory of the seal's files under an index tree.
pub const SEAL_DIR: &str = "seal";

/// Files of a partition that are never part of a manifest: Tantivy's lock files (empty, and
/// created by readers too).
pub const LOCK_FILES: [&str; 2] = [".tantivy-meta.lock", ".tantivy-writer.lock"];

/// How an indexer seals.
#[derive(Clone)]
pub struct SealSettings {
    /// The signing key.
    pub signer: Arc<Signer>,
    /// Name of the chain (one per writer of a tree): `indexer`.
    pub chain: String,
    /// How long after its day ends a partition stays open for late events.
    pub grace: Duration,
    /// How often open partitions and alert files get a manifest.
    pub checkpoint_every: Duration,
    /// The alert files' directory, covered by this chain (at most one chain per data
    /// directory should cover it).
    pub alerts_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SealSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealSettings")
            .field("key_id", self.signer.id())
            .field("chain", &self.chain)
            .field("grace", &self.grace)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("alerts_dir", &self.alerts_dir)
            .finish()
    }
}

/// The directory of chain `name` under the index tree `root`.
pub fn chain_dir(root: &Path, name: &str) -> PathBuf {
    root.join(SEAL_DIR).join("chains").join(name)
}

/// The chain directories under the index tree `root`.
pub fn chain_dirs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    match std::fs::read_dir(root.join(SEAL_DIR).join("chains")) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    dirs.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    dirs.sort();
    Ok(dirs)
}

fn marker(root: &Path, key: &PartitionKey) -> PathBuf {
    root.join(SEAL_DIR).join("sealed").join(key.relative())
}

/// Whether the partition `key` of the tree `root` is sealed (never to be written again).
pub fn is_sealed(root: &Path, key: &PartitionKey) -> bool {
    marker(root, key).exists()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_owned(),
        source,
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The writer side of a tree's chain.
#[derive(Debug)]
pub struct Sealer {
    root: PathBuf,
    settings: SealSettings,
    chain: ChainWriter,
    last_checkpoint: Option<DateTime<Utc>>,
    /// The chain's lock, held while this sealer lives: one writer per chain.
    _lock: std::fs::File,
}

impl Sealer {
    /// Opens the chain of `settings.chain` under `root`, and restores the markers of the
    /// partitions it sealed.
    pub fn open(root: &Path, settings: SealSettings) -> Result<Sealer, IndexError> {
        let lock = lock_chain(root, &settings.chain)?;
        let chain = ChainWriter::open(
            chain_dir(root, &settings.chain),
            Arc::clone(&settings.signer),
        )?;
        for partition in chain.sealed() {
            let path = root.join(SEAL_DIR).join("sealed").join(partition);
            if !path.exists() {
                write_marker(&path)?;
            }
        }
        Ok(Sealer {
            root: root.to_owned(),
            settings,
            chain,
            last_checkpoint: None,
            _lock: lock,
        })
    }

    /// The grace after a day's end before its partition is sealed.
    pub fn grace(&self) -> Duration {
        self.settings.grace
    }

    /// Seals the partition `key`, whose writer (if this process had one) is committed and
    /// closed. Returns `false`, sealing nothing, when another process holds its writer lock.
    pub fn seal(
        &mut self,
        key: &PartitionKey,
        schema: &EventSchema,
        now: DateTime<Utc>,
    ) -> Result<bool, IndexError> {
        let dir = key.dir(&self.root);
        if !settle(&dir, schema)? {
            return Ok(false);
        }
        let mut manifest = partition_manifest(key, &dir, schema, true)?;
        manifest.files = hash_dir(&dir, |_| true)?;
        let events = manifest.events;
        self.chain
            .append(rfc3339(now), Record::Partition(manifest))?;
        write_marker(&marker(&self.root, key))?;
        tracing::info!(partition = %dir.display(), events, "partition sealed");
        Ok(true)
    }

    /// Whether a checkpoint of the open partitions is due.
    pub fn checkpoint_due(&self, now: DateTime<Utc>) -> bool {
        let every = chrono::Duration::from_std(self.settings.checkpoint_every)
            .unwrap_or(chrono::Duration::MAX);
        self.last_checkpoint
            .is_none_or(|at| now.signed_duration_since(at) >= every)
    }

    /// Appends a manifest for each of `open` partitions whose committed files changed since
    /// its last manifest, and one for the alert files if they changed.
    pub fn checkpoint(
        &mut self,
        open: &[PartitionKey],
        schema: &EventSchema,
        now: DateTime<Utc>,
    ) -> Result<(), IndexError> {
        self.last_checkpoint = Some(now);
        for key in open {
            let dir = key.dir(&self.root);
            let mut manifest = partition_manifest(key, &dir, schema, false)?;
            let committed = committed_segments(&dir, schema)?;
            manifest.files = hash_dir(&dir, |name| {
                name == "meta.json"
                    || (!name.ends_with(".temp")
                        && committed.contains(name.split('.').next().unwrap_or_default()))
            })?;
            let unchanged = matches!(
                self.chain.latest(&manifest.partition).map(|l| &l.record),
                Some(Record::Partition(last)) if last.files == manifest.files
            );
            if !unchanged {
                self.chain
                    .append(rfc3339(now), Record::Partition(manifest))?;
            }
        }
        if let Some(alerts) = self.settings.alerts_dir.clone() {
            let files = match alerts.exists() {
                true => hash_dir(&alerts, |name| name.ends_with(".ndjson"))?,
                false => Vec::new(),
            };
            let unchanged = match self.chain.latest_files("alerts").map(|l| &l.record) {
                Some(Record::Files(last)) => last.files == files,
                _ => files.is_empty(),
            };
            if !unchanged {
                let record = Record::Files(FilesManifest {
                    dir: "alerts".to_owned(),
                    files,
                });
                self.chain.append(rfc3339(now), record)?;
            }
        }
        Ok(())
    }

    /// Records in the chain that `key` is deleted by `rule`: called just before a retention
    /// rule deletes a partition.
    pub fn record_deletion(
        &mut self,
        key: &PartitionKey,
        rule: &str,
        now: DateTime<Utc>,
    ) -> Result<(), IndexError> {
        let partition = key.relative();
        let (manifest, events) = match self.chain.latest(&partition) {
            Some(latest) => match &latest.record {
                Record::Partition(m) => (Some(latest.hash.clone()), Some(m.events)),
                _ => (None, None),
            },
            None => (None, None),
        };
        let record = Record::Deletion(Deletion {
            partition,
            manifest,
            events,
            rule: rule.to_owned(),
        });
        self.chain.append(rfc3339(now), record)?;
        Ok(())
    }
}

/// Takes the exclusive lock of chain `name` (`seal/chains/<name>.lock`), refusing a second
/// writer.
fn lock_chain(root: &Path, name: &str) -> Result<std::fs::File, IndexError> {
    let dir = root.join(SEAL_DIR).join("chains");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join(format!("{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    let locked = fs4::fs_std::FileExt::try_lock_exclusive(&file).map_err(io(&path))?;
    if !locked {
        return Err(IndexError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another process appends to this chain",
            ),
        });
    }
    Ok(file)
}

fn write_marker(path: &Path) -> Result<(), IndexError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, b"").map_err(io(path))
}

/// Takes the partition's writer lock, lets merges finish and deletes the files no commit
/// references any more, so that what is hashed is what stays. `false` when another process
/// holds the lock.
fn settle(dir: &Path, schema: &EventSchema) -> Result<bool, IndexError> {
    let tantivy = |source| IndexError::Tantivy {
        path: dir.to_owned(),
        source,
    };
    let index: Index = open_index(dir, schema, true)?;
    let writer = match index.writer_with_num_threads::<tantivy::TantivyDocument>(1, 15_000_000) {
        Ok(writer) => writer,
        Err(tantivy::TantivyError::LockFailure(..)) => return Ok(false),
        Err(e) => return Err(tantivy(e)),
    };
    writer.garbage_collect_files().wait().map_err(tantivy)?;
    writer.wait_merging_threads().map_err(tantivy)?;
    Ok(true)
}

/// The ids (file-name stems) of the partition's committed segments.
pub fn committed_segments(dir: &Path, schema: &EventSchema) -> Result<HashSet<String>, IndexError> {
    let index = open_index(dir, schema, false)?;
    let metas = index
        .searchable_segment_metas()
        .map_err(|source| IndexError::Tantivy {
            path: dir.to_owned(),
            source,
        })?;
    Ok(metas.iter().map(|m| m.id().uuid_string()).collect())
}

/// The SHA-256 of every file of `dir` whose name `keep` accepts (lock files never), by name.
/// A file removed meanwhile (merged away) is left out.
pub fn hash_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<FileDigest>, IndexError> {
    let mut names = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !LOCK_FILES.contains(&name.as_str()) && keep(&name) {
            names.insert(name, entry.path());
        }
    }
    let mut files = Vec::with_capacity(names.len());
    for (name, path) in names {
        match kestrel_seal::hash_file(&path) {
            Ok((bytes, sha256)) => files.push(FileDigest {
                name,
                bytes,
                sha256,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IndexError::Io { path, source: e }),
        }
    }
    Ok(files)
}

/// A manifest of the partition without its files: event count, time range, first and last
/// `event.id`, last commit's payload.
fn partition_manifest(
    key: &PartitionKey,
    dir: &Path,
    schema: &EventSchema,
    sealed: bool,
) -> Result<PartitionManifest, IndexError> {
    let tantivy = |source| IndexError::Tantivy {
        path: dir.to_owned(),
        source,
    };
    let index = open_index(dir, schema, false)?;
    let payload = index.load_metas().map_err(tantivy)?.payload;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(tantivy)?;
    let searcher = reader.searcher();
    let timestamp = tantivy_name("@timestamp");
    let id = tantivy_name("event.id");
    let mut earliest: Option<(i64, Option<String>)> = None;
    let mut latest: Option<(i64, Option<String>)> = None;
    for segment in searcher.segment_readers() {
        let times = segment.fast_fields().i64(&timestamp).map_err(tantivy)?;
        let ids = segment.fast_fields().str(&id).map_err(tantivy)?;
        let id_of = |doc| -> Option<String> {
            let ids = ids.as_ref()?;
            let ord = ids.term_ords(doc).next()?;
            let mut text = String::new();
            ids.ord_to_str(ord, &mut text).ok()?.then_some(text)
        };
        for doc in segment.doc_ids_alive() {
            let Some(at) = times.first(doc) else {
                continue;
            };
            if earliest.as_ref().is_none_or(|(t, _)| at < *t) {
                earliest = Some((at, id_of(doc)));
            }
            if latest.as_ref().is_none_or(|(t, _)| at > *t) {
                latest = Some((at, id_of(doc)));
            }
        }
    }
    let time = |nanos: i64| rfc3339(DateTime::from_timestamp_nanos(nanos));
    Ok(PartitionManifest {
        partition: key.relative(),
        sealed,
        events: searcher.num_docs(),
        from: earliest.as_ref().map(|(t, _)| time(*t)),
        to: latest.as_ref().map(|(t, _)| time(*t)),
        first_id: earliest.and_then(|(_, id)| id),
        last_id: latest.and_then(|(_, id)| id),
        commit_payload: payload,
        files: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_has_one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = kestrel_seal::generate_key_pem().unwrap();
        let settings = SealSettings {
            signer: Arc::new(Signer::from_pem(&private, "test").unwrap()),
            chain: "indexer".into(),
            grace: Duration::from_secs(3600),
            checkpoint_every: Duration::from_secs(3600),
            alerts_dir: None,
        };
        let first = Sealer::open(dir.path(), settings.clone()).unwrap();
        let second = Sealer::open(dir.path(), settings.clone()).unwrap_err();
        assert!(
            second
                .to_string()
                .contains("another process appends to this chain"),
            "{second}"
        );
        let other_chain = SealSettings {
            chain: "audit".into(),
            ..settings.clone()
        };
        Sealer::open(dir.path(), other_chain).unwrap();
        drop(first);
        Sealer::open(dir.path(), settings).unwrap();
    }
}
