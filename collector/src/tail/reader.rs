//! Reading a followed file from a byte offset, through its open handle: a renamed or deleted
//! file is still read to its end. Gzip files are read through a decoder, offsets counting
//! decompressed bytes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use flate2::read::MultiGzDecoder;

/// An open file, plain or gzip-compressed.
pub enum FileReader {
    /// A plain file, read at any offset.
    Plain(File),
    /// A gzip file, read forward (a read before the current position starts over).
    Gzip {
        /// The handle, to start over.
        file: File,
        /// The decoder.
        decoder: Box<MultiGzDecoder<File>>,
        /// Decompressed bytes read so far.
        position: u64,
        /// The whole file has been decompressed.
        finished: bool,
    },
}

impl FileReader {
    /// A reader of `file`.
    pub fn new(file: File, compressed: bool) -> std::io::Result<FileReader> {
        if !compressed {
            return Ok(FileReader::Plain(file));
        }
        let decoder = Box::new(MultiGzDecoder::new(from_start(&file)?));
        Ok(FileReader::Gzip {
            file,
            decoder,
            position: 0,
            finished: false,
        })
    }

    /// Whether a gzip file has been read to its end (plain files can always grow).
    pub fn finished(&self) -> bool {
        matches!(self, FileReader::Gzip { finished: true, .. })
    }

    /// Reads up to `max` bytes starting at `offset` into `out` (cleared first). Returns the size
    /// of a plain file (`None` for a gzip file, whose size is known only once decompressed).
    pub fn read_at(
        &mut self,
        offset: u64,
        max: u64,
        out: &mut Vec<u8>,
    ) -> std::io::Result<Option<u64>> {
        out.clear();
        match self {
            FileReader::Plain(file) => {
                let size = file.metadata()?.len();
                let length = size.saturating_sub(offset).min(max) as usize;
                out.resize(length, 0);
                let mut filled = 0;
                while filled < length {
                    let n = file.read_at(&mut out[filled..], offset + filled as u64)?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                out.truncate(filled);
                Ok(Some(size))
            }
            FileReader::Gzip {
                file,
                decoder,
                position,
                finished,
            } => {
                if offset < *position {
                    **decoder = MultiGzDecoder::new(from_start(file)?);
                    *position = 0;
                    *finished = false;
                }
                let mut skip = offset - *position;
                let mut scratch = [0u8; 8192];
                while skip > 0 {
                    let n = decoder.read(&mut scratch[..skip.min(8192) as usize])?;
                    if n == 0 {
                        *finished = true;
                        return Ok(None);
                    }
                    skip -= n as u64;
                    *position += n as u64;
                }
                let n = decoder.as_mut().take(max).read_to_end(out)?;
                *position += n as u64;
                if (n as u64) < max {
                    *finished = true;
                }
                Ok(None)
            }
        }
    }
}

/// A second handle on `file`, at its start. (Handles share their offset: every decoder
/// rewinds before it reads.)
pub fn from_start(file: &File) -> std::io::Result<File> {
    let mut clone = file.try_clone()?;
    clone.seek(SeekFrom::Start(0))?;
    Ok(clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plain_and_gzip_read_the_same_bytes_at_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let plain = dir.path().join("a.log");
        std::fs::write(&plain, &content).unwrap();
        let gz = dir.path().join("a.log.gz");
        let mut encoder =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        encoder.write_all(&content).unwrap();
        encoder.finish().unwrap();
        let mut readers = [
            FileReader::new(File::open(&plain).unwrap(), false).unwrap(),
            FileReader::new(File::open(&gz).unwrap(), true).unwrap(),
        ];
        for reader in &mut readers {
            let mut out = Vec::new();
            for (offset, max) in [(0u64, 10u64), (100_000, 5000), (7, 3), (400_000, 1 << 20)] {
                reader.read_at(offset, max, &mut out).unwrap();
                let start = (offset as usize).min(content.len());
                let end = (start + max as usize).min(content.len());
                assert_eq!(out, &content[start..end], "offset {offset}");
            }
        }
        assert!(readers[1].finished());
        assert!(!readers[0].finished());
    }
}
