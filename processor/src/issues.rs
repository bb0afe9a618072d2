//! Issues: errors grouped into problems, kept in step with the events they count.
//!
//! Inside the event insert's transaction: [`issue_ids`] finds (or opens, or carries over from
//! the previous grouping version) the issue of every error in the batch, so each event row is
//! written once, with its issue; then [`record`] counts the events stored for the first time
//! only, so an issue's counts are exactly its events', redeliveries included. A handful of
//! statements per batch whatever its size; the issues' rows are locked only by the last of
//! them, just before the commit (but for the one time an issue is carried over), so concurrent
//! batches of one issue overlap everything but their counting. [`record`] also queues the
//! notices of the issues the batch created (`issue.created`, only by the batch whose insert
//! won) and of those it brought back (`issue.regressed`) in the outbox, in the same
//! transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::event::{Event, Level, ProjectId, User};
use shared::grouping::{GROUPING_VERSION, Grouping, PREVIOUS_GROUPING_VERSION};
use shared::notice::{IssueNotice, NoticeEvent, NoticeKind};
use sqlx::{PgConnection, PgPool, Row};

use crate::outbox::Outbox;
use crate::store_error::StoreError;

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
    /// The notice announcing this issue's creation or new status, with the event behind it.
    pub fn notice(
        &self,
        project_id: ProjectId,
        kind: NoticeKind,
        event: Option<&Event>,
    ) -> IssueNotice {
        IssueNotice {
            notice_id: uuid::Uuid::new_v4(),
            kind,
            at: Utc::now(),
            project_id,
            issue_id: self.id,
            grouping_version: u32::try_from(self.grouping_version).unwrap_or_default(),
            fingerprint: self.fingerprint.clone(),
            title: self.title.clone(),
            culprit: self.culprit.clone(),
            level: self.level.clone(),
            count: self.count,
            user_count: self.user_count,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            last_release: self.last_release.clone(),
            event: event.map(NoticeEvent::of),
        }
    }

    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
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

/// One issue's share of a batch.
#[derive(Default)]
struct Tally<'a> {
    title: &'a str,
    culprit: Option<&'a str>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    count: i64,
    first_release: Option<&'a str>,
    last_release: Option<&'a str>,
    users: BTreeSet<String>,
}

impl<'a> Tally<'a> {
    fn add(&mut self, event: &'a Event, grouping: &'a Grouping) {
        let at = event.received_at;
        if self.last_seen.is_none_or(|last| at >= last) {
            self.last_seen = Some(at);
            self.title = &grouping.title;
            self.culprit = grouping.culprit.as_deref().or(self.culprit);
            self.last_release = event.release.as_deref().or(self.last_release);
        }
        if self.first_seen.is_none_or(|first| at < first) {
            self.first_seen = Some(at);
            self.first_release = event.release.as_deref().or(self.first_release);
        }
        self.count += 1;
        self.users.extend(user_key(event));
    }
}

/// Who an event happened to: the SDK's user (id, e-mail, name or address), else the client
/// address.
fn user_key(event: &Event) -> Option<String> {
    if let Some(key) = event.user.as_ref().and_then(User::key) {
        return Some(format!("id:{key}"));
    }
    event.client.ip.map(|ip| format!("ip:{ip}"))
}

/// The issues of a batch: each (project, fingerprint)'s id, and which of them the batch
/// created.
#[derive(Debug, Default)]
pub struct IssueIds {
    pub ids: HashMap<(i64, String), i64>,
    pub created: HashSet<i64>,
}

