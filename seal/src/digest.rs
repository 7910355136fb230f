//! SHA-256 of files, streamed in fixed-size blocks so that files of any size are hashed at
//! disk or SHA-256 speed without being loaded whole.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Block size of the reads: large enough that system calls cost nothing next to hashing.
const BLOCK: usize = 1 << 20;

/// One file as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// The file's name, relative to the directory the manifest covers.
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// SHA-256 of its first `bytes` bytes, hex.
    pub sha256: String,
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The length and hex SHA-256 of the file at `path`.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let file = File::open(path)?;
    hash_reader(file, u64::MAX)
}

/// The hex SHA-256 of the first `len` bytes of the file at `path`, or `None` when the file is
/// shorter (for append-only files, whose covered prefix must stay as it was).
pub fn hash_prefix(path: &Path, len: u64) -> io::Result<Option<String>> {
    let file = File::open(path)?;
    let (read, digest) = hash_reader(file, len)?;
    Ok((read == len).then_some(digest))
}

fn hash_reader(mut reader: impl Read, limit: u64) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BLOCK];
    let mut total = 0u64;
    while total < limit {
        let want = usize::try_from(limit - total).map_or(BLOCK, |left| left.min(BLOCK));
        let n = match reader.read(&mut buffer[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_hashes_like_its_bytes_and_its_prefix_like_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * BLOCK + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (bytes, digest) = hash_file(&path).unwrap();
        assert_eq!(bytes, data.len() as u64);
        assert_eq!(digest, sha256_hex(&data));
        let prefix = hash_prefix(&path, BLOCK as u64 + 5).unwrap();
        assert_eq!(prefix.unwrap(), sha256_hex(&data[..BLOCK + 5]));
        assert_eq!(hash_prefix(&path, data.len() as u64 + 1).unwrap(), None);
    }
}
