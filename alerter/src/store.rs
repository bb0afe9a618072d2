//! The alerter's state in PostgreSQL, in a schema of its own (`alerter`): resolved issues,
//! cooldowns, windows, and the notifications (pending, sent, folded into a digest, failed).
//!
//! Notifications are written in the transaction that decides them, before the delivery that
//! triggered them is acknowledged; the dispatcher then sends them. So a notification is never
//! lost to a crash, and one pending at shutdown is sent after the restart.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::config::DatabaseSettings;
use shared::db::{DbError, Schema};
use sqlx::migrate::Migrator;
use sqlx::{PgConnection, PgPool, Postgres, Row};

use crate::rules::CooldownRecord;

/// The schema the alerter's tables (and its migration history) live in.
const SCHEMA: &str = "alerter";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct AlertStore {
    pool: PgPool,
}

/// A notification to write: one per channel of a fired rule.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub delivery_id: String,
    pub channel: String,
    pub rule: String,
    pub reason: &'static str,
    pub project_id: i64,
    pub fingerprint: String,
    pub level: Option<String>,
    pub message: Value,
    pub source: Option<Value>,
    pub breaks_quiet: bool,
}

/// A notification as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Notification {
    pub id: i64,
    pub delivery_id: String,
    pub channel: String,
    pub rule: String,
    pub reason: String,
    pub project_id: i64,
    pub fingerprint: String,
    pub level: Option<String>,
    pub status: String,
    pub digest_id: Option<i64>,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(serialize_with = "shared::time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "shared::time::serialize_option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub message: Value,
    #[serde(skip)]
    pub source: Option<Value>,
    #[serde(skip)]
    pub breaks_quiet: bool,
}

const COLUMNS: &str = "id, delivery_id, channel, rule, reason, project_id, fingerprint, level, \
     status, digest_id, attempts, last_error, created_at, finished_at, message, source, breaks_quiet";

impl Notification {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            delivery_id: row.try_get("delivery_id")?,
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
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
            message: row.try_get("message")?,
            source: row.try_get("source")?,
            breaks_quiet: row.try_get("breaks_quiet")?,
        })
    }
}

