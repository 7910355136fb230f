//! Checking an export with nothing but its directory and the public keys: the manifest's
//! signature, then every chunk's presence, SHA-256 and event count, and that no file was added.
//! Every problem found is named; a manifest whose signature fails is not trusted for anything
//! else.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use kestrel_seal::{KeyId, PublicKeys, SealError};
use sha2::{Digest, Sha256};

use crate::manifest::{chunk_name, Manifest, FORMAT, MANIFEST_FILE};

/// One thing wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The manifest could not be read.
    NoManifest(String),
    /// The manifest is not a signed document, or its signature does not verify with the keys
    /// given (changed manifest, other key, wrong public key).
    Signature(String),
    /// The signed body is not a manifest this version understands.
    Body(String),
    /// A chunk listed in the manifest is not in the directory.
    MissingChunk(String),
    /// A chunk's bytes are not those the manifest's SHA-256 names.
    ModifiedChunk {
        /// The chunk.
        file: String,
        /// The manifest's hash.
        expected: String,
        /// The file's hash.
        found: String,
    },
    /// A chunk whose hash matches does not decompress, or holds another number of events
    /// than the manifest says.
    ChunkContent {
        /// The chunk.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The manifest's chunk list is not `events-000001...` in order, or its total is not
    /// the sum of its chunks.
    Listing(String),
    /// A file in the directory that the manifest does not list.
    AddedFile(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoManifest(reason) => write!(f, "{MANIFEST_FILE}: cannot be read: {reason}"),
            Problem::Signature(reason) => write!(f, "{MANIFEST_FILE}: signature: {reason}"),
            Problem::Body(reason) => write!(f, "{MANIFEST_FILE}: {reason}"),
            Problem::MissingChunk(file) => write!(f, "{file}: missing chunk"),
            Problem::ModifiedChunk {
                file,
                expected,
                found,
            } => write!(
                f,
                "{file}: modified chunk: SHA-256 {found}, the manifest says {expected}"
            ),
            Problem::ChunkContent { file, reason } => write!(f, "{file}: {reason}"),
            Problem::Listing(reason) => write!(f, "{MANIFEST_FILE}: {reason}"),
            Problem::AddedFile(file) => write!(f, "{file}: added file, not in the manifest"),
        }
    }
}

/// The outcome of [`verify_export`].
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// The manifest, once its signature verified.
    pub manifest: Option<Manifest>,
    /// The key that signed it.
    pub key_id: Option<KeyId>,
    /// Every problem found; none means the export is intact.
    pub problems: Vec<Problem>,
}

impl Verified {
    /// Whether the export verified without any problem.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty() && self.manifest.is_some()
    }
}

/// Checks the export in `dir` against `keys`.
pub fn verify_export(dir: &Path, keys: &PublicKeys) -> Verified {
    let mut verified = Verified::default();
    let document = match std::fs::read(dir.join(MANIFEST_FILE)) {
        Ok(document) => document,
        Err(error) => {
            verified
                .problems
                .push(Problem::NoManifest(error.to_string()));
            return verified;
        }
    };
    let opened = match kestrel_seal::open(&document, keys) {
        Ok(opened) => opened,
        Err(error) => {
            verified
                .problems
                .push(Problem::Signature(signature_reason(&error)));
            return verified;
        }
    };
    verified.key_id = Some(opened.key_id.clone());
    let manifest: Manifest = match serde_json::from_slice(opened.body) {
        Ok(manifest) => manifest,
        Err(error) => {
            verified
                .problems
                .push(Problem::Body(format!("not an export manifest: {error}")));
            return verified;
        }
    };
    if manifest.format != FORMAT {
        verified.problems.push(Problem::Body(format!(
            "format {:?}, this version reads {FORMAT:?}",
            manifest.format
        )));
        return verified;
    }
    check_listing(&manifest, &mut verified.problems);
    for chunk in &manifest.chunks {
        if let Some(problem) = check_chunk(dir, &chunk.file, chunk.events, &chunk.sha256) {
            verified.problems.push(problem);
        }
    }
    check_added(dir, &manifest, &mut verified.problems);
    verified.manifest = Some(manifest);
    verified
}

fn signature_reason(error: &SealError) -> String {
    match error {
        SealError::UnknownKey(id) => format!(
            "signed by key {id}, which is not among the public keys given (another key, or the \
             wrong public key)"
        ),
        SealError::BadSignature(id) => format!(
            "does not match the signature by key {id}: the manifest was changed after signing"
        ),
        other => other.to_string(),
    }
}

/// The chunk names are `events-000001...` in order and the total is their sum.
fn check_listing(manifest: &Manifest, problems: &mut Vec<Problem>) {
    for (index, chunk) in manifest.chunks.iter().enumerate() {
        let expected = chunk_name(index + 1);
        if chunk.file != expected {
            problems.push(Problem::Listing(format!(
                "chunk {} is named {:?}, expected {expected:?}",
                index + 1,
                chunk.file
            )));
        }
    }
    let sum: u64 = manifest.chunks.iter().map(|c| c.events).sum();
    if sum != manifest.events {
        problems.push(Problem::Listing(format!(
            "{} events in total, but its chunks hold {sum}",
            manifest.events
        )));
    }
}

/// Checks one chunk: present, its SHA-256, then its line count once decompressed.
fn check_chunk(dir: &Path, file: &str, events: u64, sha256: &str) -> Option<Problem> {
    if !is_plain_name(file) {
        // Named by check_listing; never read outside the directory.
        return None;
    }
    let path = dir.join(file);
    let found = match sha256_of(&path) {
        Ok(found) => found,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Some(Problem::MissingChunk(file.to_owned()))
        }
        Err(error) => {
            return Some(Problem::ChunkContent {
                file: file.to_owned(),
                reason: format!("cannot be read: {error}"),
            })
        }
    };
    if found != sha256 {
        return Some(Problem::ModifiedChunk {
            file: file.to_owned(),
            expected: sha256.to_owned(),
            found,
        });
    }
    let reason = match count_lines(&path) {
        Ok(lines) if lines == events => return None,
        Ok(lines) => format!("holds {lines} events, the manifest says {events}"),
        Err(error) => format!("does not decompress: {error}"),
    };
    Some(Problem::ChunkContent {
        file: file.to_owned(),
        reason,
    })
}

fn is_plain_name(file: &str) -> bool {
    !file.is_empty() && file != "." && file != ".." && !file.contains(['/', '\\'])
}

fn sha256_of(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// NDJSON lines of a zstd file (a last line without its newline counts too).
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut decoder = zstd::Decoder::new(BufReader::new(File::open(path)?))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    let mut last = b'\n';
    loop {
        let read = decoder.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buffer[..read]).count() as u64;
        last = buffer[read - 1];
    }
    Ok(lines + u64::from(last != b'\n'))
}

/// Files in the directory besides the manifest and its chunks.
fn check_added(dir: &Path, manifest: &Manifest, problems: &mut Vec<Problem>) {
    let listed: BTreeSet<&str> = manifest
        .chunks
        .iter()
        .map(|c| c.file.as_str())
        .chain([MANIFEST_FILE])
        .collect();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(Problem::NoManifest(format!(
                "the directory cannot be listed: {error}"
            )));
            return;
        }
    };
    let mut added: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !listed.contains(name.as_str()))
        .collect();
    added.sort();
    problems.extend(added.into_iter().map(Problem::AddedFile));
}
