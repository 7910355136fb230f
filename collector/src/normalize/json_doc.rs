//! Finding where a JSON document ends, across lines, without parsing it: brace and bracket
//! depth outside strings, with string escapes honored.

/// Scans the bytes of one JSON object or array, possibly fed in several pieces.
#[derive(Debug, Default, Clone)]
pub(crate) struct DocScanner {
    depth: usize,
    in_string: bool,
    escape: bool,
}

impl DocScanner {
    /// Forgets everything, ready for a new document.
    pub fn reset(&mut self) {
        *self = DocScanner::default();
    }

    /// Whether the bytes fed so far end inside a string (which a valid document never does
    /// at a line end: JSON strings cannot hold a raw newline).
    pub fn in_string(&self) -> bool {
        self.in_string
    }

    /// Feeds the next bytes of the document (the first call's first byte being its `{` or
    /// `[`); returns the index just past the byte that closes the document, if it is in
    /// `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    Some(found) => {
                        i += found;
                        if bytes[i] == b'\\' {
                            self.escape = true;
                        } else {
                            self.in_string = false;
                        }
                        i += 1;
                    }
                    None => return None,
                }
                continue;
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(pieces: &[&str]) -> Option<(usize, usize)> {
        let mut scanner = DocScanner::default();
        pieces
            .iter()
            .enumerate()
            .find_map(|(n, piece)| scanner.feed(piece.as_bytes()).map(|end| (n, end)))
    }

    #[test]
    fn finds_the_end_on_one_line() {
        assert_eq!(end_of(&[r#"{"a":1} {"b":2}"#]), Some((0, 7)));
        assert_eq!(end_of(&[r#"[1,[2],{"x":[]}]tail"#]), Some((0, 16)));
    }

    #[test]
    fn ignores_braces_in_strings_and_escapes() {
        assert_eq!(end_of(&[r#"{"a":"}{\"}\\","b":"\\"}"#]), Some((0, 24)));
    }

    #[test]
    fn follows_documents_across_lines() {
        assert_eq!(
            end_of(&["{", r#"  "a": {"#, "    \"b\": \"}\"", "  }", "}", "{"]),
            Some((4, 1))
        );
        assert_eq!(end_of(&["{", "\"a\": 1"]), None);
        let mut scanner = DocScanner::default();
        assert_eq!(scanner.feed(br#"{"a":"unterminated"#), None);
        assert!(scanner.in_string());
    }
}
