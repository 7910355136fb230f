//! Docker json-file and CRI files of the corpus.

use std::collections::{BTreeMap, HashSet};

use kestrel_event::{event_id, parse_timestamp, Event, RecordPosition, Stream, Timestamp};
use serde_json::Value;

use super::{corpus_file, corpus_files, dead_letters, events, raw_lines, run, run_with};
use crate::normalize::{detect_format, is_partial, FirstLine, Format, Output};

/// A record as the test's own reading of a raw file says it should come out.
#[derive(Debug)]
struct Expected {
    message: String,
    stream: Option<Stream>,
    timestamp: Option<Timestamp>,
    offset: u64,
    partial: bool,
}

/// Re-joins split records the simple way (per stream; Docker: until a chunk ends with
/// `'\n'`; CRI: until an `F` line). Returns the records in the order they complete, the ones
/// left open at the end last, and how many lines were merged into an earlier one.
fn expected_records(format: Format, bytes: &[u8]) -> (Vec<Expected>, usize) {
    let mut open: BTreeMap<Option<&str>, Expected> = BTreeMap::new();
    let mut done = Vec::new();
    let mut merged = 0;
    for (_, offset, line) in raw_lines(bytes) {
        let (stream, text, last, time) = match format {
            Format::Docker => {
                let value: Value =
                    serde_json::from_slice(line).expect("corpus docker line is JSON");
                let log = value["log"].as_str().expect("`log` is a string").to_owned();
                let stream = value.get("stream").and_then(Value::as_str);
                let stream: Option<&str> =
                    stream.map(|s| if s == "stdout" { "stdout" } else { "stderr" });
                let time = value
                    .get("time")
                    .and_then(Value::as_str)
                    .map(|t| parse_timestamp(t).unwrap());
                match log.strip_suffix('\n') {
                    Some(text) => (stream, text.to_owned(), true, time),
                    None => (stream, log, false, time),
                }
            }
            Format::Cri => {
                let text = std::str::from_utf8(line).expect("corpus CRI line is UTF-8");
                let mut parts = text.splitn(4, ' ');
                let time = parse_timestamp(parts.next().unwrap()).unwrap();
                let stream = match parts.next().unwrap() {
                    "stdout" => "stdout",
                    _ => "stderr",
                };
                let last = parts.next().unwrap() == "F";
                (
                    Some(stream),
                    parts.next().unwrap_or("").to_owned(),
                    last,
                    Some(time),
                )
            }
            _ => unreachable!(),
        };
        let record = match open.remove(&stream) {
            Some(mut record) => {
                merged += 1;
                record.message.push_str(&text);
                record
            }
            None => Expected {
                message: text,
                stream: stream.map(|s| Stream::parse(s).unwrap()),
                timestamp: time,
                offset,
                partial: false,
            },
        };
        if last {
            done.push(record);
        } else {
            open.insert(stream, record);
        }
    }
    let mut left: Vec<_> = open.into_values().collect();
    left.sort_by_key(|r| r.offset);
    for mut record in left {
        record.partial = true;
        done.push(record);
    }
    (done, merged)
}

/// Checks a file's events against [`expected_records`]; returns the events.
fn check_file<'a>(
    relative: &str,
    path: &str,
    bytes: &[u8],
    outs: &'a [Output],
    format: Format,
) -> Vec<&'a Event> {
    let (expected, merged) = expected_records(format, bytes);
    let got = events(outs);
    assert!(
        dead_letters(outs).is_empty(),
        "{relative}: {:?}",
        dead_letters(outs)
    );
    assert_eq!(
        got.len(),
        raw_lines(bytes).len() - merged,
        "{relative}: events = lines - merged"
    );
    assert_eq!(got.len(), expected.len(), "{relative}");
    for (event, want) in got.iter().zip(&expected) {
        assert_eq!(event.message, want.message, "{relative}");
        assert_eq!(event.stream, want.stream, "{relative}");
        assert_eq!(
            event.timestamp,
            want.timestamp.unwrap_or_else(super::ingested),
            "{relative}"
        );
        assert_eq!(
            is_partial(event),
            want.partial,
            "{relative}: {}",
            event.message
        );
        let id = event_id(
            path,
            RecordPosition::Offset {
                offset: want.offset,
                index: 0,
            },
        );
        assert_eq!(
            event.event.id, id,
            "{relative}: id of the record's first line"
        );
        assert_eq!(event.kind(), kestrel_event::EventKind::Container);
        assert_eq!(event.event.ingested, super::ingested());
        assert_eq!(event.log.as_ref().unwrap().file.path, path);
        assert_eq!(event.host.as_ref().unwrap().name, "node-1");
        let trimmed = event.message.trim();
        let is_object = trimmed.starts_with('{')
            && serde_json::from_str::<serde_json::Map<String, Value>>(trimmed).is_ok();
        assert_eq!(
            event.json.is_some(),
            is_object,
            "{relative}: json of {:?}",
            event.message
        );
        if let Some(json) = &event.json {
            assert_eq!(
                &serde_json::from_str::<serde_json::Map<String, Value>>(trimmed).unwrap(),
                json
            );
        }
    }
    got
}

