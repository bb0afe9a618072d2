//! Issues: errors grouped into problems, kept in step with the events they count.
//!
//! Inside the batch's transaction ([`crate::db::batch`]): [`issue_ids`] finds (or opens, or
//! carries over from the previous grouping version) the issue of every error in the batch, so
//! each event row is written once, with its issue; then [`record`] counts the events stored
//! for the first time only, so an issue's counts are exactly its events', redeliveries
//! included. A handful of statements per batch whatever its size; the issues' rows are locked
//! only by the last of them, just before the commit (but for the one time an issue is carried
//! over), so concurrent batches of one issue overlap everything but their counting. [`record`]
//! also queues the notices of the issues the batch created (`issue.created`, only by the batch
//! whose insert won) and of those it brought back (`issue.regressed`) in the outbox, in the
//! same transaction. The statements themselves are in [`crate::db::issues`].
//!
//! Start at [`issue_ids`], then [`record`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use shared::event::{Event, Level, ProjectId, User};
use shared::grouping::Grouping;
use shared::notice::{IssueNotice, NoticeEvent, NoticeKind};
use sqlx::{PgConnection, PgPool};

use crate::db::StoreError;
use crate::db::issues::{
    self as rows, Counts, Issue, IssueFilter, IssueKeys, NewIssue, Sort, Status,
};
use crate::outbox::Outbox;

/// The notice announcing `issue`'s creation or new status, with the event behind it.
pub fn notice(
    issue: &Issue,
    project_id: ProjectId,
    kind: NoticeKind,
    event: Option<&Event>,
) -> IssueNotice {
    IssueNotice {
        notice_id: uuid::Uuid::new_v4(),
        kind,
        at: Utc::now(),
        project_id,
        issue_id: issue.id,
        grouping_version: u32::try_from(issue.grouping_version).unwrap_or_default(),
        fingerprint: issue.fingerprint.clone(),
        title: issue.title.clone(),
        culprit: issue.culprit.clone(),
        level: issue.level.clone(),
        count: issue.count,
        user_count: issue.user_count,
        first_seen: issue.first_seen,
        last_seen: issue.last_seen,
        last_release: issue.last_release.clone(),
        event: event.map(NoticeEvent::of),
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
    user_key_of(
        event.user.as_ref(),
        event.client.ip.map(|ip| ip.to_string()).as_deref(),
    )
}

/// [`user_key`] of a user and a client address, as an event stores them.
pub fn user_key_of(user: Option<&User>, ip: Option<&str>) -> Option<String> {
    if let Some(key) = user.and_then(User::key) {
        return Some(format!("id:{key}"));
    }
    ip.map(|ip| format!("ip:{ip}"))
}

/// The issues of a batch: each (project, fingerprint)'s id, and which of them the batch
/// created.
#[derive(Debug, Default)]
pub struct IssueIds {
    pub ids: IssueKeys,
    pub created: HashSet<i64>,
}

/// The issue of each (project, fingerprint) in `events`, creating the ones not seen before
/// (with nothing counted yet: [`record`] counts, after the events are stored, and announces
/// the created ones). An issue of the previous grouping version made of the same parts
/// ([`Grouping::previous`]) is carried over instead of creating one: the groups that the new
/// version makes of the same parts keep their issue (its status, counts and history) and are
/// not announced as new after an upgrade. Groups the new version makes otherwise get new
/// issues; the old ones keep what they counted and get nothing more.
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
    let mut ids = rows::find(tx, first.keys().copied()).await?;
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
    let carried = rows::carry_over(
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
    let new: Vec<NewIssue<'_>> = missing
        .iter()
        .map(|key| {
            let (event, grouping) = first[key];
            NewIssue {
                project_id: key.0,
                fingerprint: key.1,
                title: &grouping.title,
                culprit: grouping.culprit.as_deref(),
                seen: event.received_at,
                // Native errors have no level: they are errors.
                level: event.level.map_or("error", Level::as_str),
            }
        })
        .collect();
    let created = rows::create(tx, &new).await?;
    let created_ids: HashSet<i64> = created.values().copied().collect();
    let all_created = created.len() == missing.len();
    ids.extend(created);
    if !all_created {
        // Created by a concurrent batch, whose commit the insert waited for.
        let raced: Vec<(i64, &str)> = missing
            .iter()
            .copied()
            .filter(|(project, fingerprint)| {
                !ids.contains_key(&(*project, (*fingerprint).to_owned()))
            })
            .collect();
        ids.extend(rows::find(tx, raced.into_iter()).await?);
    }
    Ok(IssueIds {
        ids,
        created: created_ids,
    })
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
    // In id order (a BTreeMap's), the order the rows are locked in.
    let counts: Vec<Counts<'_>> = tallies
        .iter()
        .map(|(id, tally)| Counts {
            id: *id,
            title: tally.title,
            culprit: tally.culprit,
            first_seen: tally.first_seen,
            last_seen: tally.last_seen,
            count: tally.count,
            first_release: tally.first_release,
            last_release: tally.last_release,
        })
        .collect();
    let users: Vec<(i64, &str)> = tallies
        .iter()
        .flat_map(|(id, tally)| tally.users.iter().map(|user| (*id, user.as_str())))
        .collect();
    let regressed = rows::count(tx, &counts).await?;
    rows::add_users(tx, &users).await?;
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
    let notices: Vec<IssueNotice> = rows::by_ids(tx, &announced)
        .await?
        .iter()
        .filter_map(|issue| {
            let (kind, event) = behind.get(&issue.id)?;
            Some(notice(issue, event.project_id, *kind, Some(event)))
        })
        .collect();
    crate::db::outbox::enqueue(tx, &notices).await?;
    Ok(notices.len())
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
        Ok(rows::list(&self.pool, project, filter, sort, offset, limit).await?)
    }

    /// The ids of the issues (of this grouping version) among `keys` (project, fingerprint)
    /// that exist: what the alerter's notifications name only by fingerprint.
    pub async fn ids(&self, keys: &[(i64, String)]) -> Result<IssueKeys, StoreError> {
        let mut connection = self.pool.acquire().await?;
        Ok(rows::find(
            &mut connection,
            keys.iter()
                .map(|(project, fingerprint)| (*project, fingerprint.as_str())),
        )
        .await?)
    }

    pub async fn get(&self, project: ProjectId, id: i64) -> Result<Option<Issue>, StoreError> {
        Ok(rows::get(&self.pool, project, id).await?)
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
        let Some(before) = rows::lock_status(&mut tx, project, id).await? else {
            return Ok(None);
        };
        let issue = rows::set_status(&mut tx, project, id, status).await?;
        let resolved_now = status == Status::Resolved && before != Status::Resolved.as_str();
        if resolved_now {
            crate::db::outbox::enqueue(
                &mut tx,
                &[notice(&issue, project, NoticeKind::Resolved, None)],
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
