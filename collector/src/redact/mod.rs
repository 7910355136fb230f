//! Secrets redacted before events leave the node: every source's events (and the raw bytes
//! of its dead letters) go through a [`Redaction`] before they are published, so neither the
//! bus (Kafka) nor the index nor the data directory ever holds the secret.
//!
//! Each secret is replaced by `[REDACTED:<kind>:<8 hex>]` ([`marker`]): the hex digits are
//! HMAC-SHA256 of the secret under a key of the node's ([`key`]), so equal secrets carry equal
//! markers. What is found:
//!
//! * in text ([`detectors`], behind a cheap [`prefilter`]): AWS access key ids and secret
//!   keys, GCP service-account private keys, Azure storage account keys, GitHub, GitLab,
//!   Slack and Stripe tokens, JWTs, `Authorization: Bearer|Basic` values, passwords in URLs,
//!   PEM private keys, the values of `password=` / `secret=` / `token=` / `api_key=` keys,
//!   card numbers passing the Luhn check ([`luhn`]), and the configured patterns;
//! * in JSON ([`structured`]): the whole value of every credential-looking key, and the
//!   text detectors' finds in every other string;
//! * in audit events ([`audit`]): the `data` and `stringData` of Secrets, the
//!   credential-looking keys of ConfigMaps, the manifests of last-applied annotations.
//!
//! Per-source allow-lists ([`allow`]) keep values that look like secrets but are not.

pub mod allow;
pub mod audit;
pub mod detectors;
mod error;
pub mod key;
pub mod luhn;
pub mod marker;
pub mod prefilter;
pub mod structured;
pub mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use kestrel_event::{DeadLetter, Event, EventKind};

pub use allow::{AllowList, AllowSettings};
pub use error::RedactError;
pub use key::{load_key, KeySource};
pub use marker::{is_marker, Marker, MARKER_PREFIX};
pub use text::{PatternSettings, Tally, TextRedactor};

use structured::Walk;

/// The counter of replaced secrets, by `kind`.
pub const REDACTIONS_METRIC: &str = "kestrel_collector_redactions_total";

/// Where events come from, for allow-lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Tailed files (Docker json-file, CRI, audit logs) and `kestrel ingest`.
    Files,
    /// The audit webhook.
    Webhook,
    /// The Falco endpoint.
    Falco,
    /// The Elasticsearch bulk API.
    Elasticsearch,
    /// The OTLP logs endpoint.
    Otlp,
    /// The Fluentd Forward input.
    Forward,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 6] = [
        Source::Files,
        Source::Webhook,
        Source::Falco,
        Source::Elasticsearch,
        Source::Otlp,
        Source::Forward,
    ];

    /// The name used in `collector.redaction.allow.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Files => "files",
            Source::Webhook => "webhook",
            Source::Falco => "falco",
            Source::Elasticsearch => "elasticsearch",
            Source::Otlp => "otlp",
            Source::Forward => "forward",
        }
    }

    /// The source of a name, if it is one.
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Everything a redactor is built from. Its `Debug` output hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactionSettings {
    /// The HMAC key of the markers (see [`load_key`]).
    pub key: Vec<u8>,
    /// Extra patterns.
    pub patterns: Vec<PatternSettings>,
    /// Allow-lists by source name (see [`Source::name`]); `all` applies to every source.
    pub allow: BTreeMap<String, AllowSettings>,
}

impl std::fmt::Debug for RedactionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactionSettings")
            .field("key", &format_args!("{} bytes hidden", self.key.len()))
            .field("patterns", &self.patterns)
            .field("allow", &self.allow)
            .finish()
    }
}

/// Finds and replaces secrets.
#[derive(Debug)]
pub struct Redactor {
    text: TextRedactor,
    /// One allow-list per source (the `all` list merged into each).
    allow: Vec<AllowList>,
}

/// Counts replaced secrets in `kestrel_collector_redactions_total` and in total.
#[derive(Debug, Default)]
pub struct Counted {
    /// Secrets replaced.
    pub total: u64,
}

impl Tally for Counted {
    fn redacted(&mut self, kind: &str) {
        self.total += 1;
        metrics::counter!("kestrel_collector_redactions_total", "kind" => kind.to_owned())
            .increment(1);
    }
}

