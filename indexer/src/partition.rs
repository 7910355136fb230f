//! Time partitions: one Tantivy index per event kind, UTC day and retention class.
//!
//! Layout: `<index root>/<event kind>/<YYYY-MM-DD>/` for the default class (events no
//! retention rule matched, Kestrel's own audit trail, and every partition written before
//! retention classes existed), and `<index root>/<event kind>/<YYYY-MM-DD>.keep-<N>d/` for
//! the class of events kept `N` days by a retention rule. A partition's lifetime is thus known
//! when it is created. Retention drops whole directories, and a search opens only the
//! partitions whose day overlaps its time range, whatever their class.
//!
//! Events that arrive for a day whose partition is already sealed (never written again) go to
//! a late partition next to it, `<YYYY-MM-DD>.1` (then `.2`, ... once that one is sealed in
//! turn; `<YYYY-MM-DD>.keep-<N>d.1` in a class): the same day, searched with it.
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
    /// The retention class its events were routed to at ingestion; `None` for the default
    /// class.
    pub class: Option<RetentionClass>,
    /// 0 for the day's partition, n for its n-th late partition (`<YYYY-MM-DD>.n`), which
    /// takes the events that arrive once the ones before are sealed.
    pub part: u16,
}

/// A retention class: events kept this many whole days after their day ends, whatever the
/// rules say later (a rule change applies to new partitions only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RetentionClass {
    /// Days the partition is kept after its day ends.
    pub keep_days: u32,
}

impl RetentionClass {
    /// The class of `keep`, rounded up to whole days (at least one).
    pub fn of_keep(keep: std::time::Duration) -> RetentionClass {
        let days = keep.as_secs().div_ceil(86_400).max(1);
        RetentionClass {
            keep_days: u32::try_from(days).unwrap_or(u32::MAX),
        }
    }

    /// How long partitions of the class are kept after their day ends.
    pub fn keep(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.keep_days) * 86_400)
    }

    /// The suffix of the partition directories of the class: `keep-400d`.
    pub fn label(self) -> String {
        format!("keep-{}d", self.keep_days)
    }

    fn parse(label: &str) -> Option<RetentionClass> {
        let days = label.strip_prefix("keep-")?.strip_suffix('d')?;
        if days.starts_with('0') || !days.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(RetentionClass {
            keep_days: days.parse().ok()?,
        })
    }
}

impl std::fmt::Display for RetentionClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
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
    /// The partition of an event, in the default class.
    pub fn of(kind: EventKind, ts: &Timestamp) -> PartitionKey {
        PartitionKey {
            day: ts.date_naive(),
            kind: kind.into(),
            class: None,
            part: 0,
        }
    }

    /// The same day's partition number `part`.
    pub fn with_part(self, part: u16) -> PartitionKey {
        PartitionKey { part, ..self }
    }

    /// The same partition in `class`.
    pub fn with_class(self, class: Option<RetentionClass>) -> PartitionKey {
        PartitionKey { class, ..self }
    }

    /// The partition's directory name under its kind: `2024-01-31`, `2024-01-31.keep-400d`,
    /// and `.n` after either for the n-th late partition.
    pub fn dir_name(&self) -> String {
        let mut name = self.day.format("%Y-%m-%d").to_string();
        if let Some(class) = self.class {
            name.push('.');
            name.push_str(&class.label());
        }
        if self.part != 0 {
            name.push_str(&format!(".{}", self.part));
        }
        name
    }

    /// The partition's directory under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(self.kind.as_str()).join(self.dir_name())
    }

    /// The partition's directory relative to its index tree, `<kind>/<dir name>`: how logs,
    /// records and manifests name the partition.
    pub fn relative(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.dir_name())
    }

    /// Reads a directory name made by [`PartitionKey::dir_name`].
    pub fn parse_dir_name(kind: PartitionKind, name: &str) -> Option<PartitionKey> {
        let mut pieces = name.split('.');
        let day = NaiveDate::parse_from_str(pieces.next()?, "%Y-%m-%d").ok()?;
        let mut key = PartitionKey {
            day,
            kind,
            class: None,
            part: 0,
        };
        let mut next = pieces.next();
        if let Some(label) = next.filter(|l| l.starts_with("keep-")) {
            key.class = Some(RetentionClass::parse(label)?);
            next = pieces.next();
        }
        if let Some(part) = next {
            if part.starts_with('0') || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            key.part = part.parse().ok()?;
        }
        pieces.next().is_none().then_some(key)
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
            let Some(key) = name
                .to_str()
                .and_then(|n| PartitionKey::parse_dir_name(kind, n))
            else {
                continue;
            };
            if day_entry.path().join("meta.json").exists() {
                keys.push(key);
            }
        }
    }
    keys.sort();
    Ok(keys)
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

