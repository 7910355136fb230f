//! Re-joining container records that span several lines: split lines (Docker chunks without a
//! trailing newline, CRI `P` lines) and, optionally, multi-line groups ([`FirstLine`]).

use std::borrow::Cow;

use kestrel_event::{Stream, Timestamp};

use super::FirstLine;

/// A container record (one or more lines joined), not yet an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub text: String,
    pub stream: Option<Stream>,
    pub timestamp: Timestamp,
    /// Offset of the record's first line.
    pub offset: u64,
    /// Set when the record is known to be incomplete.
    pub partial: bool,
}

/// Index of a stream's slot: records never continue across streams.
fn slot(stream: Option<Stream>) -> usize {
    match stream {
        None => 0,
        Some(Stream::Stdout) => 1,
        Some(Stream::Stderr) => 2,
    }
}

/// Takes the slots' records in file order.
fn drain_in_order(slots: &mut [Option<Record>; 3], done: &mut Vec<Record>) {
    let start = done.len();
    done.extend(slots.iter_mut().filter_map(Option::take));
    done[start..].sort_by_key(|record| record.offset);
}

fn earliest(slots: &[Option<Record>; 3]) -> Option<u64> {
    slots.iter().flatten().map(|record| record.offset).min()
}

/// Joins the chunks of split lines, per stream.
#[derive(Debug)]
pub(crate) struct Splits {
    slots: [Option<Record>; 3],
    /// Per stream: the last flush cut an open record, so the next chunk is its rest.
    cut: [bool; 3],
    max_bytes: usize,
}

/// One chunk of a line, as read.
pub(crate) struct Chunk<'a> {
    pub text: Cow<'a, str>,
    /// Whether the chunk ends its line (Docker: ended with `'\n'`, CRI: tag `F`).
    pub last: bool,
    pub stream: Option<Stream>,
    pub timestamp: Timestamp,
    pub offset: u64,
}

impl Splits {
    pub fn new(max_bytes: usize) -> Splits {
        Splits {
            slots: [None, None, None],
            cut: [false; 3],
            max_bytes,
        }
    }

    /// Adds a chunk; appends the records it completes to `done`.
    pub fn push(&mut self, chunk: Chunk<'_>, done: &mut Vec<Record>) {
        let index = slot(chunk.stream);
        let mut continues_cut = std::mem::take(&mut self.cut[index]);
        let slot = &mut self.slots[index];
        if let Some(mut open) = slot.take() {
            if open.text.len().saturating_add(chunk.text.len()) <= self.max_bytes {
                metrics::counter!("kestrel_collector_partial_merges_total").increment(1);
                open.text.push_str(&chunk.text);
                if chunk.last {
                    done.push(open);
                } else {
                    *slot = Some(open);
                }
                return;
            }
            // Too long: emit what we have, the rest starts a new (also partial) record.
            metrics::counter!("kestrel_collector_truncations_total").increment(1);
            open.partial = true;
            done.push(open);
            continues_cut = true;
        }
        let record = Record {
            text: chunk.text.into_owned(),
            stream: chunk.stream,
            timestamp: chunk.timestamp,
            offset: chunk.offset,
            partial: continues_cut,
        };
        if chunk.last {
            done.push(record);
        } else {
            *slot = Some(record);
        }
    }

    /// Emits every open record, flagged partial; the chunk that next continues one of them
    /// (when the flush was a timeout) starts a record flagged partial too.
    pub fn flush(&mut self, done: &mut Vec<Record>) {
        for (cut, slot) in self.cut.iter_mut().zip(&self.slots) {
            *cut = slot.is_some();
        }
        let start = done.len();
        drain_in_order(&mut self.slots, done);
        metrics::counter!("kestrel_collector_partial_timeouts_total")
            .increment((done.len() - start) as u64);
        for record in &mut done[start..] {
            record.partial = true;
        }
    }

    pub fn pending_offset(&self) -> Option<u64> {
        earliest(&self.slots)
    }
}

/// Groups complete lines into multi-line records, per stream.
#[derive(Debug)]
pub(crate) struct Groups {
    first_line: FirstLine,
    slots: [Option<Record>; 3],
    max_bytes: usize,
}

