//! What the pages read and change, as a trait the processor implements with the same query
//! functions its JSON API calls: the dashboard depends on no service, and the processor
//! mounts the dashboard (imports run processor → dashboard, never back).

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use shared::event::{EventId, ProjectId};

/// What an issue is to the people working on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "unresolved" => Some(IssueStatus::Unresolved),
            "resolved" => Some(IssueStatus::Resolved),
            "ignored" => Some(IssueStatus::Ignored),
            _ => None,
        }
    }
}

/// How the issue list is ordered, newest or biggest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueSort {
    LastSeen,
    FirstSeen,
    Events,
}

impl IssueSort {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueSort::LastSeen => "last_seen",
            IssueSort::FirstSeen => "first_seen",
            IssueSort::Events => "events",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "last_seen" => Some(IssueSort::LastSeen),
            "first_seen" => Some(IssueSort::FirstSeen),
            "events" => Some(IssueSort::Events),
            _ => None,
        }
    }
}

/// A page of the issue list.
#[derive(Debug, Clone)]
pub struct IssueQuery<'a> {
    pub status: IssueStatus,
    pub sort: IssueSort,
    /// Matches the title.
    pub search: Option<&'a str>,
    /// An opaque position from the previous page's `next`.
    pub cursor: Option<&'a str>,
    pub limit: i64,
}

/// One issue, as the pages show it.
#[derive(Debug, Clone)]
pub struct IssueRow {
    pub id: i64,
    pub title: String,
    pub culprit: Option<String>,
    pub level: String,
    pub status: IssueStatus,
    pub events: i64,
    pub users: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    pub regressed_at: Option<DateTime<Utc>>,
}

/// A page of issues and where the next begins.
#[derive(Debug, Clone)]
pub struct IssuePage {
    pub issues: Vec<IssueRow>,
    pub next: Option<String>,
}

/// The period and filters of the analytics screens: `[since, until)` in buckets of
/// `interval_hours`, one environment and one release at most.
#[derive(Debug, Clone)]
pub struct Range<'a> {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub interval_hours: u32,
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
}

impl Range<'_> {
    /// The period of the same length just before this one, for deltas.
    pub fn previous(&self) -> Self {
        Self {
            since: self.since - (self.until - self.since),
            until: self.since,
            ..self.clone()
        }
    }
}

/// The most releases [`Source::releases`] answers (the read API's greatest `limit`).
pub const RELEASES_MAX: usize = 100;