/// The issue of each (project, fingerprint) in `events`, creating the ones not seen before
/// (with nothing counted yet: [`record`] counts, after the events are stored, and announces
/// the created ones). An issue of the previous grouping version made of the same parts
/// ([`Grouping::previous`]) is carried over instead of creating one: see [`carry_over`].
///
/// Existing issues are only read, not locked: batches of the same issue run side by side
/// (several consume sessions, several processors) and wait for each other only in
/// [`record`], at the end of their transactions. New issues are inserted in key order, so
/// batches creating the same ones wait for each other in the same order and cannot deadlock.
pub async fn issue_ids(
    tx: &mut PgConnection,
    events: &[(&Event, &Grouping)],
) -> Result<IssueIds, sqlx::Error> {
    if events.is_empty() {
        return Ok(IssueIds::default());
    }
    let mut first: BTreeMap<(i64, &str), (&Event, &Grouping)> = BTreeMap::new();
    for (event, grouping) in events {
        first
            .entry((
                i64::from(event.project_id.get()),
                grouping.fingerprint.as_str(),
            ))
            .or_insert((event, grouping));
    }
    let mut ids = find_issues(tx, first.keys().copied()).await?;
    if ids.len() == first.len() {
        return Ok(IssueIds {
            ids,
            created: HashSet::new(),
        });
    }

    let missing: Vec<(i64, &str)> = first
        .keys()
        .copied()
        .filter(|(project, fingerprint)| !ids.contains_key(&(*project, (*fingerprint).to_owned())))
        .collect();
    let previous: Vec<(i64, String, &str)> = missing
        .iter()
        .filter_map(|key| Some((key.0, first[key].1.previous()?, key.1)))
        .collect();
    let carried = carry_over(
        tx,
        previous
            .iter()
            .map(|(project, old, new)| (*project, old.as_str(), *new)),
    )
    .await?;
    ids.extend(carried);
    let missing: Vec<(i64, &str)> = missing
        .into_iter()
        .filter(|(project, fingerprint)| !ids.contains_key(&(*project, (*fingerprint).to_owned())))
        .collect();
    if missing.is_empty() {
        return Ok(IssueIds {
            ids,
            created: HashSet::new(),
        });
    }
    let mut projects = Vec::with_capacity(missing.len());
    let mut fingerprints = Vec::with_capacity(missing.len());
    let mut titles = Vec::with_capacity(missing.len());
    let mut culprits = Vec::with_capacity(missing.len());
    let mut seen = Vec::with_capacity(missing.len());
    let mut levels = Vec::with_capacity(missing.len());
    for key in &missing {
        let (event, grouping) = first[key];
        projects.push(key.0);
        fingerprints.push(key.1);
        titles.push(grouping.title.as_str());
        culprits.push(grouping.culprit.as_deref());
        seen.push(event.received_at);
        // Native errors have no level: they are errors.
        levels.push(event.level.map_or("error", Level::as_str));
    }
    // A batch that created one of them concurrently makes this wait for its commit; the
    // conflicting rows are then read by the next statement, which sees that commit.
    let created = sqlx::query(
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
    let mut new = HashSet::with_capacity(created.len());
    for row in &created {
        let id = row.try_get("id")?;
        ids.insert(
            (row.try_get("project_id")?, row.try_get("fingerprint")?),
            id,
        );
        new.insert(id);
    }
    if created.len() < missing.len() {
        let raced: Vec<(i64, &str)> = missing
            .iter()
            .copied()
            .filter(|(project, fingerprint)| {
                !ids.contains_key(&(*project, (*fingerprint).to_owned()))
            })
            .collect();
        ids.extend(find_issues(tx, raced.into_iter()).await?);
    }
    Ok(IssueIds { ids, created: new })
}

/// Moves the issues of the previous grouping version among `keys` (project, previous
/// fingerprint, fingerprint) to this version, so the groups that the new version makes of the
/// same parts keep their issue (its status, counts and history) and are not announced as new
/// after an upgrade. Groups the new version makes otherwise get new issues; the old ones keep
/// what they counted and get nothing more.
///
/// The rows are locked in id order before they change, so batches carrying over the same
/// issues wait for each other in one order; the one that waited then finds nothing left to
/// carry and reads the moved issue like any other. An issue already there under the new
/// fingerprint (a processor of the previous version still running made the old one since) is
/// left alone.
async fn carry_over<'a>(
    tx: &mut PgConnection,
    keys: impl Iterator<Item = (i64, &'a str, &'a str)>,
) -> Result<HashMap<(i64, String), i64>, sqlx::Error> {
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
    rows.iter()
        .map(|row| {
            Ok((
                (row.try_get("project_id")?, row.try_get("fingerprint")?),
                row.try_get("id")?,
            ))
        })
        .collect()
}

