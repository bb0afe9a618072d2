//! Accounts: users and their roles, passwords (argon2id), sessions and the sign-in throttle.
//!
//! A session is 256 random bits, given to the browser as a cookie and kept server-side only
//! as its SHA-256; its CSRF token is derived from it (another SHA-256), so the token needs
//! no storage and a copy of the table yields neither.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use sha2::{Digest, Sha256};
use shared::config::DatabaseSettings;
use shared::db::DbError;
use shared::event::ProjectId;
use sqlx::PgPool;

pub use crate::db::api_tokens::TokenRow;
use crate::db::{self, api_tokens, login_failures, sessions, users};

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The throttle's window, and the failures it allows in it per account and per address.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const FAILURES_PER_ACCOUNT: i64 = 10;
pub const FAILURES_PER_ADDRESS: i64 = 50;
/// Passwords: long enough to resist guessing, short enough that hashing one is bounded.
pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_BYTES: usize = 1024;
pub const EMAIL_MAX_BYTES: usize = 254;
/// What a personal API token starts with, so it is told from the admin token at a glance.
pub const API_TOKEN_PREFIX: &str = "fmt_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every project.
    Admin,
    /// The projects given.
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Who is signed in, as a request sees them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    /// A member's projects (an admin's are all).
    pub projects: Vec<i64>,
    /// Sent back with every state-changing request.
    pub csrf: String,
    pub(crate) token_hash: Vec<u8>,
}

impl Viewer {
    pub fn can_see(&self, project: ProjectId) -> bool {
        self.role == Role::Admin || self.projects.contains(&i64::from(project.get()))
    }

    /// Whether `presented` is this session's CSRF token (compared in constant time). A viewer
    /// of an API token has none, and matches nothing.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), presented.as_bytes());
        !a.is_empty()
            && a.len() == b.len()
            && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email exists")]
    EmailTaken,
    #[error("the email must be 1 to {EMAIL_MAX_BYTES} bytes with an @")]
    InvalidEmail,
    #[error(
        "the password must have at least {PASSWORD_MIN_CHARS} characters and at most {PASSWORD_MAX_BYTES} bytes"
    )]
    WeakPassword,
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("too many failed sign-ins; wait a quarter of an hour")]
    Throttled,
    #[error("a token needs a name of 1 to 100 characters")]
    InvalidTokenName,
    #[error("no more than 20 tokens per user: revoke one first")]
    TooManyTokens,
    #[error("password hashing failed")]
    Hash,
    #[error("the database is unavailable")]
    Store(#[from] DbError),
}

impl From<sqlx::Error> for AccountError {
    fn from(error: sqlx::Error) -> Self {
        AccountError::Store(error.into())
    }
}

/// The accounts' database and the rules around it.
#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
}

