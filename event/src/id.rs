//! Deterministic event identifiers.
//!
//! An event id is a 128-bit hash of the source identity (for example a file path, or
//! `webhook`) and the record's position in that source. Replaying the same bytes from the same
//! source yields the same id, which lets the indexer recognize and drop duplicates.

use xxhash_rust::xxh3::Xxh3;

/// Where a record sits in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordPosition<'a> {
    /// Byte offset of the record's first byte in a file, plus the index of the record among
    /// those decoded from the bytes at that offset (an `EventList` or an export envelope holds
    /// several records at one offset; a plain line holds one, index 0).
    Offset { offset: u64, index: u32 },
    /// A key that identifies the record within a source with no byte positions (a webhook
    /// body's audit ID and stage, for instance).
    Key(&'a str),
}

/// Computes the deterministic id of the record at `position` in `source`: 32 lowercase hex
/// characters.
pub fn event_id(source: &str, position: RecordPosition<'_>) -> String {
    let mut hasher = Xxh3::new();
    hasher.update(source.as_bytes());
    hasher.update(&[0]);
    match position {
        RecordPosition::Offset { offset, index } => {
            hasher.update(b"o");
            hasher.update(&offset.to_le_bytes());
            hasher.update(&index.to_le_bytes());
        }
        RecordPosition::Key(key) => {
            hasher.update(b"k");
            hasher.update(key.as_bytes());
        }
    }
    format!("{:032x}", hasher.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_source_and_position_give_the_same_id() {
        let a = event_id(
            "/var/log/a.log",
            RecordPosition::Offset {
                offset: 10,
                index: 0,
            },
        );
        let b = event_id(
            "/var/log/a.log",
            RecordPosition::Offset {
                offset: 10,
                index: 0,
            },
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn any_difference_gives_another_id() {
        let base = event_id(
            "/var/log/a.log",
            RecordPosition::Offset {
                offset: 10,
                index: 0,
            },
        );
        for other in [
            event_id(
                "/var/log/b.log",
                RecordPosition::Offset {
                    offset: 10,
                    index: 0,
                },
            ),
            event_id(
                "/var/log/a.log",
                RecordPosition::Offset {
                    offset: 11,
                    index: 0,
                },
            ),
            event_id(
                "/var/log/a.log",
                RecordPosition::Offset {
                    offset: 10,
                    index: 1,
                },
            ),
            event_id("/var/log/a.log", RecordPosition::Key("10")),
        ] {
            assert_ne!(base, other);
        }
    }
}
