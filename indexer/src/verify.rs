//! Verification of sealed index trees: every chain's signatures and links, then every
//! partition against its latest manifest, and the alert files against theirs.
//!
//! What is checked, per index tree (the root and each shard):
//!
//! - each chain entry: signed by a known key, signature good, numbered without gap and linked
//!   to the entry before it; any other file in a chain directory is reported as added;
//! - a partition whose latest entry is a **sealed** manifest: present, with exactly the files
//!   listed (none missing, modified, truncated or added);
//! - an **open** partition (hourly manifest): each listed segment file that the partition's
//!   current `meta.json` still references is unchanged; a segment merged away since is
//!   accepted (it is no longer referenced); `meta.json` itself changes at every commit and is
//!   not compared. What was committed after the manifest is not covered yet;
//! - a partition whose latest entry is a **deletion** by retention: absent, and the deletion
//!   names the partition's last manifest;
//! - a partition with no entry: reported as uncovered; it is a problem (an added partition)
//!   when a later day of the same kind is already sealed in the tree, since sealing goes in
//!   day order. A tree without any chain (the root's `kestrel_audit` partitions when only
//!   Kafka shards are sealed) is uncovered as a whole; an index without any chain at all is a
//!   problem;
//! - alert files: each file's first bytes, as far as the latest manifest covered them, are
//!   unchanged (they only grow).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use kestrel_event::Timestamp;
use kestrel_seal::chain::{PartitionManifest, VerifiedEntry};
use kestrel_seal::{read_chain, FileDigest, PublicKeys, Record};

use crate::error::IndexError;
use crate::partition::{PartitionKey, PartitionKind};
use crate::schema::EventSchema;
use crate::sealing::{chain_dirs, committed_segments, LOCK_FILES};

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only partitions whose day ends after this.
    pub from: Option<Timestamp>,
    /// Only partitions whose day starts at or before this.
    pub to: Option<Timestamp>,
    /// The alert files' directory.
    pub alerts_dir: Option<PathBuf>,
}

/// One thing wrong, naming the file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, partition directory or chain entry.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Everything wrong; empty when the store verifies.
    pub problems: Vec<Problem>,
    /// Partitions not covered by any manifest yet (not a problem by themselves).
    pub uncovered: Vec<PathBuf>,
    /// Chains read.
    pub chains: usize,
    /// Chain entries whose signature verified.
    pub entries: usize,
    /// Partitions checked against a manifest (deleted ones included).
    pub partitions: usize,
    /// Files hashed.
    pub files: u64,
    /// Bytes hashed.
    pub bytes: u64,
}

impl Report {
    fn problem(&mut self, path: impl Into<PathBuf>, what: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            what: what.into(),
        });
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Verifies the index root `root` and every shard under it.
pub fn verify_index(
    root: &Path,
    keys: &PublicKeys,
    options: &VerifyOptions,
) -> Result<Report, IndexError> {
    let mut report = Report::default();
    let trees = crate::partition::index_trees(root).map_err(io(root))?;
    for tree in &trees {
        verify_tree(tree, keys, options, &mut report)?;
    }
    if report.chains == 0 && !report.uncovered.is_empty() {
        report.problem(root, "nothing is sealed: no chain under the index");
    }
    Ok(report)
}

/// The partition directories under a tree, by their relative name, whether or not they still
/// hold an index.
fn partition_dirs(tree: &Path) -> Result<BTreeMap<String, PartitionKey>, IndexError> {
    let mut dirs = BTreeMap::new();
    let kinds = [
        PartitionKind::Container,
        PartitionKind::K8sAudit,
        PartitionKind::Falco,
        PartitionKind::KestrelAudit,
    ];
    for kind in kinds {
        let kind_dir = tree.join(kind.as_str());
        let entries = match std::fs::read_dir(&kind_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&kind_dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(&kind_dir))?;
            let name = entry.file_name();
            if let Some(key) = name
                .to_str()
                .and_then(|name| PartitionKey::parse_dir_name(kind, name))
            {
                dirs.insert(key.relative(), key);
            }
        }
    }
    Ok(dirs)
}

