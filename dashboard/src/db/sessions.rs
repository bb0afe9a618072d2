//! The `sessions` table: signed-in browsers, by the SHA-256 of their cookie's token.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::users::UserRow;

pub async fn insert(
    pool: &PgPool,
    token_hash: &[u8],
    user: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // Expired sessions go as new ones come: the table holds live sessions and few others.
    sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(user)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// The user of a session that has not expired.
pub async fn user(pool: &PgPool, token_hash: &[u8]) -> Result<Option<UserRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.role FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > now()",
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

pub async fn delete(pool: &PgPool, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every session of a user but one (after a password change).
pub async fn delete_others(pool: &PgPool, user: i64, keep: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(user)
        .bind(keep)
        .execute(pool)
        .await?;
    Ok(())
}