impl AlertStore {
    /// Creates the database if it does not exist, the `alerter` schema in it, and migrates.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        // Every connection works in the alerter's schema: its tables and its own migration
        // history, apart from the processor's.
        let pool = shared::db::connect(settings, Schema::Own(SCHEMA), &MIGRATOR).await?;
        Ok(Self { pool })
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The release an issue was resolved in, from its `issue.resolved` notice.
    pub async fn resolved_release(
        &self,
        project_id: i64,
        fingerprint: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT resolved_release FROM resolved_issues WHERE project_id = $1 AND fingerprint = $2",
        )
        .bind(project_id)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    /// Remembers that an issue was resolved, and in which release.
    pub async fn record_resolved(
        &self,
        project_id: i64,
        fingerprint: &str,
        at: DateTime<Utc>,
        release: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO resolved_issues (project_id, fingerprint, resolved_at, resolved_release)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, fingerprint)
                 DO UPDATE SET resolved_at = EXCLUDED.resolved_at,
                               resolved_release = EXCLUDED.resolved_release",
        )
        .bind(project_id)
        .bind(fingerprint)
        .bind(at)
        .bind(release)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn load_cooldowns(&self) -> Result<Vec<CooldownRecord>, sqlx::Error> {
        let rows: Vec<Value> = sqlx::query_scalar("SELECT record FROM cooldowns")
            .fetch_all(&self.pool)
            .await?;
        // A record from an older version that no longer reads is dropped: at worst one
        // notification is repeated.
        Ok(rows
            .into_iter()
            .filter_map(|record| serde_json::from_value(record).ok())
            .collect())
    }

    pub async fn load_windows(&self) -> Result<Option<Value>, sqlx::Error> {
        sqlx::query_scalar("SELECT snapshot FROM windows WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn save_windows(&self, snapshot: &Value) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO windows (id, snapshot, saved_at) VALUES (1, $1, now())
             ON CONFLICT (id) DO UPDATE SET snapshot = EXCLUDED.snapshot, saved_at = now()",
        )
        .bind(snapshot)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notifications of a channel due now, oldest first.
    pub async fn due(&self, channel: &str, limit: i64) -> Result<Vec<Notification>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE channel = $1 AND status = 'pending' AND next_attempt_at <= now()
             ORDER BY id LIMIT $2"
        )))
        .bind(channel)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Notification::from_row).collect()
    }

    /// When the next pending notification of a channel is due, if any is pending.
    pub async fn next_due(&self, channel: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM notifications
             WHERE channel = $1 AND status = 'pending'",
        )
        .bind(channel)
        .fetch_one(&self.pool)
        .await
    }

    pub async fn mark_sent(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE notifications SET status = 'sent', attempts = attempts + 1,
                 finished_at = now(), last_error = NULL
             WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn retry_at(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2,
                 last_error = $3
             WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE notifications SET status = 'failed', attempts = attempts + 1,
                 finished_at = now(), last_error = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Folds `ids` into a new digest notification of `channel`, which is returned, pending.
    pub async fn fold(
        &self,
        channel: &str,
        ids: &[i64],
        digest: NewNotification,
    ) -> Result<Notification, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let digest_id = insert_one(&mut tx, &digest).await?;
        sqlx::query(
            "UPDATE notifications SET status = 'folded', digest_id = $2, finished_at = now()
             WHERE channel = $1 AND id = ANY($3) AND status = 'pending'",
        )
        .bind(channel)
        .bind(digest_id)
        .bind(ids)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE id = $1"
        )))
        .bind(digest_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Notification::from_row(&row)
    }

    /// The latest notifications, newest first, optionally of one project.
    pub async fn recent(
        &self,
        limit: i64,
        project: Option<i64>,
    ) -> Result<Vec<Notification>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE ($2::int8 IS NULL OR project_id = $2)
             ORDER BY created_at DESC, id DESC LIMIT $1"
        )))
        .bind(limit)
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Notification::from_row).collect()
    }
}

/// Writes what a decision made durable, in the caller's transaction: the notifications
/// (each once, whatever the redeliveries), the cooldowns.
pub async fn record_decision(
    tx: &mut PgConnection,
    notifications: &[NewNotification],
    cooldowns: &[CooldownRecord],
) -> Result<(), sqlx::Error> {
    for notification in notifications {
        insert_one(tx, notification).await?;
    }
    for record in cooldowns {
        sqlx::query(
            "INSERT INTO cooldowns (rule, project_id, fingerprint, record, notified_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (rule, project_id, fingerprint)
                 DO UPDATE SET record = EXCLUDED.record, notified_at = EXCLUDED.notified_at",
        )
        .bind(&record.rule)
        .bind(i64::from(record.project_id.get()))
        .bind(&record.fingerprint)
        .bind(serde_json::to_value(record).map_err(|e| sqlx::Error::Encode(e.into()))?)
        .bind(record.notified_at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Inserts one notification; an existing one with the same delivery id (a redelivery of what
/// triggered it) is kept instead. Its id either way.
async fn insert_one(tx: &mut PgConnection, n: &NewNotification) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "WITH inserted AS (
             INSERT INTO notifications (delivery_id, channel, rule, reason, project_id,
                                        fingerprint, level, message, source, breaks_quiet)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (delivery_id) DO NOTHING
             RETURNING id)
         SELECT id FROM inserted
         UNION ALL SELECT id FROM notifications WHERE delivery_id = $1
         LIMIT 1",
    )
    .bind(&n.delivery_id)
    .bind(&n.channel)
    .bind(&n.rule)
    .bind(n.reason)
    .bind(n.project_id)
    .bind(&n.fingerprint)
    .bind(&n.level)
    .bind(&n.message)
    .bind(&n.source)
    .bind(n.breaks_quiet)
    .fetch_one(&mut *tx)
    .await
}
