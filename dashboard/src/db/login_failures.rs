//! The `login_failures` table: failed sign-ins per account and per address, for the throttle.

use std::time::Duration;

use sqlx::PgPool;

/// Failures of each key within `window`.
pub async fn recent(
    pool: &PgPool,
    keys: &[&str],
    window: Duration,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut counts = Vec::with_capacity(keys.len());
    for key in keys {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM login_failures
             WHERE key = $1 AND at > now() - make_interval(secs => $2)",
        )
        .bind(key)
        .bind(window.as_secs_f64())
        .fetch_one(pool)
        .await?;
        counts.push(count);
    }
    Ok(counts)
}

/// Records a failure under each key, and forgets those older than `window`.
pub async fn record(pool: &PgPool, keys: &[&str], window: Duration) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE at < now() - make_interval(secs => $1)")
        .bind(window.as_secs_f64())
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO login_failures (key) SELECT * FROM UNNEST($1::text[])")
        .bind(keys)
        .execute(pool)
        .await?;
    Ok(())
}

/// A successful sign-in clears its account's failures.
pub async fn clear(pool: &PgPool, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
