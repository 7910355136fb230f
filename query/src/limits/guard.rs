//! The limits of the request a thread is working for.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{LimitExceeded, QueryLimits};
use crate::SearchError;

thread_local! {
    static CURRENT: RefCell<Option<Arc<Guard>>> = const { RefCell::new(None) };
}

/// The limits of one request, and what went past them. Shared by every query the request
/// compiles (their scorers may run on other threads).
#[derive(Debug)]
pub struct Guard {
    limits: QueryLimits,
    started: Instant,
    expired: AtomicBool,
    exceeded: Mutex<Option<LimitExceeded>>,
}

impl Guard {
    /// The request's limits.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// When the request's time budget ends.
    pub fn deadline(&self) -> Instant {
        self.started + self.limits.request_timeout
    }

    /// Records that the time budget was spent (a scorer stopped matching).
    pub fn expire(&self) {
        self.expired.store(true, Ordering::Relaxed);
    }

    /// Whether the time budget was spent.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed) || Instant::now() > self.deadline()
    }

    /// Records a limit the request went past (the first one is kept).
    pub fn exceed(&self, limit: LimitExceeded) {
        // A poisoned lock only means another thread panicked while recording.
        let mut slot = self.exceeded.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(limit);
    }

    fn exceeded(&self) -> Option<LimitExceeded> {
        self.exceeded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The guard of the request this thread is working for, if any.
pub fn current() -> Option<Arc<Guard>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs `work` (blocking engine calls) under `limits`, its time budget starting now. A limit
/// recorded while it ran wins over its result, and so does a spent budget: what a cancelled
/// search found is incomplete and is dropped.
pub fn within<T, E: From<SearchError>>(
    limits: &QueryLimits,
    work: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let guard = Arc::new(Guard {
        limits: limits.clone(),
        started: Instant::now(),
        expired: AtomicBool::new(false),
        exceeded: Mutex::new(None),
    });
    let installed = Installed(CURRENT.with(|c| c.replace(Some(Arc::clone(&guard)))));
    let result = work();
    drop(installed);
    if let Some(limit) = guard.exceeded() {
        return Err(SearchError::Limit(limit).into());
    }
    if guard.expired() {
        return Err(SearchError::Timeout(limits.timeout()).into());
    }
    result
}

/// Puts back the previous guard when dropped, also when the work panics (blocking threads are
/// reused by other requests).
struct Installed(Option<Arc<Guard>>);

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}
