//! The most recent event ids stored through the bulk API, so that a `create` sent again (a
//! retried batch) is answered `409` as Elasticsearch would. Bounded: the oldest ids are
//! forgotten first; an id forgotten is still stored once, the indexer dropping the copy.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// A bounded set of event ids, oldest forgotten first.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// A set remembering at most `capacity` ids (none when `0`).
    pub fn new(capacity: usize) -> RecentIds {
        RecentIds {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether `id` was stored recently.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().ids.contains(id)
    }

    /// Remembers `ids`, forgetting the oldest past the capacity.
    pub fn insert_all<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        for id in ids {
            if inner.ids.insert(id.to_owned()) {
                inner.order.push_back(id.to_owned());
            }
        }
        while inner.order.len() > self.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.ids.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the sets consistent (each step is one
        // insertion or removal), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_ids_are_forgotten_first() {
        let recent = RecentIds::new(2);
        recent.insert_all(["a", "b", "a"]);
        assert!(recent.contains("a") && recent.contains("b"));
        recent.insert_all(["c"]);
        assert!(!recent.contains("a"));
        assert!(recent.contains("b") && recent.contains("c"));
        let none = RecentIds::new(0);
        none.insert_all(["a"]);
        assert!(!none.contains("a"));
    }
}
