//! Every Prometheus metric the process exports: name, kind, unit, labels, help and the
//! component that emits it. [`describe`] gives each its help text once the recorder is
//! installed; [`register`] creates the label-less series of the running components at zero,
//! so that dashboards and alerts see them from start-up (and a misspelt name shows as a
//! missing series). Labelled series are registered where their label values become known:
//! [`register_rules`], [`register_destinations`], the collector's per-file lag, the Kafka
//! consumer's per-partition lag, the API's per-route latency.

use metrics::Unit;

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution, exported with buckets.
    Histogram,
}

/// The part of the process that emits a metric; only the running ones are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The file tailer.
    Collector,
    /// The Docker API watcher (`collector.docker.enabled`).
    Docker,
    /// The Kubernetes pod watch (`collector.kubernetes.enabled`).
    Kubernetes,
    /// The audit webhook (`collector.webhook.listen`).
    Webhook,
    /// The Falco endpoint of the webhook listener (`collector.falco.enabled`).
    Falco,
    /// The Elasticsearch-compatible bulk API of the webhook listener
    /// (`collector.elasticsearch.enabled`).
    Elasticsearch,
    /// The OTLP/HTTP logs endpoint of the webhook listener (`collector.otlp.enabled`).
    Otlp,
    /// The Fluentd Forward protocol input (`collector.forward.listen`).
    Forward,
    /// The indexer.
    Indexer,
    /// The Kafka consumer of the indexer.
    Kafka,
    /// Real-time detection (`detection.rules`).
    Detection,
    /// Alert delivery (`alerting.destinations`).
    Alerting,
    /// The query API.
    Query,
}

/// One metric of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Its exported name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its unit.
    pub unit: Unit,
    /// Its label names; label-less metrics are registered at zero by [`register`].
    pub labels: &'static [&'static str],
    /// Who emits it.
    pub component: Component,
    /// Help text.
    pub help: &'static str,
}

/// Alerts raised, by `rule`.
pub const DETECTION_ALERTS: &str = "kestrel_detection_alerts_total";
/// Events evaluated by the detection rules.
pub const DETECTION_EVENTS: &str = "kestrel_detection_events_total";
/// Alert deliveries that succeeded, by `destination`.
pub const ALERTS_DELIVERED: &str = "kestrel_alerts_delivered_total";
/// Alert delivery attempts that failed and are retried, by `destination`.
pub const ALERTS_RETRIES: &str = "kestrel_alerts_delivery_retries_total";
/// Alert deliveries abandoned to the dead-letter list, by `destination`.
pub const ALERTS_DEAD_LETTERS: &str = "kestrel_alerts_dead_letters_total";
/// Records the collector could not normalize, by `source`.
pub const COLLECTOR_DEAD_LETTERS: &str = "kestrel_collector_dead_letters_total";
/// Commit latency of the indexer.
pub const INDEXER_COMMIT_DURATION: &str = "kestrel_indexer_commit_duration_seconds";

const fn metric(
    name: &'static str,
    kind: Kind,
    unit: Unit,
    labels: &'static [&'static str],
    component: Component,
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        unit,
        labels,
        component,
        help,
    }
}

use Component as C;
use Kind::{Counter, Gauge, Histogram};

