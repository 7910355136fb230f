//! Layering defaults, the TOML file and `KESTREL_*` environment variables.

use std::path::Path;

use figment::error::Kind;
use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use crate::{Config, ConfigError};

/// Prefix of the environment variables read by [`load()`].
pub(crate) const ENV_PREFIX: &str = "KESTREL_";

/// Loads the configuration: defaults, then the TOML `file` if given, then
/// `KESTREL_*` environment variables; then reads `query.auth.token_files`
/// and runs [`Config::validate()`].
///
/// # Environment variables
///
/// `KESTREL_` followed by the key path in upper case, with `__` between
/// nesting levels: `KESTREL_DATA_DIR`, `KESTREL_QUERY__LISTEN`,
/// `KESTREL_COLLECTOR__POLL_INTERVAL=500ms`,
/// `KESTREL_BUS__KAFKA__PROPERTIES__SASL__MECHANISM=PLAIN` (sets the
/// librdkafka property `sasl.mechanism`). Values are taken as strings and
/// converted to numbers or booleans where the key wants one; a value
/// starting with `[` or `{` is parsed as an array or table
/// (`KESTREL_QUERY__AUTH__TOKENS=[tok1,tok2]`). Unknown keys are errors, as in
/// the file, except for the service-link variables Kubernetes injects for
/// Services whose names start with `kestrel` (`KESTREL_QUERY_SERVICE_HOST`,
/// `KESTREL_QUERY_PORT_443_TCP_ADDR`, ...), which are ignored.
///
/// # Errors
///
/// [`ConfigError::FileNotFound`] if `file` does not exist; otherwise every
/// error names its origin (the file or the environment variable), the key
/// path and the problem.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    load_with(file, ENV_PREFIX)
}

/// [`load()`] with another environment variable prefix (for tests).
pub(crate) fn load_with(file: Option<&Path>, env_prefix: &str) -> Result<Config, ConfigError> {
    let env = EnvProvider::new(env_prefix);
    let mut figment = Figment::new();
    if let Some(path) = file {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source: std::io::Error::other("is a directory"),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::FileNotFound {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(env.clone());

    let origins = Origins { file, env: &env };
    let mut config: Config = figment
        .extract_lossy()
        .map_err(|e| origins.parse_error(e))?;
    config
        .read_token_files()
        .map_err(|e| origins.locate(&figment, e))?;
    config.validate().map_err(|e| origins.locate(&figment, e))?;
    Ok(config)
}

/// Names the origin of values for error messages.
struct Origins<'a> {
    file: Option<&'a Path>,
    env: &'a EnvProvider,
}

impl Origins<'_> {
    fn origin(&self, metadata: &Metadata, path: &[&str]) -> Option<String> {
        if let Some(Source::File(_)) = metadata.source {
            return self.file.map(|p| p.display().to_string());
        }
        if *metadata == self.env.metadata() {
            return Some(format!("environment variable {}", self.env.var_name(path)));
        }
        None
    }

    /// Converts a (possibly chained) figment error.
    fn parse_error(&self, error: figment::Error) -> ConfigError {
        let list = error.into_iter().map(|e| self.parse_error_one(e)).collect();
        match ConfigError::from_list(list) {
            Err(e) => e,
            Ok(()) => unreachable!("a figment error holds at least one error"),
        }
    }

    fn parse_error_one(&self, error: figment::Error) -> ConfigError {
        let mut path: Vec<&str> = error.path.iter().map(String::as_str).collect();
        let message = match &error.kind {
            Kind::UnknownField(field, expected) => {
                if path.last() != Some(&field.as_str()) {
                    path.push(field);
                }
                format!("unknown key (expected one of: {})", expected.join(", "))
            }
            Kind::UnknownVariant(value, expected) => {
                format!(
                    "unknown value {value:?} (expected one of: {})",
                    expected.join(", ")
                )
            }
            Kind::MissingField(field) => {
                path.push(field);
                "required key is missing".to_owned()
            }
            other => other.to_string().trim_end().to_owned(),
        };
        let origin = error
            .metadata
            .as_ref()
            .and_then(|md| self.origin(md, &path));
        ConfigError::Parse {
            origin,
            key: format_key(&path),
            message,
        }
    }

    /// Fills in the origin of validation errors from where the figment found
    /// the value of the key.
    fn locate(&self, figment: &Figment, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Invalid {
                origin: None,
                key,
                message,
            } => {
                // Arrays come from one source as a whole: look the array up.
                let lookup = key.split('[').next().unwrap_or_default();
                let path: Vec<&str> = lookup.split('.').collect();
                let origin = figment
                    .find_metadata(lookup)
                    .and_then(|md| self.origin(md, &path));
                ConfigError::Invalid {
                    origin,
                    key,
                    message,
                }
            }
            ConfigError::Multiple(list) => {
                ConfigError::Multiple(list.into_iter().map(|e| self.locate(figment, e)).collect())
            }
            other => other,
        }
    }
}