impl Redactor {
    /// Builds a redactor; errors name the configuration key at fault.
    pub fn new(settings: &RedactionSettings) -> Result<Redactor, RedactError> {
        let text = TextRedactor::new(&settings.patterns, Marker::new(&settings.key))?;
        let all = settings.allow.get("all").cloned().unwrap_or_default();
        let mut allow = Vec::with_capacity(Source::ALL.len());
        for source in Source::ALL {
            let own = settings
                .allow
                .get(source.name())
                .cloned()
                .unwrap_or_default();
            let merged = AllowSettings {
                values: own.values.iter().chain(&all.values).cloned().collect(),
                patterns: own.patterns.iter().chain(&all.patterns).cloned().collect(),
            };
            allow.push(AllowList::new(
                &merged,
                &format!("collector.redaction.allow.{}", source.name()),
            )?);
        }
        Ok(Redactor { text, allow })
    }

    /// Replaces the secrets of `event`; returns how many were replaced.
    pub fn redact_event(&self, source: Source, event: &mut Event) -> u64 {
        let mut counted = Counted::default();
        let allow = &self.allow[source.index()];
        let mut walk = Walk {
            text: &self.text,
            allow,
            tally: &mut counted,
        };
        walk.string(&mut event.message);
        if let Some(json) = &mut event.json {
            walk.map(json);
        }
        if !event.audit.is_empty() {
            if event.event.kind == EventKind::K8sAudit {
                audit::redact_audit(&mut walk, &mut event.audit);
            }
            walk.map(&mut event.audit);
        }
        counted.total
    }

    /// Replaces the secrets the text detectors find in a dead letter's raw bytes (read as
    /// UTF-8, invalid sequences replaced, when a secret is found) and in its error message.
    pub fn redact_dead_letter(&self, source: Source, letter: &mut DeadLetter) -> u64 {
        let mut counted = Counted::default();
        let allow = &self.allow[source.index()];
        let raw = String::from_utf8_lossy(&letter.raw);
        if let Cow::Owned(redacted) = self.text.redact(&raw, allow, &mut counted) {
            letter.raw = redacted.into_bytes();
        }
        if let Cow::Owned(redacted) = self.text.redact(&letter.error, allow, &mut counted) {
            letter.error = redacted;
        }
        counted.total
    }

    /// `text` with its secrets replaced, as from `source`.
    pub fn redact_text<'a>(&self, source: Source, text: &'a str) -> Cow<'a, str> {
        let mut counted = Counted::default();
        self.text
            .redact(text, &self.allow[source.index()], &mut counted)
    }
}

/// The redaction a source applies: a shared [`Redactor`], or none (redaction disabled).
#[derive(Debug, Clone, Default)]
pub struct Redaction(Option<Arc<Redactor>>);

impl Redaction {
    /// No redaction.
    pub fn disabled() -> Redaction {
        Redaction(None)
    }

    /// Redaction by `redactor`.
    pub fn new(redactor: Redactor) -> Redaction {
        Redaction(Some(Arc::new(redactor)))
    }

    /// Whether secrets are redacted.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Redacts every event; returns how many secrets were replaced.
    pub fn events(&self, source: Source, events: &mut [Event]) -> u64 {
        let Some(redactor) = &self.0 else {
            return 0;
        };
        events
            .iter_mut()
            .map(|event| redactor.redact_event(source, event))
            .sum()
    }

    /// Redacts one event; returns how many secrets were replaced.
    pub fn event(&self, source: Source, event: &mut Event) -> u64 {
        match &self.0 {
            Some(redactor) => redactor.redact_event(source, event),
            None => 0,
        }
    }

    /// Redacts every dead letter; returns how many secrets were replaced.
    pub fn dead_letters(&self, source: Source, letters: &mut [DeadLetter]) -> u64 {
        let Some(redactor) = &self.0 else {
            return 0;
        };
        letters
            .iter_mut()
            .map(|letter| redactor.redact_dead_letter(source, letter))
            .sum()
    }
}

#[cfg(test)]
mod tests;
