//! The `issues` and `issue_users` tables: an issue's row, and the statements that find,
//! create, carry over and count issues, list them and change their status.
//!
//! Which issues a batch needs and what it counts into them is decided in [`crate::issues`];
//! here is how the rows are read and written, and the order they are locked in, which keeps
//! concurrent batches from deadlocking.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::event::ProjectId;
use shared::grouping::{GROUPING_VERSION, PREVIOUS_GROUPING_VERSION};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

/// What an issue is to the people working on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unresolved,
    Resolved,
    Ignored,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unresolved => "unresolved",
            Status::Resolved => "resolved",
            Status::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "unresolved" => Some(Status::Unresolved),
            "resolved" => Some(Status::Resolved),
            "ignored" => Some(Status::Ignored),
            _ => None,
        }
    }
}

/// How a list of issues is ordered, newest or biggest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    LastSeen,
    FirstSeen,
    Count,
}

impl Sort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "last_seen" => Some(Sort::LastSeen),
            "first_seen" => Some(Sort::FirstSeen),
            "count" => Some(Sort::Count),
            _ => None,
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::LastSeen => "last_seen DESC, id DESC",
            Sort::FirstSeen => "first_seen DESC, id DESC",
            Sort::Count => "event_count DESC, id DESC",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub id: i64,
    pub project_id: i64,
    pub fingerprint: String,
    pub grouping_version: i32,
    pub title: String,
    pub culprit: Option<String>,
    pub level: String,
    pub status: Status,
    #[serde(serialize_with = "shared::time::serialize_option")]
    pub regressed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "shared::time::serialize_option")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "shared::time::serialize")]
    pub first_seen: DateTime<Utc>,
    #[serde(serialize_with = "shared::time::serialize")]
    pub last_seen: DateTime<Utc>,
    pub count: i64,
    pub user_count: i64,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
}

const COLUMNS: &str = "id, project_id, fingerprint, grouping_version, title, culprit, level, status, \
     regressed_at, resolved_at, first_seen, last_seen, event_count, user_count, first_release, last_release";

impl Issue {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let status: String = row.try_get("status")?;
        Ok(Self {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            fingerprint: row.try_get("fingerprint")?,
            grouping_version: row.try_get("grouping_version")?,
            title: row.try_get("title")?,
            culprit: row.try_get("culprit")?,
            level: row.try_get("level")?,
            status: Status::parse(&status).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown issue status {status:?}").into())
            })?,
            regressed_at: row.try_get("regressed_at")?,
            resolved_at: row.try_get("resolved_at")?,
            first_seen: row.try_get("first_seen")?,
            last_seen: row.try_get("last_seen")?,
            count: row.try_get("event_count")?,
            user_count: row.try_get("user_count")?,
            first_release: row.try_get("first_release")?,
            last_release: row.try_get("last_release")?,
        })
    }
}

/// Issue ids by (project, fingerprint).
pub type IssueKeys = HashMap<(i64, String), i64>;

/// Rows of `id, project_id, fingerprint`, by key.
fn keyed(rows: &[PgRow]) -> Result<IssueKeys, sqlx::Error> {
    rows.iter()
        .map(|row| {
            Ok((
                (row.try_get("project_id")?, row.try_get("fingerprint")?),
                row.try_get("id")?,
            ))
        })
        .collect()
}

fn grouping_version() -> i32 {
    i32::try_from(GROUPING_VERSION).unwrap_or(i32::MAX)
}

fn previous_grouping_version() -> i32 {
    i32::try_from(PREVIOUS_GROUPING_VERSION).unwrap_or(i32::MAX)
}

/// The ids of the issues of this grouping version that exist among `keys` (project,
/// fingerprint), unlocked.
pub async fn find<'a>(
    tx: &mut PgConnection,
    keys: impl Iterator<Item = (i64, &'a str)>,
) -> Result<IssueKeys, sqlx::Error> {
    let (projects, fingerprints): (Vec<i64>, Vec<&str>) = keys.unzip();
    let rows = sqlx::query(
        "SELECT i.id, i.project_id, i.fingerprint
         FROM UNNEST($1::int8[], $3::text[]) AS u(p, f)
         JOIN issues i ON i.project_id = u.p AND i.grouping_version = $2 AND i.fingerprint = u.f",
    )
    .bind(&projects)
    .bind(grouping_version())
    .bind(&fingerprints)
    .fetch_all(&mut *tx)
    .await?;
    keyed(&rows)
}