/// The fluent-bit runtime tests (`tests/runtime/in_tail.c`) run every `tail/log/X.log` with
/// `docker_mode on`; these three also set `Docker_Mode_Parser docker_multiline`, whose regex
/// `^{"log":"\d{4}-\d{2}-\d{2}.*` marks first lines, which [`FirstLine::date_prefix`] mirrors.
const TAIL_CASES: [(&str, bool); 5] = [
    ("dockermode", false),
    ("dockermode_splitted_line", false),
    ("dockermode_multiple_lines", true),
    ("dockermode_splitted_multiple_lines", true),
    ("dockermode_firstline_detection", true),
];

#[test]
fn docker_tail_files_reproduce_fluent_bit_outputs() {
    let dir = "fluent_bit_container_logs/runtime/data/tail";
    let logs = corpus_files(&format!("{dir}/log"), ".log");
    let names: HashSet<_> = logs
        .iter()
        .map(|p| {
            p.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".log")
                .to_owned()
        })
        .collect();
    let cases: HashSet<_> = TAIL_CASES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names, cases, "every tail/log file has a case");
    for (name, grouped) in TAIL_CASES {
        let (path, bytes) = corpus_file(&format!("{dir}/log/{name}.log"));
        let (_, out) = corpus_file(&format!("{dir}/out/{name}.out"));
        let want: Vec<String> = raw_lines(&out)
            .iter()
            .map(|(_, _, line)| {
                let value: Value = serde_json::from_slice(line).expect(".out line is JSON");
                let log = value["log"].as_str().expect("`log` in .out");
                log.strip_suffix('\n').unwrap_or(log).to_owned()
            })
            .collect();
        assert_eq!(
            detect_format(path.as_ref(), &bytes),
            Some(Format::Docker),
            "{name}"
        );
        let first_line = grouped.then(FirstLine::date_prefix);
        let outs = run_with(Format::Docker, &path, &bytes, first_line);
        assert!(dead_letters(&outs).is_empty(), "{name}");
        let got: Vec<&str> = events(&outs).iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            got, want,
            "{name}: messages must reproduce tail/out/{name}.out"
        );
        let line_offsets: HashSet<String> = raw_lines(&bytes)
            .iter()
            .map(|(_, offset, _)| {
                event_id(
                    &path,
                    RecordPosition::Offset {
                        offset: *offset,
                        index: 0,
                    },
                )
            })
            .collect();
        for event in events(&outs) {
            assert!(
                line_offsets.contains(&event.event.id),
                "{name}: id is a line's offset"
            );
            assert!(!is_partial(event));
            assert_eq!(
                event.timestamp,
                super::ingested(),
                "no `time`: ingestion time"
            );
        }
        // Without grouping, split lines are still joined, and only that.
        let outs = run(Format::Docker, &path, &bytes);
        check_file(name, &path, &bytes, &outs, Format::Docker);
    }
}

