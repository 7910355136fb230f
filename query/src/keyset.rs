//! Keyset conditions: the documents that come strictly after a sort key
//! `(@timestamp, tie-breaker)` in a given order, used by `search_after` pagination and by the
//! context of a log line.

use std::ops::Bound;

use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::{Field, Term};

/// Documents whose `(timestamp, tie)` key is strictly beyond `(timestamp, ·)` in the order:
/// a timestamp beyond it, or the same timestamp and a tie-breaker matched by `tie_beyond`.
pub fn beyond(
    timestamp_field: Field,
    timestamp: i64,
    descending: bool,
    tie_beyond: RangeQuery,
) -> Box<dyn Query> {
    let ts = |v| Term::from_field_i64(timestamp_field, v);
    let later_timestamp = if descending {
        RangeQuery::new(
            Bound::Included(ts(i64::MIN)),
            Bound::Excluded(ts(timestamp)),
        )
    } else {
        RangeQuery::new(
            Bound::Excluded(ts(timestamp)),
            Bound::Included(ts(i64::MAX)),
        )
    };
    // `@timestamp` is a column only: its one value is a range of the column.
    let same_timestamp = RangeQuery::new(
        Bound::Included(ts(timestamp)),
        Bound::Included(ts(timestamp)),
    );
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(later_timestamp) as Box<dyn Query>),
        (
            Occur::Should,
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(same_timestamp) as Box<dyn Query>),
                (Occur::Must, Box::new(tie_beyond)),
            ])),
        ),
    ]))
}
