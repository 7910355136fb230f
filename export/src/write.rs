//! Writing an export: the matching events streamed from the index into chunks, then the
//! signed manifest, last, so that a directory without a manifest is an export that did not
//! finish.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use kestrel_indexer::partition::index_trees;
use kestrel_indexer::sealing::chain_dirs;
use kestrel_query::stream::{stream_events, PartitionEvents, StreamOptions};
use kestrel_query::{SearchEngine, SearchRequest};
use kestrel_seal::{read_chain, PublicKeys, Record, Signer};
use sha2::{Digest, Sha256};

use crate::chunk::ChunkSet;
use crate::error::ExportError;
use crate::manifest::{Exporter, Manifest, PartitionHash, SourcePartition, FORMAT, MANIFEST_FILE};

/// What to export and where.
pub struct ExportSpec<'a> {
    /// The query as the user wrote it (recorded in the manifest).
    pub query: &'a str,
    /// The parsed request (its query and time range; limit, order and fields are ignored).
    pub request: &'a SearchRequest,
    /// The output directory: created if missing, refused unless empty.
    pub out: &'a Path,
    /// Events per chunk.
    pub chunk_events: u64,
    /// Who exports.
    pub exporter: Exporter,
}

/// Exports the events of `spec` from `engine`'s index into `spec.out` and signs the manifest
/// with `signer`. Returns the manifest written.
pub fn write_export(
    engine: &SearchEngine,
    spec: &ExportSpec<'_>,
    signer: &Signer,
) -> Result<Manifest, ExportError> {
    let started = Utc::now();
    prepare(spec.out)?;
    let mut chunks = ChunkSet::new(spec.out, spec.chunk_events);
    let streamed = stream_events(engine, spec.request, &StreamOptions::default(), |event| {
        chunks
            .write_event(event.source.as_bytes())
            .map_err(|(path, source)| ExportError::Io { path, source })?;
        Ok::<_, ExportError>(true)
    })?;
    let chunks = chunks
        .finish()
        .map_err(|(path, source)| ExportError::Io { path, source })?;
    let sealed = sealed_manifests(engine.root(), &PublicKeys::from(signer));
    let partitions = streamed
        .partitions
        .iter()
        .map(|p| source_partition(engine.root(), p, &sealed))
        .collect::<Result<_, _>>()?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        kestrel_version: env!("CARGO_PKG_VERSION").to_owned(),
        query: spec.query.to_owned(),
        from: spec.request.from.as_ref().map(rfc3339),
        to: spec.request.to.as_ref().map(rfc3339),
        exported_by: spec.exporter.clone(),
        exported_at: rfc3339(&started),
        events: streamed.events,
        chunks,
        partitions,
    };
    let document = kestrel_seal::sign(signer, &manifest).map_err(ExportError::Manifest)?;
    write_manifest(spec.out, &document)?;
    Ok(manifest)
}

fn rfc3339(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Creates `out` if needed; refuses it when it holds anything.
fn prepare(out: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(out).map_err(ExportError::io(out))?;
    let mut entries = std::fs::read_dir(out).map_err(ExportError::io(out))?;
    if entries.next().is_some() {
        return Err(ExportError::NotEmpty(out.to_owned()));
    }
    Ok(())
}

/// A partition's directory relative to the index root and what identifies its content: the
/// chain entry of its sealed manifest when it is sealed (by the key that signs the export),
/// else the hash of its `meta.json`.
fn source_partition(
    root: &Path,
    partition: &PartitionEvents,
    sealed: &HashMap<PathBuf, PartitionHash>,
) -> Result<SourcePartition, ExportError> {
    let relative = partition.dir.strip_prefix(root).unwrap_or(&partition.dir);
    let hash = match sealed.get(relative) {
        Some(hash) => hash.clone(),
        None => {
            let meta = partition.dir.join("meta.json");
            let bytes = std::fs::read(&meta).map_err(ExportError::io(&meta))?;
            PartitionHash {
                of: "meta.json".to_owned(),
                sha256: hex::encode(Sha256::digest(&bytes)),
            }
        }
    };
    Ok(SourcePartition {
        dir: relative.to_string_lossy().into_owned(),
        events: partition.events,
        hash,
    })
}

/// The sealed partitions of every index tree under `root` (the root and its Kafka shards),
/// by directory relative to `root`: the chain entry holding each one's final manifest (its
/// path relative to `root` and its SHA-256), among the entries `keys` verify. A chain that
/// cannot be read leaves its partitions to be identified by their `meta.json`.
fn sealed_manifests(root: &Path, keys: &PublicKeys) -> HashMap<PathBuf, PartitionHash> {
    let mut sealed = HashMap::new();
    for tree in index_trees(root).unwrap_or_default() {
        let relative_tree = tree.strip_prefix(root).unwrap_or(&tree).to_path_buf();
        for chain in chain_dirs(&tree).unwrap_or_default() {
            let Ok(read) = read_chain(&chain, keys) else {
                continue;
            };
            for verified in read.entries {
                let Record::Partition(manifest) = &verified.entry.record else {
                    continue;
                };
                if !manifest.sealed {
                    continue;
                }
                let entry = verified.path.strip_prefix(root).unwrap_or(&verified.path);
                sealed.insert(
                    relative_tree.join(&manifest.partition),
                    PartitionHash {
                        of: entry.to_string_lossy().into_owned(),
                        sha256: verified.hash.clone(),
                    },
                );
            }
        }
    }
    sealed
}

/// Writes the manifest under a temporary name, flushed, then renames it into place.
fn write_manifest(out: &Path, document: &[u8]) -> Result<(), ExportError> {
    let path: PathBuf = out.join(MANIFEST_FILE);
    let partial = out.join(".manifest.partial");
    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(&partial)?;
        std::io::Write::write_all(&mut &file, document)?;
        file.sync_all()?;
        std::fs::rename(&partial, &path)?;
        std::fs::File::open(out)?.sync_all()
    };
    write().map_err(ExportError::io(&path))
}
