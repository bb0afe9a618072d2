//! The rollup tables (`rollup_counts`, `rollup_histograms` and `rollup_distinct`, one row
//! per key, and `rollup_sessions`): a batch's additions, stored in its transaction
//! ([`write`]: pending, but for sessions), added to the tables by a [`fold`], and the reads
//! behind the analytics endpoints. What an event adds is decided in [`crate::analytics`].

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use super::StoreError;
use crate::analytics::{Key, Rollup};

/// Stores a batch's additions under `shard` (the consume session's number), in the batch's
/// transaction: the counters, histograms and sketches as one pending row per table holding
/// the entries as column arrays, which a [`fold`] adds to the rollup tables later (an insert
/// of one row locks nothing another batch needs, so two sessions never wait for each other,
/// whatever page is hot); the sessions' rows at once.
pub async fn write(tx: &mut PgConnection, rollup: &Rollup, shard: i16) -> Result<(), sqlx::Error> {
    if !rollup.counts.is_empty() {
        let c = Columns::of(rollup.counts.keys());
        let n: Vec<i64> = rollup.counts.values().copied().collect();
        sqlx::query(
            "INSERT INTO rollup_counts_pending
                 (shard, project_id, grain, measure, dim, at, value, environment, release, n)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(shard)
        .bind(&c.project)
        .bind(&c.grain)
        .bind(&c.measure)
        .bind(&c.dim)
        .bind(&c.at)
        .bind(&c.value)
        .bind(&c.environment)
        .bind(&c.release)
        .bind(&n)
        .execute(&mut *tx)
        .await?;
    }
    if !rollup.histograms.is_empty() {
        let c = Columns::of(rollup.histograms.keys().map(|(key, _)| key));
        let buckets: Vec<i16> = rollup.histograms.keys().map(|(_, b)| *b).collect();
        let n: Vec<i64> = rollup.histograms.values().copied().collect();
        sqlx::query(
            "INSERT INTO rollup_histograms_pending
                 (shard, project_id, grain, metric, dim, at, value, environment, release, bucket, n)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(shard)
        .bind(&c.project)
        .bind(&c.grain)
        .bind(&c.measure)
        .bind(&c.dim)
        .bind(&c.at)
        .bind(&c.value)
        .bind(&c.environment)
        .bind(&c.release)
        .bind(&buckets)
        .bind(&n)
        .execute(&mut *tx)
        .await?;
    }
    if !rollup.distinct.is_empty() {
        let c = Columns::of(rollup.distinct.keys().map(|(key, _)| key));
        let registers: Vec<i16> = rollup.distinct.keys().map(|(_, r)| *r).collect();
        let ranks: Vec<i16> = rollup.distinct.values().copied().collect();
        sqlx::query(
            "INSERT INTO rollup_distinct_pending
                 (shard, project_id, grain, measure, dim, at, value, environment, release,
                  register, rank)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(shard)
        .bind(&c.project)
        .bind(&c.grain)
        .bind(&c.measure)
        .bind(&c.dim)
        .bind(&c.at)
        .bind(&c.value)
        .bind(&c.environment)
        .bind(&c.release)
        .bind(&registers)
        .bind(&ranks)
        .execute(&mut *tx)
        .await?;
    }
    if !rollup.sessions.is_empty() {
        let len = rollup.sessions.len();
        let mut project = Vec::with_capacity(len);
        let mut id = Vec::with_capacity(len);
        let mut started = Vec::with_capacity(len);
        let mut last = Vec::with_capacity(len);
        let mut environment = Vec::with_capacity(len);
        let mut release = Vec::with_capacity(len);
        let mut entry_page = Vec::with_capacity(len);
        let mut entry_at = Vec::with_capacity(len);
        let mut browser = Vec::with_capacity(len);
        let mut os = Vec::with_capacity(len);
        let mut device = Vec::with_capacity(len);
        let mut pageviews = Vec::with_capacity(len);
        let mut crashed = Vec::with_capacity(len);
        for ((p, session_id), s) in &rollup.sessions {
            project.push(*p);
            id.push(session_id.as_str());
            started.push(s.started_at);
            last.push(s.last_at);
            environment.push(s.environment.as_str());
            release.push(s.release.as_str());
            entry_page.push(s.entry_page.as_str());
            entry_at.push(s.entry_at);
            browser.push(s.browser.as_str());
            os.push(s.os.as_str());
            device.push(s.device.as_str());
            pageviews.push(s.pageviews);
            crashed.push(s.crashed);
        }
        // Sessions are written at once, not folded: a session's row is its own, never hot.
        sqlx::query(
            "INSERT INTO rollup_sessions AS r
                 (project_id, session_id, started_at, last_at, environment, release, entry_page,
                  entry_at, browser, os, device, pageviews, crashed)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                  $5::text[], $6::text[], $7::text[], $8::timestamptz[],
                                  $9::text[], $10::text[], $11::text[], $12::int4[], $13::bool[])
             ON CONFLICT (project_id, session_id) DO UPDATE SET
                 started_at = LEAST(r.started_at, excluded.started_at),
                 last_at = GREATEST(r.last_at, excluded.last_at),
                 entry_page = CASE WHEN excluded.entry_at < r.entry_at OR r.entry_at IS NULL
                                   THEN excluded.entry_page ELSE r.entry_page END,
                 entry_at = CASE WHEN excluded.entry_at < r.entry_at OR r.entry_at IS NULL
                                 THEN excluded.entry_at ELSE r.entry_at END,
                 pageviews = r.pageviews + excluded.pageviews,
                 crashed = r.crashed OR excluded.crashed",
        )
        .bind(&project)
        .bind(&id)
        .bind(&started)
        .bind(&last)
        .bind(&environment)
        .bind(&release)
        .bind(&entry_page)
        .bind(&entry_at)
        .bind(&browser)
        .bind(&os)
        .bind(&device)
        .bind(&pageviews)
        .bind(&crashed)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The advisory lock a fold holds for its transaction: folds run one at a time, so the
/// rollup rows have one writer and an analytics read that folds first waits for a fold
/// under way instead of missing what it took.
const FOLD_LOCK: i64 = 0x726f_6c6c_7570_7331;

/// The statements of a fold: each takes every committed pending row of its table (batches
/// still writing are left for the next fold), sums the entries per row key (a histogram's
/// per bucket, a sketch's greatest rank per register), and adds the sums to the rollup
/// table in key order.
const FOLDS: [&str; 3] = [
    "WITH taken AS (DELETE FROM rollup_counts_pending RETURNING *)
     INSERT INTO rollup_counts AS r
         (project_id, grain, measure, dim, at, value, environment, release, shard, n)
     SELECT t.p, t.g, t.m, t.d, t.a, t.v, t.e, t.rel, taken.shard, sum(t.n)::int8
     FROM taken, UNNEST(taken.project_id, taken.grain, taken.measure, taken.dim, taken.at,
                        taken.value, taken.environment, taken.release, taken.n)
                 AS t(p, g, m, d, a, v, e, rel, n)
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ON CONFLICT (project_id, grain, measure, dim, at, value, environment, release, shard)
     DO UPDATE SET n = r.n + excluded.n",
    "WITH taken AS (DELETE FROM rollup_histograms_pending RETURNING *),
          summed AS (
              SELECT t.p, t.g, t.m, t.d, t.a, t.v, t.e, t.rel, taken.shard AS s, t.b,
                     sum(t.n)::int8 AS n
              FROM taken, UNNEST(taken.project_id, taken.grain, taken.metric, taken.dim,
                                 taken.at, taken.value, taken.environment, taken.release,
                                 taken.bucket, taken.n)
                          AS t(p, g, m, d, a, v, e, rel, b, n)
              GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
     INSERT INTO rollup_histograms AS r
         (project_id, grain, metric, dim, at, value, environment, release, shard, buckets,
          counts)
     SELECT p, g, m, d, a, v, e, rel, s, array_agg(b ORDER BY b), array_agg(n ORDER BY b)
     FROM summed
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ON CONFLICT (project_id, grain, metric, dim, at, value, environment, release, shard)
     DO UPDATE SET (buckets, counts) = (
         SELECT * FROM rollup_histogram_add(r.buckets, r.counts, excluded.buckets,
                                            excluded.counts))",
    "WITH taken AS (DELETE FROM rollup_distinct_pending RETURNING *),
          greatest_ AS (
              SELECT t.p, t.g, t.m, t.d, t.a, t.v, t.e, t.rel, taken.shard AS s, t.reg,
                     max(t.rank) AS rank
              FROM taken, UNNEST(taken.project_id, taken.grain, taken.measure, taken.dim,
                                 taken.at, taken.value, taken.environment, taken.release,
                                 taken.register, taken.rank)
                          AS t(p, g, m, d, a, v, e, rel, reg, rank)
              GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
     INSERT INTO rollup_distinct AS r
         (project_id, grain, measure, dim, at, value, environment, release, shard, registers,
          ranks)
     SELECT p, g, m, d, a, v, e, rel, s, array_agg(reg ORDER BY reg),
            array_agg(rank ORDER BY reg)
     FROM greatest_
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ON CONFLICT (project_id, grain, measure, dim, at, value, environment, release, shard)
     DO UPDATE SET (registers, ranks) = (
         SELECT * FROM rollup_sketch_union(r.registers, r.ranks, excluded.registers,
                                           excluded.ranks))",
];

/// Adds every committed batch's pending additions to the rollup tables and deletes them,
/// in one transaction: each batch is counted once, whether this fold or another took it.
/// Returns the rollup rows written.
pub async fn fold(pool: &PgPool) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FOLD_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut rows = 0;
    for statement in FOLDS {
        rows += sqlx::query(statement)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(rows)
}

/// A batch's keys as column arrays, for `UNNEST`.
struct Columns<'a> {
    project: Vec<i64>,
    grain: Vec<i16>,
    measure: Vec<i16>,
    dim: Vec<i16>,
    at: Vec<DateTime<Utc>>,
    value: Vec<&'a str>,
    environment: Vec<&'a str>,
    release: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(keys: impl ExactSizeIterator<Item = &'a Key>) -> Self {
        let len = keys.len();
        let mut c = Columns {
            project: Vec::with_capacity(len),
            grain: Vec::with_capacity(len),
            measure: Vec::with_capacity(len),
            dim: Vec::with_capacity(len),
            at: Vec::with_capacity(len),
            value: Vec::with_capacity(len),
            environment: Vec::with_capacity(len),
            release: Vec::with_capacity(len),
        };
        for key in keys {
            c.project.push(key.project);
            c.grain.push(key.grain);
            c.measure.push(key.measure);
            c.dim.push(key.dim);
            c.at.push(key.at);
            c.value.push(&key.value);
            c.environment.push(&key.environment);
            c.release.push(&key.release);
        }
        c
    }
}

/// Which rollup rows a read takes: a project's, at a grain, of one dimension (and one of
/// its values, or all), in `[since, until)`, of an environment and release (or all).
#[derive(Debug, Clone)]
pub struct Slice<'a> {
    pub project: i64,
    pub grain: i16,
    pub dim: i16,
    /// One value of `dim`; `None`: every value.
    pub value: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
    /// Bucket starts (the first is `since`); rows are placed by `width_bucket`.
    pub starts: &'a [DateTime<Utc>],
    pub until: DateTime<Utc>,
    /// Rows summed per release, which the answer gives in place of the dimension value.
    pub by_release: bool,
}

impl<'a> Slice<'a> {
    /// The same rows, of dimension `dim` (one `value` of it, or all).
    pub fn of(&self, dim: i16, value: Option<&'a str>) -> Self {
        Self {
            dim,
            value,
            ..self.clone()
        }
    }
}

/// A counter or histogram row summed: the time bucket (index into `starts`), the dimension
/// value, the measure (or metric), the histogram bucket (0 for counters), and the sum.
pub type Summed = (usize, String, i16, i16, i64);

fn bucket_index(row: &sqlx::postgres::PgRow) -> Result<usize, sqlx::Error> {
    let bucket: i32 = row.try_get("tb")?;
    Ok(usize::try_from(bucket - 1).unwrap_or_default())
}

/// Sums of `measures` in `slice`, per time bucket when `per_bucket`, else over the whole
/// range (time bucket 0).
pub async fn counts(
    pool: &PgPool,
    slice: &Slice<'_>,
    measures: &[i16],
    per_bucket: bool,
) -> Result<Vec<Summed>, StoreError> {
    let rows = sqlx::query(
        "SELECT CASE WHEN $9 THEN width_bucket(at, $5::timestamptz[]) ELSE 1 END AS tb,
                CASE WHEN $12 THEN release ELSE value END AS value, measure, sum(n)::int8 AS n
         FROM rollup_counts
         WHERE project_id = $1 AND grain = $2 AND measure = ANY($3) AND dim = $4
           AND at >= $6 AND at < $7
           AND ($8::text IS NULL OR value = $8)
           AND ($10::text IS NULL OR environment = $10)
           AND ($11::text IS NULL OR release = $11)
         GROUP BY 1, 2, 3",
    )
    .bind(slice.project)
    .bind(slice.grain)
    .bind(measures)
    .bind(slice.dim)
    .bind(slice.starts)
    .bind(slice.starts.first())
    .bind(slice.until)
    .bind(slice.value)
    .bind(per_bucket)
    .bind(slice.environment)
    .bind(slice.release)
    .bind(slice.by_release)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                bucket_index(row)?,
                row.try_get("value")?,
                row.try_get("measure")?,
                0,
                row.try_get("n")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Histogram buckets of `metrics` in `slice`, summed per time bucket when `per_bucket`.
pub async fn histograms(
    pool: &PgPool,
    slice: &Slice<'_>,
    metrics: &[i16],
    per_bucket: bool,
) -> Result<Vec<Summed>, StoreError> {
    let rows = sqlx::query(
        "SELECT CASE WHEN $9 THEN width_bucket(at, $5::timestamptz[]) ELSE 1 END AS tb,
                CASE WHEN $12 THEN release ELSE value END AS value, metric, u.bucket,
                sum(u.n)::int8 AS n
         FROM rollup_histograms, unnest(buckets, counts) AS u(bucket, n)
         WHERE project_id = $1 AND grain = $2 AND metric = ANY($3) AND dim = $4
           AND at >= $6 AND at < $7
           AND ($8::text IS NULL OR value = $8)
           AND ($10::text IS NULL OR environment = $10)
           AND ($11::text IS NULL OR release = $11)
         GROUP BY 1, 2, 3, 4",
    )
    .bind(slice.project)
    .bind(slice.grain)
    .bind(metrics)
    .bind(slice.dim)
    .bind(slice.starts)
    .bind(slice.starts.first())
    .bind(slice.until)
    .bind(slice.value)
    .bind(per_bucket)
    .bind(slice.environment)
    .bind(slice.release)
    .bind(slice.by_release)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                bucket_index(row)?,
                row.try_get("value")?,
                row.try_get("metric")?,
                row.try_get("bucket")?,
                row.try_get("n")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// HyperLogLog registers of `measure` in `slice` (the greatest rank per register), per
/// time bucket when `per_bucket`: (time bucket, value, register, rank).
pub async fn registers(
    pool: &PgPool,
    slice: &Slice<'_>,
    measure: i16,
    per_bucket: bool,
) -> Result<Vec<(usize, String, i16, i16)>, StoreError> {
    let rows = sqlx::query(
        "SELECT CASE WHEN $9 THEN width_bucket(at, $5::timestamptz[]) ELSE 1 END AS tb,
                CASE WHEN $12 THEN release ELSE value END AS value, u.register,
                max(u.rank) AS rank
         FROM rollup_distinct, unnest(registers, ranks) AS u(register, rank)
         WHERE project_id = $1 AND grain = $2 AND measure = $3 AND dim = $4
           AND at >= $6 AND at < $7
           AND ($8::text IS NULL OR value = $8)
           AND ($10::text IS NULL OR environment = $10)
           AND ($11::text IS NULL OR release = $11)
         GROUP BY 1, 2, 3",
    )
    .bind(slice.project)
    .bind(slice.grain)
    .bind(measure)
    .bind(slice.dim)
    .bind(slice.starts)
    .bind(slice.starts.first())
    .bind(slice.until)
    .bind(slice.value)
    .bind(per_bucket)
    .bind(slice.environment)
    .bind(slice.release)
    .bind(slice.by_release)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                bucket_index(row)?,
                row.try_get("value")?,
                row.try_get("register")?,
                row.try_get("rank")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Sessions that started in a range, with a page view.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter<'a> {
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
    pub entry_page: Option<&'a str>,
    pub browser: Option<&'a str>,
    pub os: Option<&'a str>,
    pub device: Option<&'a str>,
}

/// How [`sessions`] groups its rows besides the time bucket: not at all (value `''`), by
/// entry page, or by release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionGroup {
    All,
    EntryPage,
    Release,
}

/// Sessions of a time bucket (or of the range: bucket 0) and group value.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    pub bucket: usize,
    pub value: String,
    pub sessions: i64,
    /// With one page view.
    pub bounces: i64,
    /// Their summed length.
    pub seconds: f64,
    /// With an unhandled error.
    pub crashed: i64,
}

/// Sessions with a page view that started in `[starts[0], until)`, per time bucket when
/// `per_bucket`, and per `group`.
pub async fn sessions(
    pool: &PgPool,
    project: i64,
    starts: &[DateTime<Utc>],
    until: DateTime<Utc>,
    filter: &SessionFilter<'_>,
    per_bucket: bool,
    group: SessionGroup,
) -> Result<Vec<Sessions>, StoreError> {
    let rows = sqlx::query(
        "SELECT CASE WHEN $4 THEN width_bucket(started_at, $2::timestamptz[]) ELSE 1 END AS tb,
                CASE $5 WHEN 1 THEN entry_page WHEN 2 THEN release ELSE '' END AS value,
                count(*) AS sessions,
                count(*) FILTER (WHERE pageviews = 1) AS bounces,
                coalesce(sum(extract(epoch FROM last_at - started_at)), 0)::float8 AS seconds,
                count(*) FILTER (WHERE crashed) AS crashed
         FROM rollup_sessions
         WHERE project_id = $1 AND started_at >= $2[1] AND started_at < $3 AND pageviews > 0
           AND ($6::text IS NULL OR environment = $6)
           AND ($7::text IS NULL OR release = $7)
           AND ($8::text IS NULL OR entry_page = $8)
           AND ($9::text IS NULL OR browser = $9)
           AND ($10::text IS NULL OR os = $10)
           AND ($11::text IS NULL OR device = $11)
         GROUP BY 1, 2",
    )
    .bind(project)
    .bind(starts)
    .bind(until)
    .bind(per_bucket)
    .bind(match group {
        SessionGroup::All => 0i16,
        SessionGroup::EntryPage => 1,
        SessionGroup::Release => 2,
    })
    .bind(filter.environment)
    .bind(filter.release)
    .bind(filter.entry_page)
    .bind(filter.browser)
    .bind(filter.os)
    .bind(filter.device)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Sessions {
                bucket: bucket_index(row)?,
                value: row.try_get("value")?,
                sessions: row.try_get("sessions")?,
                bounces: row.try_get("bounces")?,
                seconds: row.try_get("seconds")?,
                crashed: row.try_get("crashed")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Each release's first and last hour with a page view or an error (of `environment`, or
/// any), over all time: (release, first hour, last hour).
pub async fn releases_seen(
    pool: &PgPool,
    project: i64,
    measures: &[i16],
    environment: Option<&str>,
) -> Result<Vec<(String, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT release, min(at), max(at) FROM rollup_counts
         WHERE project_id = $1 AND grain = 0 AND measure = ANY($2) AND dim = 0
           AND ($3::text IS NULL OR environment = $3)
         GROUP BY release",
    )
    .bind(project)
    .bind(measures)
    .bind(environment)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
