//! The data's lifecycle: the coming days' `events` partitions created ahead, and what is past
//! its retention deleted, at start and then every `retention.interval_secs`.
//!
//! A round runs under a PostgreSQL advisory lock ([`LOCK_KEY`]), taken without waiting: with
//! several processors, one does the round and the others skip it, so each partition is
//! created and dropped once, and nobody errors on a table another just dropped. A round:
//!
//! 1. creates the partitions of today and the next [`DAYS_AHEAD`] days (UTC), moving any rows
//!    of those days out of `events_default`;
//! 2. drops every `events` partition wholly older than the longest window (the global
//!    `retention.events_days` or a longer project override): O(1), no `DELETE`, no vacuum;
//! 3. deletes, [`CHUNK`] rows at a time, what a partition drop cannot reach: rows of the
//!    default partition past that window, and the rows of each project whose window is
//!    shorter than the longest one;
//! 4. expires the rollup tables ([`ROLLUP_TABLES`]) after `retention.rollups_days`, the
//!    same way: whole partitions if partitioned, chunks otherwise;
//! 5. deletes source maps past their retention ([`ArtifactStore::expire`]), and the
//!    near-midnight keys older than two days (migration 0008).
//!
//! Issues are not touched: an issue and its counts outlive its events.
//!
//! Start at [`Lifecycle::run`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use shared::config::Settings;
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;
use tokio_util::sync::CancellationToken;

use crate::artifacts::ArtifactStore;
use crate::db::partitions::{self, Partition};
use crate::metrics::{Metrics, OutcomeLabel, TableLabel};

/// The advisory lock a round holds: "frontmon" in ASCII, so it is recognisable in pg_locks.
pub const LOCK_KEY: i64 = 0x6672_6f6e_746d_6f6e;
/// Partitions created beyond today: a processor stopped for that long still finds its days.
pub const DAYS_AHEAD: i64 = 3;
/// Rows deleted per statement where a partition cannot be dropped.
const CHUNK: i64 = 5_000;
/// How long the near-midnight keys are kept: a client's retry comes within minutes.
const NEAR_MIDNIGHT_KEYS: TimeDelta = TimeDelta::days(2);

/// A table whose rows expire, by a time column: the rollups register theirs in
/// [`ROLLUP_TABLES`].
#[derive(Debug, Clone, Copy)]
pub struct ExpiringTable {
    /// The table (a plain table, or a range-partitioned one whose partitions' upper bounds
    /// are times).
    pub name: &'static str,
    /// The column that says when a row expires (its bucket's start).
    pub time_column: &'static str,
}

/// The rollup tables, expired after `retention.rollups_days`. A partitioned one loses whole
/// partitions once their upper bound is past the window, and the rows of its default
/// partition past it; a plain one loses its rows past it, [`CHUNK`] at a time.
pub const ROLLUP_TABLES: &[ExpiringTable] = &[
    ExpiringTable {
        name: "rollup_counts",
        time_column: "at",
    },
    ExpiringTable {
        name: "rollup_histograms",
        time_column: "at",
    },
    ExpiringTable {
        name: "rollup_distinct",
        time_column: "at",
    },
    ExpiringTable {
        name: "rollup_sessions",
        time_column: "last_at",
    },
];

/// What the lifecycle needs from the configuration, read once.
#[derive(Debug, Clone)]
pub struct Policy {
    pub events: TimeDelta,
    /// Projects whose window differs from `events`.
    pub projects: HashMap<i64, TimeDelta>,
    pub rollups: TimeDelta,
    pub sourcemaps: TimeDelta,
    pub sourcemaps_keep_releases: u16,
    pub interval: Duration,
}

impl Policy {
    pub fn from_settings(settings: &Settings) -> Self {
        let days = |n: u16| TimeDelta::days(i64::from(n));
        let retention = &settings.retention;
        Self {
            events: days(retention.events_days.get()),
            projects: settings
                .projects
                .iter()
                .filter_map(|project| {
                    Some((
                        i64::from(project.id.get()),
                        days(project.retention_days?.get()),
                    ))
                })
                .collect(),
            rollups: days(retention.rollups_days.get()),
            sourcemaps: days(retention.sourcemaps_days.get()),
            sourcemaps_keep_releases: retention.sourcemaps_keep_releases,
            interval: retention.interval.get(),
        }
    }

