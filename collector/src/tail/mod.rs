//! A polling tailer: finds files by glob patterns, follows each by its content's fingerprint
//! (not its path), reads what it gains through its open handle, normalizes it, publishes it,
//! and moves its checkpoint only once the bus has acknowledged the events read before it.
//!
//! - Rotation by rename: the renamed file keeps its fingerprint and is read to its end, through
//!   the handle already open, even once it has left the globs or been deleted.
//! - `copytruncate`: the truncated file is new content; the copy carries the old fingerprint
//!   and resumes at the old position.
//! - Compressed rotation (`--audit-log-compress`): a `.gz` file with the fingerprint of a file
//!   not read to its end resumes at the same (decompressed) offset.
//! - Inode reuse: a new file on a reused inode has another first line, so another identity.
//!
//! On restart, every file resumes from its checkpoint: lines published but not acknowledged
//! before a crash are read again, and the indexer drops the copies by event id (ids come from
//! the path where the file was first seen, kept through renames, and the byte offset).

pub mod fingerprint;
mod reader;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kestrel_bus::{Acknowledgement, DeadLetterStore, Publisher};
use kestrel_event::Event;
use tokio::sync::mpsc;

use crate::checkpoint::{Checkpoints, FilePosition};
use crate::error::CollectError;
use crate::feed::{feed_lines, LineCursor};
use crate::normalize::{
    detect_format, normalizer_with_options, Format, NormalizeOptions, Normalizer, Output,
    SourceContext, DETECT_HEAD_BYTES,
};
use fingerprint::{is_compressed, read_head, Fingerprint};
use reader::FileReader;

const READ_CHUNK_BYTES: u64 = 256 << 10;

/// How long a file that discovery no longer finds (renamed out of the globs, deleted) is kept
/// open after it stopped growing, for a writer that still holds it.
const LINGER: Duration = Duration::from_secs(5);

/// Longest time a new file waits before it is read, for an enricher that is about to learn
/// about its container (see [`crate::enrich::Enricher::expects`]).
pub const ENRICHMENT_WAIT: Duration = Duration::from_secs(2);

/// How often the positions of idle files are written again, so that they are not forgotten
/// (see [`crate::checkpoint::FORGET_AFTER_SECONDS`]).
const REFRESH_IDLE: Duration = Duration::from_secs(3600);

/// One group of files to tail.
#[derive(Debug, Clone)]
pub struct TailSource {
    /// Glob patterns of the files.
    pub patterns: Vec<String>,
    /// Glob patterns of files to skip.
    pub exclude: Vec<glob::Pattern>,
    /// Their format (`Auto` detects per file).
    pub format: Format,
    /// Start files never seen before at their end instead of their beginning.
    pub start_at_end: bool,
    /// Multi-line grouping of container lines (stack traces), if any.
    pub first_line: Option<crate::normalize::FirstLine>,
}

/// Settings of the tailer.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// The files to tail.
    pub sources: Vec<TailSource>,
    /// How often files are looked for and read.
    pub poll_interval: Duration,
    /// Events per published batch.
    pub batch_max_events: usize,
    /// `host.name` of the events.
    pub host_name: String,
    /// The checkpoint file.
    pub checkpoint_path: PathBuf,
    /// How long a record waiting for its continuation (or a last line waiting for its
    /// newline) may wait before it is emitted as it is.
    pub partial_flush_timeout: Duration,
    /// Largest event message; longer records are cut into pieces flagged `partial`.
    pub max_event_bytes: usize,
    /// Metadata added to every event before it is published.
    pub enrichers: crate::enrich::Enrichers,
    /// Files found by something other than the sources' globs (the Docker API's `LogPath`s),
    /// read as that source says.
    pub discovered: Option<DiscoveredSource>,
}

/// Glob patterns added and removed while the tailer runs, by a watcher of an API that knows
/// where log files are (the Docker API's `LogPath`s). Every round of discovery also looks
/// for the files they match.
#[derive(Debug, Default)]
pub struct DiscoveredPaths {
    patterns: std::sync::RwLock<std::collections::BTreeMap<String, String>>,
}

