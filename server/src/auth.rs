//! Who is calling: the users file, Basic credentials checked against argon2 hashes,
//! bearer tokens handed out by the handshake, and static API tokens.
//!
//! The users file is JSON:
//!
//! ```json
//! {
//!   "users": [
//!     {"name": "alice", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$…", "role": "admin"}
//!   ],
//!   "api_tokens": [
//!     {"name": "airflow", "token_sha256": "9f86d0…", "role": "ingestor"}
//!   ]
//! }
//! ```
//!
//! `password_hash` is an argon2 PHC string ([`hash_password`]); `token_sha256` is the
//! hex SHA-256 of an API token ([`new_api_token`] makes one; API tokens are long and
//! random, so a fast hash suffices where a password needs argon2). Neither passwords
//! nor tokens are ever logged or echoed in errors.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use datafusion_export::tables::Clock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use crate::error::{Result, ServerError};
use crate::roles::Role;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user or API token name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// The argon2id PHC string of `password`, with a random salt, for a users file.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Config(format!("cannot hash the password: {e}")))
}

/// A new random API token and the `token_sha256` to put in the users file. Give the
/// token to the machine that calls; keep only the hash.
pub fn new_api_token() -> (String, String) {
    let token = format!("dfx_{}", random_hex());
    let hash = api_token_sha256(&token);
    (token, hash)
}

/// The hex SHA-256 of an API token, as the users file stores it.
pub fn api_token_sha256(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The users file as stored (see the module documentation); [`Users`] is what it
/// means once checked.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersFile {
    #[serde(default)]
    pub(crate) users: Vec<UserEntry>,
    #[serde(default)]
    pub(crate) api_tokens: Vec<ApiTokenEntry>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserEntry {
    pub(crate) name: String,
    pub(crate) password_hash: String,
    pub(crate) role: Role,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiTokenEntry {
    pub(crate) name: String,
    pub(crate) token_sha256: String,
    pub(crate) role: Role,
}

/// The users and API tokens of a users file, checked when loaded.
#[derive(Clone)]
pub struct Users {
    /// user name → (PHC hash, role)
    users: HashMap<String, (String, Role)>,
    /// hex SHA-256 of the token → principal
    api_tokens: HashMap<String, Principal>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("users", &self.users.len())
            .field("api_tokens", &self.api_tokens.len())
            .finish()
    }
}

impl Users {
    /// Reads and checks a users file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ServerError::Config(format!("cannot read users file {}: {e}", path.display()))
        })?;
        Self::parse(&text)
            .map_err(|e| ServerError::Config(format!("users file {}: {e}", path.display())))
    }

    /// Parses users-file JSON (see the module documentation).
    pub fn parse(text: &str) -> Result<Self> {
        // serde_json's errors name a line and column, never the value there.
        let file: UsersFile = serde_json::from_str(text)
            .map_err(|e| ServerError::Config(format!("not a valid users file: {e}")))?;
        let mut users = HashMap::new();
        for user in file.users {
            PasswordHash::new(&user.password_hash).map_err(|_| {
                ServerError::Config(format!(
                    "user '{}': password_hash is not an argon2 PHC string",
                    user.name
                ))
            })?;
            if users
                .insert(user.name.clone(), (user.password_hash, user.role))
                .is_some()
            {
                return Err(ServerError::Config(format!(
                    "user '{}' is listed twice",
                    user.name
                )));
            }
        }
        let mut api_tokens = HashMap::new();
        for token in file.api_tokens {
            let hash = token.token_sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ServerError::Config(format!(
                    "api token '{}': token_sha256 must be 64 hex digits",
                    token.name
                )));
            }
            let principal = Principal {
                name: token.name,
                role: token.role,
            };
            if let Some(other) = api_tokens.insert(hash, principal.clone()) {
                return Err(ServerError::Config(format!(
                    "api tokens '{}' and '{}' have the same hash",
                    other.name, principal.name
                )));
            }
        }
        Ok(Self { users, api_tokens })
    }
}

struct Session {
    principal: Principal,
    expires: DateTime<Utc>,
}

/// Checks credentials and tokens. Without users, everyone is an anonymous admin
/// (the server then listens on loopback only).
pub(crate) struct Authenticator {
    users: Option<Users>,
    /// SHA-256 of the bearer token → session.
    sessions: Mutex<HashMap<String, Session>>,
    ttl: chrono::Duration,
    max_sessions: usize,
    clock: Arc<dyn Clock>,
    /// Verified when the user is unknown, so that a wrong name costs as long as a
    /// wrong password and timing tells nothing about who exists.
    decoy_hash: String,
}

/// The anonymous caller of a server without a users file.
const ANONYMOUS: &str = "anonymous";

impl Authenticator {
    pub(crate) fn new(
        users: Option<Users>,
        ttl: std::time::Duration,
        max_sessions: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Ok(Self {
            users,
            sessions: Mutex::default(),
            ttl: chrono::Duration::from_std(ttl)
                .map_err(|_| ServerError::Config("token TTL is too long".into()))?,
            max_sessions: max_sessions.max(1),
            clock,
            decoy_hash: hash_password(&random_hex())?,
        })
    }

