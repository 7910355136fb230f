//! Which identities may use which route: one table, deny by default.
//!
//! Every route pattern of the query API is listed in [`ROUTE_TABLE`] with the roles allowed and
//! whether an identity scoped to namespaces may use it (cluster-wide routes, such as the token
//! API and Kestrel's own audit trail, are for unscoped identities only). A route missing from
//! the table is refused to everyone (403).

use crate::access::{Identity, Role};

/// Counter of refused requests, by [`Denial::label`].
pub const REQUESTS_DENIED: &str = "kestrel_query_requests_denied_total";

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAccess {
    /// Anyone, without credentials (health and readiness probes).
    Public,
    /// Identities of these roles; `scoped`: namespace-scoped identities too (their answers
    /// are then limited to their namespaces), else unscoped identities only.
    Roles {
        /// The roles allowed.
        roles: &'static [Role],
        /// Whether a namespace-scoped identity may use the route.
        scoped: bool,
    },
}

const VIEWER_UP: &[Role] = &[Role::Viewer, Role::Analyst, Role::Admin];
const ANALYST_UP: &[Role] = &[Role::Analyst, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const METRICS: &[Role] = &[Role::Metrics, Role::Admin];

const fn roles(roles: &'static [Role], scoped: bool) -> RouteAccess {
    RouteAccess::Roles { roles, scoped }
}

/// Route pattern of the token API's list and create.
pub const TOKENS: &str = "/api/v1/tokens";
/// Route pattern of the token API's revoke.
pub const TOKEN: &str = "/api/v1/tokens/{name}";
/// Route pattern of the legal hold API's list and create.
pub const HOLDS: &str = "/api/v1/holds";
/// Route pattern of the legal hold API's release.
pub const HOLD: &str = "/api/v1/holds/{name}";
/// Route pattern of Kestrel's own audit trail.
pub const AUDIT: &str = "/api/v1/audit";

/// Every route of the query API and who may use it. The README's access table says the same
/// (`tests/access_matrix.rs` checks the server against the README).
pub const ROUTE_TABLE: &[(&str, RouteAccess)] = &[
    ("/healthz", RouteAccess::Public),
    ("/readyz", RouteAccess::Public),
    ("/api/v1/search", roles(VIEWER_UP, true)),
    ("/api/v1/events/{id}/context", roles(VIEWER_UP, true)),
    ("/api/v1/aggregate", roles(VIEWER_UP, true)),
    ("/api/v1/export", roles(ANALYST_UP, true)),
    ("/api/v1/hunt", roles(ANALYST_UP, true)),
    ("/api/v1/alerts", roles(ANALYST_UP, true)),
    ("/metrics", roles(METRICS, false)),
    ("/api/v1/elastic", roles(VIEWER_UP, true)),
    ("/api/v1/elastic/", roles(VIEWER_UP, true)),
    ("/api/v1/elastic/_cluster/health", roles(VIEWER_UP, true)),
    ("/api/v1/elastic/_mapping", roles(VIEWER_UP, true)),
    ("/api/v1/elastic/{index}/_mapping", roles(VIEWER_UP, true)),
    ("/api/v1/elastic/_msearch", roles(VIEWER_UP, true)),
    ("/api/v1/elastic/{index}/_msearch", roles(VIEWER_UP, true)),
    (TOKENS, roles(ADMIN, false)),
    (TOKEN, roles(ADMIN, false)),
    (AUDIT, roles(ADMIN, false)),
    (HOLDS, roles(ADMIN, false)),
    (HOLD, roles(ADMIN, false)),
];

/// Who may use the route `pattern`; `None` when it is not listed (refused to everyone).
pub fn route_access(pattern: &str) -> Option<RouteAccess> {
    ROUTE_TABLE
        .iter()
        .find(|(listed, _)| *listed == pattern)
        .map(|(_, access)| *access)
}

/// Why a request was refused: for the log, the audit trail and the denial counter, never for
/// the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No credentials (401).
    NoCredentials,
    /// Credentials that are no token (401).
    InvalidToken,
    /// A token past its expiry (401).
    ExpiredToken,
    /// A revoked token (401).
    RevokedToken,
    /// The identity's role does not allow the route (403).
    Role,
    /// The identity is limited to namespaces; the route is cluster-wide (403).
    Scope,
    /// The route is not in [`ROUTE_TABLE`] (403).
    UnlistedRoute,
    /// The identity's rate limit is exhausted (429).
    RateLimited,
}

