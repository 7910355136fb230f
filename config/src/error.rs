//! The configuration error type.

use std::fmt;
use std::path::PathBuf;

/// Why a configuration could not be loaded or is not valid.
///
/// The `Display` form is meant for operators and reads
/// `ORIGIN: KEY: PROBLEM`, where ORIGIN is the config file as it was given
/// or `environment variable KESTREL_…` (left out when the value is a
/// default or the origin is unknown) and KEY is the dotted key path with
/// array indices in brackets, e.g. `collector.sources[2].paths`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file given to [`load()`](crate::load()) does not
    /// exist.
    #[error("{}: configuration file not found", path.display())]
    FileNotFound {
        /// The path as it was given.
        path: PathBuf,
    },

    /// The configuration file exists but could not be read.
    #[error("{}: cannot read configuration file: {source}", path.display())]
    Read {
        /// The path as it was given.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A value could not be parsed: TOML syntax, an unknown key, a wrong
    /// type, a malformed duration or address, an unknown enum value.
    #[error("{}", Located { origin: origin.as_deref(), key, message })]
    Parse {
        /// Where the value came from: the file path or
        /// `environment variable NAME`.
        origin: Option<String>,
        /// Key path, e.g. `query.listen`; empty for whole-file errors.
        key: String,
        /// What is wrong.
        message: String,
    },

    /// A value parsed but is not acceptable (see
    /// [`Config::validate()`](crate::Config::validate())).
    #[error("{}", Located { origin: origin.as_deref(), key, message })]
    Invalid {
        /// Where the value came from, when known (filled in by
        /// [`load()`](crate::load()); `None` for defaults and for
        /// [`Config::validate()`](crate::Config::validate()) called directly).
        origin: Option<String>,
        /// Key path, e.g. `collector.sources[2].paths`.
        key: String,
        /// What is wrong.
        message: String,
    },

    /// Several problems, each on its own line.
    #[error("{}", DisplayList(.0))]
    Multiple(Vec<ConfigError>),
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            origin: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Builds one error from a list: `Ok` if empty, the error itself if
    /// alone, [`ConfigError::Multiple`] otherwise.
    pub(crate) fn from_list(mut errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Multiple(errors)),
        }
    }

    /// The key path the error is about, if it is about one key
    /// (`None` for file-level errors and for [`ConfigError::Multiple`]).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. }
                if !key.is_empty() =>
            {
                Some(key)
            }
            _ => None,
        }
    }

    /// The individual errors: the members of a [`ConfigError::Multiple`], or
    /// `self` alone.
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Multiple(list) => list.iter().flat_map(ConfigError::errors).collect(),
            other => vec![other],
        }
    }
}

struct Located<'a> {
    origin: Option<&'a str>,
    key: &'a str,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = self.origin {
            write!(f, "{origin}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(self.message)
    }
}

struct DisplayList<'a>(&'a [ConfigError]);

impl fmt::Display for DisplayList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
