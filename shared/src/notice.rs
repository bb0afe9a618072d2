//! Issue notices: what the processor announces on the events exchange when an issue is
//! created or changes status (`issue.created`, `issue.regressed`, `issue.resolved`), for the
//! alerter, which sees only its own queue and so cannot read the processor's database.
//!
//! The processor is where an issue is known for sure: it groups errors after resolving their
//! frames through source maps, which the alerter does not do. So "new issue" is the
//! processor's word (`issue.created`), not a guess from the alerter's own grouping.
//!
//! Published from an outbox written in the same transaction as the change, so a notice is
//! never lost, but may come twice: `notice_id` tells the copies apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, EventId, ProjectId, RoutingKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The issue's first event was stored.
    Created,
    /// A resolved issue got a new event, and is unresolved again.
    Regressed,
    /// Someone resolved the issue.
    Resolved,
}

impl NoticeKind {
    pub fn routing_key(self) -> RoutingKey {
        match self {
            NoticeKind::Created => RoutingKey::IssueCreated,
            NoticeKind::Regressed => RoutingKey::IssueRegressed,
            NoticeKind::Resolved => RoutingKey::IssueResolved,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueNotice {
    pub notice_id: Uuid,
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub project_id: ProjectId,
    pub issue_id: i64,
    pub grouping_version: u32,
    pub fingerprint: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<String>,
    pub level: String,
    pub count: i64,
    pub user_count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The release of the issue's latest event: for a regression, the release it came back in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_release: Option<String>,
    /// The event that created the issue, or that brought it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<NoticeEvent>,
}

/// What a notice tells of the event behind it, for the notification to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeEvent {
    pub event_id: EventId,
    pub routing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    pub timestamp: DateTime<Utc>,
}

impl NoticeEvent {
    pub fn of(event: &Event) -> Self {
        Self {
            event_id: event.event_id,
            routing_key: event.routing_key().as_str().to_owned(),
            message: event.message.clone(),
            url: event.url.clone(),
            environment: event.environment.clone(),
            release: event.release.clone(),
            timestamp: event.timestamp,
        }
    }
}

impl IssueNotice {
    pub fn routing_key(&self) -> RoutingKey {
        self.kind.routing_key()
    }
}
