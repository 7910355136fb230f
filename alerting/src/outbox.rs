//! The outbox: one JSON file per pending delivery (written atomically), moved to `dead/` after
//! its last attempt, removed once delivered. A restart finds every delivery where it was.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AlertingError;

/// One alert on its way to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<alert id>-<destination>`: the idempotency key the receiver sees on every attempt.
    pub id: String,
    /// Destination name.
    pub destination: String,
    /// The alert.
    pub alert: Value,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (ms since the epoch).
    pub next_at_ms: i64,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The outbox directory: `pending/` and `dead/`.
#[derive(Debug, Clone)]
pub struct Outbox {
    pending: PathBuf,
    dead: PathBuf,
}

impl Outbox {
    /// Opens (creating) the outbox under `dir`.
    pub fn open(dir: &Path) -> Result<Outbox, AlertingError> {
        let outbox = Outbox {
            pending: dir.join("pending"),
            dead: dir.join("dead"),
        };
        for d in [&outbox.pending, &outbox.dead] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        Ok(outbox)
    }

    /// Queues `alert` for `destination`, due now; a delivery already queued (or dead) for the
    /// same alert and destination is left as it is. The update of a suppressed alert (same
    /// alert id, `suppressed` above zero) is a delivery of its own, `<alert id>-update-<destination>`.
    pub fn enqueue(
        &self,
        alert: &Value,
        destination: &str,
        now_ms: i64,
    ) -> Result<(), AlertingError> {
        let alert_id = alert["id"].as_str().unwrap_or_default();
        let id = if alert["suppressed"].as_u64().unwrap_or(0) > 0 {
            format!("{alert_id}-update-{destination}")
        } else {
            format!("{alert_id}-{destination}")
        };
        let name = file_name(&id);
        if self.pending.join(&name).exists() || self.dead.join(&name).exists() {
            return Ok(());
        }
        self.save(&Delivery {
            id,
            destination: destination.to_owned(),
            alert: alert.clone(),
            attempts: 0,
            next_at_ms: now_ms,
            last_error: None,
        })
    }

    /// Writes a pending delivery (atomically: temporary file, fsync, rename).
    pub fn save(&self, delivery: &Delivery) -> Result<(), AlertingError> {
        write_atomic(&self.pending.join(file_name(&delivery.id)), delivery)
    }

    /// Pending deliveries, oldest due first. Unreadable files are reported and skipped.
    pub fn pending(&self) -> Result<Vec<Delivery>, AlertingError> {
        let mut deliveries = read_all(&self.pending)?;
        deliveries.sort_by_key(|d| d.next_at_ms);
        Ok(deliveries)
    }

    /// The dead-letter list.
    pub fn dead(&self) -> Result<Vec<Delivery>, AlertingError> {
        read_all(&self.dead)
    }

    /// Removes a delivered delivery.
    pub fn delivered(&self, delivery: &Delivery) -> Result<(), AlertingError> {
        let path = self.pending.join(file_name(&delivery.id));
        std::fs::remove_file(&path).map_err(io(&path))
    }

    /// Moves a delivery to the dead-letter list.
    pub fn bury(&self, delivery: &Delivery) -> Result<(), AlertingError> {
        let name = file_name(&delivery.id);
        write_atomic(&self.dead.join(&name), delivery)?;
        let path = self.pending.join(&name);
        std::fs::remove_file(&path).map_err(io(&path))
    }