/// The catalog.
#[rustfmt::skip]
pub const CATALOG: &[Metric] = &[
    // Collector.
    metric("kestrel_collector_lines_total", Counter, Unit::Count, &[], C::Collector,
        "Lines read from tailed files."),
    metric("kestrel_collector_bytes_total", Counter, Unit::Bytes, &[], C::Collector,
        "Bytes read from tailed files."),
    metric(COLLECTOR_DEAD_LETTERS, Counter, Unit::Count, &["source"], C::Collector,
        "Records that could not be normalized, kept in the dead-letter store."),
    metric("kestrel_collector_redactions_total", Counter, Unit::Count, &["kind"], C::Collector,
        "Secrets replaced by a marker before publishing, by kind (aws_access_key, password, k8s_secret, ...)."),
    metric("kestrel_collector_lag_bytes", Gauge, Unit::Bytes, &["path"], C::Collector,
        "Bytes of a tailed file not read yet."),
    metric("kestrel_collector_files_watched", Gauge, Unit::Count, &[], C::Collector,
        "Files being tailed."),
    metric("kestrel_collector_files_waiting", Gauge, Unit::Count, &[], C::Collector,
        "Files opened and waiting for the tailer to start reading them."),
    metric("kestrel_collector_directories_watched", Gauge, Unit::Count, &[], C::Collector,
        "Directories watched for new files."),
    metric("kestrel_collector_checkpoint_age_seconds", Gauge, Unit::Seconds, &[], C::Collector,
        "How long the oldest data read has waited for its checkpoint (0 when all are written)."),
    metric("kestrel_collector_partial_merges_total", Counter, Unit::Count, &[], C::Collector,
        "Partial lines merged into one event."),
    metric("kestrel_collector_partial_timeouts_total", Counter, Unit::Count, &[], C::Collector,
        "Partial or multi-line events flushed by timeout."),
    metric("kestrel_collector_truncations_total", Counter, Unit::Count, &[], C::Collector,
        "Events truncated to collector.max_event_bytes."),
    metric("kestrel_collector_enrichment_total", Counter, Unit::Count, &["source", "result"],
        C::Collector, "Metadata lookups for events, by source and hit or miss."),
    metric("kestrel_collector_docker_connected", Gauge, Unit::Count, &[], C::Docker,
        "1 while the Docker API answers, else 0."),
    metric("kestrel_collector_docker_disconnects_total", Counter, Unit::Count, &[], C::Docker,
        "Times the Docker API stopped answering."),
    metric("kestrel_collector_docker_containers", Gauge, Unit::Count, &[], C::Docker,
        "Containers known from the Docker API."),
    metric("kestrel_collector_kubernetes_pods", Gauge, Unit::Count, &["state"], C::Kubernetes,
        "Pods of this node in the pod cache, live or deleted (kept for their last lines)."),
    metric("kestrel_collector_webhook_requests_total", Counter, Unit::Count, &[], C::Webhook,
        "Audit webhook requests received."),
    metric("kestrel_collector_webhook_rejected_total", Counter, Unit::Count, &[], C::Webhook,
        "Audit webhook requests refused."),
    metric("kestrel_collector_webhook_events_total", Counter, Unit::Count, &[], C::Webhook,
        "Audit events received by the webhook."),
    metric("kestrel_collector_forward_connections_total", Counter, Unit::Count, &[], C::Forward,
        "Connections accepted by the forward input."),
    metric("kestrel_collector_forward_messages_total", Counter, Unit::Count, &[], C::Forward,
        "Forward protocol messages received."),
    metric("kestrel_collector_forward_events_total", Counter, Unit::Count, &[], C::Forward,
        "Events received by the forward input and handed to the bus."),
    metric("kestrel_collector_forward_rejected_total", Counter, Unit::Count, &[], C::Forward,
        "Forward messages, entries or streams refused (kept in the dead-letter store)."),
    metric("kestrel_collector_forward_acks_total", Counter, Unit::Count, &[], C::Forward,
        "Forward chunks acknowledged once the bus accepted their events."),
    metric("kestrel_collector_forward_auth_failures_total", Counter, Unit::Count, &[], C::Forward,
        "Forward senders refused by the shared-key or TLS handshake."),
    metric("kestrel_collector_falco_requests_total", Counter, Unit::Count, &[], C::Falco,
        "Requests received at the Falco endpoint."),
    metric("kestrel_collector_falco_unauthorized_total", Counter, Unit::Count, &[], C::Falco,
        "Falco requests refused for a missing or invalid bearer token."),
    metric("kestrel_collector_falco_rejected_total", Counter, Unit::Count, &[], C::Falco,
        "Falco requests refused because their body held no valid alert."),
    metric("kestrel_collector_falco_events_total", Counter, Unit::Count, &[], C::Falco,
        "Falco alerts stored as events."),
    metric("kestrel_collector_elasticsearch_requests_total", Counter, Unit::Count, &[], C::Elasticsearch,
        "Bulk requests received by the Elasticsearch API."),
    metric("kestrel_collector_elasticsearch_unauthorized_total", Counter, Unit::Count, &[], C::Elasticsearch,
        "Elasticsearch API requests refused for missing or invalid credentials."),
    metric("kestrel_collector_elasticsearch_rejected_total", Counter, Unit::Count, &[], C::Elasticsearch,
        "Bulk requests refused whole (body over the limit, bad gzip, no action)."),
    metric("kestrel_collector_elasticsearch_items_total", Counter, Unit::Count, &[], C::Elasticsearch,
        "Bulk items (actions) received."),
    metric("kestrel_collector_elasticsearch_errors_total", Counter, Unit::Count, &[], C::Elasticsearch,
        "Bulk items answered with an error (409 conflicts included)."),
    metric("kestrel_collector_elasticsearch_events_total", Counter, Unit::Count, &[], C::Elasticsearch,
        "Bulk documents stored as events."),
    metric("kestrel_collector_otlp_requests_total", Counter, Unit::Count, &[], C::Otlp,
        "OTLP/HTTP log export requests received."),
    metric("kestrel_collector_otlp_unauthorized_total", Counter, Unit::Count, &[], C::Otlp,
        "OTLP requests refused for missing or invalid credentials."),
    metric("kestrel_collector_otlp_rejected_total", Counter, Unit::Count, &[], C::Otlp,
        "OTLP requests refused whole: unreadable body, unknown content type or encoding, over the size limit."),
    metric("kestrel_collector_otlp_records_total", Counter, Unit::Count, &[], C::Otlp,
        "OTLP log records stored as events."),
    metric("kestrel_collector_otlp_rejected_records_total", Counter, Unit::Count, &[], C::Otlp,
        "OTLP log records rejected (answered in partial_success) and kept as dead letters."),
    // Indexer.
    metric("kestrel_indexer_events_indexed_total", Counter, Unit::Count, &[], C::Indexer,
        "Events added to the index."),
    metric("kestrel_indexer_duplicates_total", Counter, Unit::Count, &[], C::Indexer,
        "Events dropped because the index already held them."),
    metric("kestrel_indexer_dead_letters_total", Counter, Unit::Count, &[], C::Indexer,
        "Bus messages that were not events, sent to the dead-letter store."),
    metric("kestrel_indexer_commits_total", Counter, Unit::Count, &[], C::Indexer,
        "Index commits."),
    metric(INDEXER_COMMIT_DURATION, Histogram, Unit::Seconds, &[], C::Indexer,
        "Duration of index commits."),
    metric("kestrel_indexer_partitions_sealed_total", Counter, Unit::Count, &[], C::Indexer,
        "Partitions sealed: hashed into a signed manifest of the hash chain, never written again."),
    metric("kestrel_indexer_consumer_lag", Gauge, Unit::Count, &["topic", "partition"], C::Kafka,
        "Messages of a Kafka partition not consumed yet."),
    metric("kestrel_indexer_segments", Gauge, Unit::Count, &["shard", "index"], C::Kafka,
        "Segments of an index shard."),
    // Detection and alerting.
    metric(DETECTION_EVENTS, Counter, Unit::Count, &[], C::Detection,
        "Events evaluated by the detection rules."),
    metric(DETECTION_ALERTS, Counter, Unit::Count, &["rule"], C::Detection,
        "Alerts raised, by rule."),
    metric(ALERTS_DELIVERED, Counter, Unit::Count, &["destination"], C::Alerting,
        "Alerts delivered, by destination."),
    metric(ALERTS_RETRIES, Counter, Unit::Count, &["destination"], C::Alerting,
        "Failed alert delivery attempts that will be retried, by destination."),
    metric(ALERTS_DEAD_LETTERS, Counter, Unit::Count, &["destination"], C::Alerting,
        "Alert deliveries abandoned and kept in the dead-letter list, by destination."),
    // Query.
    metric(kestrel_query::request_metrics::REQUEST_DURATION, Histogram, Unit::Seconds,
        &["route", "status"], C::Query,
        "Query API request duration until the response head, by route pattern and status class."),
    metric("kestrel_audit_events_total", Counter, Unit::Count, &[], C::Query,
        "Events queued for Kestrel's own audit trail (API requests, starts and stops)."),
    metric("kestrel_audit_events_dropped_total", Counter, Unit::Count, &[], C::Query,
        "Audit trail events dropped because the queue to the writer was full."),
    metric("kestrel_audit_write_errors_total", Counter, Unit::Count, &[], C::Query,
        "Failed writes of a batch of audit trail events."),
    metric(kestrel_query::authorize::REQUESTS_DENIED, Counter, Unit::Count, &["reason"], C::Query,
        "Query API requests refused (401, 403, 429), by reason: no_credentials, invalid_token, expired_token, revoked_token, role, scope, unlisted_route, rate_limited."),
];

