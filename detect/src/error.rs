//! Errors of rule loading and compilation.

use std::path::PathBuf;

/// Why a rule could not be loaded or compiled; every variant names the rule (file, title or
/// id) and the part of it at fault.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A rule file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A document is not valid YAML or not a Sigma rule.
    #[error("{origin}: document {document}: {message}")]
    Format {
        /// File (or other origin) of the rule.
        origin: String,
        /// Index of the YAML document in the file, from 1.
        document: usize,
        /// What is wrong.
        message: String,
    },
    /// The detection section is invalid.
    #[error("rule {rule:?}: detection.{part}: {message}")]
    Detection {
        /// The rule's title or id.
        rule: String,
        /// The search identifier or `condition`.
        part: String,
        /// What is wrong.
        message: String,
    },
    /// A placeholders file is invalid.
    #[error("{origin}: {message}")]
    Placeholders {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A rule names a placeholder that has no values.
    #[error("{origin}: rule {rule:?}: detection.{part}: {message}")]
    Placeholder {
        /// File of the rule.
        origin: String,
        /// The rule's title or id.
        rule: String,
        /// The search identifier.
        part: String,
        /// What is wrong (the placeholder named).
        message: String,
    },
    /// A filter is invalid or names a rule it cannot refine.
    #[error("{origin}: filter {filter:?}: filter.{part}: {message}")]
    Filter {
        /// File of the filter.
        origin: String,
        /// The filter's id, name or title.
        filter: String,
        /// The part at fault (`rules`, `condition`, a search identifier).
        part: String,
        /// What is wrong.
        message: String,
    },
    /// A document of a filters path is a rule, not a filter.
    #[error("{origin}: {title:?} is a rule, not a filter: a filters path holds filter documents only (a top-level `filter`)")]
    NotAFilter {
        /// The file.
        origin: String,
        /// The rule's title.
        title: String,
    },
}