impl DiscoveredPaths {
    /// Adds (or replaces) the pattern known by `key` (a container id).
    pub fn insert(&self, key: &str, pattern: String) {
        self.write().insert(key.to_owned(), pattern);
    }

    /// Removes the pattern known by `key`.
    pub fn remove(&self, key: &str) {
        self.write().remove(key);
    }

    /// Keeps only the patterns whose key `keep` accepts.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.write().retain(|key, _| keep(key));
    }

    /// The current patterns.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, std::collections::BTreeMap<String, String>> {
        self.patterns
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Files found by a watcher rather than by configured globs.
#[derive(Debug, Clone)]
pub struct DiscoveredSource {
    /// The patterns, kept up to date by the watcher.
    pub paths: Arc<DiscoveredPaths>,
    /// How to read them (its `patterns` are not used).
    pub source: TailSource,
}

/// Counters of the tailer.
#[derive(Debug, Default)]
pub struct TailStats {
    /// Files currently followed.
    pub files: std::sync::atomic::AtomicU64,
    /// Bytes read.
    pub bytes: std::sync::atomic::AtomicU64,
    /// Events published.
    pub events: std::sync::atomic::AtomicU64,
    /// Records sent to the dead-letter store.
    pub dead_letters: std::sync::atomic::AtomicU64,
}

struct TailedFile {
    /// Where the file is now.
    path: String,
    /// Where it was first seen (its events' `log.file.path` and id source).
    origin: String,
    /// Device and inode of the open handle (plain files).
    device: u64,
    inode: u64,
    reader: FileReader,
    cursor: LineCursor,
    normalizer: Box<dyn Normalizer>,
    /// Starts of the lines pushed since the last safe point, to find the line number of the
    /// normalizer's pending offset.
    line_starts: VecDeque<LineCursor>,
    last_growth: Instant,
    /// When discovery last found the file.
    last_seen: Instant,
    /// When its position was last sent to the checkpointer.
    last_checkpoint: Instant,
    /// Most bytes read in one round (grows while a single line is longer).
    chunk_limit: u64,
}

/// What one read of one file produced, with the checkpoint it allows once acknowledged.
struct Unit {
    key: Fingerprint,
    position: FilePosition,
    events: Vec<Event>,
}

/// Runs the tailer until `stop` is set; then returns after the checkpoints of everything
/// acknowledged are persisted.
pub async fn run_tailer(
    options: TailOptions,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    stop: Arc<AtomicBool>,
    stats: Arc<TailStats>,
) -> Result<(), CollectError> {
    let checkpoints = Checkpoints::load(&options.checkpoint_path)?;
    let resume = checkpoints.clone();
    let (ack_tx, ack_rx) = mpsc::channel(64);
    let persisted = Arc::new(AtomicU64::new(0));
    let checkpointer = tokio::spawn(run_checkpointer(
        checkpoints,
        ack_rx,
        Arc::clone(&persisted),
    ));
    let reader = tokio::task::spawn_blocking(move || {
        let mut tailer = Tailer {
            options,
            files: HashMap::new(),
            detached: HashMap::new(),
            finished: HashSet::new(),
            resume,
            publisher,
            dead_letters,
            ack_tx,
            stats,
            buffer: Vec::new(),
            sequence: 0,
            unpersisted: VecDeque::new(),
            persisted,
            backlog: false,
            held: HashMap::new(),
        };
        tailer.run(&stop)
    });
    let read_result = reader
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
    let checkpoint_result = checkpointer
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
    // A checkpointer that failed stops the reader too ("checkpointer stopped"): its own error
    // is the one that explains.
    match (read_result, checkpoint_result) {
        (_, Err(checkpoint_error)) => Err(checkpoint_error),
        (read_result, Ok(())) => read_result,
    }
}

