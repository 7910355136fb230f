//! A polling tailer: finds files by glob patterns, reads what they gain, normalizes it,
//! publishes it, and moves each file's checkpoint only once the bus has acknowledged the events
//! read before it.
//!
//! On restart, every file resumes from its checkpoint: lines published but not acknowledged
//! before a crash are read again, and the indexer drops the copies by event id.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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
    SourceContext,
};

const READ_CHUNK_BYTES: u64 = 1 << 20;

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
    device: u64,
    inode: u64,
    cursor: LineCursor,
    normalizer: Box<dyn Normalizer>,
    /// Starts of the lines pushed since the last safe point, to find the line number of the
    /// normalizer's pending offset.
    line_starts: VecDeque<LineCursor>,
    last_growth: Instant,
    /// Most bytes read in one round (grows while a single line is longer).
    chunk_limit: u64,
}

/// What one read of one file produced, with the checkpoint it allows once acknowledged.
struct Unit {
    path: String,
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
    let checkpointer = tokio::spawn(run_checkpointer(checkpoints, ack_rx));
    let reader = tokio::task::spawn_blocking(move || {
        let mut tailer = Tailer {
            options,
            files: HashMap::new(),
            resume,
            publisher,
            dead_letters,
            ack_tx,
            stats,
        };
        tailer.run(&stop)
    });
    let read_result = reader
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
    let checkpoint_result = checkpointer
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
    read_result.and(checkpoint_result)
}

/// Persists checkpoints in publication order, each after its batch is acknowledged.
async fn run_checkpointer(
    mut checkpoints: Checkpoints,
    mut acks: mpsc::Receiver<(Acknowledgement, Vec<(String, FilePosition)>)>,
) -> Result<(), CollectError> {
    while let Some((acknowledgement, positions)) = acks.recv().await {
        acknowledgement.wait().await?;
        for (path, position) in positions {
            checkpoints.set(&path, position);
        }
        // Acknowledgements arrive in bursts at each index commit: fold in those already
        // acknowledged before writing once.
        while let Ok((next, positions)) = acks.try_recv() {
            next.wait().await?;
            for (path, position) in positions {
                checkpoints.set(&path, position);
            }
        }
        checkpoints =
            tokio::task::spawn_blocking(move || checkpoints.persist().map(|()| checkpoints))
                .await
                .map_err(|e| CollectError::Task(e.to_string()))??;
    }
    Ok(())
}

struct Tailer {
    options: TailOptions,
    files: HashMap<String, TailedFile>,
    resume: Checkpoints,
    publisher: Publisher,
    dead_letters: DeadLetterStore,
    ack_tx: mpsc::Sender<(Acknowledgement, Vec<(String, FilePosition)>)>,
    stats: Arc<TailStats>,
}

