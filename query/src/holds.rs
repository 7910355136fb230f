//! Legal holds: named queries over a time range whose matching events retention must keep.
//!
//! The holds live in `<data_dir>/holds/holds.json`. Every change is a read-modify-write under
//! an exclusive lock of `holds.lock`, written to a temporary file, synced and renamed over the
//! old one, so readers (the indexers' retention passes) see the old or the new file, never a
//! torn one. A released hold stays in the file with who released it, when and why; its name
//! is not reused.
//!
//! A partition is kept while any standing hold's range overlaps its day and the hold's query
//! matches at least one of its events whose `@timestamp` lies in the range ([`HoldSet::keeps`]).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kestrel_indexer::{IndexError, PartitionKey};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::language::{parse, parse_time, Query};
use crate::search::SearchEngine;

/// What can go wrong with holds.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// An argument is not acceptable.
    #[error("{argument}: {reason}")]
    BadArgument {
        /// The argument (`--query`).
        argument: &'static str,
        /// Why.
        reason: String,
    },
    /// A hold of that name exists (standing or released).
    #[error("--name: a hold named {0:?} exists already (names are never reused)")]
    DuplicateName(String),
    /// No hold of that name.
    #[error("no hold named {0:?}")]
    UnknownName(String),
    /// The hold was released before.
    #[error("hold {0:?} is released already")]
    AlreadyReleased(String),
    /// Reading, writing or locking a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The holds file is not what Kestrel writes.
    #[error("{}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl HoldError {
    /// Whether the caller's input is at fault (as opposed to the file system).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, HoldError::Io { .. } | HoldError::Corrupt { .. })
    }
}

/// One legal hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// Unique name.
    pub name: String,
    /// The events it keeps, in the query language.
    pub query: String,
    /// Start of the held range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the held range (inclusive).
    pub to: DateTime<Utc>,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Its release, once released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

/// The release of a hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Who released it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

impl Hold {
    /// Whether the hold still stands.
    pub fn is_standing(&self) -> bool {
        self.released.is_none()
    }
}

/// A hold to place, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHold {
    name: String,
    query: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reason: String,
}