/// A published batch: the checkpoints it allows once acknowledged.
struct Published {
    /// Its number, in publication order.
    sequence: u64,
    acknowledgement: Acknowledgement,
    positions: Vec<(Fingerprint, FilePosition)>,
}

/// Persists checkpoints in publication order, each after its batch is acknowledged; stores
/// in `persisted` the number of the last batch whose checkpoints are on disk.
async fn run_checkpointer(
    mut checkpoints: Checkpoints,
    mut batches: mpsc::Receiver<Published>,
    persisted: Arc<AtomicU64>,
) -> Result<(), CollectError> {
    while let Some(first) = batches.recv().await {
        let mut last = first.sequence;
        first.acknowledgement.wait().await?;
        for (key, position) in first.positions {
            checkpoints.set(&key.to_hex(), position);
        }
        // Acknowledgements arrive in bursts at each index commit: fold in those already
        // acknowledged before writing once.
        while let Ok(next) = batches.try_recv() {
            next.acknowledgement.wait().await?;
            last = next.sequence;
            for (key, position) in next.positions {
                checkpoints.set(&key.to_hex(), position);
            }
        }
        checkpoints.forget_older_than(unix_now() - crate::checkpoint::FORGET_AFTER_SECONDS);
        checkpoints =
            tokio::task::spawn_blocking(move || checkpoints.persist().map(|()| checkpoints))
                .await
                .map_err(|e| CollectError::Task(e.to_string()))??;
        persisted.store(last, Ordering::Release);
    }
    Ok(())
}

struct Tailer {
    options: TailOptions,
    files: HashMap<Fingerprint, TailedFile>,
    /// Positions of files whose content left their inode (truncated in place), kept so that
    /// the copy resumes exactly where reading stopped.
    detached: HashMap<Fingerprint, FilePosition>,
    /// Compressed files read to their end (device, inode): not opened again.
    finished: HashSet<(u64, u64)>,
    resume: Checkpoints,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    ack_tx: mpsc::Sender<Published>,
    stats: Arc<TailStats>,
    buffer: Vec<u8>,
    /// Number of the last batch published.
    sequence: u64,
    /// Batches carrying checkpoints not yet on disk, with when they were published.
    unpersisted: VecDeque<(u64, Instant)>,
    /// Number of the last batch whose checkpoints are on disk.
    persisted: Arc<AtomicU64>,
    /// A read of this round filled its chunk: more is waiting.
    backlog: bool,
    /// New files waiting for an enricher, and since when.
    held: HashMap<String, Instant>,
}