impl Tailer {
    fn run(&mut self, stop: &AtomicBool) -> Result<(), CollectError> {
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            self.poll()?;
            let elapsed = started.elapsed();
            if elapsed < self.options.poll_interval {
                std::thread::sleep(self.options.poll_interval - elapsed);
            }
        }
        Ok(())
    }

    /// One round: discover files, read each one's new bytes, publish.
    fn poll(&mut self) -> Result<(), CollectError> {
        for (path, source) in self.discover() {
            let unit = match self.read_file(&path, &source) {
                Ok(unit) => unit,
                Err(CollectError::Io { path, source }) => {
                    tracing::warn!(path = %path.display(), error = %source, "cannot read file, will retry");
                    continue;
                }
                Err(other) => return Err(other),
            };
            if let Some(unit) = unit {
                self.publish(unit)?;
            }
        }
        self.stats
            .files
            .store(self.files.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn discover(&self) -> Vec<(String, TailSource)> {
        let mut found = Vec::new();
        for source in &self.options.sources {
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
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.dedup_by(|a, b| a.0 == b.0);
        found
    }

    /// Reads what the file gained since the last round. `None` when nothing changed.
    fn read_file(&mut self, path: &str, source: &TailSource) -> Result<Option<Unit>, CollectError> {
        let io_err = |source| CollectError::Io {
            path: PathBuf::from(path),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let metadata = file.metadata().map_err(io_err)?;
        let (device, inode, size) = (metadata.dev(), metadata.ino(), metadata.len());
        let replaced = self
            .files
            .get(path)
            .is_some_and(|f| f.device != device || f.inode != inode || size < f.cursor.offset);
        if replaced {
            tracing::info!(
                path,
                "file replaced or truncated, reading it from the start"
            );
            self.files.remove(path);
        }
        if !self.files.contains_key(path) {
            let Some(tailed) = self.start_file(path, source, &mut file, device, inode, size)?
            else {
                return Ok(None);
            };
            self.files.insert(path.to_owned(), tailed);
        }
        // Inserted just above when missing.
        let tailed = self.files.get_mut(path).expect("file is tracked");
        let mut outputs = Vec::new();
        let previous = tailed.cursor;
        if size > tailed.cursor.offset {
            let length = (size - tailed.cursor.offset).min(tailed.chunk_limit);
            let mut chunk = Vec::with_capacity(length as usize);
            file.seek(SeekFrom::Start(tailed.cursor.offset))
                .map_err(io_err)?;
            (&mut file)
                .take(length)
                .read_to_end(&mut chunk)
                .map_err(io_err)?;
            let stale = tailed.last_growth.elapsed() >= self.options.partial_flush_timeout;
            let line_starts = &mut tailed.line_starts;
            tailed.cursor = feed_lines(
                tailed.normalizer.as_mut(),
                &chunk,
                tailed.cursor,
                false,
                &mut outputs,
                |start| line_starts.push_back(start),
            );
            if tailed.cursor == previous && stale {
                // A last line without its newline for too long: take it as it is.
                tailed.cursor = feed_lines(
                    tailed.normalizer.as_mut(),
                    &chunk,
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
            self.stats
                .bytes
                .fetch_add(tailed.cursor.offset - previous.offset, Ordering::Relaxed);
        }
        if tailed.normalizer.pending_offset().is_some()
            && tailed.last_growth.elapsed() >= self.options.partial_flush_timeout
        {
            tailed.normalizer.flush(&mut outputs);
        }
        if tailed.cursor == previous && outputs.is_empty() {
            return Ok(None);
        }
        let safe = safe_point(tailed);
        let position = FilePosition {
            device,
            inode,
            offset: safe.offset,
            line: safe.line,
        };
        let mut events = Vec::new();
        let mut letters = Vec::new();
        for output in outputs {
            match output {
                Output::Event(event) => events.push(event),
                Output::DeadLetter(letter) => {
                    tracing::warn!(source = %letter.source, line = letter.line, error = %letter.error, "record sent to dead-letter store");
                    letters.push(letter);
                }
            }
        }
        self.stats
            .dead_letters
            .fetch_add(letters.len() as u64, Ordering::Relaxed);
        self.dead_letters.append(&letters)?;
        Ok(Some(Unit {
            path: path.to_owned(),
            position,
            events,
        }))
    }

    fn start_file(
        &mut self,
        path: &str,
        source: &TailSource,
        file: &mut File,
        device: u64,
        inode: u64,
        size: u64,
    ) -> Result<Option<TailedFile>, CollectError> {
        let io_err = |source| CollectError::Io {
            path: PathBuf::from(path),
            source,
        };
        let format = match source.format {
            Format::Auto => {
                let mut head = Vec::with_capacity(4096);
                file.by_ref()
                    .take(4096)
                    .read_to_end(&mut head)
                    .map_err(io_err)?;
                match detect_format(std::path::Path::new(path), &head) {
                    Some(format) => format,
                    // Empty or unrecognizable yet: look again next round.
                    None => return Ok(None),
                }
            }
            format => format,
        };
        let cursor = match self.resume.get(path) {
            Some(p) if p.device == device && p.inode == inode && p.offset <= size => LineCursor {
                offset: p.offset,
                line: p.line,
            },
            _ if source.start_at_end => end_cursor(file, size).map_err(io_err)?,
            _ => LineCursor::START,
        };
        tracing::info!(
            path,
            format = format.as_str(),
            offset = cursor.offset,
            "following file"
        );
        let context = SourceContext {
            path: path.to_owned(),
            host_name: self.options.host_name.clone(),
            ingested: chrono::Utc::now(),
        };
        Ok(Some(TailedFile {
            device,
            inode,
            cursor,
            normalizer: normalizer_with_options(
                format,
                context,
                NormalizeOptions {
                    max_record_bytes: self.options.max_event_bytes,
                    ..NormalizeOptions::default()
                },
            ),
            line_starts: VecDeque::new(),
            last_growth: Instant::now(),
            chunk_limit: READ_CHUNK_BYTES,
        }))
    }

    fn publish(&mut self, unit: Unit) -> Result<(), CollectError> {
        let Unit {
            path,
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
        self.send_ack(acknowledgement, vec![(path, position)])?;
        self.stats.events.fetch_add(count, Ordering::Relaxed);
        Ok(())
    }

    fn send_ack(
        &self,
        acknowledgement: Acknowledgement,
        positions: Vec<(String, FilePosition)>,
    ) -> Result<(), CollectError> {
        self.ack_tx
            .blocking_send((acknowledgement, positions))
            .map_err(|_| CollectError::Task("checkpointer stopped".into()))
    }
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
fn end_cursor(file: &mut File, size: u64) -> std::io::Result<LineCursor> {
    file.seek(SeekFrom::Start(0))?;
    let mut lines = 1u64;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut remaining = size;
    while remaining > 0 {
        let want = remaining.min(buffer.len() as u64) as usize;
        let n = file.read(&mut buffer[..want])?;
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
