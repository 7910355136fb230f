//! The export stream: every matching event in the order of a paged search, across segments,
//! partitions and days, with events of one nanosecond in several segments, whether a day is
//! read at once or in windows.

use kestrel_collector::normalize::{normalize_bytes, Format, Output, SourceContext};
use kestrel_event::parse_timestamp;
use kestrel_indexer::{AddOutcome, Indexer, IndexerOptions};
use kestrel_query::stream::{stream_events, StreamOptions};
use kestrel_query::{Cursor, SearchEngine, SearchRequest, SortOrder};
use serde_json::Value;

/// Docker json-file lines of one container; every fourth line at the same instant.
fn lines(container: usize, count: usize, day: &str) -> String {
    (0..count)
        .map(|i| {
            let time = if i % 4 == 0 {
                format!("{day}T12:00:00.000000001Z")
            } else {
                format!("{day}T{:02}:{:02}:{:02}.{:09}Z", i % 24, (i * 7) % 60, (i * 13) % 60, i * 31 + container)
            };
            let stream = if i % 3 == 0 { "stderr" } else { "stdout" };
            format!("{{\"log\":\"line {i} of {container}\\n\",\"stream\":\"{stream}\",\"time\":\"{time}\"}}\n")
        })
        .collect()
}

/// An index of several containers over two days, committed after each container (several
/// segments), and the number of events added.
fn index(root: &std::path::Path) -> usize {
    let mut indexer = Indexer::open(
        root,
        IndexerOptions {
            writer_memory_bytes: 15_000_000,
            max_open_partitions: 4,
            writer_threads: 1,
            ..IndexerOptions::default()
        },
    )
    .unwrap();
    let mut added = 0;
    for container in 0..6 {
        let day = if container % 2 == 0 {
            "2024-05-01"
        } else {
            "2024-05-02"
        };
        let context = SourceContext {
            content_id: None,
            path: format!("/var/log/pods/ns_pod-{container}_uid-{container}/app/0.log"),
            host_name: "node-1".into(),
            ingested: parse_timestamp("2024-05-03T00:00:00Z").unwrap(),
        };
        let bytes = lines(container, 120, day);
        for output in normalize_bytes(Format::Docker, context, bytes.as_bytes()).unwrap() {
            if let Output::Event(event) = output {
                if indexer.add(&event).unwrap() == AddOutcome::Added {
                    added += 1;
                }
            }
        }
        indexer.commit().unwrap();
    }
    added
}

/// Every hit of `query`, oldest first, paged 7 at a time.
fn paged(engine: &SearchEngine, query: &str) -> Vec<Value> {
    let mut request = SearchRequest::parse(query, 7).unwrap();
    request.order = SortOrder::Asc;
    let mut hits = Vec::new();
    loop {
        let page = engine.search(&request).unwrap();
        hits.extend(page.hits);
        match page.next {
            Some(next) => request.search_after = Some(Cursor::decode(&next).unwrap()),
            None => return hits,
        }
    }
}

fn streamed(engine: &SearchEngine, query: &str, max_keys: usize) -> (Vec<Value>, u64, usize) {
    let request = SearchRequest::parse(query, 0).unwrap();
    let options = StreamOptions {
        max_keys,
        limits: None,
    };
    let mut events = Vec::new();
    let summary = stream_events(engine, &request, &options, |event| {
        assert!(!event.source.contains('\n'));
        events.push(serde_json::from_str(event.source).unwrap());
        Ok::<_, kestrel_query::SearchError>(true)
    })
    .unwrap();
    assert!(summary.complete);
    let per_partition: u64 = summary.partitions.iter().map(|p| p.events).sum();
    assert_eq!(per_partition, summary.events);
    (events, summary.events, summary.partitions.len())
}

fn ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect()
}

#[test]
fn the_stream_returns_what_a_paged_search_returns_in_its_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("index");
    let added = index(&root);
    assert_eq!(added, 6 * 120);
    let engine = SearchEngine::new(&root);
    for query in ["*", "stream:stderr", "message:line AND NOT stream:stderr"] {
        let expected = paged(&engine, query);
        assert!(expected.len() > 100, "{query}: {}", expected.len());
        for max_keys in [1 << 20, 50, 1] {
            let (events, count, partitions) = streamed(&engine, query, max_keys);
            assert_eq!(count as usize, expected.len(), "{query} by {max_keys}");
            assert_eq!(ids(&events), ids(&expected), "{query} by {max_keys}");
            assert_eq!(events, expected, "{query} by {max_keys}");
            assert_eq!(partitions, 2, "one container partition per day");
        }
    }
    // Events of one nanosecond in several segments are there, and ordered by id.
    let instant = parse_timestamp("2024-05-01T12:00:00.000000001Z").unwrap();
    let all = paged(&engine, "*");
    let tied: Vec<&str> = all
        .iter()
        .filter(|e| parse_timestamp(e["@timestamp"].as_str().unwrap()).unwrap() == instant)
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(tied.len(), 3 * 30);
    assert!(tied.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn the_stream_stops_when_the_visitor_asks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("index");
    index(&root);
    let engine = SearchEngine::new(&root);
    let request = SearchRequest::parse("*", 0).unwrap();
    let mut seen = 0;
    let summary = stream_events(&engine, &request, &StreamOptions::default(), |_| {
        seen += 1;
        Ok::<_, kestrel_query::SearchError>(seen < 10)
    })
    .unwrap();
    assert_eq!(seen, 10);
    assert_eq!(summary.events, 10);
    assert!(!summary.complete);
}
