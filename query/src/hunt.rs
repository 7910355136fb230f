//! Retro-hunt: detection rules (correlations included) run over indexed history, in event
//! time. The index pre-selects candidates with a query translated from the rules (a superset of
//! what they match), and the detector evaluates each candidate exactly.

use chrono::{DateTime, Utc};
use kestrel_detect::compile::Prefilter;
use kestrel_detect::{Alert, Detector};
use kestrel_indexer::FieldKind;

use crate::error::SearchError;
use crate::language::Query;
use crate::limits::{within, QueryLimits};
use crate::search::{Cursor, SearchEngine, SearchRequest, SearchResponse, SortOrder};

/// Events read per page.
const HUNT_PAGE: usize = 5_000;

/// What a hunt did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HuntSummary {
    /// The pre-selection query sent to the index.
    pub query: String,
    /// Candidate events evaluated.
    pub events: u64,
    /// Alerts raised (suppression updates included).
    pub alerts: u64,
}

/// The query that pre-selects every event any rule of `detector` can match.
pub fn prefilter_query(engine: &SearchEngine, detector: &Detector) -> Query {
    let mut parts: Vec<Query> = detector
        .rules()
        .iter()
        .map(|rule| translate(engine, &rule.prefilter()))
        .collect();
    if parts.is_empty() {
        parts.push(Query::All);
    }
    Query::Or(parts).simplify()
}

/// Runs the detector over the events of `[from, to]`, oldest first; `sink` receives each
/// alert as it is raised, then the final state of alerts that suppression folded repeats into.
/// Blocking.
pub fn hunt(
    engine: &SearchEngine,
    detector: &mut Detector,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    sink: impl FnMut(&Alert),
) -> Result<HuntSummary, SearchError> {
    hunt_pages(
        engine,
        detector,
        (from, to),
        |page| engine.search(page),
        sink,
    )
}

/// [`hunt`] with each page of events searched within `limits` (the time budget is per page).
pub fn hunt_within(
    engine: &SearchEngine,
    detector: &mut Detector,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limits: &QueryLimits,
    sink: impl FnMut(&Alert),
) -> Result<HuntSummary, SearchError> {
    let search = |page: &SearchRequest| within(limits, || engine.search(page));
    hunt_pages(engine, detector, (from, to), search, sink)
}

fn hunt_pages(
    engine: &SearchEngine,
    detector: &mut Detector,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    mut search: impl FnMut(&SearchRequest) -> Result<SearchResponse, SearchError>,
    mut sink: impl FnMut(&Alert),
) -> Result<HuntSummary, SearchError> {
    let query = prefilter_query(engine, detector);
    let mut summary = HuntSummary {
        query: query.to_string(),
        ..HuntSummary::default()
    };
    let mut page = SearchRequest {
        query,
        from,
        to,
        limit: HUNT_PAGE,
        order: SortOrder::Asc,
        search_after: None,
        fields: Vec::new(),
        count_total: false,
    };
    loop {
        let response = search(&page)?;
        for hit in &response.hits {
            summary.events += 1;
            for alert in detector.evaluate(hit) {
                summary.alerts += 1;
                sink(&alert);
            }
        }
        match response.next {
            Some(next) => page.search_after = Some(Cursor::decode(&next)?),
            None => break,
        }
    }
    for alert in detector.close_windows(i64::MAX) {
        summary.alerts += 1;
        sink(&alert);
    }
    Ok(summary)
}

/// Translates a rule's pre-filter into the query language, keeping only what the index answers
/// as a superset: exact and wildcard tests on keyword fields, numbers on integer fields,
/// existence. Anything else becomes `*`.
fn translate(engine: &SearchEngine, prefilter: &Prefilter) -> Query {
    let kind_of = |field: &str| engine.schema().typed(field).map(|(spec, _)| spec.kind);
    match prefilter {
        Prefilter::All => Query::All,
        Prefilter::And(parts) => Query::And(parts.iter().map(|p| translate(engine, p)).collect()),
        Prefilter::Or(parts) => Query::Or(parts.iter().map(|p| translate(engine, p)).collect()),
        Prefilter::Equals { field, value } => match kind_of(field) {
            Some(FieldKind::Keyword) => Query::Term {
                field: Some(field.clone()),
                value: value.clone(),
            },
            _ => Query::All,
        },
        Prefilter::Wildcard { field, pattern } => match kind_of(field) {
            Some(FieldKind::Keyword) => Query::Wildcard {
                field: Some(field.clone()),
                pattern: pattern.clone(),
            },
            _ => Query::All,
        },
        Prefilter::Number { field, value } => match kind_of(field) {
            Some(FieldKind::Integer) if value.fract() == 0.0 => Query::Term {
                field: Some(field.clone()),
                value: format!("{}", *value as i64),
            },
            _ => Query::All,
        },
        Prefilter::Exists { field } => match kind_of(field) {
            Some(FieldKind::Keyword | FieldKind::Integer) => Query::Exists {
                field: field.clone(),
            },
            _ => Query::All,
        },
    }
}