/// Moves the issues of the previous grouping version among `keys` (project, previous
/// fingerprint, fingerprint) to this version; returns the moved ones, by their new key.
///
/// The rows are locked in id order before they change, so batches carrying over the same
/// issues wait for each other in one order; the one that waited then finds nothing left to
/// carry and reads the moved issue like any other. An issue already there under the new
/// fingerprint (a processor of the previous version still running made the old one since) is
/// left alone.
pub async fn carry_over<'a>(
    tx: &mut PgConnection,
    keys: impl Iterator<Item = (i64, &'a str, &'a str)>,
) -> Result<IssueKeys, sqlx::Error> {
    let mut projects = Vec::new();
    let mut previous = Vec::new();
    let mut fingerprints = Vec::new();
    for (project, old, new) in keys {
        projects.push(project);
        previous.push(old);
        fingerprints.push(new);
    }
    if projects.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "WITH wanted AS (
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[]) AS u(p, prev, fp)),
         carried AS (
             SELECT i.id, w.fp
             FROM wanted w
             JOIN issues i ON i.project_id = w.p AND i.grouping_version = $4
                          AND i.fingerprint = w.prev
             WHERE NOT EXISTS (SELECT 1 FROM issues e
                               WHERE e.project_id = w.p AND e.grouping_version = $5
                                 AND e.fingerprint = w.fp)
             ORDER BY i.id
             FOR UPDATE OF i)
         UPDATE issues SET grouping_version = $5, fingerprint = carried.fp
         FROM carried
         WHERE issues.id = carried.id
         RETURNING issues.id, issues.project_id, issues.fingerprint",
    )
    .bind(&projects)
    .bind(&previous)
    .bind(&fingerprints)
    .bind(previous_grouping_version())
    .bind(grouping_version())
    .fetch_all(&mut *tx)
    .await?;
    keyed(&rows)
}

/// An issue to open, from the first event of it in a batch.
pub struct NewIssue<'a> {
    pub project_id: i64,
    pub fingerprint: &'a str,
    pub title: &'a str,
    pub culprit: Option<&'a str>,
    pub seen: DateTime<Utc>,
    pub level: &'a str,
}

/// Opens `issues` (in key order, so batches creating the same ones wait for each other in the
/// same order and cannot deadlock), with nothing counted yet; returns those this statement
/// inserted. One that a concurrent batch created makes this wait for its commit, and is left
/// out: the next statement reads it.
pub async fn create(
    tx: &mut PgConnection,
    issues: &[NewIssue<'_>],
) -> Result<IssueKeys, sqlx::Error> {
    let mut projects = Vec::with_capacity(issues.len());
    let mut fingerprints = Vec::with_capacity(issues.len());
    let mut titles = Vec::with_capacity(issues.len());
    let mut culprits = Vec::with_capacity(issues.len());
    let mut seen = Vec::with_capacity(issues.len());
    let mut levels = Vec::with_capacity(issues.len());
    for issue in issues {
        projects.push(issue.project_id);
        fingerprints.push(issue.fingerprint);
        titles.push(issue.title);
        culprits.push(issue.culprit);
        seen.push(issue.seen);
        levels.push(issue.level);
    }
    let rows = sqlx::query(
        "INSERT INTO issues (project_id, grouping_version, fingerprint, title, culprit, level,
                             first_seen, last_seen, event_count)
         SELECT p, $2, f, t, c, l, s, s, 0
         FROM UNNEST($1::int8[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                     $7::text[])
              AS u(p, f, t, c, s, l)
         ON CONFLICT (project_id, grouping_version, fingerprint) DO NOTHING
         RETURNING id, project_id, fingerprint",
    )
    .bind(&projects)
    .bind(grouping_version())
    .bind(&fingerprints)
    .bind(&titles)
    .bind(&culprits)
    .bind(&seen)
    .bind(&levels)
    .fetch_all(&mut *tx)
    .await?;
    keyed(&rows)
}

/// What a batch adds to one issue.
pub struct Counts<'a> {
    pub id: i64,
    pub title: &'a str,
    pub culprit: Option<&'a str>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub count: i64,
    pub first_release: Option<&'a str>,
    pub last_release: Option<&'a str>,
}