impl NewHold {
    /// Checks the arguments of `kestrel hold create` (times as the query language writes
    /// them: RFC 3339, a date, or `now-30d` resolved at `now`).
    pub fn parse(
        name: &str,
        query: &str,
        from: &str,
        to: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<NewHold, HoldError> {
        let bad = |argument, reason: String| HoldError::BadArgument { argument, reason };
        check_name(name).map_err(|r| bad("--name", r))?;
        parse(query).map_err(|e| bad("--query", e.to_string()))?;
        let from_time = parse_time(from, now).map_err(|e| bad("--from", e.to_string()))?;
        let to_time = parse_time(to, now).map_err(|e| bad("--to", e.to_string()))?;
        if to_time < from_time {
            return Err(bad("--to", format!("{to} is before --from {from}")));
        }
        if reason.trim().is_empty() {
            return Err(bad("--reason", "must not be empty".into()));
        }
        Ok(NewHold {
            name: name.to_owned(),
            query: query.to_owned(),
            from: from_time,
            to: to_time,
            reason: reason.trim().to_owned(),
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => Err(format!(
            "invalid character {c:?} (allowed: letters, digits, '-', '_', '.')"
        )),
        None => Ok(()),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct HoldFile {
    holds: Vec<Hold>,
}

/// The holds of a data directory.
#[derive(Debug, Clone)]
pub struct HoldStore {
    dir: PathBuf,
}

impl HoldStore {
    /// The store of `data_dir` (`<data_dir>/holds/`).
    pub fn new(data_dir: &Path) -> HoldStore {
        HoldStore {
            dir: data_dir.join("holds"),
        }
    }

    /// The holds file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("holds.json")
    }

    /// Every hold, standing or released, in creation order.
    pub fn list(&self) -> Result<Vec<Hold>, HoldError> {
        Ok(read_file(&self.path())?.holds)
    }

    /// The standing holds.
    pub fn standing(&self) -> Result<Vec<Hold>, HoldError> {
        let mut holds = self.list()?;
        holds.retain(Hold::is_standing);
        Ok(holds)
    }

    /// Places `new` on behalf of `who`.
    pub fn create(&self, new: NewHold, who: &str, now: DateTime<Utc>) -> Result<Hold, HoldError> {
        self.update(|file| {
            if file.holds.iter().any(|h| h.name == new.name) {
                return Err(HoldError::DuplicateName(new.name.clone()));
            }
            let hold = Hold {
                name: new.name.clone(),
                query: new.query.clone(),
                from: new.from,
                to: new.to,
                reason: new.reason.clone(),
                created_by: who.to_owned(),
                created_at: now,
                released: None,
            };
            file.holds.push(hold.clone());
            Ok(hold)
        })
    }

    /// Releases the standing hold `name` on behalf of `who`, for `reason`.
    pub fn release(
        &self,
        name: &str,
        reason: &str,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<Hold, HoldError> {
        self.update(|file| {
            let hold = file
                .holds
                .iter_mut()
                .find(|h| h.name == name)
                .ok_or_else(|| HoldError::UnknownName(name.to_owned()))?;
            if !hold.is_standing() {
                return Err(HoldError::AlreadyReleased(name.to_owned()));
            }
            if reason.trim().is_empty() {
                return Err(HoldError::BadArgument {
                    argument: "--reason",
                    reason: "must not be empty".into(),
                });
            }
            hold.released = Some(Release {
                by: who.to_owned(),
                at: now,
                reason: reason.trim().to_owned(),
            });
            Ok(hold.clone())
        })
    }

    fn update<T>(
        &self,
        change: impl FnOnce(&mut HoldFile) -> Result<T, HoldError>,
    ) -> Result<T, HoldError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| HoldError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let lock_path = self.dir.join("holds.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        fs4::fs_std::FileExt::lock_exclusive(&lock).map_err(io(&lock_path))?;
        let path = self.path();
        let mut file = read_file(&path)?;
        let result = change(&mut file)?;
        write_atomically(&path, &file)?;
        // The lock is released when `lock` is dropped.
        Ok(result)
    }
}

fn read_file(path: &Path) -> Result<HoldFile, HoldError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| HoldError::Corrupt {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HoldFile::default()),
        Err(source) => Err(HoldError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Temporary file + fsync + rename + fsync of the directory.
fn write_atomically(path: &Path, file: &HoldFile) -> Result<(), HoldError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| HoldError::Io { path, source }
    };
    let temporary = path.with_extension("json.tmp");
    let mut bytes = serde_json::to_vec_pretty(file).map_err(|source| HoldError::Corrupt {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    let mut out = std::fs::File::create(&temporary).map_err(io(&temporary))?;
    out.write_all(&bytes).map_err(io(&temporary))?;
    out.sync_all().map_err(io(&temporary))?;
    drop(out);
    std::fs::rename(&temporary, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// The audit trail entry of a hold change (`hold_create`, `hold_release`): who, the hold's
/// name, query and range, and the reason given for the change.
pub fn hold_event(action: &str, hold: &Hold) -> crate::audit_trail::AuditEvent {
    let mut event = crate::audit_trail::AuditEvent::new(action);
    let (who, reason) = match &hold.released {
        Some(release) => (&release.by, &release.reason),
        None => (&hold.created_by, &hold.reason),
    };
    event.who = Some(who.clone());
    event.allowed = Some(true);
    event.hold = Some(hold.name.clone());
    event.query = Some(hold.query.clone());
    event.from = Some(hold.from.to_rfc3339());
    event.to = Some(hold.to.to_rfc3339());
    event.reason = Some(reason.clone());
    event
}

/// The standing holds, compiled to decide which partitions they keep.
pub struct HoldSet {
    holds: Vec<(Hold, Query)>,
    engine: Arc<SearchEngine>,
}

impl HoldSet {
    /// Compiles `holds` (released ones are left out). A hold whose query no longer parses
    /// keeps every partition its range overlaps: a hold errs on the side of keeping.
    pub fn new(holds: Vec<Hold>) -> HoldSet {
        let holds = holds
            .into_iter()
            .filter(Hold::is_standing)
            .map(|hold| {
                let query = parse(&hold.query).unwrap_or(Query::All);
                (hold, query)
            })
            .collect();
        HoldSet {
            holds,
            // Only its translation of queries is used, never its root.
            engine: SearchEngine::new(PathBuf::new()),
        }
    }

    /// The name of the first standing hold that keeps the partition `key` in `dir`: its range
    /// overlaps the partition's day and its query, as a search would run it, matches an event
    /// of the partition whose `@timestamp` lies in the range (found through the partition's
    /// index, without reading its events).
    pub fn keeps(&self, key: &PartitionKey, dir: &Path) -> Result<Option<String>, IndexError> {
        let overlapping: Vec<&(Hold, Query)> = self
            .holds
            .iter()
            .filter(|(hold, _)| key.overlaps(Some(&hold.from), Some(&hold.to)))
            .collect();
        if overlapping.is_empty() {
            return Ok(None);
        }
        let tantivy_err = |source| IndexError::Tantivy {
            path: dir.to_owned(),
            source,
        };
        let index = kestrel_indexer::open_index(dir, self.engine.schema(), false)?;
        let reader: tantivy::IndexReader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_err)?;
        let searcher = reader.searcher();
        for (hold, query) in overlapping {
            let compiled = self
                .engine
                .compile(query, Some(&hold.from), Some(&hold.to))
                .map_err(|e| IndexError::Io {
                    path: dir.to_owned(),
                    source: std::io::Error::other(format!("hold {}: {e}", hold.name)),
                })?;
            let found = searcher
                .search(&*compiled, &tantivy::collector::Count)
                .map_err(tantivy_err)?;
            if found > 0 {
                return Ok(Some(hold.name.clone()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        kestrel_event::parse_timestamp(s).unwrap()
    }

    #[test]
    fn holds_are_created_listed_and_released_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = HoldStore::new(dir.path());
        let now = t("2025-01-10T00:00:00Z");
        let new = NewHold::parse(
            "case-1",
            "kubernetes.namespace:payments",
            "2024-01-01",
            "now",
            "litigation 42",
            now,
        )
        .unwrap();
        let hold = store.create(new.clone(), "alice", now).unwrap();
        assert_eq!(hold.from, t("2024-01-01T00:00:00Z"));
        assert_eq!(hold.to, now);
        assert!(matches!(
            store.create(new, "bob", now),
            Err(HoldError::DuplicateName(_))
        ));
        assert_eq!(store.standing().unwrap(), std::slice::from_ref(&hold));
        let released = store.release("case-1", "case closed", "bob", now).unwrap();
        assert_eq!(released.released.as_ref().unwrap().by, "bob");
        assert!(store.standing().unwrap().is_empty());
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(matches!(
            store.release("case-1", "again", "bob", now),
            Err(HoldError::AlreadyReleased(_))
        ));
        assert!(matches!(
            store.release("case-2", "x", "bob", now),
            Err(HoldError::UnknownName(_))
        ));
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        let now = t("2025-01-10T00:00:00Z");
        let err = |name, query, from, to, reason| {
            NewHold::parse(name, query, from, to, reason, now)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("a b", "*", "2024-01-01", "now", "r").starts_with("--name: invalid character ' '")
        );
        assert!(err("a", "verb:(", "2024-01-01", "now", "r").starts_with("--query: "));
        assert!(err("a", "*", "yesterday-ish", "now", "r").starts_with("--from: "));
        assert_eq!(
            err("a", "*", "2024-02-01", "2024-01-01", "r"),
            "--to: 2024-01-01 is before --from 2024-02-01"
        );
        assert_eq!(
            err("a", "*", "2024-01-01", "now", " "),
            "--reason: must not be empty"
        );
    }
}