/// The ids of the issues that exist among `keys` (project, fingerprint), unlocked.
async fn find_issues<'a>(
    tx: &mut PgConnection,
    keys: impl Iterator<Item = (i64, &'a str)>,
) -> Result<HashMap<(i64, String), i64>, sqlx::Error> {
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

/// Counts `events` (stored for the first time, in this transaction, with their issue) into
/// their issues: two statements per batch whatever its size. A resolved issue that gets an
/// event becomes unresolved again. A notice of each issue `created` by this batch and of each
/// regression is queued in the outbox, in the same transaction; returns how many.
pub async fn record(
    tx: &mut PgConnection,
    events: &[(&Event, &Grouping, i64)],
    created: &HashSet<i64>,
) -> Result<usize, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut tallies: BTreeMap<i64, Tally<'_>> = BTreeMap::new();
    for (event, grouping, issue) in events {
        tallies.entry(*issue).or_default().add(event, grouping);
    }
    let mut ids = Vec::with_capacity(tallies.len());
    let mut titles = Vec::with_capacity(tallies.len());
    let mut culprits = Vec::with_capacity(tallies.len());
    let mut first_seen = Vec::with_capacity(tallies.len());
    let mut last_seen = Vec::with_capacity(tallies.len());
    let mut counts = Vec::with_capacity(tallies.len());
    let mut first_releases = Vec::with_capacity(tallies.len());
    let mut last_releases = Vec::with_capacity(tallies.len());
    let mut user_issues = Vec::new();
    let mut user_keys = Vec::new();
    for (id, tally) in &tallies {
        ids.push(*id);
        titles.push(tally.title);
        culprits.push(tally.culprit);
        first_seen.push(tally.first_seen);
        last_seen.push(tally.last_seen);
        counts.push(tally.count);
        first_releases.push(tally.first_release);
        last_releases.push(tally.last_release);
        for user in &tally.users {
            user_issues.push(*id);
            user_keys.push(user.as_str());
        }
    }
    // Locked in id order first: batches counting into the same issues queue up in one order,
    // so they cannot deadlock, whatever order the UPDATE's plan visits the rows in. `ids`
    // comes from a BTreeMap, and is sorted.
    sqlx::query("SELECT id FROM issues WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    let regressed: HashSet<i64> = sqlx::query(
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
    .bind(&counts)
    .bind(&first_releases)
    .bind(&last_releases)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| Ok((row.try_get::<i64, _>("id")?, row.try_get::<Option<bool>, _>("regressed")?)))
    .collect::<Result<Vec<_>, sqlx::Error>>()?
    .into_iter()
    .filter(|(_, regressed)| *regressed == Some(true))
    .map(|(id, _)| id)
    .collect::<HashSet<i64>>();
    if !user_keys.is_empty() {
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
        .bind(&user_issues)
        .bind(&user_keys)
        .execute(&mut *tx)
        .await?;
    }
    // The event behind each notice: the one that created the issue (its earliest here), the
    // one that brought it back (its latest). A created issue whose events were all stored
    // before (a redelivery grouped anew) has none here, and is not announced: nothing
    // happened to it yet.
    let mut behind: HashMap<i64, (NoticeKind, &Event)> = HashMap::new();
    for (event, _, issue) in events {
        let kind = if created.contains(issue) {
            NoticeKind::Created
        } else if regressed.contains(issue) {
            NoticeKind::Regressed
        } else {
            continue;
        };
        let entry = behind.entry(*issue).or_insert((kind, event));
        let replaces = match kind {
            NoticeKind::Created => event.received_at < entry.1.received_at,
            _ => event.received_at >= entry.1.received_at,
        };
        if replaces {
            entry.1 = event;
        }
    }
    if behind.is_empty() {
        return Ok(0);
    }
    let announced: Vec<i64> = behind.keys().copied().collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM issues WHERE id = ANY($1)"
    )))
    .bind(&announced)
    .fetch_all(&mut *tx)
    .await?;
    let mut notices = Vec::with_capacity(rows.len());
    for row in &rows {
        let issue = Issue::from_row(row)?;
        if let Some((kind, event)) = behind.get(&issue.id) {
            notices.push(issue.notice(event.project_id, *kind, Some(event)));
        }
    }
    crate::outbox::enqueue(tx, &notices).await?;
    Ok(notices.len())
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

/// Reads and changes issues for the API.
#[derive(Clone)]
pub struct Issues {
    pool: PgPool,
    outbox: Outbox,
}

impl Issues {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }

    /// A page of a project's issues.
    pub async fn list(
        &self,
        project: ProjectId,
        filter: &IssueFilter<'_>,
        sort: Sort,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Issue>, StoreError> {
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
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(Issue::from_row).collect::<Result<_, _>>()?)
    }

    pub async fn get(&self, project: ProjectId, id: i64) -> Result<Option<Issue>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM issues WHERE project_id = $1 AND id = $2"
        )))
        .bind(i64::from(project.get()))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Issue::from_row).transpose()?)
    }

    /// Resolves, ignores or reopens an issue; `None` if the project has no such issue.
    /// Resolving an issue that was not resolved queues an `issue.resolved` notice, in the
    /// same transaction.
    pub async fn set_status(
        &self,
        project: ProjectId,
        id: i64,
        status: Status,
    ) -> Result<Option<Issue>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let before: Option<String> = sqlx::query_scalar(
            "SELECT status FROM issues WHERE project_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(i64::from(project.get()))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Ok(None);
        };
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
        let issue = Issue::from_row(&row)?;
        let resolved_now = status == Status::Resolved && before != Status::Resolved.as_str();
        if resolved_now {
            crate::outbox::enqueue(
                &mut tx,
                &[issue.notice(project, NoticeKind::Resolved, None)],
            )
            .await?;
        }
        tx.commit().await?;
        if resolved_now {
            self.outbox.wake();
        }
        Ok(Some(issue))
    }
}