/// The key of a partition's relative name (`container/2024-01-01.1`).
fn key_of(relative: &str) -> Option<PartitionKey> {
    let (kind, name) = relative.split_once('/')?;
    let kind = [
        PartitionKind::Container,
        PartitionKind::K8sAudit,
        PartitionKind::Falco,
        PartitionKind::KestrelAudit,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)?;
    PartitionKey::parse_dir_name(kind, name)
}

fn verify_tree(
    tree: &Path,
    keys: &PublicKeys,
    options: &VerifyOptions,
    report: &mut Report,
) -> Result<(), IndexError> {
    let on_disk = partition_dirs(tree)?;
    let chains = chain_dirs(tree).map_err(io(tree))?;
    if chains.is_empty() {
        report
            .uncovered
            .extend(on_disk.values().map(|key| key.dir(tree)));
        return Ok(());
    }
    let mut entries: Vec<VerifiedEntry> = Vec::new();
    for dir in &chains {
        let read = read_chain(dir, keys)?;
        report.chains += 1;
        report.entries += read.entries.len();
        for p in read.problems {
            report.problem(p.path, p.what);
        }
        if let Some(files) = read
            .entries
            .iter()
            .rev()
            .find_map(|e| match &e.entry.record {
                Record::Files(f) if f.dir == "alerts" => Some(f.files.clone()),
                _ => None,
            })
        {
            if let Some(alerts) = &options.alerts_dir {
                check_alerts(alerts, &files, report)?;
            }
        }
        entries.extend(read.entries);
    }
    // The latest entry of each partition (in chain order: a tree's partition is written by
    // one chain), and the manifests a deletion may name.
    let mut manifests: HashMap<&str, &str> = HashMap::new();
    let mut latest: BTreeMap<&str, &VerifiedEntry> = BTreeMap::new();
    for entry in &entries {
        match &entry.entry.record {
            Record::Partition(m) => {
                manifests.insert(&entry.hash, &m.partition);
                latest.insert(&m.partition, entry);
            }
            Record::Deletion(d) => {
                if let Some(hash) = &d.manifest {
                    if manifests.get(hash.as_str()) != Some(&d.partition.as_str()) {
                        report.problem(
                            &entry.path,
                            format!("deletion of {} names a manifest it never had", d.partition),
                        );
                    }
                }
                latest.insert(&d.partition, entry);
            }
            Record::Files(_) => {}
        }
    }
    let in_range = |key: &PartitionKey| key.overlaps(options.from.as_ref(), options.to.as_ref());
    let schema = EventSchema::new();
    for (name, entry) in &latest {
        let Some(key) = key_of(name) else {
            report.problem(&entry.path, format!("names an unknown partition {name:?}"));
            continue;
        };
        if !in_range(&key) {
            continue;
        }
        report.partitions += 1;
        let dir = key.dir(tree);
        match &entry.entry.record {
            Record::Partition(m) if !dir.exists() => {
                let what = match m.sealed {
                    true => "sealed partition deleted (not by retention)",
                    false => "open partition deleted (not by retention)",
                };
                report.problem(&dir, what);
            }
            Record::Partition(m) if m.sealed => check_sealed(&dir, m, report)?,
            Record::Partition(m) => check_open(&dir, m, &schema, report)?,
            Record::Deletion(_) if dir.exists() => {
                report.problem(&dir, "partition deleted by retention is present again");
            }
            Record::Deletion(_) | Record::Files(_) => {}
        }
    }
    let sealed_days: Vec<PartitionKey> = latest
        .iter()
        .filter(|(_, e)| matches!(&e.entry.record, Record::Partition(m) if m.sealed))
        .filter_map(|(name, _)| key_of(name))
        .collect();
    for (name, key) in &on_disk {
        if latest.contains_key(name.as_str()) || !in_range(key) {
            continue;
        }
        let dir = key.dir(tree);
        let later_sealed = sealed_days
            .iter()
            .any(|s| s.kind == key.kind && s.day > key.day);
        if later_sealed {
            report.problem(
                &dir,
                "added partition: no manifest, and a later day is sealed",
            );
        } else {
            report.uncovered.push(dir);
        }
    }
    Ok(())
}

/// The files of `dir` but the lock files, by name.
fn listing(dir: &Path) -> Result<BTreeMap<String, PathBuf>, IndexError> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !LOCK_FILES.contains(&name.as_str()) {
            files.insert(name, entry.path());
        }
    }
    Ok(files)
}

