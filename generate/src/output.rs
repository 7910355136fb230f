//! Output files and the ground truth of attacks.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::text::Civil;
use crate::{FileKind, FileSummary, GenerateError, GroundTruth};

/// Buffer size of every output file.
const WRITE_BUFFER: usize = 1 << 20;

/// One output file being written.
#[derive(Debug)]
pub(crate) struct Sink {
    kind: FileKind,
    /// Path relative to the output directory, `/`-separated.
    relative: String,
    path: PathBuf,
    out: BufWriter<File>,
    lines: u64,
    bytes: u64,
    events: u64,
}

impl Sink {
    /// Creates `root/relative` (and its directories).
    pub fn create(root: &Path, relative: String, kind: FileKind) -> Result<Sink, GenerateError> {
        let path = root.join(&relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| GenerateError::io(dir, e))?;
        }
        let file = File::create(&path).map_err(|e| GenerateError::io(&path, e))?;
        Ok(Sink {
            kind,
            relative,
            path,
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            lines: 0,
            bytes: 0,
            events: 0,
        })
    }

    /// The file's path relative to the output directory.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// Writes one event made of `lines` whole lines (each ending with `'\n'`); returns the
    /// 1-based number of its first line.
    pub fn write(&mut self, bytes: &[u8], lines: u64) -> Result<u64, GenerateError> {
        let first = self.lines + 1;
        self.out
            .write_all(bytes)
            .map_err(|e| GenerateError::io(&self.path, e))?;
        self.lines += lines;
        self.bytes += bytes.len() as u64;
        self.events += 1;
        Ok(first)
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<FileSummary, GenerateError> {
        self.out
            .flush()
            .map_err(|e| GenerateError::io(&self.path, e))?;
        Ok(FileSummary {
            path: self.relative,
            kind: self.kind,
            events: self.events,
            lines: self.lines,
            bytes: self.bytes,
        })
    }
}

/// The attacks written so far.
#[derive(Debug, Default)]
pub(crate) struct Truth {
    pub entries: Vec<GroundTruth>,
    attacks: u64,
}

impl Truth {
    /// Starts a new attack; returns its id (1, 2, ...).
    pub fn start(&mut self) -> u64 {
        self.attacks += 1;
        self.attacks
    }

    /// How many attacks were started.
    pub fn attacks(&self) -> u64 {
        self.attacks
    }

    /// Records that line `line` of `sink`'s file, written at `at_ns`, belongs to attack
    /// `attack` and contains `indicator`.
    pub fn record(
        &mut self,
        attack: u64,
        pattern: &str,
        sink: &Sink,
        line: u64,
        at_ns: i64,
        indicator: &str,
    ) {
        let mut time = Vec::with_capacity(32);
        Civil::from_nanos(at_ns).rfc3339(&mut time, 9);
        self.entries.push(GroundTruth {
            attack,
            pattern: pattern.to_owned(),
            kind: sink.kind(),
            file: sink.relative().to_owned(),
            line,
            time: String::from_utf8(time).expect("ascii"),
            indicator: indicator.to_owned(),
            from: None,
            until: None,
        });
    }

    /// Sets the time range of the latest entry (a volume anomaly).
    pub fn set_range(&mut self, from_ns: i64, until_ns: i64) {
        let format = |ns: i64| {
            let mut time = Vec::with_capacity(32);
            Civil::from_nanos(ns).rfc3339(&mut time, 9);
            String::from_utf8(time).expect("ascii")
        };
        if let Some(entry) = self.entries.last_mut() {
            entry.from = Some(format(from_ns));
            entry.until = Some(format(until_ns));
        }
    }

    /// Writes `root/ground-truth.jsonl`.
    pub fn write(&self, root: &Path) -> Result<(u64, PathBuf), GenerateError> {
        let path = root.join(crate::GROUND_TRUTH_FILE);
        let file = File::create(&path).map_err(|e| GenerateError::io(&path, e))?;
        let mut out = BufWriter::new(file);
        let mut bytes = 0;
        for entry in &self.entries {
            let mut line = serde_json::to_vec(entry).expect("ground truth serializes");
            line.push(b'\n');
            bytes += line.len() as u64;
            out.write_all(&line)
                .map_err(|e| GenerateError::io(&path, e))?;
        }
        out.flush().map_err(|e| GenerateError::io(&path, e))?;
        Ok((bytes, path))
    }
}
