//! The token store: tokens created by `kestrel token create` (or `POST /api/v1/tokens`), kept
//! as their SHA-256 only, with name, role, scope, expiry, creator and creation time, in
//! `<data_dir>/access/tokens.json`.
//!
//! Every change is a read-modify-write under an exclusive lock of `tokens.lock`, written to a
//! temporary file (mode 0600), synced and renamed over the old file, so readers see the old or
//! the new list, never half of one. Running servers hold a [`LiveTokens`], which re-reads the
//! file when it changes (checked once per second by a thread of its own, never on the request
//! path).

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Identity, IdentitySource, Role, Scope};

/// Prefix of every token the store creates, so that a leaked one is recognizable.
pub const TOKEN_PREFIX: &str = "kst_";
/// Longest accepted expiry: ten years.
const MAX_EXPIRY: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
/// How often [`LiveTokens`] looks at the file.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Version of the file's format.
const FORMAT_VERSION: u32 = 1;

/// A failure of the token store. The text never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A bad argument of `token create` (or of the HTTP API's body), named.
    #[error("{argument}: {reason}")]
    BadArgument {
        /// The argument, as the command line spells it (`--role`).
        argument: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A token of that name exists already (revoked ones included).
    #[error("--name: a token named {0:?} exists already (names are never reused, revoked ones included)")]
    DuplicateName(String),
    /// No token of that name.
    #[error("no token named {0:?}")]
    UnknownName(String),
    /// The token of that name is revoked already.
    #[error("the token named {0:?} is revoked already")]
    AlreadyRevoked(String),
    /// Reading, writing or locking a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The file is not a token list.
    #[error("{}: not a token list: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse failure.
        source: serde_json::Error,
    },
    /// The operating system's random source failed.
    #[error("no random bytes for a token: {0}")]
    Random(String),
}

impl StoreError {
    /// Whether the caller is at fault (a bad argument or name), as opposed to the store.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::BadArgument { .. }
                | StoreError::DuplicateName(_)
                | StoreError::UnknownName(_)
                | StoreError::AlreadyRevoked(_)
        )
    }
}

/// One token of the store, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Unique name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The namespaces it is limited to; `None` for every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<BTreeSet<String>>,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it (OS user, `--creator`, or the identity calling the HTTP API).
    pub creator: String,
    /// When it stops being accepted; `None` for never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// What it may see.
    pub fn scope(&self) -> Scope {
        match &self.namespaces {
            None => Scope::All,
            Some(names) => Scope::Namespaces(names.clone()),
        }
    }

    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        }
    }

    /// The identity a request presenting this token acts as.
    pub fn identity(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            role: self.role,
            scope: self.scope(),
            source: IdentitySource::StoredToken,
        }
    }
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// A token to create, its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Unique name: 1 to 64 ASCII letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its namespaces (`None`: every namespace).
    pub namespaces: Option<BTreeSet<String>>,
    /// How long it is accepted; `None` for ever.
    pub expires_in: Option<Duration>,
    /// Who creates it.
    pub creator: String,
}

