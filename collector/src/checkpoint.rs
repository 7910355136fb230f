//! Checkpoints: how far each file has been read *and durably accepted downstream*, by file
//! identity (see [`crate::tail::fingerprint`]), not by path: a renamed, copied or compressed
//! file resumes where its original stopped.
//!
//! Persisted atomically (write to a temporary file, fsync, rename, fsync the directory) so a
//! crash leaves either the old or the new checkpoints, never a torn file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The position to resume a file from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Where the file was last seen.
    pub path: String,
    /// Where the file was first seen: the name its events carry (`log.file.path`, and the
    /// source of their ids) through every rename.
    pub origin: String,
    /// Byte offset of the first byte not yet durably accepted.
    pub offset: u64,
    /// 1-based number of the line starting at `offset`.
    pub line: u64,
    /// When the position last moved (Unix seconds).
    #[serde(default)]
    pub updated: i64,
}

/// Errors of the checkpoint store.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing the checkpoint file failed.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint file is not valid.
    #[error("checkpoint file {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Positions of files not updated for this long are forgotten (their files are long gone).
pub const FORGET_AFTER_SECONDS: i64 = 7 * 24 * 3600;

/// Checkpoints of every file, by fingerprint (16 hex digits), persisted in one JSON file.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    path: PathBuf,
    positions: BTreeMap<String, FilePosition>,
}

impl Checkpoints {
    /// Loads the checkpoint file (an absent file means no checkpoints yet).
    pub fn load(path: impl Into<PathBuf>) -> Result<Checkpoints, CheckpointError> {
        let path = path.into();
        let positions = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        Ok(Checkpoints { path, positions })
    }

    /// The position of a file, if it has one.
    pub fn get(&self, key: &str) -> Option<&FilePosition> {
        self.positions.get(key)
    }

    /// Records a file's position (in memory; see [`Checkpoints::persist`]).
    pub fn set(&mut self, key: &str, position: FilePosition) {
        self.positions.insert(key.to_owned(), position);
    }

    /// Forgets the positions not updated since `before` (Unix seconds).
    pub fn forget_older_than(&mut self, before: i64) {
        self.positions.retain(|_, p| p.updated >= before);
    }

    /// Writes the checkpoints durably and atomically.
    pub fn persist(&self) -> Result<(), CheckpointError> {
        let io_err = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let temporary = self.path.with_extension("json.tmp");
        // A BTreeMap of plain structs always serializes.
        let bytes = serde_json::to_vec_pretty(&self.positions).expect("checkpoints serialize");
        let mut file = File::create(&temporary).map_err(io_err)?;
        file.write_all(&bytes).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        std::fs::rename(&temporary, &self.path).map_err(io_err)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_positions_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp/checkpoints.json");
        let mut checkpoints = Checkpoints::load(&path).unwrap();
        assert_eq!(checkpoints.get("00000000000000ab"), None);
        let position = FilePosition {
            path: "/a.log.1".into(),
            origin: "/a.log".into(),
            offset: 300,
            line: 4,
            updated: 1_700_000_000,
        };
        checkpoints.set("00000000000000ab", position.clone());
        checkpoints.persist().unwrap();
        let mut reloaded = Checkpoints::load(&path).unwrap();
        assert_eq!(reloaded.get("00000000000000ab"), Some(&position));
        reloaded.forget_older_than(1_700_000_001);
        assert_eq!(reloaded.get("00000000000000ab"), None);
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = Checkpoints::load(&path).unwrap_err().to_string();
        assert!(err.contains("checkpoints.json"), "{err}");
    }
}
