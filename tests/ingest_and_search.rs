//! End to end: `kestrel ingest` of corpus files, then searches whose expected hits are computed
//! here, independently, from the raw files.

mod common;

use common::*;
use serde_json::Value;

/// The raw audit events of the combined corpus file.
fn raw_audit_events() -> Vec<Value> {
    read_jsonl(&corpus_file("combined/k8s_audit_events_all.jsonl"))
}

fn count_raw(events: &[Value], predicate: impl Fn(&Value) -> bool) -> u64 {
    events.iter().filter(|e| predicate(e)).count() as u64
}

fn str_at<'a>(event: &'a Value, dotted: &str) -> Option<&'a str> {
    path(event, dotted).and_then(Value::as_str)
}

#[test]
fn audit_corpus_is_searchable_by_field_with_exact_totals() {
    let data = tempfile::tempdir().unwrap();
    let summary = ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    assert!(summary.contains("114 events"), "{summary}");
    let raw = raw_audit_events();
    assert_eq!(raw.len(), 114);

    let cases: Vec<(&str, u64)> = vec![
        (
            r#"user.username:"system:anonymous""#,
            count_raw(&raw, |e| {
                str_at(e, "user.username") == Some("system:anonymous")
            }),
        ),
        (
            "objectRef.resource:secrets",
            count_raw(&raw, |e| str_at(e, "objectRef.resource") == Some("secrets")),
        ),
        (
            "verb:create",
            count_raw(&raw, |e| str_at(e, "verb") == Some("create")),
        ),
        (
            "responseStatus.code:403",
            count_raw(&raw, |e| {
                path(e, "responseStatus.code").and_then(Value::as_i64) == Some(403)
            }),
        ),
        (
            "responseStatus.code:[400 TO 499]",
            count_raw(&raw, |e| {
                path(e, "responseStatus.code")
                    .and_then(Value::as_i64)
                    .is_some_and(|c| (400..=499).contains(&c))
            }),
        ),
        (
            "verb:list AND objectRef.resource:secrets",
            count_raw(&raw, |e| {
                str_at(e, "verb") == Some("list")
                    && str_at(e, "objectRef.resource") == Some("secrets")
            }),
        ),
        (
            "verb:create OR verb:delete",
            count_raw(&raw, |e| {
                matches!(str_at(e, "verb"), Some("create" | "delete"))
            }),
        ),
        (
            "event.kind:k8s_audit AND NOT verb:get",
            count_raw(&raw, |e| str_at(e, "verb") != Some("get")),
        ),
        (
            "objectRef.namespace:kube-system",
            count_raw(&raw, |e| {
                str_at(e, "objectRef.namespace") == Some("kube-system")
            }),
        ),
        (
            "user.groups:system:masters",
            count_raw(&raw, |e| {
                path(e, "user.groups")
                    .and_then(Value::as_array)
                    .is_some_and(|g| g.iter().any(|x| x == "system:masters"))
            }),
        ),
        (
            "impersonatedUser.username:*",
            count_raw(&raw, |e| str_at(e, "impersonatedUser.username").is_some()),
        ),
        (
            "userAgent:*kubectl*",
            count_raw(&raw, |e| {
                str_at(e, "userAgent").is_some_and(|u| u.to_lowercase().contains("kubectl"))
            }),
        ),
    ];
    for (query, expected) in cases {
        assert!(
            expected > 0,
            "case {query} has no expected hits: pick another"
        );
        let response = search(data.path(), query, 1000);
        assert_eq!(response["total"], expected, "total of {query}");
        assert_eq!(
            response["hits"].as_array().unwrap().len() as u64,
            expected,
            "hits of {query}"
        );
    }
}

#[test]
fn hits_are_newest_first_with_nanosecond_timestamps() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    let response = search(data.path(), "*", 1000);
    let stamps: Vec<&str> = response["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["@timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(stamps.len(), 114);
    let mut sorted = stamps.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(stamps, sorted, "newest first");
    assert!(stamps.iter().all(|s| s.len() == 30 && s.ends_with('Z')));

    let limited = search(data.path(), "*", 5);
    assert_eq!(limited["total"], 114);
    assert_eq!(hit_ids(&limited), hit_ids(&response)[..5]);
}