#[test]
fn kubernetes_docker_logs_all_normalize() {
    let files = corpus_files("fluent_bit_container_logs/runtime/data/kubernetes", ".log");
    let mut historical = 0;
    let mut total_events = 0;
    for relative in &files {
        let (path, bytes) = corpus_file(relative);
        let format = detect_format(path.as_ref(), &bytes).expect("detected");
        assert!(
            matches!(format, Format::Docker | Format::Cri),
            "{relative}: {format}"
        );
        let outs = super::super::normalize_bytes(Format::Auto, super::ctx(&path), &bytes).unwrap();
        let got = check_file(relative, &path, &bytes, &outs, format);
        total_events += got.len();
        // `<pod>_<namespace>_<container>-<64 hex id>.log` carries Kubernetes metadata.
        let name = relative
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".log");
        let id = name.get(name.len().saturating_sub(64)..).unwrap_or("");
        let parts: Vec<&str> = name
            .get(..name.len().saturating_sub(65))
            .unwrap_or("")
            .split('_')
            .collect();
        for event in got {
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && parts.len() == 3 {
                let k8s = event.kubernetes.as_ref().expect("kubernetes metadata");
                assert_eq!(k8s.namespace.as_deref(), Some(parts[1]));
                assert_eq!(k8s.pod.as_ref().unwrap().name.as_deref(), Some(parts[0]));
                assert_eq!(
                    k8s.container.as_ref().unwrap().name.as_deref(),
                    Some(parts[2])
                );
                assert_eq!(event.container.as_ref().unwrap().id.as_deref(), Some(id));
                historical += 1;
            } else {
                assert!(
                    event.kubernetes.is_none() && event.container.is_none(),
                    "{relative}"
                );
            }
        }
    }
    assert!(
        historical >= 11,
        "historical files carry metadata in their names"
    );
    assert!(total_events >= 95, "{total_events}");
}

#[test]
fn kubernetes_logs_with_json_messages() {
    let dir = "fluent_bit_container_logs/runtime/data/kubernetes/log";
    let cases = [
        (
            "options/options_merge-log-enabled_json.log",
            Some(r#"{"text":"Simple text"}"#),
        ),
        ("options/options_merge-log-enabled_invalid-json.log", None),
        ("options/options_merge-log-trim-enabled_json.log", None),
        (
            "annotations-parser/annotations-parser_json-with-time_invalid-json-1.log",
            None,
        ),
        ("core/core_unescaping_text.log", None),
    ];
    for (file, want) in cases {
        let (path, bytes) = corpus_file(&format!("{dir}/{file}"));
        let outs = run(Format::Docker, &path, &bytes);
        let json = events(&outs)[0].json.clone().map(Value::Object);
        let want = want.map(|w| serde_json::from_str::<Value>(w).unwrap());
        assert_eq!(json, want, "{file}");
    }
    let (path, bytes) = corpus_file(&format!("{dir}/core/core_unescaping_json.log"));
    let outs = run(Format::Docker, &path, &bytes);
    let event = events(&outs)[0];
    let raw: Value = serde_json::from_slice(&bytes).unwrap();
    let inner: Value = serde_json::from_str(raw["log"].as_str().unwrap()).unwrap();
    assert_eq!(event.json.clone().map(Value::Object), Some(inner));
    // A last chunk without its newline is not lost: it is flushed as a partial event.
    let (path, bytes) = corpus_file(&format!("{dir}/core/core_uat-myapp-12345_fluent-bit.log"));
    let outs = run(Format::Docker, &path, &bytes);
    assert_eq!(events(&outs).len(), 1);
    assert_eq!(events(&outs)[0].message, "hello from uat pod");
    assert!(is_partial(events(&outs)[0]));
}

#[test]
fn beats_corrupted_docker_file_dead_letters_line_7_only() {
    let relative = "beats_docker_json/docker_corrupted.log";
    let (path, bytes) = corpus_file(relative);
    assert_eq!(detect_format(path.as_ref(), &bytes), Some(Format::Docker));
    let outs = run(Format::Docker, &path, &bytes);
    let lines = raw_lines(&bytes);
    assert_eq!(lines.len(), 21);
    assert_eq!(events(&outs).len(), 20);
    let letters = dead_letters(&outs);
    assert_eq!(letters.len(), 1);
    let letter = letters[0];
    let (number, offset, raw) = lines[6];
    assert_eq!(letter.line, Some(7));
    assert_eq!(number, 7);
    assert_eq!(letter.offset, Some(offset));
    assert_eq!(letter.raw, raw);
    assert_eq!(letter.source, path);
    assert_eq!(letter.received, super::ingested());
    assert!(
        letter
            .error
            .starts_with("line 7: not a docker json-file record: not a JSON object"),
        "{}",
        letter.error
    );
    // The other lines are plain records, in order.
    let others: Vec<_> = lines.iter().filter(|(n, _, _)| *n != 7).collect();
    for (event, (_, offset, line)) in events(&outs).iter().zip(others) {
        let value: Value = serde_json::from_slice(line).unwrap();
        assert_eq!(
            event.message,
            value["log"].as_str().unwrap().trim_end_matches('\n')
        );
        assert_eq!(
            event.timestamp,
            parse_timestamp(value["time"].as_str().unwrap()).unwrap()
        );
        assert_eq!(
            event.event.id,
            event_id(
                &path,
                RecordPosition::Offset {
                    offset: *offset,
                    index: 0
                }
            )
        );
    }
}

/// `Evt.Parsed[key]` values asserted by a CrowdSec `parser.assert` for the s00-raw parser,
/// by record index.
fn crowdsec_parsed(assert_file: &str, parser: &str) -> BTreeMap<usize, BTreeMap<String, String>> {
    let (_, bytes) = corpus_file(assert_file);
    let text = String::from_utf8(bytes).unwrap();
    let prefix = format!("results[\"s00-raw\"][\"{parser}\"][");
    let mut parsed: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((index, rest)) = rest.split_once("].Evt.Parsed[\"") else {
            continue;
        };
        let (key, value) = rest.split_once("\"] == ").unwrap();
        let value: String = serde_json::from_str(value).expect("Go string literal");
        parsed
            .entry(index.parse().unwrap())
            .or_default()
            .insert(key.to_owned(), value);
    }
    assert!(!parsed.is_empty(), "{assert_file}");
    parsed
}

