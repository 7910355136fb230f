//! The normalized event.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::timestamp::{rfc3339_nanos, Timestamp};

/// What produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A line written by a container (Docker json-file or CRI log).
    Container,
    /// A Kubernetes apiserver audit event.
    K8sAudit,
    /// A Falco runtime alert (Falco's JSON output), kept under `falco.*`.
    Falco,
    /// An access to Kestrel itself (an API request, a CLI query, a start or stop), kept under
    /// `kestrel.*`: Kestrel's own audit trail.
    KestrelAudit,
}

impl EventKind {
    /// The name used in `event.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Container => "container",
            EventKind::K8sAudit => "k8s_audit",
            EventKind::Falco => "falco",
            EventKind::KestrelAudit => "kestrel_audit",
        }
    }
}

/// The output stream a container line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Parses `stdout` or `stderr`.
    pub fn parse(text: &str) -> Option<Stream> {
        match text {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    /// The stream's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// `event.*`: bookkeeping about the event itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMeta {
    /// `event.kind`.
    pub kind: EventKind,
    /// `event.id`: deterministic, see [`crate::event_id`].
    pub id: String,
    /// `event.ingested`: when Kestrel read the record.
    #[serde(with = "rfc3339_nanos")]
    pub ingested: Timestamp,
}

/// `log.*`: where the record was read from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogMeta {
    /// `log.file`.
    pub file: LogFile,
    /// `log.offset`: byte offset of the record's first line in the file, which orders the
    /// lines of one file exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// `log.flags`: processing marks, such as `partial` for a record emitted before its end
    /// arrived or cut at the maximum event size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// `log.file.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogFile {
    /// `log.file.path`.
    pub path: String,
}

/// `host.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostMeta {
    /// `host.name`: the node the record was collected on.
    pub name: String,
}

/// `container.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContainerMeta {
    /// `container.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `container.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `container.image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `container.labels.*`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    /// `container.compose.*`: the Docker Compose project and service, from the container's
    /// `com.docker.compose.*` labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<ComposeMeta>,
}

/// `container.compose.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ComposeMeta {
    /// `container.compose.project` (label `com.docker.compose.project`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `container.compose.service` (label `com.docker.compose.service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// `kubernetes.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KubernetesMeta {
    /// `kubernetes.namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `kubernetes.pod.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<KubernetesPod>,
    /// `kubernetes.container.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<KubernetesContainer>,
    /// `kubernetes.node.*`: the node the pod is scheduled on, from the Kubernetes API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<KubernetesNode>,
}

/// `kubernetes.pod.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KubernetesPod {
    /// `kubernetes.pod.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `kubernetes.pod.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `kubernetes.pod.labels.*`: the pod's labels, from the Kubernetes API.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    /// `kubernetes.pod.owner.*`: the pod's controller (the owner reference marked
    /// `controller: true`), from the Kubernetes API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<KubernetesOwner>,
}

/// `kubernetes.pod.owner.*`: the object that controls a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KubernetesOwner {
    /// `kubernetes.pod.owner.kind`: the controller's kind (`ReplicaSet`, `StatefulSet`,
    /// `DaemonSet`, `Job`, ...).
    pub kind: String,
    /// `kubernetes.pod.owner.name`: the controller's name.
    pub name: String,
}

/// `kubernetes.node.*`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KubernetesNode {
    /// `kubernetes.node.name`: the node the pod runs on (`spec.nodeName`).
    pub name: String,
}

/// `kubernetes.container.*`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KubernetesContainer {
    /// `kubernetes.container.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One normalized event.
///
/// Serialized as nested JSON whose dotted paths are the schema's field names
/// (`{"event":{"kind":"container"}}` is `event.kind`). Audit events carry the apiserver's fields
/// (`verb`, `user`, `objectRef`, ...) unchanged in [`Event::audit`], flattened to the top level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `@timestamp`: when the record was written (container line time, audit
    /// `stageTimestamp`).
    #[serde(rename = "@timestamp", with = "rfc3339_nanos")]
    pub timestamp: Timestamp,
    /// `event.*`.
    pub event: EventMeta,
    /// `message`: the log line (container) or a one-line summary (audit).
    #[serde(default)]
    pub message: String,
    /// `log.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogMeta>,
    /// `host.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostMeta>,
    /// `stream` (container events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<Stream>,
    /// `container.*` (container events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerMeta>,
    /// `kubernetes.*` (container events from Kubernetes pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesMeta>,
    /// `json.*`: the fields of a container line that is itself a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Map<String, Value>>,
    /// The apiserver's audit fields, kept at the top level under their own names; for Falco
    /// alerts, the alert document under `falco` (`falco.rule`, `falco.priority`,
    /// `falco.output_fields`, ...).
    #[serde(flatten)]
    pub audit: Map<String, Value>,
}

