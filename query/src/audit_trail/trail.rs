//! The queue of audit events and its background writer.
//!
//! [`AuditTrail::record`] never blocks: events go into a bounded channel, and when it is full
//! the event is dropped and counted (`kestrel_audit_events_dropped_total`). A background
//! thread writes them in batches to an [`AuditSink`]: the bus when the process has one, else
//! the `kestrel_audit` partitions of the index directly ([`IndexSink`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use kestrel_event::Event;
use kestrel_indexer::{Indexer, IndexerOptions};

use super::AuditEvent;

/// Events written per batch at most.
const BATCH: usize = 512;
/// How long the oldest event of a batch waits for more before the batch is written.
const LINGER: Duration = Duration::from_millis(200);

/// Where audit events are written. Called from the trail's own thread: may block.
pub trait AuditSink: Send + 'static {
    /// Writes a batch durably.
    fn write(&mut self, events: &[Event]) -> Result<(), String>;
}

/// Writes audit events into the `kestrel_audit` partitions under an index root with its own
/// Tantivy writer, committing each batch: the path of processes without a bus. The writer is
/// opened for each batch and closed after its commit, so that several processes (the API
/// server, CLI queries) take turns on a partition's writer lock; a busy lock is waited for.
pub struct IndexSink {
    root: PathBuf,
}

/// How long a batch waits for a partition's writer lock held by another process.
const LOCK_WAIT: Duration = Duration::from_secs(10);

impl IndexSink {
    /// A sink into the index root `root`.
    pub fn new(root: impl Into<PathBuf>) -> IndexSink {
        IndexSink { root: root.into() }
    }

    fn write_once(&self, events: &[Event]) -> Result<(), kestrel_indexer::IndexError> {
        let options = IndexerOptions {
            writer_memory_bytes: 15_000_000,
            max_open_partitions: 2,
            writer_threads: 1,
            classifier: None,
        };
        let mut indexer = Indexer::open(&self.root, options)?;
        for event in events {
            indexer.add(event)?;
        }
        indexer.commit()?;
        Ok(())
    }
}

impl AuditSink for IndexSink {
    fn write(&mut self, events: &[Event]) -> Result<(), String> {
        let started = Instant::now();
        loop {
            match self.write_once(events) {
                Ok(()) => return Ok(()),
                // Events already added before a failure are recognized by id on the retry.
                Err(error) if started.elapsed() < LOCK_WAIT => {
                    tracing::debug!(%error, "audit trail partition busy, retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => return Err(error.to_string()),
            }
        }
    }
}

enum Command {
    Record(Box<Event>),
    /// Answered once everything queued before it is written.
    Flush(mpsc::Sender<()>),
}

/// The audit trail of a process. Cheap to clone; the writer stops when every clone is gone.
#[derive(Clone)]
pub struct AuditTrail {
    queue: SyncSender<Command>,
    dropped: Arc<AtomicU64>,
}

impl AuditTrail {
    /// Starts the background writer into `sink`, queueing at most `capacity` events.
    pub fn start(sink: impl AuditSink, capacity: usize) -> AuditTrail {
        let (queue, commands) = mpsc::sync_channel(capacity.max(1));
        std::thread::Builder::new()
            .name("audit-trail".into())
            .spawn(move || write_loop(sink, commands))
            // Spawning fails only when the system is out of threads at start-up.
            .expect("spawn the audit trail writer");
        AuditTrail {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues `event`, timed now. Never blocks: when the queue is full it is dropped and
    /// counted.
    pub fn record(&self, event: AuditEvent) {
        let stored = Box::new(event.to_event(Utc::now()));
        match self.queue.try_send(Command::Record(stored)) {
            Ok(()) => metrics::counter!("kestrel_audit_events_total").increment(1),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("kestrel_audit_events_dropped_total").increment(1);
                tracing::warn!(action = %event.action, "audit trail queue full: event dropped");
            }
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every event recorded before the call is written (at shutdown, and in
    /// tests). Blocking.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.queue.send(Command::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

fn write_loop(mut sink: impl AuditSink, commands: mpsc::Receiver<Command>) {
    let mut batch: Vec<Event> = Vec::new();
    let mut waiting: Vec<mpsc::Sender<()>> = Vec::new();
    // When the oldest event of the batch must be written, however busy the queue is.
    let mut due = Instant::now();
    loop {
        let command = if batch.is_empty() && waiting.is_empty() {
            let command = commands.recv();
            due = Instant::now() + LINGER;
            match command {
                Ok(command) => Some(command),
                Err(_) => return,
            }
        } else {
            let left = due.saturating_duration_since(Instant::now());
            match commands.recv_timeout(left) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    write(&mut sink, &mut batch);
                    return;
                }
            }
        };
        let flush_now = match command {
            Some(Command::Record(event)) => {
                batch.push(*event);
                batch.len() >= BATCH || Instant::now() >= due
            }
            Some(Command::Flush(done)) => {
                waiting.push(done);
                true
            }
            None => true,
        };
        if flush_now {
            write(&mut sink, &mut batch);
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

fn write(sink: &mut impl AuditSink, batch: &mut Vec<Event>) {
    if batch.is_empty() {
        return;
    }
    if let Err(error) = sink.write(batch) {
        metrics::counter!("kestrel_audit_write_errors_total").increment(1);
        tracing::error!(%error, events = batch.len(), "audit trail write failed");
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Counts the events of each batch written.
    struct Batches(Arc<Mutex<Vec<usize>>>);

    impl AuditSink for Batches {
        fn write(&mut self, events: &[Event]) -> Result<(), String> {
            self.0.lock().unwrap().push(events.len());
            Ok(())
        }
    }

    #[test]
    fn a_steady_trickle_is_written_within_the_linger_time() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let trail = AuditTrail::start(Batches(Arc::clone(&written)), 100);
        // One event every 50 ms, closer together than the linger time, for a second.
        for _ in 0..20 {
            trail.record(AuditEvent::new("request"));
            std::thread::sleep(Duration::from_millis(50));
        }
        let before_flush: usize = written.lock().unwrap().iter().sum();
        assert!(before_flush >= 10, "only {before_flush} of 20 written");
        trail.flush();
        assert_eq!(written.lock().unwrap().iter().sum::<usize>(), 20);
        assert_eq!(trail.dropped(), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        struct Stuck;
        impl AuditSink for Stuck {
            fn write(&mut self, _: &[Event]) -> Result<(), String> {
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            }
        }
        let trail = AuditTrail::start(Stuck, 4);
        let started = std::time::Instant::now();
        for _ in 0..600 {
            trail.record(AuditEvent::new("request"));
        }
        assert!(started.elapsed() < Duration::from_secs(1), "record blocked");
        assert!(trail.dropped() > 0);
    }
}