    /// Deletes the dead deliveries whose last attempt (when they were moved to `dead/`) is
    /// before `horizon` (retention); delivered ones are removed at once and pending ones are
    /// kept until delivered. Returns how many.
    pub fn prune_dead(&self, horizon: std::time::SystemTime) -> Result<usize, AlertingError> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dead).map_err(io(&self.dead))? {
            let path = entry.map_err(io(&self.dead))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map_err(io(&path))?;
            if modified < horizon {
                std::fs::remove_file(&path).map_err(io(&path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Moves dead deliveries (all, or the one with `id`) back to pending, due now with their
    /// attempts reset. Returns how many.
    pub fn redeliver(&self, id: Option<&str>, now_ms: i64) -> Result<usize, AlertingError> {
        let mut moved = 0;
        for mut delivery in self.dead()? {
            if id.is_some_and(|id| id != delivery.id) {
                continue;
            }
            delivery.attempts = 0;
            delivery.next_at_ms = now_ms;
            self.save(&delivery)?;
            let path = self.dead.join(file_name(&delivery.id));
            std::fs::remove_file(&path).map_err(io(&path))?;
            moved += 1;
        }
        Ok(moved)
    }
}

fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.json")
}

fn write_atomic(path: &Path, delivery: &Delivery) -> Result<(), AlertingError> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(delivery).map_err(|e| AlertingError::Outbox {
        path: path.to_owned(),
        source: e.into(),
    })?;
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(&bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn read_all(dir: &Path) -> Result<Vec<Delivery>, AlertingError> {
    let mut deliveries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        match std::fs::read(&path).map(|b| serde_json::from_slice::<Delivery>(&b)) {
            Ok(Ok(delivery)) => deliveries.push(delivery),
            Ok(Err(error)) => {
                tracing::warn!(path = %path.display(), %error, "unreadable delivery skipped")
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "unreadable delivery skipped")
            }
        }
    }
    Ok(deliveries)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AlertingError + '_ {
    move |source| AlertingError::Outbox {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deliveries_survive_reopening_and_move_between_lists() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let alert = json!({"id": "abc", "title": "t"});
        outbox.enqueue(&alert, "soc", 5).unwrap();
        outbox.enqueue(&alert, "soc", 6).unwrap();
        let reopened = Outbox::open(dir.path()).unwrap();
        let pending = reopened.pending().unwrap();
        assert_eq!(pending.len(), 1, "queued once");
        assert_eq!(pending[0].id, "abc-soc");
        reopened.bury(&pending[0]).unwrap();
        assert!(reopened.pending().unwrap().is_empty());
        assert_eq!(reopened.dead().unwrap().len(), 1);
        outbox.enqueue(&alert, "soc", 7).unwrap();
        assert!(
            reopened.pending().unwrap().is_empty(),
            "a dead delivery is not queued again"
        );
        assert_eq!(reopened.redeliver(None, 9).unwrap(), 1);
        let back = reopened.pending().unwrap();
        assert_eq!((back[0].attempts, back[0].next_at_ms), (0, 9));
        reopened.delivered(&back[0]).unwrap();
        assert!(reopened.pending().unwrap().is_empty());
    }

    #[test]
    fn the_update_of_a_suppressed_alert_is_a_delivery_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .enqueue(&json!({"id": "abc", "suppressed": 0}), "soc", 5)
            .unwrap();
        outbox
            .enqueue(&json!({"id": "abc", "suppressed": 4}), "soc", 6)
            .unwrap();
        let mut ids: Vec<String> = outbox
            .pending()
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["abc-soc", "abc-update-soc"]);
        let update = outbox
            .pending()
            .unwrap()
            .into_iter()
            .find(|d| d.id == "abc-update-soc")
            .unwrap();
        assert_eq!(update.alert["id"], "abc", "same alert id");
        assert_eq!(update.alert["suppressed"], 4);
    }

    #[test]
    fn prune_deletes_dead_deliveries_older_than_the_horizon_only() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for id in ["old", "new", "waiting"] {
            outbox.enqueue(&json!({"id": id}), "hook", 0).unwrap();
        }
        for d in outbox.pending().unwrap() {
            if d.id != "waiting-hook" {
                outbox.bury(&d).unwrap();
            }
        }
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        let old = std::fs::File::options()
            .write(true)
            .open(dir.path().join("dead").join("old-hook.json"))
            .unwrap();
        old.set_modified(now - 10 * day).unwrap();
        assert_eq!(outbox.prune_dead(now - 5 * day).unwrap(), 1);
        let dead: Vec<String> = outbox.dead().unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(dead, ["new-hook"]);
        assert_eq!(outbox.pending().unwrap().len(), 1);
    }
}
