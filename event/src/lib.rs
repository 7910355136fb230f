//! The normalized event schema shared by every Kestrel stage.
//!
//! An [`Event`] is what the collector produces, what travels on the bus (as JSON) and what the
//! indexer stores. Container log lines and Kubernetes audit events share the core fields
//! (`@timestamp`, `event.*`, `message`, `log.file.path`, `host.name`); audit events keep the
//! apiserver's own field names at the top level so that rules written against the audit schema
//! match unmodified.
//!
//! Records that cannot be normalized become [`DeadLetter`]s, which keep their raw bytes.

mod dead_letter;
mod event;
mod id;
mod timestamp;

pub use dead_letter::DeadLetter;
pub use event::{
    lookup_path, ComposeMeta, ContainerMeta, Event, EventKind, EventMeta, HostMeta,
    KubernetesContainer, KubernetesMeta, KubernetesNode, KubernetesOwner, KubernetesPod, LogFile,
    LogMeta, Stream,
};
pub use id::{event_id, RecordPosition};
pub use timestamp::{format_timestamp, parse_timestamp, Timestamp, TimestampError};