/// The issues that began or came back within a period, and how many did in the period
/// before it.
#[derive(Debug, Clone, Default)]
pub struct IssueActivity {
    /// First seen in the period, newest first.
    pub new: Vec<IssueRow>,
    /// Regressed (seen again after being resolved) in the period, newest first.
    pub regressed: Vec<IssueRow>,
    pub new_before: i64,
    pub regressed_before: i64,
    /// `false` when more issues were active than are read for one page: the lists and
    /// counts are then a lower bound.
    pub complete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("not a cursor from a previous page")]
    BadCursor,
    #[error("invalid parameter: {0}")]
    Invalid(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// A project's public key as the Settings screen lists it, revoked ones included.
#[derive(Debug, Clone)]
pub struct ProjectKey {
    pub key: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What revoking a key from the Settings screen did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRevoked {
    Revoked,
    /// Revoked before: nothing changed.
    Already,
    /// The project has no such key.
    NotFound,
    /// The project's last active key: refused, nothing changed.
    LastKey,
}

/// The processor's data, as the pages need it. Project ids are checked against the viewer
/// before any of these is called.
pub trait Source: Send + Sync + 'static {
    fn issues(
        &self,
        project: ProjectId,
        query: &IssueQuery<'_>,
    ) -> impl Future<Output = Result<IssuePage, SourceError>> + Send;

    fn issue(
        &self,
        project: ProjectId,
        id: i64,
    ) -> impl Future<Output = Result<Option<IssueRow>, SourceError>> + Send;

    /// The newest stored event of an issue, as stored (source maps applied).
    fn latest_event(
        &self,
        project: ProjectId,
        issue: i64,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, SourceError>> + Send;

    /// `false` if the project has no such issue.
    fn set_status(
        &self,
        project: ProjectId,
        id: i64,
        status: IssueStatus,
    ) -> impl Future<Output = Result<bool, SourceError>> + Send;

    /// The web vitals of a period as `GET /api/projects/{id}/vitals` answers them (its
    /// JSON), with `metric`'s tables.
    fn vitals(
        &self,
        project: ProjectId,
        range: &Range<'_>,
        metric: &str,
    ) -> impl Future<Output = Result<serde_json::Value, SourceError>> + Send;

    /// The traffic of a period as `GET /api/projects/{id}/traffic` answers it (its JSON).
    fn traffic(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> impl Future<Output = Result<serde_json::Value, SourceError>> + Send;

    /// Errors, affected users, page views, sessions and crash-free sessions of a period as
    /// `GET /api/projects/{id}/errors` answers them (its JSON).
    fn errors(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> impl Future<Output = Result<serde_json::Value, SourceError>> + Send;

    /// Failed API calls per endpoint and failed resources per URL, as
    /// `GET /api/projects/{id}/api-health` answers them (its JSON).
    fn api_health(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> impl Future<Output = Result<serde_json::Value, SourceError>> + Send;

    /// White screens per page, as `GET /api/projects/{id}/white-screens` answers them.
    fn white_screens(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> impl Future<Output = Result<serde_json::Value, SourceError>> + Send;

    /// The releases seen in a period, newest first, at most [`RELEASES_MAX`], as
    /// `GET /api/projects/{id}/releases?limit=100` answers them.
    fn releases(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> impl Future<Output = Result<serde_json::Value, SourceError>> + Send;

    /// The issues first seen in a release (their first release), newest first, at most
    /// `limit`.
    fn release_issues(
        &self,
        project: ProjectId,
        release: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<IssueRow>, SourceError>> + Send;

    /// The issues new and regressed in a period (and the counts of the period before).
    fn activity(
        &self,
        project: ProjectId,
        range: &Range<'_>,
    ) -> impl Future<Output = Result<IssueActivity, SourceError>> + Send;

    /// The ids of the issues among `keys` (project, fingerprint) that exist, by key: the
    /// Alerts screen links notifications that name their issue only by fingerprint.
    fn issue_ids(
        &self,
        keys: &[(i64, String)],
    ) -> impl Future<Output = Result<HashMap<(i64, String), i64>, SourceError>> + Send;

    /// The issue a stored event was grouped into: `None` if the project has no such event
    /// (not stored yet, or never) or the event is no error. Alert messages about an event
    /// link to its issue's page through this.
    fn event_issue(
        &self,
        project: ProjectId,
        event: EventId,
    ) -> impl Future<Output = Result<Option<i64>, SourceError>> + Send;

    /// Whether the project has stored any event at all (else the pages teach the snippet).
    fn has_events(
        &self,
        project: ProjectId,
    ) -> impl Future<Output = Result<bool, SourceError>> + Send;

    /// The project's public keys, oldest first, revoked ones included.
    fn keys(
        &self,
        project: ProjectId,
    ) -> impl Future<Output = Result<Vec<ProjectKey>, SourceError>> + Send;

    /// Adds a new random key to the project; returns it. The collectors accept it from
    /// their next refresh on.
    fn add_key(
        &self,
        project: ProjectId,
        label: Option<&str>,
    ) -> impl Future<Output = Result<String, SourceError>> + Send;

    /// Revokes one of the project's keys, unless it is the last active one.
    fn revoke_key(
        &self,
        project: ProjectId,
        key: &str,
    ) -> impl Future<Output = Result<KeyRevoked, SourceError>> + Send;
}