/// Compares one file with its digest; `None` when it matches.
fn compare(
    path: &Path,
    digest: &FileDigest,
    report: &mut Report,
) -> Result<Option<String>, IndexError> {
    let (bytes, sha256) = kestrel_seal::hash_file(path).map_err(io(path))?;
    report.files += 1;
    report.bytes += bytes;
    Ok(if bytes != digest.bytes {
        Some(format!(
            "modified file: {bytes} bytes, sealed with {}",
            digest.bytes
        ))
    } else if sha256 != digest.sha256 {
        Some("modified file: content differs from its manifest".to_owned())
    } else {
        None
    })
}

fn check_sealed(
    dir: &Path,
    manifest: &PartitionManifest,
    report: &mut Report,
) -> Result<(), IndexError> {
    let mut present = listing(dir)?;
    for digest in &manifest.files {
        let path = dir.join(&digest.name);
        if present.remove(&digest.name).is_none() {
            report.problem(path, "missing file");
            continue;
        }
        if let Some(what) = compare(&path, digest, report)? {
            report.problem(path, what);
        }
    }
    for path in present.into_values() {
        report.problem(path, "added file");
    }
    Ok(())
}

fn check_open(
    dir: &Path,
    manifest: &PartitionManifest,
    schema: &EventSchema,
    report: &mut Report,
) -> Result<(), IndexError> {
    let committed = match committed_segments(dir, schema) {
        Ok(committed) => committed,
        Err(e) => {
            report.problem(dir.join("meta.json"), format!("unreadable: {e}"));
            return Ok(());
        }
    };
    let present = listing(dir)?;
    for digest in manifest.files.iter().filter(|d| d.name != "meta.json") {
        let path = dir.join(&digest.name);
        let stem = digest.name.split('.').next().unwrap_or_default();
        if !present.contains_key(&digest.name) {
            if committed.contains(stem) {
                report.problem(path, "missing file");
            }
            continue;
        }
        if let Some(what) = compare(&path, digest, report)? {
            report.problem(path, what);
        }
    }
    Ok(())
}

