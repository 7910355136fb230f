//! Sigma detection rules, compiled once and evaluated on events.
//!
//! - [`rule`]: the Sigma rule format (specification v2): detection rules and correlation
//!   rules, read from YAML (one or several documents per file).
//! - [`value`]: field specifications with their modifiers, compiled to value matchers.
//! - [`condition`]: the condition expression (`selection and not 1 of filter_*`).
//! - [`placeholder`]: `%name%` placeholders of the `expand` modifier and their values.
//! - [`mapping`]: field names of a log source mapped to Kestrel's event fields.
//! - [`view`]: an event's fields resolved and lowercased once for every rule.
//! - [`compile`]: a detection rule compiled to matchers, and its evaluation on an event.
//! - [`correlation`]: correlation rules and their bounded, serializable windows.
//! - [`suppression`]: repeated alerts folded into the first, updated when the window closes.
//! - [`filter`]: Sigma filters, refining rules without changing them.
//! - [`engine`]: the [`Detector`], rules and correlations together, raising [`Alert`]s.

pub mod baseline;
pub mod compile;
pub mod condition;
pub mod correlation;
pub mod engine;
mod error;
pub mod filter;
pub mod index;
pub mod mapping;
pub mod placeholder;
pub mod rule;
pub mod store;
pub mod suppression;
pub mod testing;
pub mod value;
pub mod view;

pub use compile::CompiledRule;
pub use engine::{Alert, Detector};
pub use error::RuleError;
pub use filter::{refine_present, SigmaFilter};
pub use placeholder::Placeholders;
pub use rule::{
    load_filter_files, load_rule_set, load_rules, load_rules_with, parse_rules, parse_rules_with,
    RuleDocument, SigmaRule,
};
pub use store::{AlertFilter, AlertStore};
pub use testing::{run_rule_tests, RuleTestResult};
