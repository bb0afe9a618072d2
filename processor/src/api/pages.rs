//! The dashboard's view of the processor: [`dashboard::Source`] implemented with the same
//! query functions as the JSON API (`Issues::list`, `Issues::get`, `Issues::set_status`,
//! `Store::list`, and the analytics endpoints' `answer`: vitals, traffic, errors, API
//! health, white screens, releases), so a page and its JSON twin cannot disagree.

use chrono::{DateTime, Utc};
use dashboard::{
    IssueActivity, IssuePage, IssueQuery, IssueRow, IssueSort, IssueStatus, KeyRevoked, ProjectKey,
    RELEASES_MAX, Range, Source, SourceError,
};
use shared::config::PublicKey;
use shared::db::projects::{self, Revoked};
use shared::event::{EventId, ProjectId};

use super::{ApiError, api_health, errors, releases, traffic, vitals, white_screens};

use crate::db::issues::{Issue, IssueFilter, Sort, Status};
use crate::db::{EventFilter, Store, StoreError};
use crate::issues::Issues;

/// What the dashboard's pages read and change.
pub struct Pages {
    pub store: Store,
    pub issues: Issues,
}

fn unavailable(error: StoreError) -> SourceError {
    SourceError::Unavailable(error.to_string())
}

fn failed(error: ApiError) -> SourceError {
    match error {
        ApiError::InvalidParameter { .. } => SourceError::Invalid(error.to_string()),
        other => SourceError::Unavailable(other.to_string()),
    }
}

/// Issues read, newest activity first, to find a period's new and regressed ones: a project
/// with more issues active since the period before began gets a lower bound.
const ACTIVITY_MAX: i64 = 2000;
const ACTIVITY_PAGE: i64 = 250;

/// The window's parameters as the endpoints' query strings spell them.
fn window(range: &Range<'_>) -> (Option<String>, Option<String>, Option<String>) {
    (
        Some(shared::time::format(range.since)),
        Some(shared::time::format(range.until)),
        Some(format!("{}h", range.interval_hours)),
    )
}

/// An analytics endpoint's query for a range: its window and filters, the rest default.
macro_rules! ranged {
    ($query:path, $range:expr) => {{
        let range = $range;
        let (since, until, interval) = window(range);
        $query {
            since,
            until,
            interval,
            environment: range.environment.map(str::to_owned),
            release: range.release.map(str::to_owned),
            ..Default::default()
        }
    }};
}

fn within(at: DateTime<Utc>, since: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    since <= at && at < until
}

fn status(status: IssueStatus) -> Status {
    match status {
        IssueStatus::Unresolved => Status::Unresolved,
        IssueStatus::Resolved => Status::Resolved,
        IssueStatus::Ignored => Status::Ignored,
    }
}

fn row(issue: Issue) -> IssueRow {
    IssueRow {
        id: issue.id,
        title: issue.title,
        culprit: issue.culprit,
        level: issue.level,
        status: match issue.status {
            Status::Unresolved => IssueStatus::Unresolved,
            Status::Resolved => IssueStatus::Resolved,
            Status::Ignored => IssueStatus::Ignored,
        },
        events: issue.count,
        users: issue.user_count,
        first_seen: issue.first_seen,
        last_seen: issue.last_seen,
        first_release: issue.first_release,
        last_release: issue.last_release,
        regressed_at: issue.regressed_at,
    }
}

fn database(error: sqlx::Error) -> SourceError {
    SourceError::Unavailable(error.to_string())
}

impl Source for Pages {
    // The keys through the functions `frontmon-admin keys` calls.
    async fn keys(&self, project: ProjectId) -> Result<Vec<ProjectKey>, SourceError> {
        let project = i64::from(project.get());
        Ok(projects::keys(self.store.pool())
            .await
            .map_err(database)?
            .into_iter()
            .filter(|key| key.project_id == project)
            .map(|key| ProjectKey {
                key: key.key,
                label: key.label,
                created_at: key.created_at,
                revoked_at: key.revoked_at,
            })
            .collect())
    }