fn check_alerts(dir: &Path, files: &[FileDigest], report: &mut Report) -> Result<(), IndexError> {
    for digest in files {
        let path = dir.join(&digest.name);
        let prefix = match kestrel_seal::hash_prefix(&path, digest.bytes) {
            Ok(prefix) => prefix,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problem(path, "missing file");
                continue;
            }
            Err(e) => return Err(io(&path)(e)),
        };
        report.files += 1;
        report.bytes += digest.bytes;
        match prefix {
            None => report.problem(
                path,
                format!("truncated below the {} bytes covered", digest.bytes),
            ),
            Some(sha256) if sha256 != digest.sha256 => report.problem(
                path,
                "modified file: covered bytes differ from their manifest",
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use kestrel_event::{parse_timestamp, Event, EventKind};

    use super::*;
    use crate::sealing::SealSettings;
    use crate::writer::{Indexer, IndexerOptions};

    fn event(id: &str, ts: &str) -> Event {
        let ts = parse_timestamp(ts).unwrap();
        Event::new(EventKind::Container, id.into(), ts, ts)
    }

    #[test]
    fn an_open_partition_whose_segments_merged_since_its_manifest_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = kestrel_seal::generate_key_pem().unwrap();
        let signer = Arc::new(kestrel_seal::Signer::from_pem(&private, "test").unwrap());
        let keys = PublicKeys::from(&*signer);
        let settings = SealSettings {
            signer,
            chain: "indexer".into(),
            grace: Duration::from_secs(3600),
            checkpoint_every: Duration::from_secs(3600),
            alerts_dir: None,
        };
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default())
            .unwrap()
            .with_seal(settings)
            .unwrap();
        for (i, hour) in ["10", "11", "12"].iter().enumerate() {
            indexer
                .add(&event(
                    &format!("e{i}"),
                    &format!("2024-01-01T{hour}:00:00Z"),
                ))
                .unwrap();
            indexer.commit().unwrap();
        }
        let now = parse_timestamp("2024-01-01T13:00:00Z").unwrap();
        assert!(indexer.seal_due(now).unwrap().is_empty());
        drop(indexer);
        let clean = verify_index(dir.path(), &keys, &VerifyOptions::default()).unwrap();
        assert!(clean.problems.is_empty(), "{:?}", clean.problems);
        assert_eq!(clean.partitions, 1);
        assert!(clean.files >= 3 * 4, "{clean:?}");

        // The three segments merged into one: the files listed are gone, and unreferenced.
        let key = PartitionKey::of(
            EventKind::Container,
            &parse_timestamp("2024-01-01T10:00:00Z").unwrap(),
        );
        let index =
            crate::storage::open_index(&key.dir(dir.path()), &EventSchema::new(), true).unwrap();
        let ids = index.searchable_segment_ids().unwrap();
        assert_eq!(ids.len(), 3);
        let mut writer = index
            .writer_with_num_threads::<tantivy::TantivyDocument>(1, 15_000_000)
            .unwrap();
        writer.merge(&ids).wait().unwrap();
        writer.garbage_collect_files().wait().unwrap();
        writer.wait_merging_threads().unwrap();
        let merged = verify_index(dir.path(), &keys, &VerifyOptions::default()).unwrap();
        assert!(merged.problems.is_empty(), "{:?}", merged.problems);
        assert_eq!(merged.files, 0);

        // A segment file that is still referenced must be the one listed: a fresh checkpoint
        // lists the merged segment, then one of its files is changed.
        let mut indexer = Indexer::open(dir.path(), IndexerOptions::default())
            .unwrap()
            .with_seal(SealSettings {
                signer: Arc::new(kestrel_seal::Signer::from_pem(&private, "test").unwrap()),
                chain: "indexer".into(),
                grace: Duration::from_secs(3600),
                checkpoint_every: Duration::from_secs(3600),
                alerts_dir: None,
            })
            .unwrap();
        indexer.seal_due(now).unwrap();
        drop(indexer);
        let store = std::fs::read_dir(key.dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "store"))
            .unwrap();
        let mut bytes = std::fs::read(&store).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&store, bytes).unwrap();
        let tampered = verify_index(dir.path(), &keys, &VerifyOptions::default()).unwrap();
        assert_eq!(tampered.problems.len(), 1, "{:?}", tampered.problems);
        assert_eq!(tampered.problems[0].path, store);
    }

    #[test]
    fn alert_files_may_grow_but_their_covered_bytes_may_not_change() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = dir.path().join("alerts");
        std::fs::create_dir_all(&alerts).unwrap();
        let file = alerts.join("alerts.ndjson");
        std::fs::write(&file, "{\"rule\":\"a\"}\n{\"rule\":\"b\"}\n").unwrap();
        let (private, _) = kestrel_seal::generate_key_pem().unwrap();
        let signer = Arc::new(kestrel_seal::Signer::from_pem(&private, "test").unwrap());
        let keys = PublicKeys::from(&*signer);
        let index = dir.path().join("index");
        let mut indexer = Indexer::open(&index, IndexerOptions::default())
            .unwrap()
            .with_seal(SealSettings {
                signer,
                chain: "indexer".into(),
                grace: Duration::from_secs(3600),
                checkpoint_every: Duration::from_secs(3600),
                alerts_dir: Some(alerts.clone()),
            })
            .unwrap();
        indexer.add(&event("e", "2024-01-01T10:00:00Z")).unwrap();
        indexer.commit().unwrap();
        indexer
            .seal_due(parse_timestamp("2024-01-05T00:00:00Z").unwrap())
            .unwrap();
        drop(indexer);
        let options = VerifyOptions {
            alerts_dir: Some(alerts.clone()),
            ..VerifyOptions::default()
        };
        let problems = |options: &VerifyOptions| -> Vec<String> {
            verify_index(&index, &keys, options)
                .unwrap()
                .problems
                .iter()
                .map(|p| p.what.clone())
                .collect()
        };
        assert!(problems(&options).is_empty());
        let mut grown = std::fs::read(&file).unwrap();
        grown.extend_from_slice(b"{\"rule\":\"c\"}\n");
        std::fs::write(&file, &grown).unwrap();
        assert!(problems(&options).is_empty());
        grown[10] = b'z';
        std::fs::write(&file, &grown).unwrap();
        assert_eq!(
            problems(&options),
            ["modified file: covered bytes differ from their manifest"]
        );
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(problems(&options), ["truncated below the 26 bytes covered"]);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(problems(&options), ["missing file"]);
    }
}
