//! The `outbox` table: issue notices queued in the transaction that changed the issue, read
//! and deleted by the relay ([`crate::outbox`]).

use shared::notice::IssueNotice;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

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

/// A queued notice, as stored.
pub struct Queued {
    pub id: i64,
    pub routing_key: String,
    pub project_id: i64,
    pub notice_id: Uuid,
    pub body: String,
}

/// The oldest `limit` queued notices, locked until the transaction ends; rows another
/// transaction holds are skipped, so several processors do not publish the same ones.
pub async fn oldest(tx: &mut PgConnection, limit: i64) -> Result<Vec<Queued>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, routing_key, project_id, notice_id, body::text AS body FROM outbox
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Queued {
                id: row.try_get("id")?,
                routing_key: row.try_get("routing_key")?,
                project_id: row.try_get("project_id")?,
                notice_id: row.try_get("notice_id")?,
                body: row.try_get("body")?,
            })
        })
        .collect()
}

pub async fn delete(tx: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
