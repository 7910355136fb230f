//! Time partitions: one Tantivy index per event kind and UTC day.
//!
//! Layout: `<index root>/<event kind>/<YYYY-MM-DD>/`. Retention drops whole directories, and a
//! search opens only the partitions whose day overlaps its time range.
//!
//! Events that arrive for a day whose partition is already sealed (never written again) go to
//! a late partition next to it, `<YYYY-MM-DD>.1` (then `.2`, ... once that one is sealed in
//! turn): the same day, searched with it.
//!
//! An indexer fed by Kafka writes one such tree per Kafka partition, a shard, under
//! `<index root>/shards/<topic>-<partition>/`, so that whoever owns the Kafka partition owns
//! its indexes (and the offsets recorded in their commits). Searches cover the root and every
//! shard ([`list_partition_dirs`]).

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use kestrel_event::{EventKind, Timestamp};

/// Identifies one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// The UTC day of the events' `@timestamp`.
    pub day: NaiveDate,
    /// The events' kind.
    pub kind: PartitionKind,
    /// 0 for the day's partition, n for its n-th late partition (`<YYYY-MM-DD>.n`), which
    /// takes the events that arrive once the ones before are sealed.
    pub part: u16,
}

/// The event kind of a partition, ordered for stable listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionKind {
    /// Container log events.
    Container,
    /// Kubernetes audit events.
    K8sAudit,
    /// Falco runtime alerts.
    Falco,
    /// Kestrel's own audit trail: never opened by the searches of collected events.
    KestrelAudit,
}

impl From<EventKind> for PartitionKind {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Container => PartitionKind::Container,
            EventKind::K8sAudit => PartitionKind::K8sAudit,
            EventKind::Falco => PartitionKind::Falco,
            EventKind::KestrelAudit => PartitionKind::KestrelAudit,
        }
    }
}

impl PartitionKind {
    /// Directory name, equal to `event.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionKind::Container => EventKind::Container.as_str(),
            PartitionKind::K8sAudit => EventKind::K8sAudit.as_str(),
            PartitionKind::Falco => EventKind::Falco.as_str(),
            PartitionKind::KestrelAudit => EventKind::KestrelAudit.as_str(),
        }
    }

    fn parse(name: &str) -> Option<PartitionKind> {
        [
            PartitionKind::Container,
            PartitionKind::K8sAudit,
            PartitionKind::Falco,
            PartitionKind::KestrelAudit,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl PartitionKey {
    /// The partition of an event.
    pub fn of(kind: EventKind, ts: &Timestamp) -> PartitionKey {
        PartitionKey {
            day: ts.date_naive(),
            kind: kind.into(),
            part: 0,
        }
    }

    /// The same day's partition number `part`.
    pub fn with_part(self, part: u16) -> PartitionKey {
        PartitionKey { part, ..self }
    }

    /// The partition's directory name: `YYYY-MM-DD`, or `YYYY-MM-DD.n` for a late one.
    pub fn dir_name(&self) -> String {
        match self.part {
            0 => self.day.format("%Y-%m-%d").to_string(),
            n => format!("{}.{n}", self.day.format("%Y-%m-%d")),
        }
    }

    /// The partition's directory relative to its index tree: `<kind>/<dir name>`.
    pub fn relative(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.dir_name())
    }

    /// The partition's directory under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(self.kind.as_str()).join(self.dir_name())
    }

    /// First instant of the partition's day.
    pub fn start(&self) -> Timestamp {
        Utc.from_utc_datetime(&self.day.and_time(NaiveTime::MIN))
    }

    /// First instant after the partition's day.
    pub fn end(&self) -> Timestamp {
        self.start() + chrono::Duration::days(1)
    }

    /// Whether any instant of the partition lies in `[from, to]` (open ends when `None`).
    pub fn overlaps(&self, from: Option<&Timestamp>, to: Option<&Timestamp>) -> bool {
        let after_from = from.is_none_or(|f| self.end() > *f);
        let before_to = to.is_none_or(|t| self.start() <= *t);
        after_from && before_to
    }
}