/// The index trees under the index root `root`: the root itself, then each shard of
/// `root/shards/` (one per Kafka partition), sorted.
pub fn index_trees(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut shards = Vec::new();
    match std::fs::read_dir(root.join(SHARDS_DIR)) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    shards.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    shards.sort();
    let mut trees = vec![root.to_path_buf()];
    trees.extend(shards);
    Ok(trees)
}

/// Lists the partitions under `root` and under every shard of `root/shards/`, oldest first.
pub fn list_partition_dirs(root: &Path) -> std::io::Result<Vec<PartitionDir>> {
    let mut dirs = Vec::new();
    for shard_root in index_trees(root)? {
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
    fn a_class_is_in_the_directory_name_and_read_back() {
        let ts = parse_timestamp("2024-03-01T12:00:00Z").unwrap();
        let class = RetentionClass::of_keep(std::time::Duration::from_secs(400 * 86_400));
        let key = PartitionKey::of(EventKind::K8sAudit, &ts).with_class(Some(class));
        assert_eq!(
            key.dir(Path::new("/d")),
            PathBuf::from("/d/k8s_audit/2024-03-01.keep-400d")
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = PartitionKey::of(EventKind::K8sAudit, &ts);
        for k in [key, plain] {
            std::fs::create_dir_all(k.dir(dir.path())).unwrap();
            std::fs::write(k.dir(dir.path()).join("meta.json"), "{}").unwrap();
        }
        for junk in [
            "2024-03-01.keep-0d",
            "2024-03-01.keep-x",
            "2024-03-01.other",
        ] {
            let path = dir.path().join("k8s_audit").join(junk);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("meta.json"), "{}").unwrap();
        }
        assert_eq!(list_partitions(dir.path()).unwrap(), [plain, key]);
    }

    #[test]
    fn late_partitions_are_named_after_their_day_and_class() {
        let ts = parse_timestamp("2024-03-01T10:00:00Z").unwrap();
        let key = PartitionKey::of(EventKind::Container, &ts).with_part(2);
        assert_eq!(key.relative(), "container/2024-03-01.2");
        let class = RetentionClass::of_keep(std::time::Duration::from_secs(30 * 86_400));
        let classed = key.with_class(Some(class));
        assert_eq!(classed.relative(), "container/2024-03-01.keep-30d.2");
        let parse = |name| PartitionKey::parse_dir_name(PartitionKind::Container, name);
        assert_eq!(parse("2024-03-01.2"), Some(key));
        assert_eq!(parse("2024-03-01.keep-30d.2"), Some(classed));
        assert_eq!(parse("2024-03-01"), Some(key.with_part(0)));
        for junk in [
            "2024-03-01.0",
            "2024-03-01.x",
            "2024-03-01.2.keep-30d",
            "2024-03-01.2.3",
        ] {
            assert_eq!(parse(junk), None, "{junk}");
        }
        let dir = tempfile::tempdir().unwrap();
        for key in [key, key.with_part(0), classed] {
            std::fs::create_dir_all(key.dir(dir.path())).unwrap();
            std::fs::write(key.dir(dir.path()).join("meta.json"), "{}").unwrap();
        }
        assert_eq!(
            list_partitions(dir.path()).unwrap(),
            [key.with_part(0), key, classed]
        );
    }

    #[test]
    fn a_keep_is_rounded_up_to_whole_days() {
        let class = |secs| RetentionClass::of_keep(std::time::Duration::from_secs(secs));
        assert_eq!(class(86_400).keep_days, 1);
        assert_eq!(class(86_401).keep_days, 2);
        assert_eq!(class(1).keep_days, 1);
        assert_eq!(class(365 * 86_400).label(), "keep-365d");
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