    /// The longest window of any project: whole partitions older than it can go.
    fn longest(&self) -> TimeDelta {
        self.projects
            .values()
            .copied()
            .fold(self.events, TimeDelta::max)
    }

    /// The configured projects whose rows expire before the partitions holding them: those
    /// whose window (their override, else the global one) is shorter than the longest.
    fn shorter(&self, configured: &[i64]) -> Vec<(i64, TimeDelta)> {
        let longest = self.longest();
        configured
            .iter()
            .map(|id| (*id, self.projects.get(id).copied().unwrap_or(self.events)))
            .filter(|(_, window)| *window < longest)
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the database failed")]
struct LifecycleError(#[source] sqlx::Error);

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub partitions_created: u64,
    pub partitions_dropped: u64,
    pub rows_deleted: u64,
    pub sourcemaps_deleted: u64,
}

#[derive(Clone)]
pub struct Lifecycle {
    pub pool: PgPool,
    pub policy: Policy,
    /// Every configured project, for the per-project windows.
    pub projects: Vec<i64>,
    pub artifacts: ArtifactStore,
    pub metrics: Arc<Metrics>,
}

impl Lifecycle {
    /// Creates the coming days' partitions, unless another processor is at it: at start,
    /// before the first batch is consumed. Failing is not fatal: the default partition takes
    /// the rows, and the next round moves them.
    pub async fn prepare(&self) {
        let result = async {
            let Some(mut conn) = self.lock().await? else {
                return Ok(());
            };
            let created = self.create_ahead(&mut conn, Utc::now()).await;
            release(conn).await;
            created.map(drop)
        }
        .await;
        if let Err(error) = result {
            let error = LifecycleError(error);
            tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "Partitions not created at start; the next round tries again.");
        }
    }

    /// Runs a round at once and then every interval, until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let outcome = match self.locked_round(&shutdown).await {
                Ok(Some(round)) => {
                    tracing::info!(
                        partitions_created = round.partitions_created,
                        partitions_dropped = round.partitions_dropped,
                        rows_deleted = round.rows_deleted,
                        sourcemaps_deleted = round.sourcemaps_deleted,
                        "Retention round done."
                    );
                    "done"
                }
                Ok(None) => {
                    tracing::debug!("Retention round skipped: another processor holds the lock.");
                    "skipped"
                }
                Err(error) => {
                    let error = LifecycleError(error);
                    tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "Retention round failed; the next one tries again.");
                    "failed"
                }
            };
            self.metrics
                .lifecycle_rounds
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.policy.interval) => {}
            }
        }
    }

    /// A round holding [`LOCK_KEY`]; `None` if another session holds it.
    async fn locked_round(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Round>, sqlx::Error> {
        let Some(mut conn) = self.lock().await? else {
            return Ok(None);
        };
        let round = self.round(&mut conn, shutdown).await;
        release(conn).await;
        round.map(Some)
    }

    /// A connection holding [`LOCK_KEY`], or `None` if another session holds it. The lock is
    /// a session's, not a transaction's: a round is many short transactions.
    async fn lock(&self) -> Result<Option<PoolConnection<Postgres>>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        Ok(partitions::try_lock(&mut conn, LOCK_KEY)
            .await?
            .then_some(conn))
    }

    async fn round(
        &self,
        conn: &mut PoolConnection<Postgres>,
        shutdown: &CancellationToken,
    ) -> Result<Round, sqlx::Error> {
        let now = Utc::now();
        let mut round = Round {
            partitions_created: self.create_ahead(conn, now).await?,
            ..Round::default()
        };
        // Events: whole days past the longest window, then what a drop cannot reach.
        let longest = now - self.policy.longest();
        let events = partitions::list(conn, "events").await?;
        round.partitions_dropped += self.drop_before(conn, "events", &events, longest).await?;
        for partition in &events {
            if partition.range.is_none() {
                round.rows_deleted += self
                    .delete_before(
                        conn,
                        "events",
                        &partition.name,
                        "received_at",
                        longest,
                        None,
                        shutdown,
                    )
                    .await?;
            }
        }
        for (project, window) in self.policy.shorter(&self.projects) {
            let cutoff = now - window;
            for partition in partitions::list(conn, "events").await? {
                if partition.range.is_some_and(|(lower, _)| lower >= cutoff) {
                    continue;
                }
                round.rows_deleted += self
                    .delete_before(
                        conn,
                        "events",
                        &partition.name,
                        "received_at",
                        cutoff,
                        Some(project),
                        shutdown,
                    )
                    .await?;
            }
        }
        // The rollups, by the same rules with their own window.
        let cutoff = now - self.policy.rollups;
        for table in ROLLUP_TABLES {
            let parts = partitions::list(conn, table.name).await?;
            round.partitions_dropped += self.drop_before(conn, table.name, &parts, cutoff).await?;
            let plain = parts.is_empty();
            for name in parts
                .iter()
                .filter(|partition| partition.range.is_none())
                .map(|partition| partition.name.as_str())
                .chain(plain.then_some(table.name))
            {
                round.rows_deleted += self
                    .delete_before(
                        conn,
                        table.name,
                        name,
                        table.time_column,
                        cutoff,
                        None,
                        shutdown,
                    )
                    .await?;
            }
        }
        round.sourcemaps_deleted = self
            .artifacts
            .expire(
                self.policy.sourcemaps_keep_releases,
                now - self.policy.sourcemaps,
            )
            .await?;
        self.metrics
            .sourcemaps_expired
            .inc_by(round.sourcemaps_deleted);
        self.delete_before(
            conn,
            "event_keys_near_midnight",
            "event_keys_near_midnight",
            "received_at",
            now - NEAR_MIDNIGHT_KEYS,
            None,
            shutdown,
        )
        .await?;
        Ok(round)
    }

    /// Today's partition and the next [`DAYS_AHEAD`] days'; returns how many were created.
    async fn create_ahead(
        &self,
        conn: &mut PoolConnection<Postgres>,
        now: DateTime<Utc>,
    ) -> Result<u64, sqlx::Error> {
        let today = now.date_naive();
        let mut created = 0;
        for ahead in 0..=DAYS_AHEAD {
            let day = today + TimeDelta::days(ahead);
            if let Some(moved) = partitions::create_events_day(conn, day).await? {
                let partition = partitions::events_partition_name(day);
                tracing::info!(%partition, moved, "Partition created.");
                self.metrics.partitions_created.inc();
                created += 1;
            }
        }
        Ok(created)
    }

    /// Drops the partitions of `table` whose every row is before `cutoff`.
    async fn drop_before(
        &self,
        conn: &mut PoolConnection<Postgres>,
        table: &'static str,
        parts: &[Partition],
        cutoff: DateTime<Utc>,
    ) -> Result<u64, sqlx::Error> {
        let mut dropped = 0;
        for partition in parts {
            let Some((_, upper)) = partition.range else {
                continue;
            };
            if upper > cutoff {
                continue;
            }
            partitions::drop_partition(conn, &partition.name).await?;
            tracing::info!(table, partition = %partition.name, %upper, "Expired partition dropped.");
            self.metrics
                .partitions_dropped
                .get_or_create(&TableLabel { table })
                .inc();
            dropped += 1;
        }
        Ok(dropped)
    }

    /// Deletes the rows of `name` (`table` or one of its partitions) before `cutoff`, of one
    /// project or all, a chunk at a time until none is left or shutdown begins.
    #[allow(clippy::too_many_arguments)]
    async fn delete_before(
        &self,
        conn: &mut PoolConnection<Postgres>,
        table: &'static str,
        name: &str,
        column: &str,
        cutoff: DateTime<Utc>,
        project: Option<i64>,
        shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        let mut deleted = 0;
        while !shutdown.is_cancelled() {
            let chunk =
                partitions::delete_chunk(conn, name, column, cutoff, project, CHUNK).await?;
            deleted += chunk;
            self.metrics
                .rows_expired
                .get_or_create(&TableLabel { table })
                .inc_by(chunk);
            if chunk < CHUNK as u64 {
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(table, partition = name, project, %cutoff, deleted, "Expired rows deleted.");
        }
        Ok(deleted)
    }
}

/// Releases [`LOCK_KEY`]; a connection that may still hold it is closed instead of going
/// back to the pool (closing releases it).
async fn release(mut conn: PoolConnection<Postgres>) {
    if !matches!(partitions::unlock(&mut conn, LOCK_KEY).await, Ok(true)) {
        drop(conn.detach());
    }
}
