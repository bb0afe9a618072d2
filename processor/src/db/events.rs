//! The `events` table: a batch's rows written a few hundred to a statement, and the reads behind the
//! API (a page of a project's events, one event, counts over time).

use chrono::{DateTime, Utc};
use shared::event::{Event, EventId, ProjectId};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::Store;
use super::StoreError;

/// An event ready to insert: the parsed event, for the typed columns, and the bytes it came
/// as, stored as the payload without serializing it again.
pub struct NewEvent<'a> {
    pub event: &'a Event,
    pub json: &'a str,
}

/// Rows per `INSERT`. A statement's arguments are encoded into one buffer, which sqlx then
/// copies into the connection's write buffer: for a whole batch of 1,000 errors with their
/// frames, megabytes twice over, per consume session, and most of the processor's peak
/// memory in a drain. A quarter of that batch per statement keeps both small, for three
/// more round trips inside the transaction.
const STATEMENT_ROWS: usize = 250;

/// Writes `rows` with their issues (`issues[i]` is `rows[i]`'s), skipping the ones already
/// stored; returns the (project, event id) of the rows written now.
pub async fn insert(
    tx: &mut PgConnection,
    rows: &[NewEvent<'_>],
    issues: &[Option<i64>],
) -> Result<Vec<(i64, Uuid)>, sqlx::Error> {
    // Written in key order: two batches holding copies of the same events (an SDK's
    // retry, a redelivery) insert them in the same order, so one waits for the other
    // instead of deadlocking.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_unstable_by_key(|&i| (rows[i].event.project_id, *rows[i].event.event_id.as_uuid()));
    let mut inserted = Vec::with_capacity(rows.len());
    for part in order.chunks(STATEMENT_ROWS) {
        inserted.extend(insert_in_order(tx, rows, issues, part).await?);
    }
    Ok(inserted)
}

/// One statement: the rows of `order`, in that order.
async fn insert_in_order(
    tx: &mut PgConnection,
    rows: &[NewEvent<'_>],
    issues: &[Option<i64>],
    order: &[usize],
) -> Result<Vec<(i64, Uuid)>, sqlx::Error> {
    let mut project_ids = Vec::with_capacity(order.len());
    let mut event_ids = Vec::with_capacity(order.len());
    let mut routing_keys = Vec::with_capacity(order.len());
    let mut occurred = Vec::with_capacity(order.len());
    let mut received = Vec::with_capacity(order.len());
    let mut messages = Vec::with_capacity(order.len());
    let mut urls = Vec::with_capacity(order.len());
    let mut releases = Vec::with_capacity(order.len());
    let mut environments = Vec::with_capacity(order.len());
    let mut payloads = Vec::with_capacity(order.len());
    let mut issue_column = Vec::with_capacity(order.len());
    let mut near = Vec::with_capacity(order.len());
    for &i in order {
        let row = &rows[i];
        let event = row.event;
        project_ids.push(i64::from(event.project_id.get()));
        event_ids.push(*event.event_id.as_uuid());
        routing_keys.push(event.routing_key().as_str());
        occurred.push(event.timestamp);
        received.push(event.received_at);
        messages.push(event.message.as_deref());
        urls.push(event.url.as_deref());
        releases.push(event.release.as_deref());
        environments.push(event.environment.as_deref());
        payloads.push(row.json);
        issue_column.push(issues[i]);
        near.push(near_midnight(event.received_at));
    }
    // UNNEST turns the column arrays into rows. A row near midnight first claims its key in
    // `event_keys_near_midnight` and is inserted only if the claim is its own: a copy of it
    // on the other side of midnight, in another partition, holds the claim already (or waits
    // on it, while the transaction that made it is open). Any other copy is in the same
    // partition, whose unique index on (project_id, event_id) refuses it: ON CONFLICT
    // without a target covers every unique index of the partition the row goes to.
    sqlx::query_as(
        "WITH t AS (
             SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::timestamptz[],
                                  $5::timestamptz[], $6::text[], $7::text[], $8::text[],
                                  $9::text[], $10::text[], $11::int8[], $12::bool[])
                 AS t(p, e, k, o, r, m, u, rel, env, j, i, near)
         ),
         claimed AS (
             INSERT INTO event_keys_near_midnight (project_id, event_id, received_at)
             SELECT p, e, r FROM t WHERE near
             ON CONFLICT DO NOTHING
             RETURNING project_id, event_id, received_at
         )
         INSERT INTO events (project_id, event_id, routing_key, occurred_at, received_at,
                             message, url, release, environment, payload, issue_id)
         SELECT p, e, k, o, r, m, u, rel, env, j::jsonb, i
         FROM t
         WHERE NOT near OR EXISTS (
             SELECT 1 FROM claimed c WHERE c.project_id = t.p AND c.event_id = t.e
                                       AND c.received_at = t.r)
         ON CONFLICT DO NOTHING
         RETURNING project_id, event_id",
    )
    .bind(&project_ids)
    .bind(&event_ids)
    .bind(&routing_keys)
    .bind(&occurred)
    .bind(&received)
    .bind(&messages)
    .bind(&urls)
    .bind(&releases)
    .bind(&environments)
    .bind(&payloads)
    .bind(&issue_column)
    .bind(&near)
    .fetch_all(&mut *tx)
    .await
}

