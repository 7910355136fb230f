//! Splitting a buffer into [`RawLine`]s.

use super::RawLine;

/// Splits `bytes` on `'\n'` into [`RawLine`]s carrying their byte offset and 1-based line
/// number. The `'\r'` of a `"\r\n"` ending is dropped; a last line without `'\n'` is yielded
/// when it is not empty.
pub fn lines(bytes: &[u8]) -> Lines<'_> {
    Lines {
        rest: bytes,
        offset: 0,
        line: 0,
    }
}

/// Iterator returned by [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
    offset: u64,
    line: u64,
}

impl<'a> Iterator for Lines<'a> {
    type Item = RawLine<'a>;

    fn next(&mut self) -> Option<RawLine<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, consumed) = match memchr::memchr(b'\n', self.rest) {
            Some(end) => (&self.rest[..end], end + 1),
            None => (self.rest, self.rest.len()),
        };
        let bytes = line.strip_suffix(b"\r").unwrap_or(line);
        let raw = RawLine {
            bytes,
            offset: self.offset,
            line: self.line + 1,
        };
        self.rest = &self.rest[consumed..];
        self.offset += consumed as u64;
        self.line += 1;
        Some(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_offsets_line_numbers_and_crlf() {
        let got: Vec<_> = lines(b"ab\r\n\ncd\nef").collect();
        let want = [
            (b"ab".as_slice(), 0, 1),
            (b"".as_slice(), 4, 2),
            (b"cd".as_slice(), 5, 3),
            (b"ef".as_slice(), 8, 4),
        ];
        assert_eq!(got.len(), want.len());
        for (line, (bytes, offset, number)) in got.iter().zip(want) {
            assert_eq!(line.bytes, bytes);
            assert_eq!(line.offset, offset);
            assert_eq!(line.line, number);
        }
        assert_eq!(lines(b"x\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
    }
}