impl Denial {
    /// The `reason` label of [`REQUESTS_DENIED`].
    pub fn label(self) -> &'static str {
        match self {
            Denial::NoCredentials => "no_credentials",
            Denial::InvalidToken => "invalid_token",
            Denial::ExpiredToken => "expired_token",
            Denial::RevokedToken => "revoked_token",
            Denial::Role => "role",
            Denial::Scope => "scope",
            Denial::UnlistedRoute => "unlisted_route",
            Denial::RateLimited => "rate_limited",
        }
    }

    /// Every reason, for registering the counter's series at zero.
    pub const ALL: [Denial; 8] = [
        Denial::NoCredentials,
        Denial::InvalidToken,
        Denial::ExpiredToken,
        Denial::RevokedToken,
        Denial::Role,
        Denial::Scope,
        Denial::UnlistedRoute,
        Denial::RateLimited,
    ];
}

/// Whether `identity` may use the route of `access`: `Err` with the reason if not.
pub fn authorize(identity: &Identity, access: RouteAccess) -> Result<(), Denial> {
    let RouteAccess::Roles { roles, scoped } = access else {
        return Ok(());
    };
    if !roles.contains(&identity.role) {
        return Err(Denial::Role);
    }
    if identity.scope.is_limited() && !scoped {
        return Err(Denial::Scope);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{IdentitySource, Scope};

    fn identity(role: Role, scoped: bool) -> Identity {
        Identity {
            name: "t".into(),
            role,
            scope: match scoped {
                true => Scope::Namespaces(["payments".to_owned()].into()),
                false => Scope::All,
            },
            source: IdentitySource::StoredToken,
        }
    }

    /// A route of the router missing from the table would be refused to everyone: the
    /// router's route list and the table must agree.
    #[test]
    fn every_route_of_the_router_is_in_the_table() {
        for route in crate::api::ROUTES {
            assert!(
                route_access(route).is_some(),
                "{route} is served but missing from ROUTE_TABLE"
            );
        }
        for (pattern, _) in ROUTE_TABLE {
            assert!(
                crate::api::ROUTES.contains(pattern),
                "{pattern} is in ROUTE_TABLE but not served"
            );
        }
    }

    #[test]
    fn roles_and_scopes_decide() {
        let search = route_access("/api/v1/search").unwrap();
        let export = route_access("/api/v1/export").unwrap();
        let tokens = route_access(TOKENS).unwrap();
        let metrics = route_access("/metrics").unwrap();
        assert_eq!(authorize(&identity(Role::Viewer, true), search), Ok(()));
        assert_eq!(
            authorize(&identity(Role::Viewer, false), export),
            Err(Denial::Role)
        );
        assert_eq!(authorize(&identity(Role::Analyst, true), export), Ok(()));
        assert_eq!(
            authorize(&identity(Role::Admin, true), tokens),
            Err(Denial::Scope)
        );
        assert_eq!(authorize(&identity(Role::Admin, false), tokens), Ok(()));
        assert_eq!(
            authorize(&identity(Role::Ingest, false), search),
            Err(Denial::Role)
        );
        assert_eq!(authorize(&identity(Role::Metrics, false), metrics), Ok(()));
        assert_eq!(
            authorize(&identity(Role::Metrics, false), search),
            Err(Denial::Role)
        );
        assert!(route_access("/api/v1/unknown").is_none());
    }
}