    async fn add_key(
        &self,
        project: ProjectId,
        label: Option<&str>,
    ) -> Result<String, SourceError> {
        let key = PublicKey::generate();
        if projects::add_key(self.store.pool(), i64::from(project.get()), &key, label)
            .await
            .map_err(database)?
        {
            Ok(key.as_str().to_owned())
        } else {
            // The dashboard's projects are read at start; the row went since.
            Err(SourceError::Invalid(format!(
                "project {project} is not in the database"
            )))
        }
    }

    async fn revoke_key(&self, project: ProjectId, key: &str) -> Result<KeyRevoked, SourceError> {
        let revoked =
            projects::revoke_key_keeping_one(self.store.pool(), i64::from(project.get()), key)
                .await
                .map_err(database)?;
        Ok(match revoked {
            None => KeyRevoked::LastKey,
            Some(Revoked::Revoked) => KeyRevoked::Revoked,
            Some(Revoked::Already) => KeyRevoked::Already,
            Some(Revoked::NotFound) => KeyRevoked::NotFound,
        })
    }

    async fn issue_ids(
        &self,
        keys: &[(i64, String)],
    ) -> Result<std::collections::HashMap<(i64, String), i64>, SourceError> {
        self.issues.ids(keys).await.map_err(unavailable)
    }