impl Accounts {
    /// Opens the `dashboard` schema, creating and migrating it if need be.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::connect(settings).await?,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates a user; a member sees `projects`, an admin every project.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
        projects: &[ProjectId],
    ) -> Result<i64, AccountError> {
        let email = email.trim();
        if email.is_empty() || email.len() > EMAIL_MAX_BYTES || !email.contains('@') {
            return Err(AccountError::InvalidEmail);
        }
        let hash = hash_password(password)?;
        let projects: Vec<i64> = projects.iter().map(|p| i64::from(p.get())).collect();
        users::insert(&self.pool, email, &hash, role.as_str(), &projects)
            .await?
            .ok_or(AccountError::EmailTaken)
    }

    /// Checks a sign-in against the throttle and the password; on success opens a session
    /// and returns its cookie token.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<String, AccountError> {
        let email = email.trim();
        if email.len() > EMAIL_MAX_BYTES || password.len() > PASSWORD_MAX_BYTES {
            return Err(AccountError::WrongCredentials);
        }
        let account_key = format!("account:{}", email.to_lowercase());
        let address_key = format!("address:{address}");
        let keys = [account_key.as_str(), address_key.as_str()];
        let counts = login_failures::recent(&self.pool, &keys, THROTTLE_WINDOW).await?;
        if counts[0] >= FAILURES_PER_ACCOUNT || counts[1] >= FAILURES_PER_ADDRESS {
            tracing::warn!(address, "Sign-in throttled.");
            return Err(AccountError::Throttled);
        }
        let user = users::by_email(&self.pool, email).await?;
        // An unknown email costs the same hashing as a known one: the answer's time tells
        // nothing about which accounts exist.
        let hash = match &user {
            Some((_, hash)) => hash.clone(),
            None => dummy_hash().to_owned(),
        };
        let verified = verify_off_thread(password, hash).await? && user.is_some();
        let Some((user, _)) = user.filter(|_| verified) else {
            login_failures::record(&self.pool, &keys, THROTTLE_WINDOW).await?;
            return Err(AccountError::WrongCredentials);
        };
        login_failures::clear(&self.pool, &account_key).await?;
        let token = random_token()?;
        let expires = Utc::now()
            + chrono::Duration::from_std(SESSION_LIFETIME).unwrap_or(chrono::Duration::hours(12));
        sessions::insert(&self.pool, &token_hash(&token), user.id, expires).await?;
        tracing::info!(user_id = user.id, "Signed in.");
        Ok(token)
    }

    /// The viewer a session cookie's token stands for, if it is live.
    pub async fn viewer(&self, token: &str) -> Result<Option<Viewer>, AccountError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let hash = token_hash(token);
        match sessions::user(&self.pool, &hash).await? {
            Some(user) => Ok(Some(self.viewer_of(user, csrf_token(token), hash).await?)),
            None => Ok(None),
        }
    }

    /// The viewer a personal API token stands for (`fmt_` and 64 hex digits), if it exists.
    pub async fn api_viewer(&self, token: &str) -> Result<Option<Viewer>, AccountError> {
        let Some(secret) = token.strip_prefix(API_TOKEN_PREFIX) else {
            return Ok(None);
        };
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        match api_tokens::user(&self.pool, &token_hash(token)).await? {
            // A token changes nothing through the pages: it has no CSRF token and no session.
            Some(user) => Ok(Some(self.viewer_of(user, String::new(), Vec::new()).await?)),
            None => Ok(None),
        }
    }

    async fn viewer_of(
        &self,
        user: users::UserRow,
        csrf: String,
        token_hash: Vec<u8>,
    ) -> Result<Viewer, AccountError> {
        let role = if user.role == "admin" {
            Role::Admin
        } else {
            Role::Member
        };
        let projects = match role {
            Role::Admin => Vec::new(),
            Role::Member => users::projects(&self.pool, user.id).await?,
        };
        Ok(Viewer {
            user_id: user.id,
            email: user.email,
            role,
            projects,
            csrf,
            token_hash,
        })
    }

    /// A new personal API token for the viewer: returned once, kept only as its hash.
    pub async fn create_api_token(
        &self,
        viewer: &Viewer,
        name: &str,
    ) -> Result<String, AccountError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccountError::InvalidTokenName);
        }
        let token = format!("{API_TOKEN_PREFIX}{}", random_token()?);
        if !api_tokens::insert(&self.pool, viewer.user_id, name, &token_hash(&token)).await? {
            return Err(AccountError::TooManyTokens);
        }
        tracing::info!(user_id = viewer.user_id, "API token created.");
        Ok(token)
    }

    pub async fn api_tokens(&self, viewer: &Viewer) -> Result<Vec<TokenRow>, AccountError> {
        Ok(api_tokens::list(&self.pool, viewer.user_id).await?)
    }

    /// Revokes one of the viewer's tokens; `false` if they have no such token.
    pub async fn revoke_api_token(&self, viewer: &Viewer, id: i64) -> Result<bool, AccountError> {
        let revoked = api_tokens::delete(&self.pool, viewer.user_id, id).await?;
        if revoked {
            tracing::info!(
                user_id = viewer.user_id,
                token_id = id,
                "API token revoked."
            );
        }
        Ok(revoked)
    }

    pub async fn sign_out(&self, viewer: &Viewer) -> Result<(), AccountError> {
        sessions::delete(&self.pool, &viewer.token_hash).await?;
        Ok(())
    }

    /// Changes the viewer's password after checking the current one; ends their other
    /// sessions.
    pub async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let Some(hash) = users::password_hash(&self.pool, viewer.user_id).await? else {
            return Err(AccountError::WrongCredentials);
        };
        if current.len() > PASSWORD_MAX_BYTES || !verify_off_thread(current, hash).await? {
            return Err(AccountError::WrongCredentials);
        }
        let hash = hash_password(new)?;
        users::set_password_hash(&self.pool, viewer.user_id, &hash).await?;
        sessions::delete_others(&self.pool, viewer.user_id, &viewer.token_hash).await?;
        tracing::info!(user_id = viewer.user_id, "Password changed.");
        Ok(())
    }
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < PASSWORD_MIN_CHARS || password.len() > PASSWORD_MAX_BYTES {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| AccountError::Hash)
}

/// Verifies on a blocking thread: a hash takes tens of milliseconds of CPU, which would stall
/// every other request of the worker it ran on.
async fn verify_off_thread(password: &str, hash: String) -> Result<bool, AccountError> {
    let password = password.to_owned();
    actix_web::web::block(move || verify_password(&password, &hash))
        .await
        .map_err(|_| AccountError::Hash)
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid argon2id hash of nothing anyone types, for unknown emails.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"frontmon: no such account", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

fn random_token() -> Result<String, AccountError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| AccountError::Hash)?;
    Ok(hex::encode(bytes))
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn csrf_token(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"frontmon csrf\0");
    hasher.update(token.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::WeakPassword)
        ));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_from_the_session() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_ne!(csrf_token(&a), a);
        assert_eq!(csrf_token(&a), csrf_token(&a));
    }
}
