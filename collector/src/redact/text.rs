//! Redaction of free text: the prefilter, then the candidate detectors and the configured
//! patterns; every secret found is replaced by its marker unless the source's allow-list keeps
//! it. Text without a secret is returned borrowed.

use std::borrow::Cow;

use regex::Regex;

use super::allow::AllowList;
use super::detectors::{self, Detector};
use super::error::RedactError;
use super::marker::{Marker, MARKER_PREFIX};
use super::prefilter::Prefilter;

/// A configured extra pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSettings {
    /// The kind named in the markers (`[REDACTED:<name>:...]`).
    pub name: String,
    /// The expression; its first capture group is the secret if it has one, else the whole
    /// match.
    pub regex: String,
}

/// A secret found in a text: its byte range and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    kind: Kind,
}

/// A built-in kind or the index of a configured pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Builtin(&'static str),
    Custom(usize),
}

/// Everything that finds secrets in text.
#[derive(Debug)]
pub struct TextRedactor {
    builtin: Vec<Detector>,
    prefilter: Prefilter,
    custom: Vec<(String, Regex)>,
    marker: Marker,
}

/// What to do with the secrets found: count them, by kind.
pub trait Tally {
    /// One secret of `kind` was replaced.
    fn redacted(&mut self, kind: &str);
}

impl TextRedactor {
    /// The built-in detectors and the configured `patterns` (named
    /// `collector.redaction.patterns[i]` in errors), keyed by `marker`.
    pub fn new(patterns: &[PatternSettings], marker: Marker) -> Result<TextRedactor, RedactError> {
        let builtin = detectors::builtin();
        let prefilter = Prefilter::new(&builtin);
        let mut custom = Vec::with_capacity(patterns.len());
        for (i, pattern) in patterns.iter().enumerate() {
            let regex = Regex::new(&pattern.regex).map_err(|source| RedactError::Pattern {
                key: format!("collector.redaction.patterns[{i}].regex"),
                pattern: pattern.regex.clone(),
                source: Box::new(source),
            })?;
            custom.push((pattern.name.clone(), regex));
        }
        Ok(TextRedactor {
            builtin,
            prefilter,
            custom,
            marker,
        })
    }

    /// The marker renderer.
    pub fn marker(&self) -> &Marker {
        &self.marker
    }

    /// `text` with its secrets replaced (borrowed when there are none).
    pub fn redact<'a>(
        &self,
        text: &'a str,
        allow: &AllowList,
        tally: &mut dyn Tally,
    ) -> Cow<'a, str> {
        let candidates = self.prefilter.candidates(text);
        if candidates == 0 && self.custom.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut spans = Vec::new();
        for (i, detector) in self.builtin.iter().enumerate() {
            if candidates & (1 << i) != 0 {
                detector.find(text, |start, end, kind| {
                    spans.push(Span {
                        start,
                        end,
                        kind: Kind::Builtin(kind),
                    })
                });
            }
        }
        for (i, (_, regex)) in self.custom.iter().enumerate() {
            for captures in regex.captures_iter(text) {
                let Some(secret) = captures.get(1).or_else(|| captures.get(0)) else {
                    continue;
                };
                if !secret.is_empty() {
                    spans.push(Span {
                        start: secret.start(),
                        end: secret.end(),
                        kind: Kind::Custom(i),
                    });
                }
            }
        }
        drop_inside_markers(text, &mut spans);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        self.replace(text, merge(spans), allow, tally)
    }

    fn replace<'a>(
        &self,
        text: &'a str,
        spans: Vec<Span>,
        allow: &AllowList,
        tally: &mut dyn Tally,
    ) -> Cow<'a, str> {
        let mut out = String::new();
        let mut copied = 0;
        for span in spans {
            let secret = &text[span.start..span.end];
            if allow.allows(secret) {
                continue;
            }
            let kind = match span.kind {
                Kind::Builtin(kind) => kind,
                Kind::Custom(i) => self.custom[i].0.as_str(),
            };
            if out.is_empty() {
                out.reserve(text.len() + 32);
            }
            out.push_str(&text[copied..span.start]);
            self.marker.write(kind, secret, &mut out);
            tally.redacted(kind);
            copied = span.end;
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// Removes the spans that touch a marker already in `text` (`[REDACTED:k8s_secret:...]`
/// reads like a `secret:` key-value).
fn drop_inside_markers(text: &str, spans: &mut Vec<Span>) {
    let mut markers = Vec::new();
    for start in memchr::memmem::find_iter(text.as_bytes(), MARKER_PREFIX.as_bytes()) {
        let end = text[start..]
            .find(']')
            .map_or(text.len(), |at| start + at + 1);
        markers.push((start, end));
    }
    if markers.is_empty() {
        return;
    }
    spans.retain(|span| {
        !markers
            .iter()
            .any(|&(start, end)| span.start < end && start < span.end)
    });
}

/// Sorts the spans and joins overlapping ones (the earlier span's kind names the union).
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    // Stable: among spans starting together, the detector listed first wins.
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}
