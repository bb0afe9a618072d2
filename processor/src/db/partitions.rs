//! Tables partitioned by time, and tables whose rows expire: `events` (one partition a UTC
//! day, `events_pYYYYMMDD`, and `events_default`), and whichever tables the rollups keep.
//! Partitions created ahead, listed with their bounds, dropped; rows deleted a bounded chunk
//! at a time where a whole partition cannot go.
//!
//! Table and column names are spliced into the statements: they are this crate's constants
//! ([`crate::lifecycle`]) or partition names read from the catalog, and are quoted as
//! identifiers all the same.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Acquire, PgConnection, Row};

/// How long a DDL statement waits for its locks before giving up until the next round: the
/// drain's transactions hold `events` for milliseconds, but one stuck behind a long read
/// would otherwise queue every insert behind the DDL's waiting lock.
const LOCK_TIMEOUT: &str = "5s";

/// A partition of a range-partitioned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    /// None for the default partition.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// `name` as an SQL identifier, quoted.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The partitions of `table`, oldest first, the default one last; empty if `table` is not
/// partitioned (or does not exist).
pub async fn list(conn: &mut PgConnection, table: &str) -> Result<Vec<Partition>, sqlx::Error> {
    // The bounds as PostgreSQL prints them: FOR VALUES FROM ('2026-12-07 00:00:00+00') TO
    // (...), or DEFAULT. Printed with the offset, so the cast back is exact.
    let rows = sqlx::query(
        "SELECT c.relname::text AS name,
                substring(b.bound FROM 'FROM \\(''([^'']+)''\\)')::timestamptz AS lower,
                substring(b.bound FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS upper
         FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
         WHERE i.inhparent = to_regclass($1)
         ORDER BY upper NULLS LAST",
    )
    .bind(ident(table))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let lower: Option<DateTime<Utc>> = row.try_get("lower")?;
            let upper: Option<DateTime<Utc>> = row.try_get("upper")?;
            Ok(Partition {
                name: row.try_get("name")?,
                range: lower.zip(upper),
            })
        })
        .collect()
}

/// The name of the events partition of `day`.
pub fn events_partition_name(day: NaiveDate) -> String {
    format!("events_p{}", day.format("%Y%m%d"))
}

/// Creates the events partition of `day` unless it exists; returns whether it did, and how
/// many rows it took over from `events_default`.
///
/// The table is created on its own, filled with the default partition's rows of that day,
/// and then attached, in one transaction: `CREATE TABLE … PARTITION OF` would fail on a day
/// the default partition holds rows of, and would lock `events` against inserts, where
/// `ATTACH` only takes a lock that inserts do not wait for (they wait for the default
/// partition only, and only if a row of theirs goes there).
pub async fn create_events_day(
    conn: &mut PgConnection,
    day: NaiveDate,
) -> Result<Option<u64>, sqlx::Error> {
    let name = events_partition_name(day);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(ident(&name))
        .fetch_one(&mut *conn)
        .await?;
    if exists {
        return Ok(None);
    }
    let lower = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let upper = lower + chrono::TimeDelta::days(1);
    let table = ident(&name);
    let mut tx = conn.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await?;
    // First, so that no row of that day can enter the default partition between the move
    // and the attach (which would then refuse).
    sqlx::query("LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (LIKE events INCLUDING DEFAULTS)"
    )))
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH moved AS (
             DELETE FROM events_default WHERE received_at >= $1 AND received_at < $2
             RETURNING *)
         INSERT INTO {table} SELECT * FROM moved"
    )))
    .bind(lower)
    .bind(upper)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The partition's own unique key (migration 0008): one row per event in the partition.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE UNIQUE INDEX {} ON {table} (project_id, event_id)",
        ident(&format!("{name}_key"))
    )))
    .execute(&mut *tx)
    .await?;
    // The bounds are our own timestamps, printed as literals: DDL takes no parameters.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE events ATTACH PARTITION {table} FOR VALUES FROM ('{}') TO ('{}')",
        lower.to_rfc3339(),
        upper.to_rfc3339()
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(moved))
}

/// Drops a partition (of any table). Dropping takes an exclusive lock on the parent for a
/// moment; [`LOCK_TIMEOUT`] bounds the wait.
pub async fn drop_partition(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {}", ident(name))))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Deletes one chunk of at most `limit` rows of `table` (a plain table or one partition)
/// whose `column` is before `before`, and, when `project` is given, of that project only;
/// returns how many. Each chunk is its own short transaction: a long `DELETE` would hold its
/// row locks and its snapshot for as long.
pub async fn delete_chunk(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    before: DateTime<Utc>,
    project: Option<i64>,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let (table, column) = (ident(table), ident(column));
    // Only with a project: a table without a project_id column can still be cut by time.
    let of_project = if project.is_some() {
        "AND project_id = $3"
    } else {
        ""
    };
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM {table} WHERE {column} < $1 {of_project} LIMIT $2))"
    )))
    .bind(before)
    .bind(limit)
    .bind(project)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Takes the advisory lock `key` on this session, if no other session holds it.
pub async fn try_lock(conn: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
}

pub async fn unlock(conn: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
}