impl Groups {
    pub fn new(first_line: FirstLine, max_bytes: usize) -> Groups {
        Groups {
            first_line,
            slots: [None, None, None],
            max_bytes,
        }
    }

    /// Adds a complete line; appends the records it closes to `done`.
    pub fn push(&mut self, record: Record, done: &mut Vec<Record>) {
        let slot = &mut self.slots[slot(record.stream)];
        if self.first_line.is_first_line(&record.text) {
            done.extend(slot.replace(record));
            return;
        }
        match slot {
            Some(open)
                if open
                    .text
                    .len()
                    .saturating_add(record.text.len())
                    .saturating_add(1)
                    <= self.max_bytes =>
            {
                open.text.push('\n');
                open.text.push_str(&record.text);
                open.partial |= record.partial;
            }
            Some(_) => {
                done.extend(slot.take());
                done.push(record);
            }
            None => done.push(record),
        }
    }

    /// Emits every open group.
    pub fn flush(&mut self, done: &mut Vec<Record>) {
        drain_in_order(&mut self.slots, done);
    }

    pub fn pending_offset(&self) -> Option<u64> {
        earliest(&self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str, last: bool, stream: Option<Stream>, offset: u64) -> Chunk<'_> {
        Chunk {
            text: Cow::Borrowed(text),
            last,
            stream,
            timestamp: chrono::DateTime::from_timestamp(offset as i64, 0).unwrap(),
            offset,
        }
    }

    #[test]
    fn splits_join_per_stream_and_keep_the_first_timestamp() {
        let mut splits = Splits::new(1000);
        let mut done = Vec::new();
        splits.push(chunk("a", false, Some(Stream::Stdout), 0), &mut done);
        splits.push(chunk("x", false, Some(Stream::Stderr), 10), &mut done);
        splits.push(chunk("b", true, Some(Stream::Stdout), 20), &mut done);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].text, "ab");
        assert_eq!(done[0].offset, 0);
        assert_eq!(done[0].timestamp.timestamp(), 0);
        assert_eq!(splits.pending_offset(), Some(10));
        splits.flush(&mut done);
        assert_eq!(done[1].text, "x");
        assert!(done[1].partial);
        assert_eq!(splits.pending_offset(), None);
        // After a (timeout) flush, the rest of the cut record is partial too; others are not.
        splits.push(chunk("y", true, Some(Stream::Stderr), 30), &mut done);
        splits.push(chunk("z", true, Some(Stream::Stdout), 40), &mut done);
        splits.push(chunk("w", true, Some(Stream::Stderr), 50), &mut done);
        let tail: Vec<_> = done[2..]
            .iter()
            .map(|r| (r.text.as_str(), r.partial))
            .collect();
        assert_eq!(tail, [("y", true), ("z", false), ("w", false)]);
    }

    #[test]
    fn splits_cut_records_past_the_limit() {
        let mut splits = Splits::new(4);
        let mut done = Vec::new();
        splits.push(chunk("abc", false, None, 0), &mut done);
        splits.push(chunk("de", false, None, 5), &mut done);
        splits.push(chunk("f", true, None, 9), &mut done);
        let texts: Vec<_> = done.iter().map(|r| (r.text.as_str(), r.partial)).collect();
        assert_eq!(texts, [("abc", true), ("def", true)]);
    }

    #[test]
    fn groups_follow_first_lines() {
        let mut groups = Groups::new(FirstLine::date_prefix(), 1000);
        let mut done = Vec::new();
        let line = |text: &str, offset| Record {
            text: text.to_owned(),
            stream: None,
            timestamp: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            offset,
            partial: false,
        };
        groups.push(line("loose", 0), &mut done);
        groups.push(line("2020-01-01 a", 1), &mut done);
        groups.push(line("b", 2), &mut done);
        groups.push(line("2020-01-02 c", 3), &mut done);
        assert_eq!(groups.pending_offset(), Some(3));
        groups.flush(&mut done);
        let texts: Vec<_> = done.iter().map(|r| (r.text.as_str(), r.offset)).collect();
        assert_eq!(
            texts,
            [("loose", 0), ("2020-01-01 a\nb", 1), ("2020-01-02 c", 3)]
        );
    }
}
