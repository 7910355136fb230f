//! Reading the stored events of the stream in store order, handing them over in the order of
//! hits.
//!
//! The order of hits jumps between the regions of a segment that different sources filled
//! (each source's lines are in time order, the sources interleave), so reading each event where
//! it falls would decompress the same document-store block again and again. A batch collects
//! the next addresses in the order of hits, reads them sorted by segment and document (each
//! block decompressed about once per batch), then hands them over in the order they came. A
//! batch holds about [`BATCH_BYTES`] of text: its number of events follows the size of the
//! events read so far, from [`FIRST_BATCH_EVENTS`] up to [`MAX_BATCH_EVENTS`].

use std::ops::Range;

use tantivy::schema::Value;
use tantivy::DocAddress;

use crate::error::SearchError;
use crate::search::{PartitionSearcher, SearchEngine};

/// Text a batch aims to hold.
pub(crate) const BATCH_BYTES: usize = 4 << 20;
/// Events of the first batch, before any size is known.
pub(crate) const FIRST_BATCH_EVENTS: usize = 256;
/// Most events per batch (small events).
pub(crate) const MAX_BATCH_EVENTS: usize = 8192;

/// The addresses of the next events, in the order of hits, and their text once read.
pub(crate) struct Batch {
    /// Events the batch takes before it is read.
    capacity: usize,
    /// Events and bytes read so far, for the size of the next batches.
    read_events: u64,
    read_bytes: u64,
    /// `(partition, address)` in the order of hits.
    addresses: Vec<(usize, DocAddress)>,
    /// Positions into `addresses`, sorted by partition, segment and document.
    reading_order: Vec<usize>,
    /// The events' text, one after the other in reading order.
    text: String,
    /// Where each event's text is in `text`, by position in `addresses`.
    spans: Vec<Range<usize>>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            capacity: FIRST_BATCH_EVENTS,
            read_events: 0,
            read_bytes: 0,
            addresses: Vec::new(),
            reading_order: Vec::new(),
            text: String::new(),
            spans: Vec::new(),
        }
    }
}

impl Batch {
    /// Adds the next event of the order of hits.
    pub(crate) fn push(&mut self, partition: usize, address: DocAddress) {
        self.addresses.push((partition, address));
    }

    /// Whether the batch should be read and handed over now.
    pub(crate) fn is_full(&self) -> bool {
        self.addresses.len() >= self.capacity
    }

    /// Reads the batch's events from `searchers` in store order, then hands each to `visit`
    /// (partition, stored JSON text) in the order they were pushed, until it returns `false`.
    /// Returns whether every event was handed over; the batch is empty afterwards.
    pub(crate) fn deliver<E: From<SearchError>>(
        &mut self,
        engine: &SearchEngine,
        searchers: &[&PartitionSearcher],
        mut visit: impl FnMut(usize, &str) -> Result<bool, E>,
    ) -> Result<bool, E> {
        self.read(engine, searchers)?;
        let mut all = true;
        for (position, (partition, _)) in self.addresses.iter().enumerate() {
            let source = &self.text[self.spans[position].clone()];
            if !visit(*partition, source)? {
                all = false;
                break;
            }
        }
        self.addresses.clear();
        Ok(all)
    }

    fn read(
        &mut self,
        engine: &SearchEngine,
        searchers: &[&PartitionSearcher],
    ) -> Result<(), SearchError> {
        let addresses = &self.addresses;
        self.reading_order.clear();
        self.reading_order.extend(0..addresses.len());
        self.reading_order.sort_unstable_by_key(|&position| {
            let (partition, address) = addresses[position];
            (partition, address.segment_ord, address.doc_id)
        });
        self.text.clear();
        self.spans.clear();
        self.spans.resize(addresses.len(), 0..0);
        for &position in &self.reading_order {
            let (partition, address) = addresses[position];
            let doc = searchers[partition].stored(address)?;
            let source = doc
                .get_first(engine.schema().source_field())
                .and_then(|v| v.as_str())
                .unwrap_or("null");
            let start = self.text.len();
            self.text.push_str(source);
            self.spans[position] = start..self.text.len();
        }
        self.read_events += addresses.len() as u64;
        self.read_bytes += self.text.len() as u64;
        let average = (self.read_bytes / self.read_events.max(1)).max(1) as usize;
        self.capacity = (BATCH_BYTES / average).clamp(1, MAX_BATCH_EVENTS);
        Ok(())
    }
}