/// How close to midnight (UTC), on either side, an event's key is also claimed in
/// `event_keys_near_midnight`: a client retries within minutes (with backoff), and a copy
/// received later than this after the first, on the other side of midnight, is stored twice.
pub const NEAR_MIDNIGHT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Whether `at` is within [`NEAR_MIDNIGHT`] of a day's partition boundary.
pub fn near_midnight(at: DateTime<Utc>) -> bool {
    let since = at.time() - chrono::NaiveTime::MIN;
    since < NEAR_MIDNIGHT || chrono::TimeDelta::days(1) - since <= NEAR_MIDNIGHT
}

/// The reads behind the API.
impl Store {
    /// Events of a project, newest first, as `filter` says, strictly before a cursor
    /// position.
    pub async fn list(
        &self,
        project: ProjectId,
        filter: &EventFilter<'_>,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (before_at, before_id) = match before {
            Some(cursor) => (Some(cursor.received_at), Some(cursor.event_id)),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT event_id, routing_key, received_at, payload, issue_id FROM events
             WHERE project_id = $1
               AND ($2::text[] IS NULL OR routing_key = ANY($2))
               AND ($3::timestamptz IS NULL OR (received_at, event_id) < ($3, $4))
               AND ($6::int8 IS NULL OR issue_id = $6)
               AND ($7::timestamptz IS NULL OR received_at >= $7)
               AND ($8::timestamptz IS NULL OR received_at < $8)
               AND ($9::text IS NULL OR release = $9)
               AND ($10::text IS NULL OR environment = $10)
             ORDER BY received_at DESC, event_id DESC
             LIMIT $5",
        )
        .bind(i64::from(project.get()))
        .bind(filter.routing_keys)
        .bind(before_at)
        .bind(before_id)
        .bind(limit)
        .bind(filter.issue)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.release)
        .bind(filter.environment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(StoredEvent::from_row).collect()
    }

    pub async fn get(
        &self,
        project: ProjectId,
        event: EventId,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let row = sqlx::query(
            "SELECT event_id, routing_key, received_at, payload, issue_id FROM events
             WHERE project_id = $1 AND event_id = $2",
        )
        .bind(i64::from(project.get()))
        .bind(event.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(StoredEvent::from_row).transpose()
    }

    /// Counts per bucket and routing key. `starts` are the buckets' first instants, in
    /// order; the last bucket ends at `until` (exclusive). Returns the bucket's index in
    /// `starts`, the routing key and the count, for the buckets that have events.
    pub async fn counts(
        &self,
        project: ProjectId,
        starts: &[DateTime<Utc>],
        until: DateTime<Utc>,
        filter: &CountFilter<'_>,
    ) -> Result<Vec<(usize, String, i64)>, StoreError> {
        let Some(since) = starts.first() else {
            return Ok(Vec::new());
        };
        // `width_bucket` finds each receive time's bucket among the starts by binary search:
        // buckets need not be of equal length (a day in a time zone with summer time).
        let rows = sqlx::query(
            "SELECT width_bucket(received_at, $2::timestamptz[]) AS bucket,
                    routing_key, count(*) AS n
             FROM events
             WHERE project_id = $1 AND received_at >= $3 AND received_at < $4
               AND ($5::text IS NULL OR environment = $5)
               AND ($6::text IS NULL OR release = $6)
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(i64::from(project.get()))
        .bind(starts)
        .bind(since)
        .bind(until)
        .bind(filter.environment)
        .bind(filter.release)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                // 1 for the first bucket: `received_at >= starts[0]` rules out 0.
                let bucket: i32 = row.try_get("bucket")?;
                Ok((
                    usize::try_from(bucket - 1).unwrap_or_default(),
                    row.try_get("routing_key")?,
                    row.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}

/// Which of a project's events a listing shows.
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    /// Only these routing keys.
    pub routing_keys: Option<&'a [&'a str]>,
    /// Only the events of this issue.
    pub issue: Option<i64>,
    /// Received at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Received before this.
    pub until: Option<DateTime<Utc>>,
    pub release: Option<&'a str>,
    pub environment: Option<&'a str>,
}

/// Which of a project's events the counts count.
#[derive(Debug, Default)]
pub struct CountFilter<'a> {
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
}

/// A position in the newest-first listing: the last event of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl Cursor {
    /// Opaque to clients: `<microseconds>_<event id>`.
    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.received_at.timestamp_micros(),
            self.event_id.simple()
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        Some(Self {
            received_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            event_id: Uuid::parse_str(id).ok()?,
        })
    }
}

pub struct StoredEvent {
    pub cursor: Cursor,
    pub routing_key: String,
    pub payload: serde_json::Value,
    /// The issue an error was grouped into.
    pub issue_id: Option<i64>,
}

impl StoredEvent {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, StoreError> {
        Ok(Self {
            cursor: Cursor {
                received_at: row.try_get("received_at")?,
                event_id: row.try_get("event_id")?,
            },
            routing_key: row.try_get("routing_key")?,
            payload: row.try_get("payload")?,
            issue_id: row.try_get("issue_id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_claimed_within_an_hour_of_midnight() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc)
        };
        for near in [
            "2026-12-07T00:00:00Z",
            "2026-12-07T00:59:59.999Z",
            "2026-12-07T23:00:00Z",
            "2026-12-07T23:59:59.999Z",
        ] {
            assert!(near_midnight(at(near)), "{near}");
        }
        for far in [
            "2026-12-07T01:00:00Z",
            "2026-12-07T12:00:00Z",
            "2026-12-07T22:59:59.999Z",
        ] {
            assert!(!near_midnight(at(far)), "{far}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            received_at: DateTime::from_timestamp_micros(1_750_000_000_123_456).expect("valid"),
            event_id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("12_notauuid"), None);
        assert_eq!(Cursor::decode("nounderscore"), None);
    }
}
