//! The outbox: issue notices written in the transaction that changed the issue, then
//! published on the events exchange by one relay task and deleted once the broker confirmed
//! them.
//!
//! Publishing inside the transaction could announce a change that then rolls back, and
//! publishing after the commit could be lost to a crash in between; the outbox does neither.
//! A crash after the publish but before the delete publishes a notice twice: notices carry a
//! `notice_id` for that. With several processors, `SKIP LOCKED` keeps them from publishing the
//! same rows at the same time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::consumer::backoff;
use shared::event::{EventId, ProjectId, RoutingKey};
use shared::notice::IssueNotice;
use shared::publisher::{Outgoing, PublishError, Publisher};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Rows published per round.
const BATCH: i64 = 100;
/// How often the relay looks without being woken: rows written by another processor, or
/// left by a failed round.
const POLL: Duration = Duration::from_secs(5);

/// Wakes the relay when a transaction has queued notices.
#[derive(Clone, Default)]
pub struct Outbox {
    signal: Arc<Notify>,
}

impl Outbox {
    pub fn wake(&self) {
        self.signal.notify_one();
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    #[error("the broker did not take the notices")]
    Publish(#[from] PublishError),
}

/// Queues notices in the caller's transaction.
pub async fn enqueue(tx: &mut PgConnection, notices: &[IssueNotice]) -> Result<(), sqlx::Error> {
    if notices.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(notices.len());
    let mut projects = Vec::with_capacity(notices.len());
    let mut ids = Vec::with_capacity(notices.len());
    let mut bodies = Vec::with_capacity(notices.len());
    for notice in notices {
        keys.push(notice.routing_key().as_str());
        projects.push(i64::from(notice.project_id.get()));
        ids.push(notice.notice_id);
        bodies.push(serde_json::to_value(notice).map_err(|e| sqlx::Error::Encode(e.into()))?);
    }
    sqlx::query(
        "INSERT INTO outbox (routing_key, project_id, notice_id, body)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::uuid[], $4::jsonb[])",
    )
    .bind(&keys)
    .bind(&projects)
    .bind(&ids)
    .bind(&bodies)
    .execute(tx)
    .await?;
    Ok(())
}

/// Publishes queued notices until shutdown.
pub async fn relay(
    pool: PgPool,
    publisher: Arc<Publisher>,
    outbox: Outbox,
    shutdown: CancellationToken,
) {
    let mut failures = 0;
    loop {
        let wait = match publish_some(&pool, &publisher).await {
            // A full batch: there may be more.
            Ok(published) if published as i64 == BATCH => {
                failures = 0;
                continue;
            }
            Ok(_) => {
                failures = 0;
                POLL
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), failures, "Issue notices not published; retrying.");
                backoff(failures)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = outbox.signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    publisher.close().await;
}

/// One round: the oldest queued notices, published with confirms, then deleted.
async fn publish_some(pool: &PgPool, publisher: &Publisher) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, routing_key, project_id, notice_id, body::text AS body FROM outbox
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        ids.push(id);
        let key: String = row.try_get("routing_key")?;
        let project: i64 = row.try_get("project_id")?;
        let (Ok(routing_key), Some(project_id)) = (
            key.parse::<RoutingKey>(),
            u32::try_from(project).ok().and_then(ProjectId::new),
        ) else {
            // Only this module writes rows; one it cannot read is dropped, not retried forever.
            tracing::error!(id, routing_key = %key, "Unreadable outbox row deleted.");
            continue;
        };
        let body: String = row.try_get("body")?;
        messages.push(Outgoing {
            event_id: EventId::from_uuid(row.try_get("notice_id")?),
            project_id,
            routing_key,
            received_at: Utc::now(),
            body: body.into_bytes(),
        });
    }
    publisher.publish(&messages).await?;
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!(count = messages.len(), "Issue notices published.");
    Ok(rows.len())
}
