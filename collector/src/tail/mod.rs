//! The tailer: finds files by glob patterns (polling, and woken by inotify the moment a file
//! appears), follows each by its content's fingerprint (not its path), reads what it gains
//! through its open handle, normalizes it, publishes it, and moves its checkpoint only once
//! the bus has acknowledged the events read before it.
//!
//! - A new file is opened as soon as it appears, before it has a line to fingerprint, so that
//!   one created, filled and rotated away within a poll interval (Docker's `max-size`
//!   rotation at high rates) is still read through its handle.
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
mod watch;

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
use watch::{DirWatcher, Found, OpenedFile};

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
    /// Start the files present when the tailer starts, never seen before, at their end
    /// instead of their beginning (files that appear later are read whole).
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
    /// Secrets replaced before events are published and dead letters stored.
    pub redaction: crate::redact::Redaction,
}

/// Glob patterns added and removed while the tailer runs, by a watcher of an API that knows
/// where log files are (the Docker API's `LogPath`s). Every round of discovery also looks
/// for the files they match.
#[derive(Debug, Default)]
pub struct DiscoveredPaths {
    patterns: std::sync::RwLock<std::collections::BTreeMap<String, String>>,
    /// Changes at every update (lets a reader keep what it derived from the patterns).
    generation: AtomicU64,
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

    /// A number that changes whenever the patterns may have.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, std::collections::BTreeMap<String, String>> {
        self.generation.fetch_add(1, Ordering::AcqRel);
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
    /// Size and modification time when discovery last checked its content (checked again
    /// only when they change).
    checked: (u64, i64),
    /// `kestrel_collector_lag_bytes` of this file.
    lag: metrics::Gauge,
}

/// A file found but not followed yet, held open (so that it can be read even once it is
/// rotated away or deleted) until its first line is complete, its format shows, and no
/// enricher waits to learn about it.
struct WaitingFile {
    path: String,
    source: TailSource,
    file: File,
    compressed: bool,
    /// When it was found.
    since: Instant,
    /// When discovery (or inotify) last found it.
    last_seen: Instant,
    /// Found by the first discovery: there before the tailer started.
    at_start: bool,
}

/// Device and inode of a file.
type FileId = (u64, u64);

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
        let watcher = DirWatcher::start(source_matcher(&options), watch::MAX_UNTAKEN);
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
            outputs: Vec::new(),
            sequence: 0,
            unpersisted: VecDeque::new(),
            persisted,
            backlog: false,
            waiting: HashMap::new(),
            watcher,
            started: false,
            unreadable: HashSet::new(),
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
    /// The normalizers' outputs of one read, reused from read to read.
    outputs: Vec<Output>,
    /// Number of the last batch published.
    sequence: u64,
    /// Batches carrying checkpoints not yet on disk, with when they were published.
    unpersisted: VecDeque<(u64, Instant)>,
    /// Number of the last batch whose checkpoints are on disk.
    persisted: Arc<AtomicU64>,
    /// A read of this round filled its chunk: more is waiting.
    backlog: bool,
    /// Files found but not followed yet.
    waiting: HashMap<FileId, WaitingFile>,
    /// Wakes the tailer when files appear.
    watcher: DirWatcher,
    /// The first discovery is done: files found from now on appeared while the tailer ran.
    started: bool,
    /// Paths the patterns could not be matched under (permission denied...), reported once.
    unreadable: HashSet<PathBuf>,
}

