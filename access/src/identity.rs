//! Who is calling and what they may see: identities, their roles and their namespace scopes.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// What an identity may do. Each role includes the rights listed for it only; `analyst`
/// includes `viewer`, `admin` includes `analyst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Search, aggregate, context.
    Viewer,
    /// Viewer, plus export, hunt and alerts.
    Analyst,
    /// Analyst, plus tokens, rules, retention and holds, and Kestrel's own audit trail.
    Admin,
    /// The audit webhook and the other ingest endpoints only.
    Ingest,
    /// `/metrics` only.
    Metrics,
}

impl Role {
    /// Every role, in the order of the access table.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Analyst,
        Role::Admin,
        Role::Ingest,
        Role::Metrics,
    ];

    /// The role's name in configuration, tokens and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
            Role::Ingest => "ingest",
            Role::Metrics => "metrics",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected one of viewer, analyst, admin, ingest, metrics")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name.trim())
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// The events an identity may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every event, cluster-scoped ones and events without a namespace included.
    #[default]
    All,
    /// Only events of these namespaces (`kubernetes.namespace` for container events,
    /// `objectRef.namespace` for audit events); never events without a namespace.
    Namespaces(BTreeSet<String>),
}

impl Scope {
    /// Whether an event of `namespace` (`None`: cluster-scoped or without a namespace) is
    /// visible.
    pub fn allows(&self, namespace: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(allowed) => namespace.is_some_and(|ns| allowed.contains(ns)),
        }
    }

    /// Whether the scope is limited to some namespaces.
    pub fn is_limited(&self) -> bool {
        matches!(self, Scope::Namespaces(_))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("*"),
            Scope::Namespaces(names) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// How an identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// A token of the static `query.auth.tokens` list (deprecated; the `admin` role).
    StaticToken,
    /// A token created by `kestrel token create`, found in the token store by its hash.
    StoredToken,
    /// An OIDC bearer JWT.
    Oidc,
    /// No authentication configured (loopback only): everyone is an unscoped admin.
    Unauthenticated,
}

impl IdentitySource {
    /// Name in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::StaticToken => "static_token",
            IdentitySource::StoredToken => "token",
            IdentitySource::Oidc => "oidc",
            IdentitySource::Unauthenticated => "unauthenticated",
        }
    }
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Token name or OIDC subject.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// What it may see.
    pub scope: Scope,
    /// How it was established.
    pub source: IdentitySource,
}

impl Identity {
    /// The identity of every request when no authentication is configured (loopback only).
    pub fn unauthenticated() -> Identity {
        Identity {
            name: "anonymous".into(),
            role: Role::Admin,
            scope: Scope::All,
            source: IdentitySource::Unauthenticated,
        }
    }
}

/// The outcome of authentication and authorization of a request, stored in the response's
/// extensions for the audit trail and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessOutcome {
    /// The request was let through for this identity.
    Allowed(Identity),
    /// The request was refused (401 or 403); `identity` is known when the credentials were
    /// valid but the role or scope did not allow the route.
    Denied {
        /// The identity, when authentication succeeded.
        identity: Option<Identity>,
        /// Why, for the log and the audit trail (never sent to the caller).
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_namespace_scope_hides_events_without_a_namespace() {
        let scope = Scope::Namespaces(["payments".to_owned()].into());
        assert!(scope.allows(Some("payments")));
        assert!(!scope.allows(Some("default")));
        assert!(!scope.allows(None));
        assert!(Scope::All.allows(None));
    }
}
