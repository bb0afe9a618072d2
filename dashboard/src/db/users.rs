//! The `users` and `user_projects` tables.

use sqlx::{PgPool, Row};

/// A user's row, without the password hash.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub role: String,
}

/// Inserts a user; `None` if the email is taken (case-insensitively).
pub async fn insert(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    role: &str,
    projects: &[i64],
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
         ON CONFLICT ((lower(email))) DO NOTHING RETURNING id",
    )
    .bind(email)
    .bind(password_hash)
    .bind(role)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        sqlx::query(
            "INSERT INTO user_projects (user_id, project_id)
             SELECT $1, p FROM UNNEST($2::int8[]) AS p ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(projects)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The user with this email (case-insensitively) and their password hash.
pub async fn by_email(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(UserRow, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, email, role, password_hash FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok((
            UserRow {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                role: row.try_get("role")?,
            },
            row.try_get("password_hash")?,
        ))
    })
    .transpose()
}

pub async fn password_hash(pool: &PgPool, user: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await
}

pub async fn set_password_hash(pool: &PgPool, user: i64, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user)
        .bind(hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// The projects a member was given.
pub async fn projects(pool: &PgPool, user: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT project_id FROM user_projects WHERE user_id = $1 ORDER BY project_id",
    )
    .bind(user)
    .fetch_all(pool)
    .await
}
