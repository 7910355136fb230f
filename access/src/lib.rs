//! Who is calling and what they may do and see: identities, their roles and namespace scopes,
//! and the token store behind `kestrel token`.
//!
//! The query API's authentication (`kestrel_query::api`) turns the credentials of a request
//! into an [`Identity`], stored in the request's extensions for the handlers, and records the
//! [`AccessOutcome`] in the response's extensions for the audit trail. The collector's ingest
//! endpoints and the metrics listener check tokens of the same [`store`].

mod identity;
pub mod oidc;
pub mod store;

pub use identity::{AccessOutcome, Identity, IdentitySource, Role, Scope, UnknownRole};
pub use oidc::{OidcError, OidcMapping, OidcSettings, OidcVerifier};
pub use store::{LiveTokens, NewToken, StoreError, TokenCheck, TokenRecord, TokenStore};
