//! The dead-letter store: records that could not be normalized or indexed, kept with their raw
//! bytes as NDJSON files, one per UTC day of rejection.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use kestrel_event::DeadLetter;

/// Errors of the dead-letter store.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// Reading or writing a store file failed.
    #[error("dead-letter store {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A store file holds a line that is not a dead letter.
    #[error("dead-letter store {path}, line {line}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Appends dead letters durably to `<dir>/<YYYY-MM-DD>.ndjson`.
#[derive(Debug, Clone)]
pub struct DeadLetterStore {
    dir: PathBuf,
}

impl DeadLetterStore {
    /// Opens (creating) the store directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<DeadLetterStore, DeadLetterError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| DeadLetterError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(DeadLetterStore { dir })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends the letters and syncs them to disk before returning, so a checkpoint moved
    /// afterwards never skips a rejected record.
    pub fn append(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError> {
        if letters.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!(
            "{}.ndjson",
            chrono::Utc::now().date_naive().format("%Y-%m-%d")
        ));
        let io_err = |source| DeadLetterError::Io {
            path: path.clone(),
            source,
        };
        let mut buffer = Vec::with_capacity(letters.len() * 256);
        for letter in letters {
            // A DeadLetter is plain data with string keys; serializing it cannot fail.
            serde_json::to_writer(&mut buffer, letter).expect("dead letter serializes");
            buffer.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err)?;
        file.write_all(&buffer).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        Ok(())
    }

    /// Deletes the files of the UTC days that ended before `horizon` (retention). Returns the
    /// files deleted.
    pub fn prune(
        &self,
        horizon: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PathBuf>, DeadLetterError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| DeadLetterError::Io { path, source }
        };
        let mut deleted = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let path = entry.map_err(io_err(&self.dir))?.path();
            let Some(day) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ndjson"))
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            let Some(end) = day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)) else {
                continue;
            };
            if end.and_utc() <= horizon {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                deleted.push(path);
            }
        }
        deleted.sort();
        Ok(deleted)
    }

    /// Reads every stored letter, oldest file first.
    pub fn read_all(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|source| DeadLetterError::Io {
                path: self.dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
            .collect();
        files.sort();
        let mut letters = Vec::new();
        for path in files {
            let file = File::open(&path).map_err(|source| DeadLetterError::Io {
                path: path.clone(),
                source,
            })?;
            for (n, line) in BufReader::new(file).lines().enumerate() {
                let line = line.map_err(|source| DeadLetterError::Io {
                    path: path.clone(),
                    source,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let letter =
                    serde_json::from_str(&line).map_err(|source| DeadLetterError::Corrupt {
                        path: path.clone(),
                        line: n + 1,
                        source,
                    })?;
                letters.push(letter);
            }
        }
        Ok(letters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_letters_read_back_with_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeadLetterStore::open(dir.path().join("dl")).unwrap();
        let letter = DeadLetter {
            source: "/x.log".into(),
            line: Some(7),
            offset: Some(99),
            error: "line 7: bad".into(),
            raw: vec![b'{', 0xff],
            received: chrono::Utc::now(),
        };
        store.append(std::slice::from_ref(&letter)).unwrap();
        store.append(std::slice::from_ref(&letter)).unwrap();
        let back = store.read_all().unwrap();
        assert_eq!(back, vec![letter.clone(), letter]);
    }

    #[test]
    fn prune_deletes_the_files_of_days_ended_before_the_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeadLetterStore::open(dir.path()).unwrap();
        for name in [
            "2024-01-01.ndjson",
            "2024-01-02.ndjson",
            "2024-01-03.ndjson",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let horizon = chrono::DateTime::parse_from_rfc3339("2024-01-03T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let deleted = store.prune(horizon).unwrap();
        assert_eq!(
            deleted,
            [
                dir.path().join("2024-01-01.ndjson"),
                dir.path().join("2024-01-02.ndjson")
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["2024-01-03.ndjson", "notes.txt"]);
    }
}
