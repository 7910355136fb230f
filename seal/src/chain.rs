//! The hash chain: a directory of signed entries `0000000001.json`, `0000000002.json`, ...,
//! each a [signed document](crate::envelope) whose body carries its sequence number, the
//! SHA-256 of the previous entry's file and one record: a partition's manifest, a deletion
//! by retention, or the digests of files kept outside the index (alerts).
//!
//! One writer appends to a chain; removing, reordering, editing or replacing an entry breaks
//! either a signature or a link ([`read_chain`] names which).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::digest::{sha256_hex, FileDigest};
use crate::envelope::{open, sign};
use crate::error::SealError;
use crate::key::{KeyId, PublicKeys, Signer};

/// Extension of entry files.
const EXT: &str = "json";
/// Digits of an entry file's sequence number.
const DIGITS: usize = 10;

/// One entry of a chain: the body of its signed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1, equal to the number in the file's name.
    pub seq: u64,
    /// Hex SHA-256 of the whole file of the previous entry (`None` for the first).
    pub prev: Option<String>,
    /// When the entry was written (RFC 3339).
    pub at: String,
    /// What it records.
    pub record: Record,
}

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The files and contents of one partition.
    Partition(PartitionManifest),
    /// A partition deleted by a retention rule.
    Deletion(Deletion),
    /// Append-only files outside the index (alerts), each covered up to its length then.
    Files(FilesManifest),
}

/// A partition's manifest: final once `sealed`, else the state of an open partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionManifest {
    /// The partition's directory relative to the index tree (`container/2024-01-01`).
    pub partition: String,
    /// Whether the partition is sealed: never written again.
    pub sealed: bool,
    /// Events it holds.
    pub events: u64,
    /// Earliest `@timestamp` (RFC 3339).
    pub from: Option<String>,
    /// Latest `@timestamp` (RFC 3339).
    pub to: Option<String>,
    /// `event.id` of the earliest event.
    pub first_id: Option<String>,
    /// `event.id` of the latest event.
    pub last_id: Option<String>,
    /// The payload of its last commit: the Kafka offsets or file checkpoints it covers.
    pub commit_payload: Option<String>,
    /// Every file of the index, by name.
    pub files: Vec<FileDigest>,
}

/// A partition deleted by a retention rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deletion {
    /// The partition's directory relative to the index tree.
    pub partition: String,
    /// Hash of the entry of its last manifest (`None` if it never had one).
    pub manifest: Option<String>,
    /// Events it held, per that manifest.
    pub events: Option<u64>,
    /// The rule that deleted it.
    pub rule: String,
}

/// Append-only files outside the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesManifest {
    /// Which directory: `alerts`.
    pub dir: String,
    /// Its files, each covered up to `bytes`.
    pub files: Vec<FileDigest>,
}

/// What can go wrong appending to a chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An existing entry cannot be read.
    #[error("{path}: {reason}")]
    Malformed {
        /// The entry's file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ChainError + '_ {
    move |source| ChainError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The file name of entry `seq`.
pub fn entry_file_name(seq: u64) -> String {
    format!("{seq:0DIGITS$}.{EXT}")
}

fn seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(&format!(".{EXT}"))?;
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The body of a signed document, parsed without checking its signature.
fn parse_unverified(document: &[u8]) -> Result<Entry, String> {
    let body = document
        .split(|&b| b == b'\n')
        .next()
        .ok_or("empty entry")?;
    serde_json::from_slice(body).map_err(|e| format!("entry body: {e}"))
}

/// The latest entry of a partition in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// Hash of the entry's file.
    pub hash: String,
    /// The record.
    pub record: Record,
}

/// Appends entries to one chain directory.
pub struct ChainWriter {
    dir: PathBuf,
    signer: Arc<Signer>,
    next: u64,
    head: Option<String>,
    latest: BTreeMap<String, Latest>,
    files: BTreeMap<String, Latest>,
}

impl std::fmt::Debug for ChainWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainWriter")
            .field("dir", &self.dir)
            .field("next", &self.next)
            .finish()
    }
}

impl ChainWriter {
    /// Opens (creating) the chain in `dir`, reading its entries to find its head and each
    /// partition's latest entry.
    pub fn open(dir: impl Into<PathBuf>, signer: Arc<Signer>) -> Result<ChainWriter, ChainError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut writer = ChainWriter {
            dir,
            signer,
            next: 1,
            head: None,
            latest: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        for (seq, path) in entry_files(&writer.dir)? {
            let bytes = fs::read(&path).map_err(io_error(&path))?;
            let entry = parse_unverified(&bytes).map_err(|reason| ChainError::Malformed {
                path: path.clone(),
                reason,
            })?;
            writer.remember(sha256_hex(&bytes), entry.record);
            writer.next = seq + 1;
            writer.head = Some(sha256_hex(&bytes));
        }
        Ok(writer)
    }

    fn remember(&mut self, hash: String, record: Record) {
        let latest = Latest { hash, record };
        match &latest.record {
            Record::Partition(m) => self.latest.insert(m.partition.clone(), latest),
            Record::Deletion(d) => self.latest.insert(d.partition.clone(), latest),
            Record::Files(f) => self.files.insert(f.dir.clone(), latest),
        };
    }

