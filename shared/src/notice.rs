//! Issue notices: what the processor announces on the events exchange when an issue changes
//! status (`issue.regressed`, `issue.resolved`), for the alerter, which sees only its own
//! queue and so cannot read the processor's database.
//!
//! Published from an outbox written in the same transaction as the change, so a notice is
//! never lost, but may come twice: `notice_id` tells the copies apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{EventId, ProjectId, RoutingKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A resolved issue got a new event, and is unresolved again.
    Regressed,
    /// Someone resolved the issue.
    Resolved,
}

impl NoticeKind {
    pub fn routing_key(self) -> RoutingKey {
        match self {
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
    /// For a regression, the event that brought it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
}

impl IssueNotice {
    pub fn routing_key(&self) -> RoutingKey {
        self.kind.routing_key()
    }
}
