//! Feeding a file's bytes to a normalizer line by line, from any position.

use crate::normalize::{Normalizer, Output, RawLine};

/// Where the next line of a file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCursor {
    /// Byte offset of the next line.
    pub offset: u64,
    /// Its 1-based line number.
    pub line: u64,
}

impl LineCursor {
    /// The start of a file.
    pub const START: LineCursor = LineCursor { offset: 0, line: 1 };
}

/// Pushes every complete (`'\n'`-terminated) line of `chunk`, which starts at `cursor`, into the
/// normalizer. When `at_end` is set, a last line without `'\n'` is pushed too. Returns the cursor
/// after the last line pushed; bytes after it must be offered again with more data.
pub fn feed_lines(
    normalizer: &mut dyn Normalizer,
    chunk: &[u8],
    cursor: LineCursor,
    at_end: bool,
    out: &mut Vec<Output>,
    mut on_line: impl FnMut(LineCursor),
) -> LineCursor {
    let mut cursor = cursor;
    let mut rest = chunk;
    while !rest.is_empty() {
        let (line, consumed) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], end + 1),
            None if at_end => (rest, rest.len()),
            None => break,
        };
        let bytes = line.strip_suffix(b"\r").unwrap_or(line);
        on_line(cursor);
        normalizer.push_line(
            RawLine {
                bytes,
                offset: cursor.offset,
                line: cursor.line,
            },
            out,
        );
        rest = &rest[consumed..];
        cursor = LineCursor {
            offset: cursor.offset + consumed as u64,
            line: cursor.line + 1,
        };
    }
    cursor
}