    /// The handshake: checks `authorization: Basic …` and returns the caller with a
    /// new bearer token.
    pub(crate) async fn handshake(
        self: &Arc<Self>,
        metadata: &MetadataMap,
    ) -> Result<(Principal, String)> {
        let principal = match &self.users {
            None => Principal {
                name: ANONYMOUS.into(),
                role: Role::Admin,
            },
            Some(_) => {
                let (user, password) = basic_credentials(metadata)?;
                let this = Arc::clone(self);
                // argon2 takes tens of milliseconds of CPU on purpose: off the
                // runtime's worker threads.
                tokio::task::spawn_blocking(move || this.verify_password(&user, &password))
                    .await
                    .map_err(|_| ServerError::Unauthenticated)??
            }
        };
        let token = random_hex();
        let now = self.clock.now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= self.max_sessions {
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= self.max_sessions {
                return Err(ServerError::ResourceExhausted(
                    "too many live sessions; try again later".into(),
                ));
            }
        }
        sessions.insert(
            api_token_sha256(&token),
            Session {
                principal: principal.clone(),
                expires: now + self.ttl,
            },
        );
        Ok((principal, token))
    }

    fn verify_password(&self, user: &str, password: &str) -> Result<Principal> {
        let (hash, role) = match self.users.as_ref().and_then(|u| u.users.get(user)) {
            Some((hash, role)) => (hash.as_str(), Some(*role)),
            None => (self.decoy_hash.as_str(), None),
        };
        let parsed = PasswordHash::new(hash).map_err(|_| ServerError::Unauthenticated)?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        match (ok, role) {
            (true, Some(role)) => Ok(Principal {
                name: user.to_string(),
                role,
            }),
            _ => Err(ServerError::Unauthenticated),
        }
    }

    /// The caller of a request other than the handshake: `authorization: Bearer
    /// <token>` with a session token or an API token.
    pub(crate) fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal> {
        let Some(users) = &self.users else {
            return Ok(Principal {
                name: ANONYMOUS.into(),
                role: Role::Admin,
            });
        };
        let token = bearer_token(metadata).ok_or(ServerError::Unauthenticated)?;
        let digest = api_token_sha256(token);
        if let Some(principal) = users.api_tokens.get(&digest) {
            return Ok(principal.clone());
        }
        let now = self.clock.now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(&digest) {
            Some(s) if s.expires > now => Ok(s.principal.clone()),
            Some(_) => {
                sessions.remove(&digest);
                Err(ServerError::Unauthenticated)
            }
            None => Err(ServerError::Unauthenticated),
        }
    }
}

fn authorization(metadata: &MetadataMap) -> Option<&str> {
    metadata.get("authorization")?.to_str().ok()
}

fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let value = authorization(metadata)?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn basic_credentials(metadata: &MetadataMap) -> Result<(String, String)> {
    let value = authorization(metadata).ok_or(ServerError::Unauthenticated)?;
    let (scheme, encoded) = value.split_once(' ').ok_or(ServerError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ServerError::Unauthenticated);
    }
    // Arrow's Go client (ADBC's Flight SQL driver) leaves out base64's padding.
    const INDIFFERENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = INDIFFERENT
        .decode(encoded.trim())
        .map_err(|_| ServerError::Unauthenticated)?;
    let text = String::from_utf8(decoded).map_err(|_| ServerError::Unauthenticated)?;
    // RFC 7617: the user id holds no colon; the password may.
    let (user, password) = text.split_once(':').ok_or(ServerError::Unauthenticated)?;
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_export::tables::SystemClock;

    fn metadata(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[tokio::test]
    async fn handshake_and_tokens() {
        let hash = hash_password("s3cret:with colon").unwrap();
        let (api, api_hash) = new_api_token();
        let users = Users::parse(&format!(
            r#"{{"users": [{{"name": "alice", "password_hash": "{hash}", "role": "viewer"}}],
                "api_tokens": [{{"name": "bot", "token_sha256": "{api_hash}", "role": "ingestor"}}]}}"#
        ))
        .unwrap();
        let auth = Arc::new(
            Authenticator::new(
                Some(users),
                std::time::Duration::from_secs(60),
                10,
                Arc::new(SystemClock),
            )
            .unwrap(),
        );
        let basic = |u: &str, p: &str| {
            metadata(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ))
        };
        let (who, token) = auth
            .handshake(&basic("alice", "s3cret:with colon"))
            .await
            .unwrap();
        assert_eq!(who.role, Role::Viewer);
        // As Arrow's Go client sends it: without base64 padding.
        let unpadded = metadata(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("alice:s3cret:with colon")
        ));
        assert_eq!(auth.handshake(&unpadded).await.unwrap().0, who);
        let bearer = metadata(&format!("Bearer {token}"));
        assert_eq!(auth.authenticate(&bearer).unwrap().name, "alice");
        let wrong = auth.handshake(&basic("alice", "nope")).await.unwrap_err();
        let unknown = auth.handshake(&basic("mallory", "nope")).await.unwrap_err();
        assert_eq!(wrong.to_string(), unknown.to_string());
        let bot = auth
            .authenticate(&metadata(&format!("Bearer {api}")))
            .unwrap();
        assert_eq!((bot.name.as_str(), bot.role), ("bot", Role::Ingestor));
        assert!(auth.authenticate(&MetadataMap::new()).is_err());
        assert!(auth.authenticate(&metadata("Bearer nope")).is_err());
    }

    #[test]
    fn bad_users_files_are_refused_without_echoing_secrets() {
        let e = Users::parse(
            r#"{"users": [{"name": "a", "password_hash": "hunter2", "role": "admin"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("argon2") && !e.contains("hunter2"), "{e}");
        let e = Users::parse(r#"{"users": [], "extra": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("extra"), "{e}");
        let e = Users::parse(
            r#"{"api_tokens": [{"name": "t", "token_sha256": "abc", "role": "viewer"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("64 hex"), "{e}");
        let e = Users::parse(r#"{"users": [{"name": "a", "password_hash": "x", "role": "root"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("root") || e.contains("variant"), "{e}");
    }
}
