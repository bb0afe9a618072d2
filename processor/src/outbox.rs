//! The outbox: issue notices written in the transaction that changed the issue, then
//! published on the events exchange by one relay task and deleted once the broker confirmed
//! them.
//!
//! Publishing inside the transaction could announce a change that then rolls back, and
//! publishing after the commit could be lost to a crash in between; the outbox does neither.
//! A crash after the publish but before the delete publishes a notice twice: notices carry a
//! `notice_id` for that. With several processors, `SKIP LOCKED` keeps them from publishing the
//! same rows at the same time. The statements are in [`crate::db::outbox`].
//!
//! Start at [`relay`].

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::consumer::backoff;
use shared::event::{EventId, ProjectId, RoutingKey};
use shared::publisher::{Outgoing, PublishError, Publisher};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::outbox as table;

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
    let rows = table::oldest(&mut tx, BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let (Ok(routing_key), Some(project_id)) = (
            row.routing_key.parse::<RoutingKey>(),
            u32::try_from(row.project_id).ok().and_then(ProjectId::new),
        ) else {
            // Only this service writes rows; one it cannot read is dropped, not retried forever.
            tracing::error!(id = row.id, routing_key = %row.routing_key, "Unreadable outbox row deleted.");
            continue;
        };
        messages.push(Outgoing {
            event_id: EventId::from_uuid(row.notice_id),
            project_id,
            routing_key,
            received_at: Utc::now(),
            body: row.body.into_bytes(),
            // Notices are the alerter's; the processor's partitions may take any of them.
            partition_key: None,
        });
    }
    publisher.publish(&messages).await?;
    table::delete(&mut tx, &ids).await?;
    tx.commit().await?;
    tracing::debug!(count = messages.len(), "Issue notices published.");
    Ok(ids.len())
}
