//! Shared test helpers, and the tests that run the normalizers over the third-party corpus in
//! `shared/corpus` (see its `SOURCES.md`).

mod corpus_audit;
mod corpus_container;
mod detect_corpus;
mod garbage;

use std::path::{Path, PathBuf};

use kestrel_event::{DeadLetter, Event, Timestamp};

use super::{
    normalize_bytes_with_options, FirstLine, Format, NormalizeOptions, Output, SourceContext,
};

/// A fixed ingestion time, so that outputs are reproducible.
pub(crate) fn ingested() -> Timestamp {
    kestrel_event::parse_timestamp("2030-01-02T03:04:05.000000006Z").expect("valid time")
}

pub(crate) fn ctx(path: &str) -> SourceContext {
    SourceContext {
        path: path.to_owned(),
        content_id: None,
        host_name: "node-1".to_owned(),
        ingested: ingested(),
    }
}

pub(crate) fn run(format: Format, path: &str, bytes: &[u8]) -> Vec<Output> {
    run_with(format, path, bytes, None)
}

pub(crate) fn run_with(
    format: Format,
    path: &str,
    bytes: &[u8],
    first_line: Option<FirstLine>,
) -> Vec<Output> {
    let options = NormalizeOptions {
        first_line,
        ..NormalizeOptions::default()
    };
    normalize_bytes_with_options(format, ctx(path), bytes, options).expect("format is known")
}

pub(crate) fn events(outs: &[Output]) -> Vec<&Event> {
    outs.iter().filter_map(Output::as_event).collect()
}

pub(crate) fn dead_letters(outs: &[Output]) -> Vec<&DeadLetter> {
    outs.iter().filter_map(Output::as_dead_letter).collect()
}

/// The corpus directory; panics when it is missing (the corpus tests must not be skipped).
pub(crate) fn corpus() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"));
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the third-party corpus is missing: expected it at {} (shared/corpus beside the workspace)",
        dir.display()
    );
    dir
}

/// A corpus file's absolute path (as a string, for `SourceContext::path`) and bytes.
pub(crate) fn corpus_file(relative: &str) -> (String, Vec<u8>) {
    let path = corpus().join(relative);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read corpus file {}: {e}", path.display()));
    (path.to_string_lossy().into_owned(), bytes)
}

/// The files under a corpus directory (recursively) whose names end with `suffix`, sorted,
/// as paths relative to the corpus. Panics when there are none.
pub(crate) fn corpus_files(relative_dir: &str, suffix: &str) -> Vec<String> {
    fn walk(dir: &Path, suffix: &str, found: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list corpus directory {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, suffix, found);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    let root = corpus();
    let mut found = Vec::new();
    walk(&root.join(relative_dir), suffix, &mut found);
    found.sort();
    assert!(
        !found.is_empty(),
        "no *{suffix} files under corpus/{relative_dir}"
    );
    found
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under the corpus")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The non-blank lines of a file, with their 1-based numbers and byte offsets.
pub(crate) fn raw_lines(bytes: &[u8]) -> Vec<(u64, u64, &[u8])> {
    let mut lines = Vec::new();
    let mut offset = 0u64;
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
        if !trimmed.trim_ascii().is_empty() {
            lines.push((n as u64 + 1, offset, trimmed));
        }
        offset += line.len() as u64 + 1;
    }
    lines
}

#[test]
fn formats_have_stable_names() {
    for (format, name) in [
        (Format::Auto, "auto"),
        (Format::Docker, "docker"),
        (Format::Cri, "cri"),
        (Format::K8sAudit, "k8s-audit"),
    ] {
        assert_eq!(format.to_string(), name);
        assert_eq!(name.parse::<Format>(), Ok(format));
        assert_eq!(
            serde_json::to_string(&format).unwrap(),
            format!("\"{name}\"")
        );
        assert_eq!(
            serde_json::from_str::<Format>(&format!("\"{name}\"")).unwrap(),
            format
        );
    }
    assert!("json".parse::<Format>().is_err());
}

#[test]
fn auto_fails_only_when_nothing_tells_the_format() {
    let err = super::normalize_bytes(Format::Auto, ctx("/tmp/notes.txt"), b"just some text\n")
        .unwrap_err();
    assert_eq!(
        err,
        super::NormalizeError::UndetectedFormat {
            path: "/tmp/notes.txt".to_owned()
        }
    );
    let outs = super::normalize_bytes(
        Format::Auto,
        ctx("/tmp/x.log"),
        b"2020-01-01T00:00:00Z stdout F hi\n",
    )
    .unwrap();
    assert_eq!(events(&outs)[0].message, "hi");
}

#[test]
fn the_auto_normalizer_detects_from_the_lines_it_is_fed() {
    let input = b"garbage first\n{\n  \"kind\": \"Event\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"verb\": \"get\",\n  \"stageTimestamp\": \"2020-01-01T00:00:00Z\"\n}\n";
    let mut n = super::normalizer_for(Format::Auto, ctx("/tmp/x.log"));
    let mut out = Vec::new();
    for line in super::lines(input) {
        n.push_line(line, &mut out);
    }
    n.flush(&mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    let letter = dead_letters(&out)[0];
    assert_eq!(letter.line, Some(1));
    assert!(letter.error.contains("cannot detect the log format"));
    let event = events(&out)[0];
    assert_eq!(event.message, "get");
    assert_eq!(
        event.event.id,
        kestrel_event::event_id(
            "/tmp/x.log",
            kestrel_event::RecordPosition::Offset {
                offset: 14,
                index: 0
            }
        )
    );
}