    /// The chain's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The latest entry about `partition`.
    pub fn latest(&self, partition: &str) -> Option<&Latest> {
        self.latest.get(partition)
    }

    /// The latest entry about the files of `dir` (`alerts`).
    pub fn latest_files(&self, dir: &str) -> Option<&Latest> {
        self.files.get(dir)
    }

    /// The partitions whose latest entry is a sealed manifest.
    pub fn sealed(&self) -> impl Iterator<Item = &str> {
        self.latest
            .iter()
            .filter_map(|(name, latest)| match &latest.record {
                Record::Partition(m) if m.sealed => Some(name.as_str()),
                _ => None,
            })
    }

    /// Signs and writes the next entry (durably: written aside, synced, renamed); returns
    /// the hash of its file.
    pub fn append(&mut self, at: String, record: Record) -> Result<String, ChainError> {
        let entry = Entry {
            seq: self.next,
            prev: self.head.clone(),
            at,
            record,
        };
        let document = sign(&self.signer, &entry).map_err(|e| ChainError::Malformed {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let path = self.dir.join(entry_file_name(entry.seq));
        let aside = self
            .dir
            .join(format!(".{}.tmp", entry_file_name(entry.seq)));
        let mut file = fs::File::create(&aside).map_err(io_error(&aside))?;
        file.write_all(&document).map_err(io_error(&aside))?;
        file.sync_all().map_err(io_error(&aside))?;
        fs::rename(&aside, &path).map_err(io_error(&path))?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            dir.sync_all().map_err(io_error(&self.dir))?;
        }
        let hash = sha256_hex(&document);
        self.remember(hash.clone(), entry.record);
        self.next += 1;
        self.head = Some(hash.clone());
        Ok(hash)
    }
}

/// The entry files of `dir` by sequence number (other files are left out).
fn entry_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ChainError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(seq_of) {
            files.push((seq, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// An entry whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    /// Its file.
    pub path: PathBuf,
    /// Hash of its file.
    pub hash: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// The key that signed it.
    pub key_id: KeyId,
    /// Its body.
    pub entry: Entry,
}

/// A problem found in a chain, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// The file (or the chain's directory).
    pub path: PathBuf,
    /// What is wrong: `unknown key`, `bad signature`, `broken link`, `missing entry`, ...
    pub what: String,
}

/// A chain as read by a verifier: the entries that verified, in order, and the problems.
#[derive(Debug, Clone, Default)]
pub struct ChainRead {
    /// Entries whose signature verified.
    pub entries: Vec<VerifiedEntry>,
    /// Everything wrong.
    pub problems: Vec<ChainProblem>,
}

/// Reads and checks every entry of the chain in `dir` against `keys`: signatures, sequence
/// numbers (a gap is a missing entry, a number not matching its file a moved one) and links
/// (each entry's `prev` is the hash of the previous file). Files that are not entries are
/// reported as added.
pub fn read_chain(dir: &Path, keys: &PublicKeys) -> Result<ChainRead, ChainError> {
    let mut read = ChainRead::default();
    let mut problem = |path: &Path, what: String| {
        read.problems.push(ChainProblem {
            path: path.to_owned(),
            what,
        })
    };
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        if name.to_str().and_then(seq_of).is_none() {
            problem(&entry.path(), "added file (not a chain entry)".to_owned());
        }
    }
    let mut expected = 1u64;
    let mut prev: Option<String> = None;
    let mut entries = Vec::new();
    for (seq, path) in entry_files(dir)? {
        if seq != expected {
            let what = match seq - expected {
                1 => format!("broken link: entry {} missing", expected),
                _ => format!("broken link: entries {}..{} missing", expected, seq - 1),
            };
            problem(&path, what);
        }
        expected = seq + 1;
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        let hash = sha256_hex(&bytes);
        let opened = match open(&bytes, keys) {
            Ok(opened) => opened,
            Err(SealError::UnknownKey(id)) => {
                problem(&path, format!("signed by unknown key {id}"));
                prev = Some(hash);
                continue;
            }
            Err(SealError::BadSignature(id)) => {
                problem(&path, format!("bad signature (key {id})"));
                prev = Some(hash);
                continue;
            }
            Err(e) => {
                problem(&path, e.to_string());
                prev = Some(hash);
                continue;
            }
        };
        let body: Entry = match opened.parse() {
            Ok(body) => body,
            Err(e) => {
                problem(&path, e.to_string());
                prev = Some(hash);
                continue;
            }
        };
        if body.seq != seq {
            problem(
                &path,
                format!("moved entry: holds entry {} of the chain", body.seq),
            );
        }
        if body.prev != prev {
            problem(
                &path,
                "broken link: does not follow the previous entry".to_owned(),
            );
        }
        prev = Some(hash.clone());
        entries.push(VerifiedEntry {
            path,
            hash,
            bytes: bytes.len() as u64,
            key_id: opened.key_id,
            entry: body,
        });
    }
    read.entries = entries;
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::generate_key_pem;

    fn signer() -> Arc<Signer> {
        let (private, _) = generate_key_pem().unwrap();
        Arc::new(Signer::from_pem(&private, "test").unwrap())
    }

    fn manifest(partition: &str, sealed: bool) -> Record {
        Record::Partition(PartitionManifest {
            partition: partition.to_owned(),
            sealed,
            events: 3,
            from: None,
            to: None,
            first_id: None,
            last_id: None,
            commit_payload: None,
            files: vec![],
        })
    }

    fn chain_of(n: usize) -> (tempfile::TempDir, Arc<Signer>) {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer();
        let mut chain = ChainWriter::open(dir.path(), Arc::clone(&signer)).unwrap();
        for i in 0..n {
            chain
                .append(format!("t{i}"), manifest(&format!("p{i}"), true))
                .unwrap();
        }
        (dir, signer)
    }

    fn problems(dir: &Path, keys: &PublicKeys) -> Vec<String> {
        read_chain(dir, keys)
            .unwrap()
            .problems
            .iter()
            .map(|p| {
                let name = p.path.file_name().unwrap().to_string_lossy();
                format!("{name}: {}", p.what)
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_reads_clean_and_reopens_at_its_head() {
        let (dir, signer) = chain_of(3);
        let keys = PublicKeys::from(&*signer);
        let read = read_chain(dir.path(), &keys).unwrap();
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert_eq!(read.entries.len(), 3);
        assert_eq!(
            read.entries[2].entry.prev.as_ref(),
            Some(&read.entries[1].hash)
        );
        let mut chain = ChainWriter::open(dir.path(), Arc::clone(&signer)).unwrap();
        assert_eq!(chain.sealed().collect::<Vec<_>>(), ["p0", "p1", "p2"]);
        let hash = chain.latest("p1").unwrap().hash.clone();
        chain
            .append(
                "t3".into(),
                Record::Deletion(Deletion {
                    partition: "p1".into(),
                    manifest: Some(hash),
                    events: Some(3),
                    rule: "r".into(),
                }),
            )
            .unwrap();
        assert_eq!(chain.sealed().collect::<Vec<_>>(), ["p0", "p2"]);
        assert!(problems(dir.path(), &keys).is_empty());
    }

    #[test]
    fn a_removed_entry_is_a_gap_and_a_broken_link() {
        let (dir, signer) = chain_of(4);
        fs::remove_file(dir.path().join(entry_file_name(2))).unwrap();
        let found = problems(dir.path(), &PublicKeys::from(&*signer));
        assert_eq!(
            found,
            [
                "0000000003.json: broken link: entry 2 missing",
                "0000000003.json: broken link: does not follow the previous entry",
            ]
        );
    }

    #[test]
    fn swapped_entries_are_moved_and_unlinked() {
        let (dir, signer) = chain_of(4);
        let (two, three) = (
            dir.path().join(entry_file_name(2)),
            dir.path().join(entry_file_name(3)),
        );
        let aside = dir.path().join("aside");
        fs::rename(&two, &aside).unwrap();
        fs::rename(&three, &two).unwrap();
        fs::rename(&aside, &three).unwrap();
        let found = problems(dir.path(), &PublicKeys::from(&*signer));
        assert!(
            found.contains(&"0000000002.json: moved entry: holds entry 3 of the chain".to_owned()),
            "{found:?}"
        );
        assert!(
            found.contains(&"0000000003.json: moved entry: holds entry 2 of the chain".to_owned()),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("0000000004.json: broken link")),
            "{found:?}"
        );
    }

    #[test]
    fn an_entry_signed_by_another_key_or_edited_is_named() {
        let (dir, signer) = chain_of(3);
        let keys = PublicKeys::from(&*signer);
        // Entry 2 re-signed by another key, same body.
        let path = dir.path().join(entry_file_name(2));
        let bytes = fs::read(&path).unwrap();
        let body: Entry = parse_unverified(&bytes).unwrap();
        fs::write(&path, sign(&signer_other(), &body).unwrap()).unwrap();
        let found = problems(dir.path(), &keys);
        assert!(
            found[0].starts_with("0000000002.json: signed by unknown key"),
            "{found:?}"
        );
        // Entry 1 edited.
        let first = dir.path().join(entry_file_name(1));
        let edited = String::from_utf8(fs::read(&first).unwrap())
            .unwrap()
            .replace("\"events\":3", "\"events\":4");
        fs::write(&first, edited).unwrap();
        let found = problems(dir.path(), &keys);
        assert!(
            found[0].starts_with("0000000001.json: bad signature"),
            "{found:?}"
        );
        // Entry 3 links to entry 2 as first written, whose file changed with the re-signing.
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("0000000003.json: broken link")),
            "{found:?}"
        );
    }

    fn signer_other() -> Signer {
        let (private, _) = generate_key_pem().unwrap();
        Signer::from_pem(&private, "other").unwrap()
    }

    #[test]
    fn a_stray_file_in_the_chain_is_added() {
        let (dir, signer) = chain_of(1);
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        assert_eq!(
            problems(dir.path(), &PublicKeys::from(&*signer)),
            ["notes.txt: added file (not a chain entry)"]
        );
    }
}