/// Lists the partitions present under `root`, oldest first. Entries that are not partition
/// directories are ignored.
pub fn list_partitions(root: &Path) -> std::io::Result<Vec<PartitionKey>> {
    let mut keys = Vec::new();
    let kinds = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(e),
    };
    for kind_entry in kinds {
        let kind_entry = kind_entry?;
        let Some(kind) = kind_entry
            .file_name()
            .to_str()
            .and_then(PartitionKind::parse)
        else {
            continue;
        };
        for day_entry in std::fs::read_dir(kind_entry.path())? {
            let day_entry = day_entry?;
            let name = day_entry.file_name();
            let Some((day, part)) = name.to_str().and_then(parse_dir_name) else {
                continue;
            };
            if day_entry.path().join("meta.json").exists() {
                keys.push(PartitionKey { day, kind, part });
            }
        }
    }
    keys.sort();
    Ok(keys)
}

/// The day and part of a partition directory's name (`2024-01-01`, `2024-01-01.2`).
pub(crate) fn parse_dir_name(name: &str) -> Option<(NaiveDate, u16)> {
    let (day, part) = match name.split_once('.') {
        Some((day, part)) if !part.starts_with('0') => (day, part.parse().ok()?),
        Some(_) => return None,
        None => (name, 0),
    };
    Some((NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?, part))
}

/// Directory under the index root that holds the shards of Kafka-fed indexers.
pub const SHARDS_DIR: &str = "shards";

/// One partition found on disk: its key and its directory (under the root or under a shard).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionDir {
    /// Which kind and day.
    pub key: PartitionKey,
    /// Its directory.
    pub dir: PathBuf,
}

/// Lists the partitions under `root` and under every shard of `root/shards/`, oldest first.
pub fn list_partition_dirs(root: &Path) -> std::io::Result<Vec<PartitionDir>> {
    let mut roots = vec![root.to_path_buf()];
    match std::fs::read_dir(root.join(SHARDS_DIR)) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    roots.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut dirs = Vec::new();
    for shard_root in roots {
        for key in list_partitions(&shard_root)? {
            dirs.push(PartitionDir {
                key,
                dir: key.dir(&shard_root),
            });
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_event::parse_timestamp;

    #[test]
    fn partition_of_an_event_is_its_utc_day() {
        let ts = parse_timestamp("2024-03-01T00:30:00+02:00").unwrap();
        let key = PartitionKey::of(EventKind::K8sAudit, &ts);
        assert_eq!(key.day.to_string(), "2024-02-29");
        assert_eq!(
            key.dir(Path::new("/d")),
            PathBuf::from("/d/k8s_audit/2024-02-29")
        );
    }

    #[test]
    fn late_partitions_are_named_after_their_day() {
        let ts = parse_timestamp("2024-03-01T10:00:00Z").unwrap();
        let key = PartitionKey::of(EventKind::Container, &ts).with_part(2);
        assert_eq!(key.relative(), "container/2024-03-01.2");
        assert_eq!(parse_dir_name("2024-03-01.2"), Some((key.day, 2)));
        assert_eq!(parse_dir_name("2024-03-01"), Some((key.day, 0)));
        assert_eq!(parse_dir_name("2024-03-01.0"), None);
        assert_eq!(parse_dir_name("2024-03-01.x"), None);
        let dir = tempfile::tempdir().unwrap();
        for key in [key, key.with_part(0)] {
            std::fs::create_dir_all(key.dir(dir.path())).unwrap();
            std::fs::write(key.dir(dir.path()).join("meta.json"), "{}").unwrap();
        }
        let parts: Vec<u16> = list_partitions(dir.path())
            .unwrap()
            .iter()
            .map(|k| k.part)
            .collect();
        assert_eq!(parts, [0, 2]);
    }

    #[test]
    fn overlap_respects_both_ends() {
        let key = PartitionKey::of(
            EventKind::Container,
            &parse_timestamp("2024-03-01T12:00:00Z").unwrap(),
        );
        let t = |s: &str| parse_timestamp(s).unwrap();
        assert!(key.overlaps(None, None));
        assert!(key.overlaps(Some(&t("2024-03-01T23:59:59Z")), None));
        assert!(!key.overlaps(Some(&t("2024-03-02T00:00:00Z")), None));
        assert!(key.overlaps(None, Some(&t("2024-03-01T00:00:00Z"))));
        assert!(!key.overlaps(None, Some(&t("2024-02-29T23:59:59Z"))));
    }
}
