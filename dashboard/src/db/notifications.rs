//! The alerter's `notifications` table, read only: the alerter writes it in its own schema
//! (`alerter`, `alerter/migrations`) of the same database, and the Alerts screen lists it.
//! Nothing here writes to it, and a database whose alerter never started has no such table.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// One notification, with what its stored message says about it.
#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub channel: String,
    pub rule: String,
    pub reason: String,
    pub project_id: i64,
    /// The issue's group; empty for a spike or a digest.
    pub fingerprint: String,
    pub level: Option<String>,
    pub status: String,
    pub digest_id: Option<i64>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub headline: Option<String>,
    /// The issue's title, as the message quoted it.
    pub title: Option<String>,
    /// The processor's issue id, when the message had it (new issues and regressions).
    pub issue_id: Option<i64>,
}

/// The newest notifications of `projects` (all when `None`) before `before`, newest first,
/// `limit` at most; `None` when the alerter's table does not exist (it never started).
/// Ordered by `notifications_recent (created_at DESC, id DESC)`, so a page reads `limit`
/// rows of the index, however long the table.
pub async fn page(
    pool: &PgPool,
    projects: Option<&[i64]>,
    before: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Option<Vec<NotificationRow>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, created_at, channel, rule, reason, project_id, fingerprint, level, status, digest_id,
                attempts, last_error, finished_at,
                message->>'headline' AS headline,
                message->'issue'->>'title' AS title,
                CASE WHEN jsonb_typeof(message->'issue'->'id') = 'number'
                     THEN (message->'issue'->>'id')::bigint END AS issue_id
         FROM alerter.notifications
         WHERE ($1::bigint[] IS NULL OR project_id = ANY($1))
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC
         LIMIT $4",
    )
    .bind(projects)
    .bind(before.map(|(at, _)| at))
    .bind(before.map_or(0, |(_, id)| id))
    .bind(limit)
    .fetch_all(pool)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        // undefined_table, invalid_schema_name: the alerter has not created its schema yet.
        Err(sqlx::Error::Database(error))
            if matches!(error.code().as_deref(), Some("42P01" | "3F000")) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    rows.into_iter()
        .map(|row| {
            Ok(NotificationRow {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                channel: row.try_get("channel")?,
                rule: row.try_get("rule")?,
                reason: row.try_get("reason")?,
                project_id: row.try_get("project_id")?,
                fingerprint: row.try_get("fingerprint")?,
                level: row.try_get("level")?,
                status: row.try_get("status")?,
                digest_id: row.try_get("digest_id")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                finished_at: row.try_get("finished_at")?,
                headline: row.try_get("headline")?,
                title: row.try_get("title")?,
                issue_id: row.try_get("issue_id")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map(Some)
}
