//! Kubernetes objects inside audit events: the `data` and `stringData` of Secrets (alone, in
//! a `SecretList`, in a patch), the credential-looking keys of ConfigMaps, and the manifests
//! kept whole in `kubectl.kubernetes.io/last-applied-configuration` annotations. Whatever the
//! audit policy level recorded of them; the rest of the event is walked as any JSON.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;
use serde_json::{Map, Value};

use super::structured::Walk;

/// The kind of a Secret's values in markers.
pub const SECRET_KIND: &str = "k8s_secret";
/// The kind of a ConfigMap's credential-looking values in markers.
pub const CONFIGMAP_KIND: &str = "configmap_credential";
/// The annotation holding a whole manifest as a JSON string.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// ConfigMap keys whose value is taken for a credential as a whole.
static CONFIGMAP_CREDENTIAL_KEY: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern: compiling cannot fail.
    Regex::new(
        r"(?i)passw|secret|token|api[_-]?key|access[_-]?key|credential|private|htpasswd|kubeconfig|id_rsa|id_ecdsa|id_ed25519|\.(?:pem|key|p12|pfx|jks)$",
    )
    .expect("ConfigMap credential key pattern compiles")
});

/// What an object is taken for when it does not say (`kind` is absent from patches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    Secret,
    ConfigMap,
    Unknown,
}

/// Redacts the objects of an audit event (`requestObject`, `responseObject`).
pub fn redact_audit(walk: &mut Walk<'_>, audit: &mut Map<String, Value>) {
    let resource = audit
        .get("objectRef")
        .and_then(|r| r.get("resource"))
        .and_then(Value::as_str);
    let hint = match resource {
        Some("secrets") => Hint::Secret,
        Some("configmaps") => Hint::ConfigMap,
        _ => Hint::Unknown,
    };
    for field in ["requestObject", "responseObject"] {
        if let Some(object) = audit.get_mut(field) {
            redact_object(walk, object, hint);
        }
    }
}

/// Redacts one Kubernetes object (or list, or JSON patch) and the manifests in its
/// annotations.
fn redact_object(walk: &mut Walk<'_>, value: &mut Value, hint: Hint) {
    let map = match value {
        Value::Object(map) => map,
        Value::Array(operations) => return redact_json_patch(walk, operations, hint),
        _ => return,
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let own = match (kind, hint) {
        ("Secret", _) | ("", Hint::Secret) => Hint::Secret,
        ("ConfigMap", _) | ("", Hint::ConfigMap) => Hint::ConfigMap,
        _ => Hint::Unknown,
    };
    let item_hint = match kind {
        "SecretList" => Hint::Secret,
        "ConfigMapList" => Hint::ConfigMap,
        _ => Hint::Unknown,
    };
    match own {
        Hint::Secret => redact_secret(walk, map),
        Hint::ConfigMap => redact_configmap(walk, map),
        Hint::Unknown => {}
    }
    if let Some(Value::Array(items)) = map.get_mut("items") {
        for item in items {
            redact_object(walk, item, item_hint);
        }
    }
    redact_last_applied(walk, map);
}

fn redact_secret(walk: &mut Walk<'_>, secret: &mut Map<String, Value>) {
    if let Some(Value::Object(data)) = secret.get_mut("data") {
        for value in data.values_mut() {
            if let Value::String(encoded) = value {
                // Marked by the decoded value, so that a secret has one marker in `data`
                // (base64) and in `stringData` (plain).
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                walk.replace_as(SECRET_KIND, encoded, decoded.as_deref());
            }
        }
    }
    if let Some(Value::Object(data)) = secret.get_mut("stringData") {
        for value in data.values_mut() {
            walk.whole(SECRET_KIND, value);
        }
    }
}

fn redact_configmap(walk: &mut Walk<'_>, configmap: &mut Map<String, Value>) {
    for field in ["data", "binaryData"] {
        let Some(Value::Object(data)) = configmap.get_mut(field) else {
            continue;
        };
        for (key, value) in data.iter_mut() {
            if !CONFIGMAP_CREDENTIAL_KEY.is_match(key) {
                continue;
            }
            // A file's secrets are replaced in place (rules still see `password=`); an
            // opaque value as a whole.
            match value {
                Value::String(text) => walk.text_or_whole(CONFIGMAP_KIND, text),
                other => walk.whole(CONFIGMAP_KIND, other),
            }
        }
    }
}

/// A JSON patch (`[{"op": "replace", "path": "/data/password", "value": ...}]`) of a Secret:
/// the values it writes under `/data` and `/stringData`.
fn redact_json_patch(walk: &mut Walk<'_>, operations: &mut [Value], hint: Hint) {
    if hint != Hint::Secret {
        return;
    }
    for operation in operations {
        let Value::Object(operation) = operation else {
            continue;
        };
        let path = operation
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if path.starts_with("/data") || path.starts_with("/stringData") {
            if let Some(value) = operation.get_mut("value") {
                walk.whole(SECRET_KIND, value);
            }
        }
    }
}

/// The manifest in `metadata.annotations[LAST_APPLIED]`, redacted as an object and written
/// back; a value that is not JSON goes through the text detectors.
fn redact_last_applied(walk: &mut Walk<'_>, object: &mut Map<String, Value>) {
    let Some(Value::String(manifest)) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(|a| a.get_mut(LAST_APPLIED))
    else {
        return;
    };
    let Ok(mut parsed) = serde_json::from_str::<Value>(manifest) else {
        walk.string(manifest);
        return;
    };
    redact_object(walk, &mut parsed, Hint::Unknown);
    walk.value(&mut parsed);
    // Any JSON value serializes.
    let mut written = serde_json::to_string(&parsed).expect("JSON value serializes");
    if manifest.ends_with('\n') {
        written.push('\n');
    }
    *manifest = written;
}