#[test]
fn time_range_limits_hits_to_the_range() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    let raw = raw_audit_events();
    let (from, to) = ("2018-10-25T00:00:00Z", "2018-10-25T23:59:59.999999999Z");
    let expected = count_raw(&raw, |e| {
        let ts = str_at(e, "stageTimestamp")
            .or_else(|| str_at(e, "requestReceivedTimestamp"))
            .or_else(|| str_at(e, "timestamp"))
            .unwrap_or("");
        let ts = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
        ts >= chrono::DateTime::parse_from_rfc3339(from).unwrap()
            && ts <= chrono::DateTime::parse_from_rfc3339(to).unwrap()
    });
    assert!(expected > 0);
    let output = run_ok(kestrel(data.path()).args([
        "search", "--format", "json", "--limit", "1000", "--from", from, "--to", to, "*",
    ]));
    let response: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["total"], expected);
}

#[test]
fn container_logs_are_searchable_by_text_and_phrase() {
    let data = tempfile::tempdir().unwrap();
    let file = corpus_file("beats_docker_json/docker_corrupted.log");
    let summary = ingest(data.path(), std::slice::from_ref(&file));
    assert!(summary.contains("20 events"), "{summary}");
    assert!(summary.contains("1 dead letters"), "{summary}");

    // Expected: the raw lines whose `log` holds the word, read here without Kestrel.
    let raw = std::fs::read_to_string(&file).unwrap();
    let logs: Vec<String> = raw
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["log"].as_str().map(str::to_lowercase))
        .collect();
    assert_eq!(logs.len(), 20);
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut checked = 0;
    for word in ["packetbeat", "build", "yml", "go"] {
        let expected = logs
            .iter()
            .filter(|l| words(l).iter().any(|w| w == word))
            .count();
        if expected == 0 {
            continue;
        }
        checked += 1;
        let response = search(data.path(), word, 100);
        assert_eq!(response["total"], expected as u64, "word {word}");
        for hit in response["hits"].as_array().unwrap() {
            assert_eq!(hit["event"]["kind"], "container");
            assert_eq!(hit["log"]["file"]["path"], file.to_str().unwrap());
        }
    }
    assert!(checked >= 2, "pick words present in the file");

    let phrase = "\"cp packetbeat\"";
    let expected = logs.iter().filter(|l| l.contains("cp packetbeat")).count() as u64;
    assert_eq!(search(data.path(), phrase, 100)["total"], expected);
}

#[test]
fn ingesting_twice_keeps_one_copy_of_each_event() {
    let data = tempfile::tempdir().unwrap();
    let files = [
        corpus_file("combined/k8s_audit_events_all.jsonl"),
        corpus_file("beats_docker_json/docker_corrupted.log"),
    ];
    let first = ingest(data.path(), &files);
    assert!(first.contains("134 new, 0 already indexed"), "{first}");
    let second = ingest(data.path(), &files);
    assert!(second.contains("0 new, 134 already indexed"), "{second}");
    let all = search(data.path(), "*", 1000);
    assert_eq!(all["total"], 134);
    let mut ids = hit_ids(&all);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 134, "every event id once");
}

#[test]
fn corrupted_line_is_kept_in_the_dead_letter_store_with_its_bytes() {
    let data = tempfile::tempdir().unwrap();
    let file = corpus_file("beats_docker_json/docker_corrupted.log");
    ingest(data.path(), std::slice::from_ref(&file));
    let store = kestrel_bus::DeadLetterStore::open(data.path().join("dead-letters")).unwrap();
    let letters = store.read_all().unwrap();
    assert_eq!(letters.len(), 1);
    let raw = std::fs::read(&file).unwrap();
    let line7 = raw.split(|b| *b == b'\n').nth(6).unwrap();
    assert_eq!(letters[0].line, Some(7));
    assert_eq!(letters[0].raw, line7);
    assert!(letters[0].error.contains("line 7"), "{}", letters[0].error);
}

#[test]
fn bad_queries_fail_with_the_position() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    for (query, position) in [
        ("verb:(get", "position"),
        ("verb:", "position"),
        ("AND", "position"),
    ] {
        let output = kestrel(data.path())
            .args(["search", query])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{query}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(position), "{query}: {stderr}");
    }
    let output = kestrel(data.path())
        .args(["search", "responseStatus.code:abc"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("responseStatus"));
}