impl Tailer {
    /// Looks for files every poll interval; reads rounds back to back while a file has more
    /// than a chunk waiting, else sleeps until the next poll.
    fn run(&mut self, stop: &AtomicBool) -> Result<(), CollectError> {
        let mut last_discovery: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if last_discovery.is_none_or(|at| at.elapsed() >= self.options.poll_interval) {
                self.find_files();
                last_discovery = Some(started);
            }
            let backlog = self.read_round()?;
            let elapsed = started.elapsed();
            if !backlog && elapsed < self.options.poll_interval {
                std::thread::sleep(self.options.poll_interval - elapsed);
            }
        }
        Ok(())
    }

    /// Discovers files, notes renames and truncations, identifies new files.
    fn find_files(&mut self) {
        let unknown = self.match_followed(self.discover());
        let mut held = HashMap::new();
        let now = Instant::now();
        for (path, source) in unknown {
            if let Some(since) = self.hold(&path, now) {
                held.insert(path, since);
                continue;
            }
            if let Err(error) = self.identify(&path, &source) {
                tracing::warn!(path, %error, "cannot open file, will retry");
            }
        }
        self.held = held;
    }

    /// Reads each followed file's new bytes, publishes them, retires files gone and read to
    /// their end. Returns whether a file has more waiting than one read took.
    fn read_round(&mut self) -> Result<bool, CollectError> {
        self.backlog = false;
        let mut keys: Vec<Fingerprint> = self.files.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            match self.read_file(key) {
                Ok(Some(unit)) => self.publish(unit)?,
                Ok(None) => {}
                Err(CollectError::Io { path, source }) => {
                    tracing::warn!(path = %path.display(), error = %source, "cannot read file, will retry");
                }
                Err(other) => return Err(other),
            }
            self.retire_if_done(key);
        }
        self.stats
            .files
            .store(self.files.len() as u64, Ordering::Relaxed);
        metrics::gauge!("kestrel_collector_files_watched").set(self.files.len() as f64);
        metrics::gauge!("kestrel_collector_checkpoint_age_seconds")
            .set(self.checkpoint_age().as_secs_f64());
        Ok(self.backlog)
    }

    /// How long the oldest read data has waited for its checkpoint to reach the disk (zero
    /// when every checkpoint is written).
    fn checkpoint_age(&mut self) -> Duration {
        let persisted = self.persisted.load(Ordering::Acquire);
        while self
            .unpersisted
            .front()
            .is_some_and(|(sequence, _)| *sequence <= persisted)
        {
            self.unpersisted.pop_front();
        }
        self.unpersisted
            .front()
            .map_or(Duration::ZERO, |(_, published)| published.elapsed())
    }

    fn discover(&self) -> Vec<(String, TailSource)> {
        let mut found = Vec::new();
        let discovered = self.options.discovered.as_ref().map(|d| {
            let mut source = d.source.clone();
            source.patterns = d.paths.patterns();
            source
        });
        // The configured sources first: a file both match is read as its source says.
        for source in self.options.sources.iter().chain(discovered.as_ref()) {
            for pattern in &source.patterns {
                let Ok(paths) = glob::glob(pattern) else {
                    continue;
                };
                for path in paths.flatten() {
                    if !path.is_file() || source.exclude.iter().any(|p| p.matches_path(&path)) {
                        continue;
                    }
                    let Ok(absolute) = std::path::absolute(&path) else {
                        continue;
                    };
                    found.push((absolute.to_string_lossy().into_owned(), source.clone()));
                }
            }
        }
        // A stable sort keeps the first source of each path first, and dedup keeps it.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.dedup_by(|a, b| a.0 == b.0);
        found
    }

    /// When a file not followed yet waits for an enricher that is about to learn about its
    /// container: since when it waits (`None`: read it now).
    fn hold(&self, path: &str, now: Instant) -> Option<Instant> {
        let since = self.held.get(path).copied().unwrap_or(now);
        let waiting = now.saturating_duration_since(since) < ENRICHMENT_WAIT
            && self.options.enrichers.iter().any(|e| e.expects(path));
        waiting.then_some(since)
    }

    /// Marks the followed files discovery found again (noting renames) and detaches those
    /// truncated in place; returns the paths of files not followed yet.
    fn match_followed(&mut self, found: Vec<(String, TailSource)>) -> Vec<(String, TailSource)> {
        let by_inode: HashMap<(u64, u64), Fingerprint> = self
            .files
            .iter()
            .filter(|(_, f)| matches!(f.reader, FileReader::Plain(_)))
            .map(|(key, f)| ((f.device, f.inode), *key))
            .collect();
        let now = Instant::now();
        let mut unknown = Vec::new();
        for (path, source) in found {
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue;
            };
            let inode = (metadata.dev(), metadata.ino());
            if self.finished.contains(&inode) {
                continue;
            }
            let Some(key) = by_inode.get(&inode).copied() else {
                unknown.push((path, source));
                continue;
            };
            let Some(tailed) = self.files.get_mut(&key) else {
                continue;
            };
            if metadata.len() < tailed.cursor.offset || !still_holds(&tailed.reader, key) {
                tracing::info!(
                    path,
                    "file truncated in place, its copy resumes its position"
                );
                self.detach(key);
                unknown.push((path, source));
                continue;
            }
            tailed.last_seen = now;
            if tailed.path != path {
                tracing::info!(from = %tailed.path, to = %path, "file renamed, still followed");
                tailed.path = path;
            }
        }
        unknown
    }

    /// Stops following a file whose content left its inode, keeping its safe position for a
    /// copy of the content.
    fn detach(&mut self, key: Fingerprint) {
        let Some(mut tailed) = self.files.remove(&key) else {
            return;
        };
        let position = position_of(&mut tailed);
        self.detached.insert(key, position);
    }

    /// Opens a file not followed yet, fingerprints it and follows it: from its checkpoint when
    /// its content was read before (under this or another name), else from its start (or end).
    fn identify(&mut self, path: &str, source: &TailSource) -> std::io::Result<()> {
        let compressed = is_compressed(Path::new(path));
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        let (device, inode, size) = (metadata.dev(), metadata.ino(), metadata.len());
        let head = read_head(&file, compressed)?;
        let Some(key) = Fingerprint::of_head(&head) else {
            // Empty, or its first line is not complete yet: look again next round.
            return Ok(());
        };
        if let Some(followed) = self.files.get(&key) {
            tracing::debug!(path, followed = %followed.path, "same content as a followed file, skipped");
            return Ok(());
        }
        let format = match source.format {
            Format::Auto => {
                let detect_head = match compressed {
                    true => head,
                    false => {
                        let mut head = Vec::with_capacity(4096);
                        reader::from_start(&file)?
                            .take(DETECT_HEAD_BYTES as u64)
                            .read_to_end(&mut head)?;
                        head
                    }
                };
                match detect_format(Path::new(path), &detect_head) {
                    Some(format) => format,
                    // Unrecognizable yet: look again next round.
                    None => return Ok(()),
                }
            }
            format => format,
        };
        let known = self
            .detached
            .remove(&key)
            .or_else(|| self.resume.get(&key.to_hex()).cloned())
            .filter(|p| compressed || p.offset <= size);
        let (origin, cursor) = match known {
            Some(position) => (
                position.origin,
                LineCursor {
                    offset: position.offset,
                    line: position.line,
                },
            ),
            None if source.start_at_end && !compressed => {
                (path.to_owned(), end_cursor(&file, size)?)
            }
            None => (path.to_owned(), LineCursor::START),
        };
        tracing::info!(
            path,
            origin,
            format = format.as_str(),
            offset = cursor.offset,
            fingerprint = %key.to_hex(),
            "following file"
        );
        let context = SourceContext {
            path: origin.clone(),
            content_id: Some(format!("fingerprint:{}", key.to_hex())),
            host_name: self.options.host_name.clone(),
            ingested: chrono::Utc::now(),
        };
        let now = Instant::now();
        self.files.insert(
            key,
            TailedFile {
                path: path.to_owned(),
                origin,
                device,
                inode,
                reader: FileReader::new(file, compressed)?,
                cursor,
                normalizer: normalizer_with_options(
                    format,
                    context,
                    NormalizeOptions {
                        max_record_bytes: self.options.max_event_bytes,
                        first_line: source.first_line.clone(),
                    },
                ),
                line_starts: VecDeque::new(),
                last_growth: now,
                last_seen: now,
                last_checkpoint: now,
                chunk_limit: READ_CHUNK_BYTES,
            },
        );
        Ok(())
    }

    /// Reads what the file gained since the last round. `None` when nothing changed.
    fn read_file(&mut self, key: Fingerprint) -> Result<Option<Unit>, CollectError> {
        let Some(tailed) = self.files.get_mut(&key) else {
            return Ok(None);
        };
        let path = tailed.path.clone();
        let io_err = |source| CollectError::Io {
            path: PathBuf::from(&path),
            source,
        };
        let mut outputs = Vec::new();
        let previous = tailed.cursor;
        let size = tailed
            .reader
            .read_at(tailed.cursor.offset, tailed.chunk_limit, &mut self.buffer)
            .map_err(io_err)?;
        // Checked after the read: if the file still starts with the content it was identified
        // by, the bytes just read are that content's (truncation cannot be undone). Otherwise
        // they may be a new content's, written after a truncation: drop them and let the next
        // discovery sort the files out.
        if !self.buffer.is_empty() && !still_holds(&tailed.reader, key) {
            tracing::info!(
                path,
                "file truncated in place, its copy resumes its position"
            );
            self.detach(key);
            return Ok(None);
        }
        // A compressed file read to its end is complete: its last line needs no newline.
        let complete = tailed.reader.finished();
        if self.buffer.len() as u64 == tailed.chunk_limit {
            self.backlog = true;
        }
        if !self.buffer.is_empty() {
            let chunk = &self.buffer;
            let stale = tailed.last_growth.elapsed() >= self.options.partial_flush_timeout;
            let line_starts = &mut tailed.line_starts;
            tailed.cursor = feed_lines(
                tailed.normalizer.as_mut(),
                chunk,
                tailed.cursor,
                complete,
                &mut outputs,
                |start| line_starts.push_back(start),
            );
            if tailed.cursor == previous && stale {
                // A last line without its newline for too long: take it as it is.
                tailed.cursor = feed_lines(
                    tailed.normalizer.as_mut(),
                    chunk,
                    tailed.cursor,
                    true,
                    &mut outputs,
                    |start| line_starts.push_back(start),
                );
            }
            if tailed.cursor != previous {
                tailed.last_growth = Instant::now();
                tailed.chunk_limit = READ_CHUNK_BYTES;
            } else if chunk.len() as u64 == tailed.chunk_limit {
                // One line longer than the chunk: read more next round.
                tailed.chunk_limit = tailed.chunk_limit.saturating_mul(2);
            }
            let (bytes, lines) = (
                tailed.cursor.offset - previous.offset,
                tailed.cursor.line - previous.line,
            );
            self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
            metrics::counter!("kestrel_collector_bytes_total").increment(bytes);
            metrics::counter!("kestrel_collector_lines_total").increment(lines);
        }
        if let Some(size) = size {
            metrics::gauge!("kestrel_collector_lag_bytes", "path" => tailed.origin.clone())
                .set(size.saturating_sub(tailed.cursor.offset) as f64);
        }
        let flush_due = complete
            || tailed.last_growth.elapsed() >= self.options.partial_flush_timeout
            || tailed.last_seen.elapsed() >= LINGER;
        if tailed.normalizer.pending_offset().is_some() && flush_due {
            tailed.normalizer.flush(&mut outputs);
        }
        let idle_refresh = tailed.last_checkpoint.elapsed() >= REFRESH_IDLE;
        if tailed.cursor == previous && outputs.is_empty() && !idle_refresh {
            return Ok(None);
        }
        tailed.last_checkpoint = Instant::now();
        let position = position_of(tailed);
        let mut events = Vec::new();
        let mut letters = Vec::new();
        for output in outputs {
            match output {
                Output::Event(mut event) => {
                    crate::enrich::enrich_all(&self.options.enrichers, &mut event);
                    events.push(event);
                }
                Output::DeadLetter(letter) => {
                    tracing::warn!(source = %letter.source, line = letter.line, error = %letter.error, "record sent to dead-letter store");
                    letters.push(letter);
                }
            }
        }
        self.stats
            .dead_letters
            .fetch_add(letters.len() as u64, Ordering::Relaxed);
        if !letters.is_empty() {
            metrics::counter!("kestrel_collector_dead_letters_total", "source" => "files")
                .increment(letters.len() as u64);
        }
        self.dead_letters.append(&letters)?;
        Ok(Some(Unit {
            key,
            position,
            events,
        }))
    }

    /// Closes a file read to its end that is gone (or a compressed file fully read).
    fn retire_if_done(&mut self, key: Fingerprint) {
        let Some(tailed) = self.files.get(&key) else {
            return;
        };
        let drained = tailed.normalizer.pending_offset().is_none();
        let gone = tailed.last_seen.elapsed() >= LINGER && tailed.last_growth.elapsed() >= LINGER;
        if !(drained && (tailed.reader.finished() || gone)) {
            return;
        }
        if tailed.reader.finished() {
            self.finished.insert((tailed.device, tailed.inode));
        }
        // A copy of the content (the gzip file of its rotation) resumes from here, under the
        // same name.
        let Some(mut tailed) = self.files.remove(&key) else {
            return;
        };
        self.resume.set(&key.to_hex(), position_of(&mut tailed));
        tracing::info!(path = %tailed.path, offset = tailed.cursor.offset, "file read to its end, closed");
        metrics::gauge!("kestrel_collector_lag_bytes", "path" => tailed.origin.clone()).set(0.0);
    }

    fn publish(&mut self, unit: Unit) -> Result<(), CollectError> {
        let Unit {
            key,
            position,
            mut events,
        } = unit;
        let batch_max = self.options.batch_max_events.max(1);
        let count = events.len() as u64;
        // Earlier batches of this unit carry no checkpoint; the last one carries it, so the
        // checkpoint moves only when all of them are acknowledged.
        while events.len() > batch_max {
            let rest = events.split_off(batch_max);
            let acknowledgement = self.publisher.blocking_publish(events)?;
            self.send_ack(acknowledgement, Vec::new())?;
            events = rest;
        }
        let acknowledgement = self.publisher.blocking_publish(events)?;
        self.send_ack(acknowledgement, vec![(key, position)])?;
        self.stats.events.fetch_add(count, Ordering::Relaxed);
        Ok(())
    }

    fn send_ack(
        &mut self,
        acknowledgement: Acknowledgement,
        positions: Vec<(Fingerprint, FilePosition)>,
    ) -> Result<(), CollectError> {
        self.sequence += 1;
        if !positions.is_empty() {
            self.unpersisted.push_back((self.sequence, Instant::now()));
        }
        self.ack_tx
            .blocking_send(Published {
                sequence: self.sequence,
                acknowledgement,
                positions,
            })
            .map_err(|_| CollectError::Task("checkpointer stopped".into()))
    }
}

