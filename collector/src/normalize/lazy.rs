//! The [`Format::Auto`] normalizer: holds lines back until their content tells the format,
//! then hands them (and all later lines) to that format's normalizer.

use std::path::Path;

use super::detect::{guess_content, guess_path, Guess};
use super::record::dead_letter;
use super::{
    normalizer_with_options, Format, NormalizeOptions, Normalizer, Output, RawLine, SourceContext,
    DETECT_HEAD_BYTES,
};

/// A line held back, with its position.
#[derive(Debug)]
struct Held {
    bytes: Vec<u8>,
    offset: u64,
    line: u64,
}

/// Detects the format from the first lines it is fed.
pub(crate) struct LazyNormalizer {
    ctx: SourceContext,
    options: NormalizeOptions,
    held: Vec<Held>,
    /// The held lines joined with `'\n'`: what detection looks at.
    head: Vec<u8>,
    inner: Option<Box<dyn Normalizer>>,
}

impl LazyNormalizer {
    pub fn new(ctx: SourceContext, options: NormalizeOptions) -> LazyNormalizer {
        LazyNormalizer {
            ctx,
            options,
            held: Vec::new(),
            head: Vec::new(),
            inner: None,
        }
    }

    fn path_hint(&self) -> Option<Format> {
        guess_path(Path::new(&self.ctx.path))
    }

    /// Settles on `format` and replays the held lines.
    fn start(&mut self, format: Format, out: &mut Vec<Output>) {
        let mut inner = normalizer_with_options(format, self.ctx.clone(), self.options.clone());
        for held in self.held.drain(..) {
            inner.push_line(
                RawLine {
                    bytes: &held.bytes,
                    offset: held.offset,
                    line: held.line,
                },
                out,
            );
        }
        self.head = Vec::new();
        self.inner = Some(inner);
    }

    /// Dead-letters the held lines up to the first non-blank one (whose format is unknown),
    /// keeping the rest for another try.
    fn reject_first(&mut self, out: &mut Vec<Output>) {
        let count = self
            .held
            .iter()
            .position(|held| !held.bytes.trim_ascii().is_empty())
            .map_or(self.held.len(), |at| at + 1);
        for held in self.held.drain(..count) {
            if held.bytes.trim_ascii().is_empty() {
                continue;
            }
            let error = format!(
                "line {}: cannot detect the log format: not Docker json-file, CRI or Kubernetes audit JSON",
                held.line
            );
            out.push(Output::DeadLetter(dead_letter(
                &self.ctx,
                held.line,
                held.offset,
                error,
                &held.bytes,
            )));
        }
        self.head.clear();
        for (n, held) in self.held.iter().enumerate() {
            if n > 0 {
                self.head.push(b'\n');
            }
            self.head.extend_from_slice(&held.bytes);
        }
    }

    /// Tries to settle the format from the held lines; `at_end` when no more will come.
    fn settle(&mut self, at_end: bool, out: &mut Vec<Output>) {
        while self.inner.is_none() && !self.held.is_empty() {
            let guess = guess_content(&self.head, true);
            let undecided = match guess {
                Guess::Is(format) => return self.start(format, out),
                Guess::Unknown => true,
                Guess::NotYet => at_end || self.head.len() >= DETECT_HEAD_BYTES,
            };
            if !undecided {
                return;
            }
            match self.path_hint() {
                Some(format) => return self.start(format, out),
                None => self.reject_first(out),
            }
        }
    }
}

impl Normalizer for LazyNormalizer {
    fn push_line(&mut self, line: RawLine<'_>, out: &mut Vec<Output>) {
        if let Some(inner) = &mut self.inner {
            inner.push_line(line, out);
            return;
        }
        if !self.held.is_empty() {
            self.head.push(b'\n');
        }
        self.head.extend_from_slice(line.bytes);
        self.held.push(Held {
            bytes: line.bytes.to_vec(),
            offset: line.offset,
            line: line.line,
        });
        self.settle(false, out);
    }

    fn flush(&mut self, out: &mut Vec<Output>) {
        self.settle(true, out);
        if let Some(inner) = &mut self.inner {
            inner.flush(out);
        }
    }

    fn pending_offset(&self) -> Option<u64> {
        match &self.inner {
            Some(inner) => inner.pending_offset(),
            None => self.held.first().map(|held| held.offset),
        }
    }
}
