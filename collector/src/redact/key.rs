//! The key of the markers' HMAC: from a file, from an environment variable, or generated once
//! into the data directory (mode 0600) so that markers stay the same across restarts.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::error::RedactError;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Name of the generated key file in the data directory.
pub const GENERATED_KEY_FILE: &str = "redaction.key";

/// Where the key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding the key (surrounding whitespace ignored).
    File(PathBuf),
    /// An environment variable holding the key.
    Env(String),
    /// A file created with a random key when it does not exist yet.
    Generated(PathBuf),
}

/// Reads (or creates) the key.
pub fn load_key(source: &KeySource) -> Result<Vec<u8>, RedactError> {
    match source {
        KeySource::File(path) => {
            let bytes = read(path)?;
            checked(bytes, path.display().to_string())
        }
        KeySource::Env(name) => {
            let value = std::env::var(name).unwrap_or_default();
            if value.trim().is_empty() {
                return Err(RedactError::KeyEnv { name: name.clone() });
            }
            checked(
                value.trim().as_bytes().to_vec(),
                format!("environment variable {name}"),
            )
        }
        KeySource::Generated(path) => {
            if !path.exists() {
                create(path)?;
            }
            let bytes = read(path)?;
            checked(bytes, path.display().to_string())
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, RedactError> {
    let bytes = std::fs::read(path).map_err(|source| RedactError::KeyFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(bytes.trim_ascii().to_vec())
}

fn checked(key: Vec<u8>, origin: String) -> Result<Vec<u8>, RedactError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(RedactError::KeyTooShort {
            origin,
            len: key.len(),
            min: MIN_KEY_BYTES,
        });
    }
    Ok(key)
}

/// Writes 32 random bytes, hex-encoded, to a new file readable by its owner only. A file
/// created meanwhile by another process is kept.
fn create(path: &Path) -> Result<(), RedactError> {
    let io = |source| RedactError::KeyFile {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| RedactError::Random(e.to_string()))?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io)?;
    file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    // Hard-linking, unlike renaming, fails when the key exists: the first key stays.
    let linked = std::fs::hard_link(&partial, path);
    let _ = std::fs::remove_file(&partial);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn generated_once_owner_only_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join(GENERATED_KEY_FILE);
        let first = load_key(&KeySource::Generated(path.clone())).unwrap();
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_key(&KeySource::Generated(path.clone())).unwrap();
        assert_eq!(first, again);
        let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1, "no partial file left behind");
    }

    #[test]
    fn short_and_missing_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.key");
        std::fs::write(&path, "tooshort\n").unwrap();
        let error = load_key(&KeySource::File(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("8 bytes, at least 16"), "{error}");
        let error = load_key(&KeySource::File(dir.path().join("absent")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("absent"), "{error}");
        let error = load_key(&KeySource::Env("KESTREL_TEST_UNSET_REDACTION_KEY".into()))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("KESTREL_TEST_UNSET_REDACTION_KEY"),
            "{error}"
        );
    }
}
