//! The alert store: alerts appended as NDJSON under the data directory (a later line with the
//! same id, such as a suppression update, replaces the earlier one), listed newest first.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::Alert;

/// Appends alerts durably and lists them.
#[derive(Debug, Clone)]
pub struct AlertStore {
    path: PathBuf,
}

/// Filters of [`AlertStore::list`].
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this rule.
    pub rule_id: Option<String>,
    /// Only this level.
    pub level: Option<String>,
    /// Only alerts last seen at or after this time (RFC 3339, compared as text, which orders
    /// the stored nanosecond UTC form correctly).
    pub from: Option<String>,
    /// Only alerts first seen at or before this time.
    pub to: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl AlertStore {
    /// The store in `dir` (created when missing).
    pub fn open(dir: &Path) -> std::io::Result<AlertStore> {
        std::fs::create_dir_all(dir)?;
        Ok(AlertStore {
            path: dir.join("alerts.ndjson"),
        })
    }

    /// Appends alerts and syncs them to disk.
    pub fn append(&self, alerts: &[Alert]) -> std::io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(alerts.len() * 512);
        for alert in alerts {
            serde_json::to_writer(&mut buffer, alert)?;
            buffer.push(b'\n');
        }
        let _lock = self.lock()?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&buffer)?;
        file.sync_data()
    }

    /// The exclusive lock of `alerts.lock`, taken by appends and by [`AlertStore::prune`] so
    /// that a pruning rewrite never loses an append; released when dropped.
    fn lock(&self) -> std::io::Result<std::fs::File> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_file_name("alerts.lock"))?;
        fs4::fs_std::FileExt::lock_exclusive(&lock)?;
        Ok(lock)
    }

    /// Removes the alerts last seen before `horizon` (retention): the file is rewritten
    /// without them (temporary file, sync, rename) under the store's lock. Lines that do not
    /// parse are kept. Returns how many lines were removed.
    pub fn prune(&self, horizon: chrono::DateTime<chrono::Utc>) -> std::io::Result<usize> {
        let _lock = self.lock()?;
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let expired = |line: &str| {
            serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|a| {
                    let seen = a["last_seen"].as_str()?;
                    chrono::DateTime::parse_from_rfc3339(seen).ok()
                })
                .is_some_and(|seen| seen < horizon)
        };
        let mut kept = String::with_capacity(text.len());
        let mut removed = 0;
        for line in text.lines() {
            if expired(line) {
                removed += 1;
                continue;
            }
            kept.push_str(line);
            kept.push('\n');
        }
        if removed == 0 {
            return Ok(0);
        }
        let temporary = self.path.with_extension("ndjson.tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(kept.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &self.path)?;
        Ok(removed)
    }

    /// The stored alerts matching `filter`, newest (by `first_seen`) first; each id once, in
    /// its latest version. Lines that do not parse (a write cut by a crash) are skipped.
    pub fn list(&self, filter: &AlertFilter) -> std::io::Result<Vec<Value>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut latest: HashMap<String, Value> = HashMap::new();
        for line in text.lines() {
            let Ok(alert) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(id) = alert["id"].as_str() {
                latest.insert(id.to_owned(), alert);
            }
        }
        let field = |a: &Value, k: &str| a[k].as_str().unwrap_or_default().to_owned();
        let mut alerts: Vec<Value> = latest
            .into_values()
            .filter(|a| {
                filter
                    .rule_id
                    .as_ref()
                    .is_none_or(|r| field(a, "rule_id") == *r)
            })
            .filter(|a| {
                filter
                    .level
                    .as_ref()
                    .is_none_or(|l| field(a, "level") == *l)
            })
            .filter(|a| {
                filter
                    .from
                    .as_ref()
                    .is_none_or(|f| field(a, "last_seen") >= *f)
            })
            .filter(|a| {
                filter
                    .to
                    .as_ref()
                    .is_none_or(|t| field(a, "first_seen") <= *t)
            })
            .collect();
        alerts.sort_by(|a, b| {
            (field(b, "first_seen"), field(b, "id")).cmp(&(field(a, "first_seen"), field(a, "id")))
        });
        alerts.truncate(filter.limit.max(1));
        Ok(alerts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_removes_alerts_last_seen_before_the_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let store = AlertStore::open(dir.path()).unwrap();
        let lines = [
            r#"{"id":"a","first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-02T00:00:00Z"}"#,
            r#"{"id":"b","first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-03-01T00:00:00Z"}"#,
            "not json",
        ];
        std::fs::write(dir.path().join("alerts.ndjson"), lines.join("\n") + "\n").unwrap();
        let horizon = chrono::DateTime::parse_from_rfc3339("2024-02-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(store.prune(horizon).unwrap(), 1);
        assert_eq!(store.prune(horizon).unwrap(), 0);
        let ids: Vec<String> = store
            .list(&AlertFilter {
                limit: 10,
                ..AlertFilter::default()
            })
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["b"]);
        let text = std::fs::read_to_string(dir.path().join("alerts.ndjson")).unwrap();
        assert!(text.contains("not json"));
    }
}