    async fn issues(
        &self,
        project: ProjectId,
        query: &IssueQuery<'_>,
    ) -> Result<IssuePage, SourceError> {
        // The same cursor as the JSON API's (`api::issues`): the next page's offset.
        let offset = match query.cursor {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|offset| *offset >= 0)
                .ok_or(SourceError::BadCursor)?,
        };
        let filter = IssueFilter {
            status: Some(status(query.status)),
            query: query.search,
            release: None,
            environment: None,
        };
        let sort = match query.sort {
            IssueSort::LastSeen => Sort::LastSeen,
            IssueSort::FirstSeen => Sort::FirstSeen,
            IssueSort::Events => Sort::Count,
        };
        let mut issues = self
            .issues
            .list(project, &filter, sort, offset, query.limit + 1)
            .await
            .map_err(unavailable)?;
        let next = if issues.len() as i64 > query.limit {
            issues.truncate(query.limit as usize);
            Some((offset + query.limit).to_string())
        } else {
            None
        };
        Ok(IssuePage {
            issues: issues.into_iter().map(row).collect(),
            next,
        })
    }

    async fn event_issue(
        &self,
        project: ProjectId,
        event: EventId,
    ) -> Result<Option<i64>, SourceError> {
        Ok(self
            .store
            .get(project, event)
            .await
            .map_err(unavailable)?
            .and_then(|stored| stored.issue_id))
    }

    async fn issue(&self, project: ProjectId, id: i64) -> Result<Option<IssueRow>, SourceError> {
        Ok(self
            .issues
            .get(project, id)
            .await
            .map_err(unavailable)?
            .map(row))
    }

    async fn latest_event(
        &self,
        project: ProjectId,
        issue: i64,
    ) -> Result<Option<serde_json::Value>, SourceError> {
        let filter = EventFilter {
            issue: Some(issue),
            ..EventFilter::default()
        };
        Ok(self
            .store
            .list(project, &filter, None, 1)
            .await
            .map_err(unavailable)?
            .into_iter()
            .next()
            .map(|event| event.payload))
    }

    async fn set_status(
        &self,
        project: ProjectId,
        id: i64,
        new: IssueStatus,
    ) -> Result<bool, SourceError> {
        let changed = self
            .issues
            .set_status(project, id, status(new))
            .await
            .map_err(unavailable)?;
        if changed.is_some() {
            tracing::info!(project_id = %project, issue_id = id, status = new.as_str(), "Issue status changed in the dashboard.");
        }
        Ok(changed.is_some())
    }

    async fn vitals(
        &self,
        project: ProjectId,
        range: &Range<'_>,
        metric: &str,
    ) -> Result<serde_json::Value, SourceError> {
        let query = vitals::VitalsQuery {
            metric: Some(metric.to_owned()),
            ..ranged!(vitals::VitalsQuery, range)
        };
        vitals::answer(self.store.pool(), project, &query)
            .await
            .map_err(failed)
    }

    async fn traffic(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> Result<serde_json::Value, SourceError> {
        let query = ranged!(traffic::TrafficQuery, range);
        traffic::answer(self.store.pool(), project, &query)
            .await
            .map_err(failed)
    }

    async fn errors(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> Result<serde_json::Value, SourceError> {
        let query = ranged!(errors::ErrorsQuery, range);
        errors::answer(self.store.pool(), project, &query)
            .await
            .map_err(failed)
    }

    async fn api_health(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> Result<serde_json::Value, SourceError> {
        let query = ranged!(api_health::ApiHealthQuery, range);
        api_health::answer(self.store.pool(), project, &query)
            .await
            .map_err(failed)
    }

    async fn white_screens(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> Result<serde_json::Value, SourceError> {
        let query = ranged!(white_screens::WhiteScreensQuery, range);
        white_screens::answer(self.store.pool(), project, &query)
            .await
            .map_err(failed)
    }

    async fn releases(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> Result<serde_json::Value, SourceError> {
        let query = releases::ReleasesQuery {
            limit: Some(RELEASES_MAX),
            ..ranged!(releases::ReleasesQuery, range)
        };
        releases::answer(self.store.pool(), project, &query)
            .await
            .map_err(failed)
    }

    async fn release_issues(
        &self,
        project: ProjectId,
        release: &str,
        limit: i64,
    ) -> Result<Vec<IssueRow>, SourceError> {
        Ok(
            crate::db::issues::first_seen_in(self.store.pool(), project, release, limit)
                .await
                .map_err(|error| unavailable(StoreError::from(error)))?
                .into_iter()
                .map(row)
                .collect(),
        )
    }

    async fn activity(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> Result<IssueActivity, SourceError> {
        let before = range.previous();
        let filter = IssueFilter {
            status: None,
            query: None,
            release: range.release,
            environment: range.environment,
        };
        // By last seen, newest first: an issue new or regressed since `before.since` was
        // seen since then, so the walk stops at the first issue last seen earlier.
        let mut activity = IssueActivity::default();
        let mut offset = 0;
        activity.complete = loop {
            let issues = self
                .issues
                .list(project, &filter, Sort::LastSeen, offset, ACTIVITY_PAGE)
                .await
                .map_err(unavailable)?;
            let read = issues.len() as i64;
            let mut done = read < ACTIVITY_PAGE;
            for issue in issues {
                if issue.last_seen < before.since {
                    done = true;
                    break;
                }
                let regressed = issue.regressed_at;
                if within(issue.first_seen, range.since, range.until) {
                    activity.new.push(row(issue.clone()));
                } else if within(issue.first_seen, before.since, before.until) {
                    activity.new_before += 1;
                }
                match regressed {
                    Some(at) if within(at, range.since, range.until) => {
                        activity.regressed.push(row(issue))
                    }
                    Some(at) if within(at, before.since, before.until) => {
                        activity.regressed_before += 1
                    }
                    _ => {}
                }
            }
            offset += read;
            if done {
                break true;
            }
            if offset >= ACTIVITY_MAX {
                break false;
            }
        };
        activity
            .new
            .sort_by_key(|issue| std::cmp::Reverse(issue.first_seen));
        activity
            .regressed
            .sort_by_key(|issue| std::cmp::Reverse(issue.regressed_at));
        Ok(activity)
    }

    async fn has_events(&self, project: ProjectId) -> Result<bool, SourceError> {
        Ok(!self
            .store
            .list(project, &EventFilter::default(), None, 1)
            .await
            .map_err(unavailable)?
            .is_empty())
    }
}