/// Whether a followed plain file still starts with the content it was identified by (a file
/// truncated and written again past the old offset between two rounds does not).
fn still_holds(reader: &FileReader, key: Fingerprint) -> bool {
    let FileReader::Plain(file) = reader else {
        return true;
    };
    read_head(file, false).is_ok_and(|head| Fingerprint::of_head(&head) == Some(key))
}

/// The checkpoint a file's safe point allows.
fn position_of(tailed: &mut TailedFile) -> FilePosition {
    let safe = safe_point(tailed);
    FilePosition {
        path: tailed.path.clone(),
        origin: tailed.origin.clone(),
        offset: safe.offset,
        line: safe.line,
        updated: unix_now(),
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The first position whose records are not all emitted: the start of the normalizer's
/// pending record if any, else the read cursor.
fn safe_point(tailed: &mut TailedFile) -> LineCursor {
    match tailed.normalizer.pending_offset() {
        Some(pending) => {
            while tailed
                .line_starts
                .front()
                .is_some_and(|start| start.offset < pending)
            {
                tailed.line_starts.pop_front();
            }
            tailed
                .line_starts
                .front()
                .copied()
                .filter(|start| start.offset == pending)
                .unwrap_or(tailed.cursor)
        }
        None => {
            tailed.line_starts.clear();
            tailed.cursor
        }
    }
}

/// The cursor at the end of a file: its size and the number of lines before it.
fn end_cursor(file: &File, size: u64) -> std::io::Result<LineCursor> {
    use std::os::unix::fs::FileExt;
    let mut lines = 1u64;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut remaining = size;
    while remaining > 0 {
        let want = remaining.min(buffer.len() as u64) as usize;
        let n = file.read_at(&mut buffer[..want], size - remaining)?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buffer[..n]).count() as u64;
        remaining -= n as u64;
    }
    Ok(LineCursor {
        offset: size,
        line: lines,
    })
}