#[test]
fn crowdsec_docker_logs_match_the_parser_assertions() {
    let (path, bytes) = corpus_file("crowdsec_hub/tests/docker-logs/docker-logs.log");
    assert_eq!(detect_format(path.as_ref(), &bytes), Some(Format::Docker));
    let outs = run(Format::Docker, &path, &bytes);
    check_file("docker-logs", &path, &bytes, &outs, Format::Docker);
    let want = crowdsec_parsed(
        "crowdsec_hub/tests/docker-logs/parser.assert",
        "crowdsecurity/docker-logs",
    );
    assert_eq!(events(&outs).len(), want.len());
    for (event, (_, fields)) in events(&outs).iter().zip(&want) {
        // CrowdSec keeps Docker's newline; Kestrel removes it.
        assert_eq!(format!("{}\n", event.message), fields["message"]);
    }
}

#[test]
fn crowdsec_cri_logs_match_the_parser_assertions() {
    let (path, bytes) = corpus_file("crowdsec_hub/tests/cri-logs/cri-logs.log");
    assert_eq!(detect_format(path.as_ref(), &bytes), Some(Format::Cri));
    let outs = run(Format::Cri, &path, &bytes);
    let got = check_file("cri-logs", &path, &bytes, &outs, Format::Cri);
    assert_eq!(got.len(), 3);
    let want = crowdsec_parsed(
        "crowdsec_hub/tests/cri-logs/parser.assert",
        "crowdsecurity/cri-logs",
    );
    assert_eq!(want.len(), 3);
    // Line 2 is a `P` line whose `F` never comes: flushed last, flagged partial.
    let by_time: BTreeMap<String, &Event> = got
        .iter()
        .map(|e| (kestrel_event::format_timestamp(&e.timestamp), *e))
        .collect();
    for fields in want.values() {
        let time =
            kestrel_event::format_timestamp(&parse_timestamp(&fields["cri_timestamp"]).unwrap());
        let event = by_time[&time];
        assert_eq!(event.message, fields["message"]);
        assert_eq!(
            event.stream.map(Stream::as_str),
            Some(fields["stream"].as_str())
        );
        assert_eq!(is_partial(event), fields["logtag"] == "P");
    }
    assert!(is_partial(got[2]));
}