/// Adds `counts` (sorted by id) to their issues; a resolved issue becomes unresolved again.
/// Returns the issues that regressed so.
pub async fn count(
    tx: &mut PgConnection,
    counts: &[Counts<'_>],
) -> Result<HashSet<i64>, sqlx::Error> {
    let mut ids = Vec::with_capacity(counts.len());
    let mut titles = Vec::with_capacity(counts.len());
    let mut culprits = Vec::with_capacity(counts.len());
    let mut first_seen = Vec::with_capacity(counts.len());
    let mut last_seen = Vec::with_capacity(counts.len());
    let mut added = Vec::with_capacity(counts.len());
    let mut first_releases = Vec::with_capacity(counts.len());
    let mut last_releases = Vec::with_capacity(counts.len());
    for issue in counts {
        ids.push(issue.id);
        titles.push(issue.title);
        culprits.push(issue.culprit);
        first_seen.push(issue.first_seen);
        last_seen.push(issue.last_seen);
        added.push(issue.count);
        first_releases.push(issue.first_release);
        last_releases.push(issue.last_release);
    }
    // Locked in id order first: batches counting into the same issues queue up in one order,
    // so they cannot deadlock, whatever order the UPDATE's plan visits the rows in.
    sqlx::query("SELECT id FROM issues WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        // What the latest or earliest event says wins, by the collector's receive time, not
        // by which batch commits last: batches of several sessions commit in any order.
        "UPDATE issues SET
             title = CASE WHEN u.ls >= issues.last_seen THEN u.t ELSE issues.title END,
             culprit = CASE WHEN u.ls >= issues.last_seen THEN COALESCE(u.c, issues.culprit)
                            ELSE COALESCE(issues.culprit, u.c) END,
             first_seen = LEAST(issues.first_seen, u.fs),
             last_seen = GREATEST(issues.last_seen, u.ls),
             event_count = issues.event_count + u.n,
             first_release = CASE WHEN u.fs < issues.first_seen THEN COALESCE(u.fr, issues.first_release)
                                  ELSE COALESCE(issues.first_release, u.fr) END,
             last_release = CASE WHEN u.ls >= issues.last_seen THEN COALESCE(u.lr, issues.last_release)
                                 ELSE COALESCE(issues.last_release, u.lr) END,
             -- A new event on a resolved issue: it is back, and marked as a regression.
             regressed_at = CASE WHEN issues.status = 'resolved' THEN now() ELSE issues.regressed_at END,
             status = CASE WHEN issues.status = 'resolved' THEN 'unresolved' ELSE issues.status END
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                     $6::int8[], $7::text[], $8::text[])
              AS u(id, t, c, fs, ls, n, fr, lr)
         WHERE issues.id = u.id
         -- now() is this transaction's start: equal only for the issues regressed just here.
         RETURNING issues.id, issues.regressed_at = now() AS regressed",
    )
    .bind(&ids)
    .bind(&titles)
    .bind(&culprits)
    .bind(&first_seen)
    .bind(&last_seen)
    .bind(&added)
    .bind(&first_releases)
    .bind(&last_releases)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| Ok((row.try_get::<i64, _>("id")?, row.try_get::<Option<bool>, _>("regressed")?)))
    .collect::<Result<Vec<_>, sqlx::Error>>()
    .map(|rows| {
        rows.into_iter()
            .filter(|(_, regressed)| *regressed == Some(true))
            .map(|(id, _)| id)
            .collect()
    })
}

/// Records who each (issue, user key) happened to, counting each user once per issue.
pub async fn add_users(tx: &mut PgConnection, users: &[(i64, &str)]) -> Result<(), sqlx::Error> {
    if users.is_empty() {
        return Ok(());
    }
    let (issues, keys): (Vec<i64>, Vec<&str>) = users.iter().copied().unzip();
    sqlx::query(
        "WITH added AS (
             INSERT INTO issue_users (issue_id, user_key)
             SELECT * FROM UNNEST($1::int8[], $2::text[])
             ON CONFLICT DO NOTHING
             RETURNING issue_id)
         UPDATE issues SET user_count = user_count + a.n
         FROM (SELECT issue_id, count(*) AS n FROM added GROUP BY issue_id) AS a
         WHERE issues.id = a.issue_id",
    )
    .bind(&issues)
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The issues with these ids.
pub async fn by_ids(tx: &mut PgConnection, ids: &[i64]) -> Result<Vec<Issue>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM issues WHERE id = ANY($1)"
    )))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(Issue::from_row).collect()
}