/// Bucket bounds of each histogram, in seconds.
pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (
        INDEXER_COMMIT_DURATION,
        &[
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ],
    ),
    (
        kestrel_query::request_metrics::REQUEST_DURATION,
        &[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
    ),
];

/// Gives every metric of the catalog its help text and unit (call once the recorder is
/// installed).
pub fn describe() {
    for metric in CATALOG {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.unit, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.unit, metric.help),
            Kind::Histogram => metrics::describe_histogram!(metric.name, metric.unit, metric.help),
        }
    }
}

/// Registers at zero the label-less metrics of `components`, and the dead-letter series of
/// the collector's sources (files, the webhook, the Falco endpoint, the Elasticsearch API).
/// the collector's sources (files, the webhook, the Falco endpoint, the forward input).
pub fn register(components: &[Component]) {
    for metric in CATALOG
        .iter()
        .filter(|m| m.labels.is_empty() && components.contains(&m.component))
    {
        match metric.kind {
            Kind::Counter => drop(metrics::counter!(metric.name)),
            Kind::Gauge => drop(metrics::gauge!(metric.name)),
            Kind::Histogram => drop(metrics::histogram!(metric.name)),
        }
    }
    if components.contains(&Component::Collector) {
        drop(metrics::counter!(COLLECTOR_DEAD_LETTERS, "source" => "files"));
    }
    if components.contains(&Component::Webhook) {
        let source = kestrel_collector::webhook::WEBHOOK_SOURCE;
        drop(metrics::counter!(COLLECTOR_DEAD_LETTERS, "source" => source));
    }
    if components.contains(&Component::Falco) {
        let source = kestrel_collector::falco::FALCO_SOURCE;
        drop(metrics::counter!(COLLECTOR_DEAD_LETTERS, "source" => source));
    }
    if components.contains(&Component::Elasticsearch) {
        let source = kestrel_collector::elasticsearch::ELASTICSEARCH_SOURCE;
        drop(metrics::counter!(COLLECTOR_DEAD_LETTERS, "source" => source));
    }
    if components.contains(&Component::Otlp) {
        let source = kestrel_collector::otlp::OTLP_SOURCE;
        drop(metrics::counter!(COLLECTOR_DEAD_LETTERS, "source" => source));
    }
    if components.contains(&Component::Query) {
        for denial in kestrel_query::authorize::Denial::ALL {
            let name = kestrel_query::authorize::REQUESTS_DENIED;
            drop(metrics::counter!(name, "reason" => denial.label()));
        }
    }
    if components.contains(&Component::Forward) {
        let source = kestrel_collector::forward::FORWARD_SOURCE;
        drop(metrics::counter!(COLLECTOR_DEAD_LETTERS, "source" => source));
    }
}

