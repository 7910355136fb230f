//! Merging the sorted keys of several segments (of several partitions) into the order of
//! hits, `(@timestamp, event.id)`.
//!
//! Within a segment the ranks of ids follow the order of the ids themselves, so only the
//! events of one nanosecond found in different segments need their ids read (from the fast
//! column's dictionary) to be put in order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::error::SearchError;
use crate::stream::keys::{Key, SegmentKeys};

/// The keys of one segment of one partition.
pub(crate) struct Run {
    /// The partition (index into the day's searchers).
    pub partition: usize,
    /// The segment and its sorted keys.
    pub segment: SegmentKeys,
}

impl Run {
    fn id(&self, key: &Key) -> Result<String, SearchError> {
        let mut id = String::new();
        if let (Some(ids), Some(ord)) = (&self.segment.ids, key.id_rank.checked_sub(1)) {
            ids.ord_to_str(u64::from(ord), &mut id)
                .map_err(tantivy::TantivyError::from)?;
        }
        Ok(id)
    }
}

/// Calls `emit` with every key of `runs`, in `(timestamp, id)` order, until it returns
/// `false`. Returns whether every key was emitted.
pub(crate) fn merge<E: From<SearchError>>(
    runs: &[Run],
    mut emit: impl FnMut(&Run, &Key) -> Result<bool, E>,
) -> Result<bool, E> {
    let mut next = vec![0usize; runs.len()];
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = runs
        .iter()
        .enumerate()
        .filter_map(|(r, run)| run.segment.keys.first().map(|k| Reverse((k.timestamp, r))))
        .collect();
    let mut group: Vec<(usize, Key)> = Vec::new();
    while let Some(Reverse((timestamp, first))) = heap.pop() {
        group.clear();
        let mut take = |r: usize, heap: &mut BinaryHeap<Reverse<(i64, usize)>>| {
            let keys = &runs[r].segment.keys;
            group.push((r, keys[next[r]]));
            next[r] += 1;
            if let Some(key) = keys.get(next[r]) {
                heap.push(Reverse((key.timestamp, r)));
            }
        };
        take(first, &mut heap);
        while let Some(&Reverse((t, r))) = heap.peek() {
            if t != timestamp {
                break;
            }
            heap.pop();
            take(r, &mut heap);
        }
        if group.iter().any(|(r, _)| *r != group[0].0) {
            order_by_id(runs, &mut group)?;
        }
        for (r, key) in &group {
            if !emit(&runs[*r], key)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Orders events of one nanosecond from several segments by id (stable: the order within a
/// segment is already the ids' order).
fn order_by_id(runs: &[Run], group: &mut Vec<(usize, Key)>) -> Result<(), SearchError> {
    let mut keyed = Vec::with_capacity(group.len());
    for (r, key) in group.drain(..) {
        keyed.push((runs[r].id(&key)?, r, key));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    group.extend(keyed.into_iter().map(|(_, r, key)| (r, key)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(partition: usize, keys: &[(i64, u32)]) -> Run {
        Run {
            partition,
            segment: SegmentKeys {
                segment_ord: 0,
                keys: keys
                    .iter()
                    .enumerate()
                    .map(|(doc, &(timestamp, id_rank))| Key {
                        timestamp,
                        id_rank,
                        doc: doc as u32,
                    })
                    .collect(),
                ids: None,
            },
        }
    }

    #[test]
    fn runs_are_merged_by_timestamp_and_stop_when_asked() {
        let runs = vec![
            run(0, &[(1, 1), (4, 1), (9, 1)]),
            run(1, &[(2, 1), (3, 1)]),
            run(2, &[(5, 1)]),
        ];
        let mut seen = Vec::new();
        let done = merge::<SearchError>(&runs, |run, key| {
            seen.push((key.timestamp, run.partition));
            Ok(true)
        })
        .unwrap();
        assert!(done);
        assert_eq!(seen, vec![(1, 0), (2, 1), (3, 1), (4, 0), (5, 2), (9, 0)]);

        let mut count = 0;
        let done = merge::<SearchError>(&runs, |_, _| {
            count += 1;
            Ok(count < 3)
        })
        .unwrap();
        assert!(!done);
        assert_eq!(count, 3);
    }

    #[test]
    fn ties_within_one_segment_keep_the_rank_order() {
        let runs = vec![run(0, &[(1, 1), (1, 2), (1, 3)]), run(1, &[(0, 1)])];
        let mut seen = Vec::new();
        merge::<SearchError>(&runs, |run, key| {
            seen.push((key.timestamp, run.partition, key.id_rank));
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, vec![(0, 1, 1), (1, 0, 1), (1, 0, 2), (1, 0, 3)]);
    }
}