/// Which of a project's issues a listing shows.
#[derive(Debug, Default)]
pub struct IssueFilter<'a> {
    /// `None`: every status.
    pub status: Option<Status>,
    /// Matches the title, case-insensitively.
    pub query: Option<&'a str>,
    /// Only issues with an event of this release (and environment, when both are given).
    pub release: Option<&'a str>,
    pub environment: Option<&'a str>,
}

/// A page of a project's issues.
pub async fn list(
    pool: &PgPool,
    project: ProjectId,
    filter: &IssueFilter<'_>,
    sort: Sort,
    offset: i64,
    limit: i64,
) -> Result<Vec<Issue>, sqlx::Error> {
    let pattern = filter.query.map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    // An issue's events are found by `events_by_issue_release` and
    // `events_by_issue_environment` (migration 0007): one index probe per issue, however
    // many events it has.
    let sql = format!(
        "SELECT {COLUMNS} FROM issues
         WHERE project_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR title ILIKE $3)
           AND ($6::text IS NULL AND $7::text IS NULL OR EXISTS (
               SELECT 1 FROM events e
               WHERE e.issue_id = issues.id
                 AND ($6::text IS NULL OR e.release = $6)
                 AND ($7::text IS NULL OR e.environment = $7)))
         ORDER BY {} OFFSET $4 LIMIT $5",
        sort.order_by()
    );
    // The only text spliced in is ours: the column list and an ORDER BY chosen from `Sort`.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(project.get()))
        .bind(filter.status.map(Status::as_str))
        .bind(pattern)
        .bind(offset)
        .bind(limit)
        .bind(filter.release)
        .bind(filter.environment)
        .fetch_all(pool)
        .await?;
    rows.iter().map(Issue::from_row).collect()
}

pub async fn get(pool: &PgPool, project: ProjectId, id: i64) -> Result<Option<Issue>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM issues WHERE project_id = $1 AND id = $2"
    )))
    .bind(i64::from(project.get()))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(Issue::from_row).transpose()
}

/// An issue's status, its row locked until the transaction ends; `None` if the project has no
/// such issue.
pub async fn lock_status(
    tx: &mut PgConnection,
    project: ProjectId,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM issues WHERE project_id = $1 AND id = $2 FOR UPDATE")
        .bind(i64::from(project.get()))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
}

/// Sets an issue's status (and when it was resolved); returns the issue as it is now.
pub async fn set_status(
    tx: &mut PgConnection,
    project: ProjectId,
    id: i64,
    status: Status,
) -> Result<Issue, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE issues SET status = $3,
             resolved_at = CASE WHEN $3 = 'resolved' THEN now() ELSE NULL END
         WHERE project_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(i64::from(project.get()))
    .bind(id)
    .bind(status.as_str())
    .fetch_one(&mut *tx)
    .await?;
    Issue::from_row(&row)
}

/// Per release among `releases`: the issues first seen in it, and the issues that came
/// back after being resolved and were last seen in it (`regressed_at` set, `last_release`
/// it): (release, new, regressed).
pub async fn per_release(
    pool: &PgPool,
    project: ProjectId,
    releases: &[&str],
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.release,
                (SELECT count(*) FROM issues
                 WHERE project_id = $1 AND first_release = r.release),
                (SELECT count(*) FROM issues
                 WHERE project_id = $1 AND last_release = r.release AND regressed_at IS NOT NULL)
         FROM UNNEST($2::text[]) AS r(release)",
    )
    .bind(i64::from(project.get()))
    .bind(releases)
    .fetch_all(pool)
    .await
}

/// The issues first seen in `release` (their `first_release`), newest first, at most
/// `limit`: a release's page. `issues_by_first_release` (migration 0015) finds them.
pub async fn first_seen_in(
    pool: &PgPool,
    project: ProjectId,
    release: &str,
    limit: i64,
) -> Result<Vec<Issue>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM issues WHERE project_id = $1 AND first_release = $2
         ORDER BY first_seen DESC, id DESC LIMIT $3"
    )))
    .bind(i64::from(project.get()))
    .bind(release)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(Issue::from_row).collect()
}