/// `["collector", "sources", "2", "paths"]` → `collector.sources[2].paths`.
fn format_key(path: &[&str]) -> String {
    let mut key = String::new();
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            key.push('[');
            key.push_str(segment);
            key.push(']');
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(segment);
        }
    }
    key
}

/// `KESTREL_*` environment variables, with `__` as the nesting separator.
///
/// Unlike figment's `Env`, values are kept as strings (numbers and booleans
/// are converted on extraction, which is lossy) unless they start with `[`
/// or `{`, so that e.g. a token made of digits keeps its leading zeros.
#[derive(Clone)]
struct EnvProvider {
    prefix: String,
}

impl EnvProvider {
    fn new(prefix: &str) -> Self {
        EnvProvider {
            prefix: prefix.to_owned(),
        }
    }

    /// `(dotted lower-case key, value)` pairs, sorted by key.
    fn vars(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = Env::prefixed(&self.prefix)
            .split("__")
            .iter()
            .map(|(k, v)| (k.into_string(), v))
            .filter(|(k, _)| !is_kubernetes_service_link(k))
            .collect();
        vars.sort();
        vars
    }

    /// The variable that sets `path` (array indices and below dropped).
    fn var_name(&self, path: &[&str]) -> String {
        let keys: Vec<String> = path
            .iter()
            .take_while(|s| !s.bytes().all(|b| b.is_ascii_digit()))
            .map(|s| s.to_ascii_uppercase())
            .collect();
        format!("{}{}", self.prefix.to_ascii_uppercase(), keys.join("__"))
    }
}

/// Variables Kubernetes injects into every pod of a namespace for each of its Services (unless
/// the pod sets `enableServiceLinks: false`): for a Service `kestrel-query` with a port `https`
/// on 443, `KESTREL_QUERY_SERVICE_HOST`, `KESTREL_QUERY_SERVICE_PORT`,
/// `KESTREL_QUERY_SERVICE_PORT_HTTPS`, `KESTREL_QUERY_PORT`, `KESTREL_QUERY_PORT_443_TCP`
/// and `KESTREL_QUERY_PORT_443_TCP_{PROTO,PORT,ADDR}`; for a Service named `kestrel`, the same
/// without `QUERY_`. `key` is the variable's name after the prefix, in lower case.
///
/// These names never hold `__` (Service names map `-` to `_`), so they cannot shadow a nested
/// key, and no top-level key of the configuration ends in one of these shapes.
fn is_kubernetes_service_link(key: &str) -> bool {
    if key.contains('.') {
        return false;
    }
    let words: Vec<&str> = key.split('_').collect();
    (0..words.len()).any(|at| is_service_link_suffix(&words[at..]))
}

/// Whether `words` is the part of a service-link variable after the Service name:
/// `service_host`, `service_port[_NAME]`, `port` or `port_N_PROTO[_proto|_port|_addr]`.
fn is_service_link_suffix(words: &[&str]) -> bool {
    const PROTOCOLS: [&str; 3] = ["tcp", "udp", "sctp"];
    const FIELDS: [&str; 3] = ["proto", "port", "addr"];
    match words {
        ["service", "host"] | ["service", "port", ..] | ["port"] => true,
        ["port", number, protocol, rest @ ..] => {
            !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && PROTOCOLS.contains(protocol)
                && match rest {
                    [] => true,
                    [field] => FIELDS.contains(field),
                    _ => false,
                }
        }
        _ => false,
    }
}

impl Provider for EnvProvider {
    fn metadata(&self) -> Metadata {
        let prefix = self.prefix.to_ascii_uppercase();
        Metadata::named(format!("`{prefix}` environment variable(s)"))
            .source(Source::Custom(format!("environment ({prefix}*)")))
            .interpolater(move |_: &Profile, keys: &[&str]| {
                format!("{prefix}{}", keys.join("__").to_ascii_uppercase())
            })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, raw) in self.vars() {
            let trimmed = raw.trim_start();
            let value = if trimmed.starts_with('[') || trimmed.starts_with('{') {
                raw.parse::<Value>().expect("parsing a Value is infallible")
            } else {
                Value::from(raw)
            };
            let path: Vec<&str> = key.split('.').collect();
            insert(&mut dict, &path, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn insert(dict: &mut Dict, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert((*first).to_owned(), value);
        return;
    }
    let entry = dict
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::Dict(Tag::Default, Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    }
}
