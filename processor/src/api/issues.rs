//! Issues, errors grouped into problems:
//!
//! - `GET /api/projects/{id}/issues?status=&sort=&query=&release=&environment=&limit=&cursor=`:
//!   `status` `unresolved` (default), `resolved`, `ignored` or `all`; `sort` `last_seen`
//!   (default), `first_seen` or `count`; `query` matches the title; `release` and
//!   `environment` keep the issues with at least one event of that release and environment
//!   (both: one event of both); `cursor` is the previous page's `next`.
//! - `GET /api/projects/{id}/issues/{issue_id}`
//! - `GET /api/projects/{id}/issues/{issue_id}/events?since=&until=&release=&environment=&limit=&before=`:
//!   its events, newest first, filtered as the project's events are.
//! - `PATCH /api/projects/{id}/issues/{issue_id}` with `{"status": "resolved"}` (or
//!   `unresolved`, `ignored`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::event::ProjectId;
use shared::query::{NoParams, Query};

use super::events::{EventsQuery, page};
use super::{ApiError, DEFAULT_LIMIT, MAX_LIMIT, State, authorize, invalid};
use crate::db::issues::{Issue, IssueFilter, Sort, Status};

#[derive(Debug, Deserialize)]
pub struct IssuesQuery {
    status: Option<String>,
    sort: Option<String>,
    query: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list_issues(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<IssuesQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project).await?;
    let status = match query.status.as_deref() {
        None => Some(Status::Unresolved),
        Some("all") => None,
        Some(text) => Some(
            Status::parse(text)
                .ok_or_else(|| invalid("status", "unresolved, resolved, ignored or all"))?,
        ),
    };
    let sort = match query.sort.as_deref() {
        None => Sort::LastSeen,
        Some(text) => {
            Sort::parse(text).ok_or_else(|| invalid("sort", "last_seen, first_seen or count"))?
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    // The cursor is the offset of the next page: issues are few per project, and counts and
    // last-seen times move under a keyset cursor anyway.
    let offset = match query.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .parse::<i64>()
            .ok()
            .filter(|offset| *offset >= 0)
            .ok_or_else(|| invalid("cursor", "not a cursor from a previous page"))?,
    };
    let query_text = query
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    let filter = IssueFilter {
        status,
        query: query_text,
        release: query.release.as_deref(),
        environment: query.environment.as_deref(),
    };
    let mut issues = state
        .issues
        .list(project, &filter, sort, offset, limit + 1)
        .await?;
    let next = if issues.len() as i64 > limit {
        issues.truncate(limit as usize);
        Some((offset + limit).to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "issues": issues, "next": next })))
}

async fn find(state: &State, project: ProjectId, issue: &str) -> Result<Issue, ApiError> {
    let id = issue
        .parse::<i64>()
        .map_err(|_| invalid("issue_id", "must be a number"))?;
    state
        .issues
        .get(project, id)
        .await?
        .ok_or_else(|| ApiError::UnknownIssue(issue.to_owned()))
}

pub async fn get_issue(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (project, issue) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    Ok(HttpResponse::Ok().json(find(&state, project, &issue).await?))
}

pub async fn issue_events(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    query: Query<EventsQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (project, issue) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    let issue = find(&state, project, &issue).await?;
    page(&state, project, None, Some(issue.id), &query).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueUpdate {
    status: Status,
}

pub async fn update_issue(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    update: web::Json<IssueUpdate>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (project, issue) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    let id = find(&state, project, &issue).await?.id;
    let updated = state
        .issues
        .set_status(project, id, update.status)
        .await?
        .ok_or_else(|| ApiError::UnknownIssue(issue.clone()))?;
    tracing::info!(project_id = %project, issue_id = id, status = update.status.as_str(), "Issue status changed.");
    Ok(HttpResponse::Ok().json(updated))
}
