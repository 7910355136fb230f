//! File identity by content: a hash of the file's first line.
//!
//! A path names a file only until it is rotated, and an inode number is reused as soon as a
//! file is deleted; the first line of a log (which carries a timestamp, a container's first
//! output, an audit ID) stays with the file through renames, copies and compression. A file
//! renamed by rotation, the copy that `copytruncate` leaves and the gzip file that
//! `--audit-log-compress` makes all keep the fingerprint of the file they came from, so reading
//! resumes where it stopped.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

/// At most this many bytes of the first line are hashed.
pub const FINGERPRINT_BYTES: usize = 1024;

/// The identity of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint as 16 hex digits (the checkpoint key).
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses [`Fingerprint::to_hex`].
    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        u64::from_str_radix(text, 16).ok().map(Fingerprint)
    }

    /// The fingerprint of a file's head, when its first line is complete (or at least
    /// [`FINGERPRINT_BYTES`] long); `None` when it is not yet.
    pub fn of_head(head: &[u8]) -> Option<Fingerprint> {
        let line = match memchr::memchr(b'\n', head) {
            Some(end) => &head[..end],
            None if head.len() >= FINGERPRINT_BYTES => head,
            None => return None,
        };
        let line = &line[..line.len().min(FINGERPRINT_BYTES)];
        Some(Fingerprint(xxh3_64(line)))
    }
}

/// Whether a path names a gzip-compressed file.
pub fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Reads the head of an open file (decompressing a gzip file) for [`Fingerprint::of_head`].
pub fn read_head(file: &File, compressed: bool) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    if compressed {
        let mut decoder =
            flate2::read::MultiGzDecoder::new(super::reader::from_start(file)?.take(1 << 20));
        let mut filled = 0;
        while filled < head.len() {
            match decoder.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                // A gzip file still being written by the rotation: look again later.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        head.truncate(filled);
        return Ok(head);
    }
    let n = file.read_at(&mut head, 0)?;
    head.truncate(n);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn first_line_decides() {
        let a = Fingerprint::of_head(b"first\nsecond\n").unwrap();
        assert_eq!(Fingerprint::of_head(b"first\nother\n"), Some(a));
        assert_ne!(Fingerprint::of_head(b"firsT\n"), Some(a));
        assert_eq!(Fingerprint::of_head(b"no newline yet"), None);
        assert!(Fingerprint::of_head(&[b'x'; FINGERPRINT_BYTES]).is_some());
        assert_eq!(Fingerprint::from_hex(&a.to_hex()), Some(a));
    }

    #[test]
    fn a_gzip_copy_has_the_fingerprint_of_its_original() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("audit.log");
        let gz = dir.path().join("audit-1.log.gz");
        let content = b"{\"auditID\":\"1\"}\n{\"auditID\":\"2\"}\n";
        std::fs::write(&plain, content).unwrap();
        let mut encoder =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        encoder.write_all(content).unwrap();
        encoder.finish().unwrap();
        let of = |path: &Path| {
            let file = File::open(path).unwrap();
            Fingerprint::of_head(&read_head(&file, is_compressed(path)).unwrap())
        };
        assert!(of(&plain).is_some());
        assert_eq!(of(&plain), of(&gz));
    }
}
