//! The `api_tokens` table: personal tokens for the JSON read API, by their SHA-256.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::users::UserRow;

/// A token as its owner sees it listed (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user's tokens at most: each is a key to keep track of.
pub const MAX_PER_USER: i64 = 20;

/// Adds a token; `false` if the user already has [`MAX_PER_USER`].
pub async fn insert(
    pool: &PgPool,
    user: i64,
    name: &str,
    token_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash)
         SELECT $1, $2, $3
         WHERE (SELECT count(*) FROM api_tokens WHERE user_id = $1) < $4",
    )
    .bind(user)
    .bind(name)
    .bind(token_hash)
    .bind(MAX_PER_USER)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn list(pool: &PgPool, user: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TokenRow {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        })
        .collect()
}

/// Deletes one of the user's tokens; `false` if they have no such token.
pub async fn delete(pool: &PgPool, user: i64, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
        .bind(user)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// The user of a token, noting that it was used.
pub async fn user(pool: &PgPool, token_hash: &[u8]) -> Result<Option<UserRow>, sqlx::Error> {
    let row = sqlx::query(
        "WITH used AS (
             UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1 RETURNING user_id)
         SELECT u.id, u.email, u.role FROM used JOIN users u ON u.id = used.user_id",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(UserRow {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            role: row.try_get("role")?,
        })
    })
    .transpose()
}
