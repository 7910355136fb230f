//! The lines around a container log event: the same container (or file) and stream, in the
//! order they were written (`@timestamp`, then byte offset in the file).

use std::ops::Bound;

use serde::Serialize;
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query as TantivyQuery, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocAddress, Order};

use crate::error::SearchError;
use crate::keyset::beyond;
use crate::search::SearchEngine;

/// An event and its neighbours.
#[derive(Debug, Clone, Serialize)]
pub struct EventContext {
    /// The event asked for.
    pub event: serde_json::Value,
    /// Up to `before` earlier lines, oldest first.
    pub before: Vec<serde_json::Value>,
    /// Up to `after` later lines, oldest first.
    pub after: Vec<serde_json::Value>,
}

type Keyed = Vec<((Option<i64>, Option<i64>), DocAddress)>;

impl SearchEngine {
    /// Finds an event by `event.id`, searching every partition. `None` when absent.
    pub fn find_event(&self, id: &str) -> Result<Option<serde_json::Value>, SearchError> {
        let id_field = self.schema().resolve("event.id").field;
        let query = TermQuery::new(
            Term::from_field_text(id_field, id),
            IndexRecordOption::Basic,
        );
        for partition in self.searchers(None, None)?.iter().rev() {
            let top = partition.search(&query, &TopDocs::with_limit(1).order_by_score())?;
            if let Some((_, address)) = top.first() {
                return Ok(Some(self.source(partition, *address)?));
            }
        }
        Ok(None)
    }

    /// The event `id` with up to `before` lines written just before it and `after` just after,
    /// from the same container (else the same file) and stream. `None` when the id is unknown.
    pub fn context(
        &self,
        id: &str,
        before: usize,
        after: usize,
    ) -> Result<Option<EventContext>, SearchError> {
        let Some(event) = self.find_event(id)? else {
            return Ok(None);
        };
        if event["event"]["kind"] != "container" {
            return Err(SearchError::BadQuery(format!(
                "event {id} is a {} event: context applies to container log lines",
                event["event"]["kind"]
            )));
        }
        let anchor = Anchor::of(&event)?;
        let siblings = self.siblings(&event)?;
        let earlier = self.neighbours(&siblings, &anchor, before, Order::Desc)?;
        let later = self.neighbours(&siblings, &anchor, after, Order::Asc)?;
        Ok(Some(EventContext {
            event,
            before: earlier.into_iter().rev().collect(),
            after: later,
        }))
    }

    /// Events of the same source and stream as `event`.
    fn siblings(&self, event: &serde_json::Value) -> Result<Box<dyn TantivyQuery>, SearchError> {
        let schema = self.schema();
        let keyword = |path: &str, value: &str| -> Box<dyn TantivyQuery> {
            Box::new(TermQuery::new(
                Term::from_field_text(schema.resolve(path).field, &value.to_lowercase()),
                IndexRecordOption::Basic,
            ))
        };
        let mut clauses = vec![(Occur::Must, keyword("event.kind", "container"))];
        match (
            event["container"]["id"].as_str(),
            event["log"]["file"]["path"].as_str(),
        ) {
            (Some(container), _) => clauses.push((Occur::Must, keyword("container.id", container))),
            (None, Some(path)) => clauses.push((Occur::Must, keyword("log.file.path", path))),
            (None, None) => {
                return Err(SearchError::BadQuery(
                    "the event has neither container.id nor log.file.path".into(),
                ))
            }
        }
        if let Some(stream) = event["stream"].as_str() {
            clauses.push((Occur::Must, keyword("stream", stream)));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// Up to `limit` siblings strictly before (`Desc`) or after (`Asc`) the anchor, nearest
    /// first.
    fn neighbours(
        &self,
        siblings: &dyn TantivyQuery,
        anchor: &Anchor,
        limit: usize,
        order: Order,
    ) -> Result<Vec<serde_json::Value>, SearchError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let schema = self.schema();
        let offset = |v| Term::from_field_i64(schema.resolve("log.offset").field, v);
        let descending = order == Order::Desc;
        let offset_beyond = if descending {
            RangeQuery::new(
                Bound::Included(offset(i64::MIN)),
                Bound::Excluded(offset(anchor.offset)),
            )
        } else {
            RangeQuery::new(
                Bound::Excluded(offset(anchor.offset)),
                Bound::Included(offset(i64::MAX)),
            )
        };
        let position = beyond(
            schema.resolve("@timestamp").field,
            anchor.timestamp,
            descending,
            offset_beyond,
        );
        let query = BooleanQuery::new(vec![
            (Occur::Must, siblings.box_clone()),
            (Occur::Must, position),
        ]);
        let (from, to) = match order {
            Order::Desc => (None, Some(anchor.time)),
            Order::Asc => (Some(anchor.time), None),
        };
        let collector = TopDocs::with_limit(limit).order_by((
            (SortByStaticFastValue::<i64>::for_field("timestamp"), order),
            (SortByStaticFastValue::<i64>::for_field("log_offset"), order),
        ));
        let mut found: Vec<((i64, i64), usize, DocAddress)> = Vec::new();
        let partitions = self.searchers(from.as_ref(), to.as_ref())?;
        for (slot, partition) in partitions.iter().enumerate() {
            let top: Keyed = partition.search(&query, &collector)?;
            found.extend(top.into_iter().map(|((t, o), address)| {
                (
                    (t.unwrap_or(i64::MIN), o.unwrap_or(i64::MIN)),
                    slot,
                    address,
                )
            }));
        }
        match order {
            Order::Desc => found.sort_by_key(|f| std::cmp::Reverse(f.0)),
            Order::Asc => found.sort_by_key(|f| f.0),
        }
        found.truncate(limit);
        found
            .into_iter()
            .map(|(_, slot, address)| self.source(&partitions[slot], address))
            .collect()
    }
}

/// Where the event sits in its source's order.
struct Anchor {
    time: chrono::DateTime<chrono::Utc>,
    timestamp: i64,
    offset: i64,
}

impl Anchor {
    fn of(event: &serde_json::Value) -> Result<Anchor, SearchError> {
        let text = event["@timestamp"].as_str().unwrap_or_default();
        let time = kestrel_event::parse_timestamp(text)
            .map_err(|e| SearchError::BadQuery(format!("stored event: {e}")))?;
        Ok(Anchor {
            time,
            timestamp: kestrel_indexer::document::timestamp_nanos(&time),
            offset: event["log"]["offset"].as_i64().unwrap_or(0),
        })
    }
}
