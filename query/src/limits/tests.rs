use std::sync::Arc;
use std::time::Duration;

use tantivy::collector::Count;
use tantivy::query::AllQuery;
use tantivy::schema::{Schema, STRING};
use tantivy::{doc, Index, IndexWriter};

use super::*;
use crate::language::parse;
use crate::SearchError;

fn limits() -> QueryLimits {
    QueryLimits::default()
}

#[test]
fn query_text_length_is_bounded_and_named() {
    let small = QueryLimits {
        max_query_bytes: 64,
        ..limits()
    };
    small.check_text(&"a".repeat(64)).unwrap();
    let err = small.check_text(&"a".repeat(65)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the query text is 65 bytes: beyond query.limits.max_query_bytes = 64"
    );
}

#[test]
fn clauses_are_counted_as_written() {
    let count = |q: &str| clause_count(&parse(q).unwrap());
    assert_eq!(count("a"), 1);
    assert_eq!(count("a b OR c"), 3);
    assert_eq!(count("verb:(get OR list) -user.username:x"), 3);
    assert_eq!(count("verb:IN [get list watch]"), 3);
    assert_eq!(count("code:[400 TO 499] NOT (a AND b)"), 3);

    let few = QueryLimits {
        max_clauses: 3,
        ..limits()
    };
    few.check_clauses(&parse("a b c").unwrap()).unwrap();
    let err = few.check_clauses(&parse("a b c d").unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the query has 4 clauses: beyond query.limits.max_clauses = 3"
    );
}

#[test]
fn regex_program_size_is_bounded() {
    let small = QueryLimits {
        max_regex_bytes: 4096,
        ..limits()
    };
    assert_eq!(small.check_regex("kube-.*", "kube-*"), Ok(true));
    // A counted repetition compiles to a program proportional to its count.
    let err = small
        .check_regex("(?i)[a-z]{1000}", "[a-z]{1000}")
        .unwrap_err();
    assert_eq!(err.key, "max_regex_bytes");
    assert_eq!(err.value, "4096");
    assert!(err.to_string().contains("[a-z]{1000}"), "{err}");
    // Invalid patterns are not a limit: the caller reports them.
    assert_eq!(small.check_regex("(", "("), Ok(false));
}

/// An index of `docs` documents with distinct values `v<n>` in `name`.
fn index(docs: usize) -> (Index, tantivy::schema::Field) {
    let mut schema = Schema::builder();
    let name = schema.add_text_field("name", STRING);
    let index = Index::create_in_ram(schema.build());
    let mut writer: IndexWriter = index.writer(15_000_000).unwrap();
    for n in 0..docs {
        writer.add_document(doc!(name => format!("v{n}"))).unwrap();
    }
    writer.commit().unwrap();
    (index, name)
}

fn count_within(
    index: &Index,
    limits: &QueryLimits,
    query: impl FnOnce(Arc<Guard>) -> Box<dyn tantivy::query::Query>,
) -> Result<usize, SearchError> {
    let searcher = index.reader().unwrap().searcher();
    within(limits, || {
        let guard = current().expect("a guard inside within");
        Ok(searcher.search(query(guard).as_ref(), &Count)?)
    })
}

#[test]
fn a_spent_budget_stops_matching_and_answers_a_timeout() {
    let (index, _) = index(5_000);
    let generous = limits();
    let all = |guard| -> Box<dyn tantivy::query::Query> {
        Box::new(DeadlineQuery::new(Box::new(AllQuery), guard))
    };
    assert_eq!(count_within(&index, &generous, all).unwrap(), 5_000);

    let none = QueryLimits {
        request_timeout: Duration::ZERO,
        ..limits()
    };
    let err = count_within(&index, &none, all).unwrap_err();
    assert!(matches!(err, SearchError::Timeout(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the search was cancelled after its time budget: beyond query.limits.request_timeout = 0s"
    );
    // Outside `within`, nothing is limited any more.
    assert!(current().is_none());
}

#[test]
fn a_pattern_matching_too_many_terms_is_refused() {
    let (index, name) = index(200);
    let pattern = |guard| -> Box<dyn tantivy::query::Query> {
        let regex = tantivy_fst::Regex::new("v1.*").unwrap();
        Box::new(BoundedTermsQuery::new(
            name,
            Arc::new(regex),
            None,
            guard,
            "v1*",
        ))
    };
    // v1, v10..v19, v100..v199: 111 terms.
    let enough = QueryLimits {
        max_expansion_terms: 111,
        ..limits()
    };
    assert_eq!(count_within(&index, &enough, pattern).unwrap(), 111);
    let fewer = QueryLimits {
        max_expansion_terms: 110,
        ..limits()
    };
    let err = count_within(&index, &fewer, pattern).unwrap_err();
    assert!(matches!(err, SearchError::Limit(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the pattern \"v1*\" matches more terms: beyond query.limits.max_expansion_terms = 110"
    );
}