/// Registers at zero the alert counter of each rule.
pub fn register_rules<'a>(rules: impl IntoIterator<Item = &'a str>) {
    for rule in rules {
        drop(metrics::counter!(DETECTION_ALERTS, "rule" => rule.to_owned()));
    }
}

/// Registers at zero the delivery counters of each destination.
pub fn register_destinations<'a>(destinations: impl IntoIterator<Item = &'a str>) {
    for destination in destinations {
        for name in [ALERTS_DELIVERED, ALERTS_RETRIES, ALERTS_DEAD_LETTERS] {
            drop(metrics::counter!(name, "destination" => destination.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut names: Vec<_> = CATALOG.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len(), "a name is listed twice");
        for metric in CATALOG {
            assert!(metric.name.starts_with("kestrel_"), "{}", metric.name);
            assert_eq!(
                metric.name.ends_with("_total"),
                metric.kind == Kind::Counter,
                "{}: counters, and only they, end in _total",
                metric.name
            );
            let buckets = HISTOGRAM_BUCKETS
                .iter()
                .any(|(name, _)| *name == metric.name);
            assert_eq!(
                buckets,
                metric.kind == Kind::Histogram,
                "{}: histograms, and only they, have buckets",
                metric.name
            );
        }
    }

    /// Every metric the sources emit by a literal name is in the catalog, with its kind.
    #[test]
    fn every_emitted_metric_is_in_the_catalog() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let emitted = regex::Regex::new(r#"(counter|gauge|histogram)!\(\s*"(kestrel_[a-z0-9_]+)""#)
            .expect("valid pattern");
        let mut pending = vec![root.to_owned()];
        let mut found = 0;
        let mut missing = Vec::new();
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable directory") {
                let path = entry.expect("readable entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if path.is_dir() {
                    if !name.starts_with('.') && name != "target" {
                        pending.push(path);
                    }
                    continue;
                }
                if !name.ends_with(".rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("readable source");
                for capture in emitted.captures_iter(&text) {
                    found += 1;
                    let kind = match &capture[1] {
                        "counter" => Kind::Counter,
                        "gauge" => Kind::Gauge,
                        _ => Kind::Histogram,
                    };
                    let name = &capture[2];
                    if !CATALOG.iter().any(|m| m.name == name && m.kind == kind) {
                        missing.push(format!("{} ({kind:?}) in {}", name, path.display()));
                    }
                }
            }
        }
        assert!(found > 20, "only {found} metrics found in the sources");
        assert!(missing.is_empty(), "not in the catalog: {missing:#?}");
    }
}
