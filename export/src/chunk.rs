//! Chunk files: NDJSON compressed with zstd, counted and hashed (SHA-256 of the bytes on
//! disk) as they are written, and cut every N events.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::{chunk_name, Chunk};

/// The zstd level of chunks: fast to write and read, about 5× smaller than the NDJSON.
pub const ZSTD_LEVEL: i32 = 3;

/// Hashes and counts what goes through to `inner`.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One chunk being written.
pub struct ChunkWriter {
    path: PathBuf,
    file: String,
    encoder: zstd::Encoder<'static, Hashing<BufWriter<File>>>,
    events: u64,
}

impl ChunkWriter {
    /// Creates the chunk file `name` in `dir` (which must not exist yet).
    pub fn create(dir: &Path, name: &str) -> io::Result<ChunkWriter> {
        let path = dir.join(name);
        let file = File::options().write(true).create_new(true).open(&path)?;
        let hashing = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        Ok(ChunkWriter {
            path,
            file: name.to_owned(),
            encoder: zstd::Encoder::new(hashing, ZSTD_LEVEL)?,
            events: 0,
        })
    }

    /// Appends one event: `line` (one line of JSON, without its newline) and a newline.
    pub fn write_event(&mut self, line: &[u8]) -> io::Result<()> {
        self.encoder.write_all(line)?;
        self.encoder.write_all(b"\n")?;
        self.events += 1;
        Ok(())
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The chunk's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends the zstd frame, flushes the file to disk and describes it.
    pub fn finish(self) -> io::Result<Chunk> {
        let hashing = self.encoder.finish()?;
        let Hashing {
            inner,
            hasher,
            bytes,
        } = hashing;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(Chunk {
            file: self.file,
            events: self.events,
            bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// The chunks of an export: events go to the current chunk, and a new one is started every
/// `per_chunk` events.
pub struct ChunkSet {
    dir: PathBuf,
    per_chunk: u64,
    current: Option<ChunkWriter>,
    done: Vec<Chunk>,
}

impl ChunkSet {
    /// Chunks in `dir` of at most `per_chunk` events each (at least 1).
    pub fn new(dir: &Path, per_chunk: u64) -> ChunkSet {
        ChunkSet {
            dir: dir.to_owned(),
            per_chunk: per_chunk.max(1),
            current: None,
            done: Vec::new(),
        }
    }

    /// Appends one event (see [`ChunkWriter::write_event`]). Errors name the chunk's path.
    pub fn write_event(&mut self, line: &[u8]) -> Result<(), (PathBuf, io::Error)> {
        let writer = match &mut self.current {
            Some(writer) => writer,
            None => {
                let name = chunk_name(self.done.len() + 1);
                let writer =
                    ChunkWriter::create(&self.dir, &name).map_err(|e| (self.dir.join(&name), e))?;
                self.current.insert(writer)
            }
        };
        writer
            .write_event(line)
            .map_err(|e| (writer.path().to_owned(), e))?;
        if writer.events() >= self.per_chunk {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), (PathBuf, io::Error)> {
        if let Some(writer) = self.current.take() {
            let path = writer.path().to_owned();
            self.done.push(writer.finish().map_err(|e| (path, e))?);
        }
        Ok(())
    }

    /// Ends the last chunk; the chunks written, in order.
    pub fn finish(mut self) -> Result<Vec<Chunk>, (PathBuf, io::Error)> {
        self.close()?;
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn decompress(path: &Path) -> String {
        let mut text = String::new();
        zstd::Decoder::new(File::open(path).unwrap())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn a_chunk_holds_its_lines_and_describes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ChunkWriter::create(dir.path(), "events-000001.ndjson.zst").unwrap();
        writer.write_event(br#"{"a":1}"#).unwrap();
        writer.write_event(br#"{"b":"x\ny"}"#).unwrap();
        let chunk = writer.finish().unwrap();
        let path = dir.path().join(&chunk.file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(chunk.events, 2);
        assert_eq!(chunk.bytes, bytes.len() as u64);
        assert_eq!(chunk.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(decompress(&path), "{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
        assert!(
            ChunkWriter::create(dir.path(), "events-000001.ndjson.zst").is_err(),
            "an existing chunk is never overwritten"
        );
    }

    #[test]
    fn a_set_cuts_chunks_every_n_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = ChunkSet::new(dir.path(), 3);
        for i in 0..7 {
            set.write_event(format!("{{\"n\":{i}}}").as_bytes())
                .unwrap();
        }
        let chunks = set.finish().unwrap();
        let names: Vec<&str> = chunks.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(
            names,
            [
                "events-000001.ndjson.zst",
                "events-000002.ndjson.zst",
                "events-000003.ndjson.zst"
            ]
        );
        assert_eq!(
            chunks.iter().map(|c| c.events).collect::<Vec<_>>(),
            [3, 3, 1]
        );
        let all: String = chunks
            .iter()
            .map(|c| decompress(&dir.path().join(&c.file)))
            .collect();
        let expected: String = (0..7).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn an_empty_set_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = ChunkSet::new(dir.path(), 10).finish().unwrap();
        assert!(chunks.is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