fn page_through(data: &std::path::Path, query: &str, page: usize, sort: &str) -> Vec<Value> {
    let mut hits = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut command = kestrel(data);
        command.args([
            "search",
            "--format",
            "json",
            "--sort",
            sort,
            "--limit",
            &page.to_string(),
        ]);
        if let Some(c) = &cursor {
            command.args(["--search-after", c]);
        }
        let output = run_ok(command.arg(query));
        let response: Value = serde_json::from_slice(&output.stdout).unwrap();
        let page_hits = response["hits"].as_array().unwrap().clone();
        assert!(page_hits.len() <= page);
        hits.extend(page_hits);
        match response["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    hits
}

#[test]
fn pagination_returns_each_event_once_in_order() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[
            corpus_file("combined/k8s_audit_events_all.jsonl"),
            corpus_file("beats_docker_json/docker_corrupted.log"),
        ],
    );
    for sort in ["desc", "asc"] {
        let hits = page_through(data.path(), "*", 7, sort);
        assert_eq!(hits.len(), 134, "{sort}");
        let keys: Vec<(String, String)> = hits
            .iter()
            .map(|h| {
                (
                    h["@timestamp"].as_str().unwrap().to_owned(),
                    h["event"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected = keys.clone();
        expected.sort();
        if sort == "desc" {
            expected.reverse();
        }
        assert_eq!(
            keys, expected,
            "{sort}: strictly ordered by (@timestamp, event.id)"
        );
        expected.dedup();
        assert_eq!(expected.len(), 134, "no event twice");
    }
}

#[test]
fn fields_projection_keeps_only_the_requested_paths() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    let output = run_ok(kestrel(data.path()).args([
        "search",
        "--format",
        "json",
        "--fields",
        "user.username,verb",
        "verb:create",
    ]));
    let response: Value = serde_json::from_slice(&output.stdout).unwrap();
    for hit in response["hits"].as_array().unwrap() {
        let object = hit.as_object().unwrap();
        assert!(object.keys().all(|k| k == "user" || k == "verb"), "{hit}");
        assert_eq!(hit["verb"], "create");
        assert!(hit["user"]["username"].is_string());
        assert!(hit["user"].get("groups").is_none());
    }
}

#[test]
fn cidr_and_address_ranges_match_source_ips() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    let raw = raw_audit_events();
    let in_block = |address: &str, network: [u8; 4], prefix: u32| -> bool {
        let Ok(std::net::IpAddr::V4(v4)) = address.parse::<std::net::IpAddr>() else {
            return false;
        };
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        u32::from(v4) & mask == u32::from(std::net::Ipv4Addr::from(network)) & mask
    };
    let with_address = |predicate: &dyn Fn(&str) -> bool| {
        count_raw(&raw, |e| {
            path(e, "sourceIPs")
                .and_then(Value::as_array)
                .is_some_and(|ips| ips.iter().filter_map(Value::as_str).any(predicate))
        })
    };
    let cases: Vec<(&str, u64)> = vec![
        (
            "sourceIPs:172.16.0.0/12",
            with_address(&|a| in_block(a, [172, 16, 0, 0], 12)),
        ),
        (
            "sourceIPs:10.0.0.0/8",
            with_address(&|a| in_block(a, [10, 0, 0, 0], 8)),
        ),
        (
            "sourceIPs:192.168.0.0/16",
            with_address(&|a| in_block(a, [192, 168, 0, 0], 16)),
        ),
        (
            "sourceIPs:IN [10.0.0.0/8 192.168.0.0/16]",
            with_address(&|a| in_block(a, [10, 0, 0, 0], 8) || in_block(a, [192, 168, 0, 0], 16)),
        ),
        (
            "sourceIPs:[172.16.0.0 TO 172.31.255.255]",
            with_address(&|a| in_block(a, [172, 16, 0, 0], 12)),
        ),
    ];
    let mut nonzero = 0;
    for (query, expected) in cases {
        nonzero += u64::from(expected > 0);
        assert_eq!(
            search(data.path(), query, 1000)["total"],
            expected,
            "{query}"
        );
    }
    assert!(nonzero >= 2, "the corpus must exercise CIDR matches");
}

#[test]
fn wildcards_regexes_and_existence_reach_into_json_objects() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    let raw = raw_audit_events();
    let kind_is = |e: &Value, kind: &str| str_at(e, "requestObject.kind") == Some(kind);
    let cases: Vec<(&str, u64)> = vec![
        (
            "requestObject.spec.containers:*",
            count_raw(&raw, |e| path(e, "requestObject.spec.containers").is_some()),
        ),
        (
            "requestObject.kind:pod",
            count_raw(&raw, |e| kind_is(e, "Pod")),
        ),
        (
            "requestObject.kind:*ole*",
            count_raw(&raw, |e| {
                str_at(e, "requestObject.kind").is_some_and(|k| k.to_lowercase().contains("ole"))
            }),
        ),
        (
            "requestObject.kind:/cluster.*/",
            count_raw(&raw, |e| {
                str_at(e, "requestObject.kind")
                    .is_some_and(|k| k.to_lowercase().starts_with("cluster"))
            }),
        ),
        (
            "annotations.authorization.k8s.io/decision:allow",
            count_raw(&raw, |e| {
                path(e, "annotations")
                    .and_then(|a| a.get("authorization.k8s.io/decision"))
                    .and_then(Value::as_str)
                    == Some("allow")
            }),
        ),
    ];
    for (query, expected) in cases {
        assert!(expected > 0, "{query}: pick a case the corpus exercises");
        assert_eq!(
            search(data.path(), query, 1000)["total"],
            expected,
            "{query}"
        );
    }
}

