//! Property-style checks: no input makes a normalizer panic, and every normalizer settles.

use super::{corpus_file, ctx, raw_lines};
use crate::normalize::{
    lines, normalizer_with_options, FirstLine, Format, NormalizeOptions, Output,
};

/// xorshift64*: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces that push parsers down their interesting paths.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    ":",
    ",",
    " ",
    "\n",
    "\r\n",
    "\u{feff}",
    "\"log\":",
    "\"stream\":\"stdout\"",
    "\"time\":\"2020-01-01T00:00:00Z\"",
    "2020-01-01T00:00:00.123456789+01:00",
    "stdout",
    "stderr",
    " P ",
    " F ",
    "\"kind\":\"Event\"",
    "\"kind\":\"EventList\"",
    "\"items\":[",
    "\"records\":[",
    "\"properties\":{\"log\":\"",
    "\"auditID\":\"x\"",
    "\"verb\":\"get\"",
    "\"stageTimestamp\":\"2020-01-01T00:00:00Z\"",
    "\\n",
    "\\\"",
    "null",
    "0",
    "é",
    "\u{0}",
    "-1e999",
];

fn garbage(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..rng.below(200) {
        match rng.below(3) {
            0 => bytes.push(rng.next() as u8),
            _ => bytes.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes()),
        }
    }
    bytes
}

/// A corpus line with a few bytes flipped, cut or doubled.
fn mutated(rng: &mut Rng, samples: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = samples[rng.below(samples.len())].clone();
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes.truncate(at),
            2 => bytes.insert(at, b"{}[]\"\\\n "[rng.below(8)]),
            _ => {
                let tail = bytes[at..].to_vec();
                bytes.extend_from_slice(&tail);
            }
        }
    }
    bytes
}

fn run_all(format: Format, input: &[u8], options: &NormalizeOptions) -> Vec<Output> {
    let mut n = normalizer_with_options(format, ctx("/var/log/containers/x.log"), options.clone());
    let mut out = Vec::new();
    for line in lines(input) {
        n.push_line(line, &mut out);
        if let Some(pending) = n.pending_offset() {
            assert!(
                pending <= line.offset,
                "pending offset {pending} is behind the line read"
            );
        }
    }
    n.flush(&mut out);
    assert_eq!(n.pending_offset(), None, "nothing pending after flush");
    out
}

#[test]
fn no_input_makes_a_normalizer_panic() {
    let mut samples = Vec::new();
    for file in [
        "beats_docker_json/docker_corrupted.log",
        "crowdsec_hub/tests/cri-logs/cri-logs.log",
        "combined/k8s_audit_events_all.jsonl",
        "sysdig_aks_audit_samples/sample_EventHubs_event.json",
    ] {
        let (_, bytes) = corpus_file(file);
        samples.extend(
            raw_lines(&bytes)
                .iter()
                .take(20)
                .map(|(_, _, l)| l.to_vec()),
        );
        samples.push(bytes);
    }
    let options = [
        NormalizeOptions::default(),
        NormalizeOptions {
            first_line: Some(FirstLine::date_prefix()),
            max_record_bytes: 64,
        },
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..1500 {
        let mut input = Vec::new();
        for _ in 0..=rng.below(6) {
            let piece = if rng.below(2) == 0 {
                garbage(&mut rng)
            } else {
                mutated(&mut rng, &samples)
            };
            input.extend_from_slice(&piece);
            input.push(b'\n');
        }
        for format in [Format::Docker, Format::Cri, Format::K8sAudit, Format::Auto] {
            let out = run_all(format, &input, &options[round % 2]);
            for output in &out {
                if let Output::DeadLetter(letter) = output {
                    assert!(letter.line.is_some() && letter.offset.is_some());
                    assert!(letter.error.starts_with("line "), "{}", letter.error);
                }
            }
        }
    }
}

#[test]
fn record_size_is_bounded() {
    let options = NormalizeOptions {
        first_line: None,
        max_record_bytes: 10,
    };
    let chunk = br#"{"log":"0123456","stream":"stdout"}"#;
    let mut input = Vec::new();
    for _ in 0..5 {
        input.extend_from_slice(chunk);
        input.push(b'\n');
    }
    let out = run_all(Format::Docker, &input, &options);
    let events: Vec<_> = out.iter().filter_map(Output::as_event).collect();
    assert_eq!(events.len(), 5);
    assert!(events
        .iter()
        .all(|e| e.message == "0123456" && crate::normalize::is_partial(e)));
    let pretty = b"{\n\"a\": \"0123456789\",\n\"b\": 1\n}\n";
    let out = run_all(Format::K8sAudit, pretty, &options);
    let letter = out[0].as_dead_letter().expect("too long");
    assert!(
        letter.error.contains("longer than 10 bytes"),
        "{}",
        letter.error
    );
}