impl NewToken {
    /// Checks the arguments of `kestrel token create` (and of `POST /api/v1/tokens`): each
    /// error names its argument.
    pub fn parse(
        name: &str,
        role: &str,
        namespaces: Option<&str>,
        expires: Option<&str>,
        creator: &str,
    ) -> Result<NewToken, StoreError> {
        let bad = |argument, reason: String| StoreError::BadArgument { argument, reason };
        check_name(name).map_err(|reason| bad("--name", reason))?;
        let role = role
            .parse::<Role>()
            .map_err(|e| bad("--role", e.to_string()))?;
        let namespaces = namespaces
            .map(parse_namespaces)
            .transpose()
            .map_err(|reason| bad("--namespaces", reason))?;
        let expires_in = expires
            .map(parse_expiry)
            .transpose()
            .map_err(|reason| bad("--expires", reason))?;
        let creator = creator.trim();
        if creator.is_empty() || creator.len() > 128 || creator.chars().any(char::is_control) {
            return Err(bad(
                "--creator",
                "must be 1 to 128 characters, no control characters".into(),
            ));
        }
        Ok(NewToken {
            name: name.to_owned(),
            role,
            namespaces,
            expires_in,
            creator: creator.to_owned(),
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 64 || !valid_chars {
        return Err(format!(
            "{name:?} is not a token name: 1 to 64 ASCII letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

/// A comma-separated list of Kubernetes namespace names (RFC 1123 labels).
fn parse_namespaces(list: &str) -> Result<BTreeSet<String>, String> {
    let names: BTreeSet<String> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err("no namespace given (leave the option out for every namespace)".into());
    }
    for name in &names {
        let label = name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !label {
            return Err(format!(
                "{name:?} is not a namespace name: at most 63 lower-case letters, digits and '-', \
                 starting and ending with a letter or digit"
            ));
        }
    }
    Ok(names)
}

/// A duration such as `90d`, `12h`, `1w`: more than zero, at most ten years.
fn parse_expiry(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration such as 90d or 12h: {e}"))?;
    if duration.is_zero() || duration > MAX_EXPIRY {
        return Err(format!(
            "{text:?} is out of range: more than zero, at most 10 years"
        ));
    }
    Ok(duration)
}

/// Hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: [`TOKEN_PREFIX`] and 32 random bytes in base64url.
fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The token store of a data directory.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    /// The store of `data_dir`: `<data_dir>/access/tokens.json`.
    pub fn new(data_dir: &Path) -> TokenStore {
        TokenStore {
            dir: data_dir.join("access"),
        }
    }

    /// The file holding the tokens.
    pub fn path(&self) -> PathBuf {
        self.dir.join("tokens.json")
    }

    /// Every token, revoked and expired ones included, oldest first. A missing file is an
    /// empty store.
    pub fn list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(read_file(&self.path())?.tokens)
    }

    /// Creates a token; returns it (the only time it is ever seen) and its record.
    pub fn create(
        &self,
        new: &NewToken,
        now: DateTime<Utc>,
    ) -> Result<(String, TokenRecord), StoreError> {
        let token = random_token()?;
        let expires_at = new
            .expires_in
            .map(|d| {
                chrono::Duration::from_std(d).map(|d| now + d).map_err(|e| {
                    StoreError::BadArgument {
                        argument: "--expires",
                        reason: e.to_string(),
                    }
                })
            })
            .transpose()?;
        let record = TokenRecord {
            name: new.name.clone(),
            role: new.role,
            namespaces: new.namespaces.clone(),
            sha256: token_hash(&token),
            created_at: now,
            creator: new.creator.clone(),
            expires_at,
            revoked_at: None,
        };
        self.update(|file| {
            if file.tokens.iter().any(|t| t.name == new.name) {
                return Err(StoreError::DuplicateName(new.name.clone()));
            }
            file.tokens.push(record.clone());
            Ok(())
        })?;
        Ok((token, record))
    }

    /// Revokes the token named `name`; returns its record.
    pub fn revoke(&self, name: &str, now: DateTime<Utc>) -> Result<TokenRecord, StoreError> {
        let mut revoked = None;
        self.update(|file| {
            let record = file
                .tokens
                .iter_mut()
                .find(|t| t.name == name)
                .ok_or_else(|| StoreError::UnknownName(name.to_owned()))?;
            if record.revoked_at.is_some() {
                return Err(StoreError::AlreadyRevoked(name.to_owned()));
            }
            record.revoked_at = Some(now);
            revoked = Some(record.clone());
            Ok(())
        })?;
        // `update` returned Ok, so the closure found and revoked the record.
        Ok(revoked.expect("revoked record"))
    }

    /// Read, change and write the file under the store's lock.
    fn update(
        &self,
        change: impl FnOnce(&mut TokenFile) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let lock_path = self.dir.join("tokens.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        fs4::fs_std::FileExt::lock_exclusive(&lock).map_err(io(&lock_path))?;
        let path = self.path();
        let mut file = read_file(&path)?;
        change(&mut file)?;
        file.version = FORMAT_VERSION;
        write_atomically(&path, &file)
        // The lock is released when `lock` is dropped.
    }
}

fn read_file(path: &Path) -> Result<TokenFile, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFile::default()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

/// Temporary file (0600) + fsync + rename + fsync of the directory.
fn write_atomically(path: &Path, file: &TokenFile) -> Result<(), StoreError> {
    let temporary = path.with_extension("json.tmp");
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| StoreError::Io { path: p, source }
    };
    // Serializing plain records into a Vec cannot fail.
    let mut bytes = serde_json::to_vec_pretty(file).expect("token list serializes");
    bytes.push(b'\n');
    let mut out = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io(&temporary))?;
    out.write_all(&bytes).map_err(io(&temporary))?;
    out.sync_all().map_err(io(&temporary))?;
    drop(out);
    std::fs::rename(&temporary, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// What a presented token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A valid token of this identity.
    Valid(Identity),
    /// The token of this name, expired.
    Expired(String),
    /// The token of this name, revoked.
    Revoked(String),
    /// Not a token of the store.
    Unknown,
}

/// The tokens as last read, by hash.
#[derive(Debug, Default)]
struct Snapshot {
    by_hash: HashMap<String, TokenRecord>,
}

/// What identifies a version of the file: a rename gives a new inode.
type Fingerprint = Option<(u64, u64, SystemTime)>;

fn fingerprint(path: &Path) -> Fingerprint {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.ino(), meta.len(), meta.modified().ok()?))
}

/// The store's tokens as a running server sees them: re-read within a second of any change
/// (new, revoked tokens), by a thread of its own.
#[derive(Debug)]
pub struct LiveTokens {
    store: TokenStore,
    snapshot: RwLock<(Fingerprint, Arc<Snapshot>)>,
}

impl LiveTokens {
    /// Reads the store and starts watching it (the thread ends when the last `Arc` is
    /// dropped). A store that cannot be read starts empty, with an error logged, and is read
    /// again at its next change.
    pub fn open(store: TokenStore) -> Arc<LiveTokens> {
        let live = Arc::new(LiveTokens {
            store,
            snapshot: RwLock::new((None, Arc::default())),
        });
        live.reload_if_changed();
        let weak: Weak<LiveTokens> = Arc::downgrade(&live);
        let spawned = std::thread::Builder::new()
            .name("token-store".into())
            .spawn(move || loop {
                std::thread::sleep(RELOAD_INTERVAL);
                let Some(live) = weak.upgrade() else { break };
                live.reload_if_changed();
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot watch the token store; changes need a restart");
        }
        live
    }

    /// The store watched.
    pub fn store(&self) -> &TokenStore {
        &self.store
    }

    /// Re-reads the file if it changed since the last read.
    pub fn reload_if_changed(&self) {
        let path = self.store.path();
        let now = fingerprint(&path);
        if self.read().0 == now {
            return;
        }
        match read_file(&path) {
            Ok(file) => {
                let by_hash = file
                    .tokens
                    .into_iter()
                    .map(|t| (t.sha256.clone(), t))
                    .collect::<HashMap<_, _>>();
                tracing::info!(path = %path.display(), tokens = by_hash.len(), "token store read");
                let mut guard = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
                *guard = (now, Arc::new(Snapshot { by_hash }));
            }
            Err(error) => {
                tracing::error!(%error, "token store unreadable; keeping the tokens read before");
            }
        }
    }

    fn read(&self) -> (Fingerprint, Arc<Snapshot>) {
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        (guard.0, Arc::clone(&guard.1))
    }

    /// Whether the store holds no token at all (revoked and expired ones count).
    pub fn is_empty(&self) -> bool {
        self.read().1.by_hash.is_empty()
    }

    /// Looks a presented token up by its hash.
    pub fn check(&self, presented: &str, now: DateTime<Utc>) -> TokenCheck {
        let snapshot = self.read().1;
        let Some(record) = snapshot.by_hash.get(&token_hash(presented)) else {
            return TokenCheck::Unknown;
        };
        match record.status(now) {
            "revoked" => TokenCheck::Revoked(record.name.clone()),
            "expired" => TokenCheck::Expired(record.name.clone()),
            _ => TokenCheck::Valid(record.identity()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str, role: &str, ns: Option<&str>, expires: Option<&str>) -> NewToken {
        NewToken::parse(name, role, ns, expires, "tester").expect("valid arguments")
    }

    #[test]
    fn created_tokens_are_stored_as_hashes_and_found_by_value() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let now = Utc::now();
        let (token, record) = store
            .create(&new("ci", "viewer", Some("payments,web"), None), now)
            .unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 43);
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&token), "the secret is never written");
        assert!(text.contains(&record.sha256));
        let mode = std::fs::metadata(store.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let live = LiveTokens::open(store.clone());
        let TokenCheck::Valid(identity) = live.check(&token, now) else {
            panic!("token not found")
        };
        assert_eq!(identity.name, "ci");
        assert_eq!(identity.role, Role::Viewer);
        assert_eq!(
            identity.scope,
            Scope::Namespaces(["payments".to_owned(), "web".to_owned()].into())
        );
        assert_eq!(live.check("kst_guess", now), TokenCheck::Unknown);
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let now = Utc::now();
        let (short, _) = store
            .create(&new("short", "admin", None, Some("1h")), now)
            .unwrap();
        let (gone, _) = store
            .create(&new("gone", "admin", None, None), now)
            .unwrap();
        store.revoke("gone", now).unwrap();
        let live = LiveTokens::open(store.clone());
        let later = now + chrono::Duration::hours(2);
        assert_eq!(
            live.check(&short, now).clone(),
            TokenCheck::Valid(store.list().unwrap()[0].identity())
        );
        assert_eq!(
            live.check(&short, later),
            TokenCheck::Expired("short".into())
        );
        assert_eq!(live.check(&gone, now), TokenCheck::Revoked("gone".into()));
        assert!(matches!(
            store.revoke("gone", now),
            Err(StoreError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            store.revoke("nobody", now),
            Err(StoreError::UnknownName(_))
        ));
        let statuses: Vec<_> = store
            .list()
            .unwrap()
            .iter()
            .map(|t| t.status(later))
            .collect();
        assert_eq!(statuses, ["expired", "revoked"]);
    }

    #[test]
    fn names_are_unique_even_after_revocation() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let now = Utc::now();
        store.create(&new("a", "viewer", None, None), now).unwrap();
        store.revoke("a", now).unwrap();
        let error = store
            .create(&new("a", "viewer", None, None), now)
            .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("--name: a token named \"a\" exists"));
    }

    #[test]
    fn bad_arguments_are_named() {
        let cases = [
            (("bad name", "viewer", None, None), "--name: "),
            (("a", "root", None, None), "--role: unknown role \"root\""),
            (
                ("a", "viewer", Some("Payments"), None),
                "--namespaces: \"Payments\"",
            ),
            (
                ("a", "viewer", Some(" , "), None),
                "--namespaces: no namespace",
            ),
            (("a", "viewer", None, Some("soon")), "--expires: \"soon\""),
            (
                ("a", "viewer", None, Some("0s")),
                "--expires: \"0s\" is out of range",
            ),
            (
                ("a", "viewer", None, Some("20years")),
                "--expires: \"20years\" is out of range",
            ),
        ];
        for ((name, role, ns, expires), expected) in cases {
            let error = NewToken::parse(name, role, ns, expires, "me").unwrap_err();
            assert!(
                error.to_string().starts_with(expected),
                "{error} does not start with {expected}"
            );
            assert!(error.is_client_error());
        }
    }

    #[test]
    fn a_running_reader_sees_changes_within_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let live = LiveTokens::open(store.clone());
        assert!(live.is_empty());
        let now = Utc::now();
        let (token, _) = store
            .create(&new("late", "metrics", None, None), now)
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !matches!(live.check(&token, now), TokenCheck::Valid(_)) {
            assert!(std::time::Instant::now() < deadline, "new token never seen");
            std::thread::sleep(Duration::from_millis(50));
        }
        store.revoke("late", now).unwrap();
        while live.check(&token, now) != TokenCheck::Revoked("late".into()) {
            assert!(
                std::time::Instant::now() < deadline,
                "revocation never seen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        std::fs::write(store.path(), "{not json").unwrap();
        let error = store.list().unwrap_err().to_string();
        assert!(error.contains("tokens.json: not a token list"), "{error}");
    }
}