#[test]
fn remaining_query_forms_match_independent_counts() {
    let data = tempfile::tempdir().unwrap();
    ingest(
        data.path(),
        &[corpus_file("combined/k8s_audit_events_all.jsonl")],
    );
    let raw = raw_audit_events();
    let verb = |e: &Value| str_at(e, "verb").unwrap_or("").to_owned();
    let stage_time = |e: &Value| {
        let text = str_at(e, "stageTimestamp")
            .or_else(|| str_at(e, "requestReceivedTimestamp"))
            .or_else(|| str_at(e, "timestamp"))
            .unwrap();
        chrono::DateTime::parse_from_rfc3339(text).unwrap()
    };
    let after_2019 = chrono::DateTime::parse_from_rfc3339("2019-01-01T00:00:00Z").unwrap();
    let cases: Vec<(&str, u64)> = vec![
        (
            "verb:IN [create patch update]",
            count_raw(&raw, |e| {
                matches!(verb(e).as_str(), "create" | "patch" | "update")
            }),
        ),
        ("VERB:get", 0),
        ("verb:GET", count_raw(&raw, |e| verb(e) == "get")),
        ("-verb:get", count_raw(&raw, |e| verb(e) != "get")),
        (
            "verb:(get OR list) AND NOT objectRef.resource:pods",
            count_raw(&raw, |e| {
                matches!(verb(e).as_str(), "get" | "list")
                    && str_at(e, "objectRef.resource") != Some("pods")
            }),
        ),
        (
            "verb:/(de|up).*/",
            count_raw(&raw, |e| {
                let v = verb(e);
                v.starts_with("de") || v.starts_with("up")
            }),
        ),
        (
            "@timestamp:>=2019-01-01T00:00:00Z",
            count_raw(&raw, |e| stage_time(e) >= after_2019),
        ),
        (
            "@timestamp:[* TO 2019-01-01T00:00:00Z}",
            count_raw(&raw, |e| stage_time(e) < after_2019),
        ),
        ("@timestamp:>now-1h", 0),
        (
            "responseStatus.code:>=400 AND user.username:*admin*",
            count_raw(&raw, |e| {
                path(e, "responseStatus.code")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    >= 400
                    && str_at(e, "user.username").is_some_and(|u| u.contains("admin"))
            }),
        ),
    ];
    for (query, expected) in cases {
        let output = kestrel(data.path())
            .args(["search", "--format", "json", "--limit", "1000", "--", query])
            .output()
            .unwrap();
        if query.starts_with("VERB") {
            // Field names are case-sensitive: an unknown field matches nothing.
            assert!(output.status.success());
        }
        let response: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{query}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(response["total"], expected, "{query}");
    }
    let output = kestrel(data.path())
        .args(["search", "--limit", "100000", "*"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "a limit above query.max_limit is refused"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("limit"));
}
