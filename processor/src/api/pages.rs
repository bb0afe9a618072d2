//! The dashboard's view of the processor: [`dashboard::Source`] implemented with the same
//! query functions as the JSON API (`Issues::list`, `Issues::get`, `Issues::set_status`,
//! `Store::list`), so a page and its JSON twin cannot disagree.

use dashboard::{IssuePage, IssueQuery, IssueRow, IssueSort, IssueStatus, Source, SourceError};
use shared::event::ProjectId;

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

impl Source for Pages {
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

    async fn has_events(&self, project: ProjectId) -> Result<bool, SourceError> {
        Ok(!self
            .store
            .list(project, &EventFilter::default(), None, 1)
            .await
            .map_err(unavailable)?
            .is_empty())
    }
}