#[test]
fn crowdsec_envoy_cri_logs_normalize_with_json() {
    let files: Vec<String> = corpus_files("crowdsec_hub/tests", ".log")
        .into_iter()
        .filter(|f| f.starts_with("crowdsec_hub/tests/envoy-"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let (mut total, mut offsets, mut json) = (0, 0, 0);
    for relative in &files {
        let (path, bytes) = corpus_file(relative);
        assert_eq!(
            detect_format(path.as_ref(), &bytes),
            Some(Format::Cri),
            "{relative}"
        );
        let outs = run(Format::Cri, &path, &bytes);
        let got = check_file(relative, &path, &bytes, &outs, Format::Cri);
        assert_eq!(
            got.len(),
            raw_lines(&bytes).len(),
            "{relative}: all F lines"
        );
        for (event, (_, _, line)) in got.iter().zip(raw_lines(&bytes)) {
            let text = std::str::from_utf8(line).unwrap();
            let mut parts = text.splitn(4, ' ');
            let time = parts.next().unwrap();
            offsets += usize::from(time.ends_with("+01:00"));
            assert_eq!(event.timestamp, parse_timestamp(time).unwrap());
            let message = parts.nth(2).unwrap();
            assert_eq!(event.message, message);
            // Envoy's JSON access logs are parsed; its text access logs are not.
            match serde_json::from_str::<Value>(message) {
                Ok(payload) => {
                    assert_eq!(event.json.clone().map(Value::Object), Some(payload.clone()));
                    assert_eq!(
                        event.field("json.response_code"),
                        payload.get("response_code").cloned()
                    );
                    json += 1;
                }
                Err(_) => assert!(event.json.is_none()),
            }
        }
        total += got.len();
    }
    assert_eq!(total, 53);
    assert_eq!(
        (offsets, json),
        (47, 49),
        "+01:00 times, JSON payloads (grep -c)"
    );
}

#[test]
fn fluent_bit_multiline_cri_lines_normalize() {
    let relative = "fluent_bit_container_logs/internal/data/avro/multiline_cri_lines.log";
    let (path, bytes) = corpus_file(relative);
    assert_eq!(detect_format(path.as_ref(), &bytes), Some(Format::Cri));
    let outs = run(Format::Cri, &path, &bytes);
    let got = check_file(relative, &path, &bytes, &outs, Format::Cri);
    assert_eq!(got.len(), 19);
    assert!(got.iter().all(|e| e.stream == Some(Stream::Stderr)));
    assert!(got[2]
        .message
        .starts_with("\tat org.apache.hadoop.ipc.Client.call"));
    // With grouping on indentation, the stack trace is two records: the first two lines
    // start without indentation, the 17 `\tat ...` lines join the second.
    let outs = run_with(Format::Cri, &path, &bytes, Some(FirstLine::not_indented()));
    let got = events(&outs);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].message.lines().count(), 18);
    let (_, second_offset, _) = raw_lines(&bytes)[1];
    assert_eq!(
        got[1].event.id,
        event_id(
            &path,
            RecordPosition::Offset {
                offset: second_offset,
                index: 0
            }
        )
    );
}

#[test]
fn path_metadata_reaches_container_events() {
    let id = "b75ad5eba8ddde3687e11d07b5f1d13b59c6168d5183621ac2792482b99e7155";
    let line = b"2020-01-01T00:00:00Z stdout F hi\n";
    let outs = run(Format::Cri, "/var/log/pods/ns1_pod1_uid-1/app/0.log", line);
    let k8s = events(&outs)[0].kubernetes.clone().unwrap();
    assert_eq!(k8s.namespace.as_deref(), Some("ns1"));
    assert_eq!(k8s.pod.as_ref().unwrap().uid.as_deref(), Some("uid-1"));
    assert_eq!(k8s.pod.unwrap().name.as_deref(), Some("pod1"));
    assert_eq!(k8s.container.unwrap().name.as_deref(), Some("app"));
    let path = format!("/var/lib/docker/containers/{id}/{id}-json.log");
    let outs = run(
        Format::Docker,
        &path,
        br#"{"log":"hi\n","stream":"stdout","time":"2020-01-01T00:00:00Z"}"#,
    );
    let event = events(&outs)[0];
    assert_eq!(event.field("container.id"), Some(Value::from(id)));
    assert!(event.kubernetes.is_none());
}