impl Event {
    /// A new event with the core fields set and every optional part empty.
    pub fn new(kind: EventKind, id: String, timestamp: Timestamp, ingested: Timestamp) -> Event {
        Event {
            timestamp,
            event: EventMeta { kind, id, ingested },
            message: String::new(),
            log: None,
            host: None,
            stream: None,
            container: None,
            kubernetes: None,
            json: None,
            audit: Map::new(),
        }
    }

    /// Sets `log.file.path`.
    pub fn with_file_path(mut self, path: impl Into<String>) -> Event {
        let log = self.log.get_or_insert_with(LogMeta::default);
        log.file.path = path.into();
        self
    }

    /// Sets `log.offset`.
    pub fn with_file_offset(mut self, offset: u64) -> Event {
        self.log.get_or_insert_with(LogMeta::default).offset = Some(offset);
        self
    }

    /// Sets `host.name`.
    pub fn with_host_name(mut self, name: impl Into<String>) -> Event {
        self.host = Some(HostMeta { name: name.into() });
        self
    }

    /// Adds a flag to `log.flags` (once).
    pub fn add_flag(&mut self, flag: &str) {
        let log = self.log.get_or_insert_with(LogMeta::default);
        if !log.flags.iter().any(|f| f == flag) {
            log.flags.push(flag.to_owned());
        }
    }

    /// Whether `log.flags` holds `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.log
            .as_ref()
            .is_some_and(|l| l.flags.iter().any(|f| f == flag))
    }

    /// `event.id`.
    pub fn id(&self) -> &str {
        &self.event.id
    }

    /// `event.kind`.
    pub fn kind(&self) -> EventKind {
        self.event.kind
    }

    /// Serializes the event as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serialization of this type cannot fail: every map key is a string and every value is
        // plain data.
        serde_json::to_string(self).expect("event serializes to json")
    }

    /// Parses an event from its JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Looks a field up by its dotted path in the serialized form (`user.username`,
    /// `container.labels.app`). Returns `None` when absent.
    pub fn field(&self, path: &str) -> Option<Value> {
        let value = serde_json::to_value(self).ok()?;
        lookup_path(&value, path).cloned()
    }
}

/// Follows a dotted path through nested JSON objects. Keys that themselves contain dots (a
/// label `app.kubernetes.io/name`) are found by trying the longest key first.
pub fn lookup_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    let object = value.as_object()?;
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    let mut split_at = path.len();
    while let Some(dot) = path[..split_at].rfind('.') {
        if let Some(child) = object.get(&path[..dot]) {
            if let Some(found) = lookup_path(child, &path[dot + 1..]) {
                return Some(found);
            }
        }
        split_at = dot;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_timestamp;
    use serde_json::json;

    fn sample() -> Event {
        let ts = parse_timestamp("2024-01-02T03:04:05.123456789Z").unwrap();
        let mut event = Event::new(EventKind::K8sAudit, "abc".into(), ts, ts)
            .with_file_path("/var/log/audit.log")
            .with_host_name("node-1");
        event.message = "get secrets".into();
        event.audit.insert("verb".into(), json!("get"));
        event
            .audit
            .insert("user".into(), json!({"username": "system:anonymous"}));
        event
    }

    #[test]
    fn serializes_with_schema_paths() {
        let value = serde_json::to_value(sample()).unwrap();
        assert_eq!(value["@timestamp"], "2024-01-02T03:04:05.123456789Z");
        assert_eq!(value["event"]["kind"], "k8s_audit");
        assert_eq!(value["log"]["file"]["path"], "/var/log/audit.log");
        assert_eq!(value["host"]["name"], "node-1");
        assert_eq!(value["verb"], "get");
        assert_eq!(value["user"]["username"], "system:anonymous");
    }

    #[test]
    fn round_trips_through_json() {
        let event = sample();
        let back = Event::from_json(event.to_json().as_bytes()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn field_lookup_follows_dotted_paths() {
        let event = sample();
        assert_eq!(
            event.field("user.username"),
            Some(json!("system:anonymous"))
        );
        assert_eq!(event.field("event.kind"), Some(json!("k8s_audit")));
        assert_eq!(event.field("user.groups"), None);
        let labels = json!({"labels": {"app.kubernetes.io/name": "web"}});
        assert_eq!(
            lookup_path(&labels, "labels.app.kubernetes.io/name"),
            Some(&json!("web"))
        );
    }
}