impl Tailer {
    /// Looks for files every poll interval, and at once when inotify reports one; reads
    /// rounds back to back while a file has more than a chunk waiting, else waits for the
    /// next poll or the next new file.
    fn run(&mut self, stop: &AtomicBool) -> Result<(), CollectError> {
        let mut last_discovery: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if last_discovery.is_none_or(|at| at.elapsed() >= self.options.poll_interval) {
                self.find_files();
                last_discovery = Some(started);
            }
            let backlog = self.read_round()?;
            let wait = match backlog {
                true => Duration::ZERO,
                false => self.options.poll_interval.saturating_sub(started.elapsed()),
            };
            let mut found = Vec::new();
            self.watcher.wait(wait, &mut found);
            for found in found {
                match found {
                    Found::Opened(opened) => self.take_opened(opened),
                    Found::Rescan => last_discovery = None,
                }
            }
        }
        Ok(())
    }

    /// Discovers files, watches their directories, notes renames and truncations, opens new
    /// files.
    fn find_files(&mut self) {
        let sources = self.sources();
        let mut directories = std::collections::BTreeSet::new();
        for pattern in sources.iter().flat_map(|s| &s.patterns) {
            watch::directories_of(pattern, &mut directories);
        }
        self.watcher.watch_only(&directories);
        metrics::gauge!("kestrel_collector_directories_watched").set(self.watcher.watched() as f64);
        let found = discover(&sources, &mut self.unreadable);
        let unknown = self.match_followed(found);
        self.open_new(unknown);
        self.started = true;
    }

    /// Keeps a file the watcher opened as it appeared, unless it is one already open.
    fn take_opened(&mut self, opened: OpenedFile) {
        let OpenedFile {
            path,
            source,
            id,
            file,
        } = opened;
        let followed = self
            .files
            .values()
            .any(|f| matches!(f.reader, FileReader::Plain(_)) && (f.device, f.inode) == id);
        if followed || self.finished.contains(&id) {
            return;
        }
        let path = path.to_string_lossy().into_owned();
        if self.seen_again(id, &path) {
            return;
        }
        if let Some(source) = self.source_at(source) {
            self.keep_open(id, path, source, file);
        }
    }

    /// Notes that a file kept open is still there, maybe under another name; `false` when it
    /// is not one kept open.
    fn seen_again(&mut self, id: FileId, path: &str) -> bool {
        let Some(waiting) = self.waiting.get_mut(&id) else {
            return false;
        };
        waiting.last_seen = Instant::now();
        if waiting.path != path {
            waiting.path = path.to_owned();
        }
        true
    }

    /// Keeps a new file open until it can be followed (see [`Tailer::identify_waiting`]).
    fn keep_open(&mut self, id: FileId, path: String, source: TailSource, file: File) {
        let now = Instant::now();
        let compressed = is_compressed(Path::new(&path));
        self.waiting.insert(
            id,
            WaitingFile {
                path,
                source,
                file,
                compressed,
                since: now,
                last_seen: now,
                at_start: !self.started,
            },
        );
    }

    /// The configured sources, then the files a watcher discovered (read as its source says).
    fn sources(&self) -> Vec<TailSource> {
        all_sources(&self.options.sources, self.options.discovered.as_ref())
    }

    /// The source at `index` of [`Tailer::sources`], cloned alone.
    fn source_at(&self, index: usize) -> Option<TailSource> {
        if let Some(configured) = self.options.sources.get(index) {
            return Some(configured.clone());
        }
        let discovered = self.options.discovered.as_ref()?;
        (index == self.options.sources.len()).then(|| discovered.source.clone())
    }

    /// Opens files not followed yet, so that they can be read whatever happens to their name,
    /// and notes where those already open are now.
    fn open_new(&mut self, unknown: Vec<(String, TailSource, FileId)>) {
        for (path, source, id) in unknown {
            if self.seen_again(id, &path) {
                continue;
            }
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) => {
                    tracing::warn!(path, %error, "cannot open file, will retry");
                    continue;
                }
            };
            // Checked on the handle: the name may already hold another file.
            let opened = file.metadata().map(|m| (m.dev(), m.ino()));
            if opened.as_ref().is_ok_and(|opened| *opened != id) {
                continue;
            }
            self.keep_open(id, path, source, file);
        }
    }

    /// Follows the open files whose first line is complete; forgets those that vanished
    /// before they had one.
    fn identify_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let now = Instant::now();
        let ids: Vec<FileId> = self.waiting.keys().copied().collect();
        for id in ids {
            let Some(waiting) = self.waiting.remove(&id) else {
                continue;
            };
            if self.held_for_enrichment(&waiting, now) {
                self.waiting.insert(id, waiting);
                continue;
            }
            let path = waiting.path.clone();
            match self.identify(waiting, id) {
                Ok(None) => {}
                // Still no complete first line long after it left the globs: given up.
                Ok(Some(waiting)) if now.saturating_duration_since(waiting.last_seen) >= LINGER => {
                    tracing::debug!(path, "file gone before its first line, forgotten");
                }
                Ok(Some(waiting)) => {
                    self.waiting.insert(id, waiting);
                }
                Err(error) => tracing::warn!(path, %error, "cannot read file, will retry"),
            }
        }
    }

    /// Reads each followed file's new bytes, publishes them, retires files gone and read to
    /// their end. Returns whether a file has more waiting than one read took.
    fn read_round(&mut self) -> Result<bool, CollectError> {
        self.identify_waiting();
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
        metrics::gauge!("kestrel_collector_files_waiting").set(self.waiting.len() as f64);
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

    /// Whether a file not followed yet waits for an enricher that is about to learn about
    /// its container.
    fn held_for_enrichment(&self, waiting: &WaitingFile, now: Instant) -> bool {
        now.saturating_duration_since(waiting.since) < ENRICHMENT_WAIT
            && self
                .options
                .enrichers
                .iter()
                .any(|e| e.expects(&waiting.path))
    }

    /// Marks the followed files discovery found again (noting renames) and detaches those
    /// truncated in place; returns the files not followed yet.
    fn match_followed(
        &mut self,
        found: Vec<(String, TailSource)>,
    ) -> Vec<(String, TailSource, FileId)> {
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
                unknown.push((path, source, inode));
                continue;
            };
            let Some(tailed) = self.files.get_mut(&key) else {
                continue;
            };
            // The head is read again only when the file changed since it was last checked.
            let state = (
                metadata.len(),
                metadata.mtime_nsec() + metadata.mtime() * 1_000_000_000,
            );
            let changed = std::mem::replace(&mut tailed.checked, state) != state;
            let truncated = metadata.len() < tailed.cursor.offset
                || (changed && !still_holds(&tailed.reader, key));
            if truncated {
                tracing::info!(
                    path,
                    "file truncated in place, its copy resumes its position"
                );
                self.detach(key);
                unknown.push((path, source, inode));
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

    /// Fingerprints an open file and follows it: from its checkpoint when its content was
    /// read before (under this or another name), else from its start (or end). Gives the file
    /// back when it must wait (its first line or format not complete yet, or its content
    /// already followed under another name).
    fn identify(
        &mut self,
        waiting: WaitingFile,
        (device, inode): FileId,
    ) -> std::io::Result<Option<WaitingFile>> {
        let compressed = waiting.compressed;
        let size = waiting.file.metadata()?.len();
        let head = read_head(&waiting.file, compressed)?;
        let Some(key) = Fingerprint::of_head(&head) else {
            // Empty, or its first line is not complete yet: look again next round.
            return Ok(Some(waiting));
        };
        if self.files.contains_key(&key) {
            // A copy of a followed file (`copytruncate`'s, before the truncation): it takes
            // over once the original is detached.
            return Ok(Some(waiting));
        }
        let (path, source, file) = (waiting.path.as_str(), &waiting.source, &waiting.file);
        let format = match source.format {
            Format::Auto => {
                let detect_head = match compressed {
                    true => head,
                    false => {
                        let mut head = Vec::with_capacity(4096);
                        reader::from_start(file)?
                            .take(DETECT_HEAD_BYTES as u64)
                            .read_to_end(&mut head)?;
                        head
                    }
                };
                match detect_format(Path::new(path), &detect_head) {
                    Some(format) => format,
                    // Unrecognizable yet: look again next round.
                    None => return Ok(Some(waiting)),
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
            None if source.start_at_end && waiting.at_start && !compressed => {
                (path.to_owned(), end_cursor(file, size)?)
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
        let lag = metrics::gauge!("kestrel_collector_lag_bytes", "path" => origin.clone());
        let WaitingFile {
            path, source, file, ..
        } = waiting;
        self.files.insert(
            key,
            TailedFile {
                path,
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
                checked: (0, 0),
                lag,
            },
        );
        // Counted from the moment it is followed, before its first lines are (the end of each
        // round sets it again).
        metrics::gauge!("kestrel_collector_files_watched").set(self.files.len() as f64);
        Ok(None)
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
        let mut outputs = std::mem::take(&mut self.outputs);
        outputs.clear();
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
            tailed
                .lag
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
            self.outputs = outputs;
            return Ok(None);
        }
        tailed.last_checkpoint = Instant::now();
        let position = position_of(tailed);
        let mut events = Vec::with_capacity(outputs.len());
        let mut letters = Vec::new();
        for output in outputs.drain(..) {
            match output {
                Output::Event(mut event) => {
                    crate::enrich::enrich_all(&self.options.enrichers, &mut event);
                    self.options
                        .redaction
                        .event(crate::redact::Source::Files, &mut event);
                    events.push(event);
                }
                Output::DeadLetter(letter) => {
                    tracing::warn!(source = %letter.source, line = letter.line, error = %letter.error, "record sent to dead-letter store");
                    letters.push(letter);
                }
            }
        }
        self.outputs = outputs;
        self.stats
            .dead_letters
            .fetch_add(letters.len() as u64, Ordering::Relaxed);
        if !letters.is_empty() {
            metrics::counter!("kestrel_collector_dead_letters_total", "source" => "files")
                .increment(letters.len() as u64);
        }
        self.options
            .redaction
            .dead_letters(crate::redact::Source::Files, &mut letters);
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
        tailed.lag.set(0.0);
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

/// The files the sources' patterns match now, each with the first source that matches it.
/// A directory that cannot be read (a collector without the permission to list node log
/// directories) is reported once, in `unreadable`: its files would otherwise go missing
/// without a word.
fn discover(
    sources: &[TailSource],
    unreadable: &mut HashSet<PathBuf>,
) -> Vec<(String, TailSource)> {
    let mut found = Vec::new();
    for source in sources {
        for pattern in &source.patterns {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for entry in paths {
                let path = match entry {
                    Ok(path) => path,
                    Err(error) => {
                        report_unreadable(&error, pattern, unreadable);
                        continue;
                    }
                };
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

/// Warns, once per path, that a directory under a source's patterns cannot be read.
fn report_unreadable(error: &glob::GlobError, pattern: &str, unreadable: &mut HashSet<PathBuf>) {
    if !unreadable.insert(error.path().to_owned()) {
        return;
    }
    tracing::warn!(
        path = %error.path().display(),
        error = %error.error(),
        pattern,
        "cannot read a directory the source's paths match under; its files are not collected"
    );
}

/// The configured sources, then the files a watcher discovered (read as its source says).
fn all_sources(
    configured: &[TailSource],
    discovered: Option<&DiscoveredSource>,
) -> Vec<TailSource> {
    let mut sources = configured.to_vec();
    if let Some(discovered) = discovered {
        let mut source = discovered.source.clone();
        source.patterns = discovered.paths.patterns();
        sources.push(source);
    }
    sources
}

/// Tells the watcher's thread which source (by index in [`all_sources`]) wants a new file.
fn source_matcher(options: &TailOptions) -> watch::SourceMatcher {
    let configured: Vec<SourcePatterns> = options.sources.iter().map(SourcePatterns::of).collect();
    let discovered = options.discovered.clone();
    let mut discovered_patterns: Option<(u64, SourcePatterns)> = None;
    Box::new(move |path| {
        if let Some(index) = configured.iter().position(|s| s.matches(path)) {
            return Some(index);
        }
        let discovered = discovered.as_ref()?;
        let generation = discovered.paths.generation();
        if discovered_patterns
            .as_ref()
            .is_none_or(|(g, _)| *g != generation)
        {
            let mut source = discovered.source.clone();
            source.patterns = discovered.paths.patterns();
            discovered_patterns = Some((generation, SourcePatterns::of(&source)));
        }
        let (_, patterns) = discovered_patterns.as_mut()?;
        patterns.matches(path).then_some(configured.len())
    })
}

/// A source's patterns, compiled.
struct SourcePatterns {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl SourcePatterns {
    fn of(source: &TailSource) -> SourcePatterns {
        SourcePatterns {
            include: source
                .patterns
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
            exclude: source.exclude.clone(),
        }
    }

    /// Whether `path` is one of the source's files: `*` does not cross `/`, as in discovery.
    fn matches(&self, path: &Path) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.include
            .iter()
            .any(|p| p.matches_path_with(path, options))
            && !self.exclude.iter().any(|p| p.matches_path(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(patterns: &[&str], exclude: &[&str]) -> TailSource {
        TailSource {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            exclude: exclude
                .iter()
                .map(|p| glob::Pattern::new(p).unwrap())
                .collect(),
            format: Format::Auto,
            start_at_end: false,
            first_line: None,
        }
    }

    fn options(sources: Vec<TailSource>, discovered: Option<DiscoveredSource>) -> TailOptions {
        TailOptions {
            sources,
            poll_interval: Duration::from_millis(250),
            batch_max_events: 100,
            host_name: "node".into(),
            checkpoint_path: PathBuf::from("unused"),
            partial_flush_timeout: Duration::from_secs(1),
            max_event_bytes: 1 << 20,
            enrichers: Default::default(),
            discovered,
            redaction: Default::default(),
        }
    }

    #[test]
    fn new_files_are_matched_as_discovery_would_find_them() {
        let paths = Arc::new(DiscoveredPaths::default());
        let discovered = DiscoveredSource {
            paths: Arc::clone(&paths),
            source: source(&[], &[]),
        };
        let mut matcher = source_matcher(&options(
            vec![
                source(&["/logs/*/*-json.log*"], &["/logs/skip/*"]),
                source(&["/pods/**/*.log"], &[]),
            ],
            Some(discovered),
        ));
        let mut source_of = |path: &str| matcher(Path::new(path));
        assert_eq!(source_of("/logs/c1/c1-json.log"), Some(0));
        assert_eq!(source_of("/logs/c1/c1-json.log.1"), Some(0));
        // `*` stays within one directory, as when globbing.
        assert_eq!(source_of("/logs/c1/deeper/c1-json.log"), None);
        assert_eq!(source_of("/logs/skip/s-json.log"), None);
        assert_eq!(source_of("/pods/ns_pod_uid/app/0.log"), Some(1));
        assert_eq!(source_of("/elsewhere/c2-json.log"), None);
        // Patterns a watcher adds later are seen at once.
        paths.insert("c2", "/elsewhere/c2-json.log*".into());
        assert_eq!(source_of("/elsewhere/c2-json.log"), Some(2));
        paths.remove("c2");
        assert_eq!(source_of("/elsewhere/c2-json.log"), None);
    }
}
