//! What a fired rule says: the [`Message`] each channel gets, built from the event or notice
//! and the rule's reason, and the digest that folds several; plus the adapter that lets the
//! dispatcher send stored messages through a [`Channel`].

use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use shared::config::{ChannelSettings, Settings};
use shared::event::{Event, ProjectId};
use shared::grouping::Grouping;
use shared::notice::{IssueNotice, NoticeEvent};
use url::Url;

use crate::channels::{
    Channel, ChannelError, Digest, DigestItem, Escalation, EventFacts, IssueFacts, Message,
    MessageKind,
};
use crate::rules::{Fired, Reason, breaks_through};
use crate::send::{Failure, Sender};
use crate::store::{NewNotification, Notification};

/// Items listed in a digest at most; the summary counts them all.
const MAX_DIGEST_ITEMS: usize = 20;

pub struct Composer {
    projects: HashMap<ProjectId, String>,
    public_url: Option<Url>,
    channels: HashMap<String, ChannelSettings>,
}

impl Composer {
    pub fn new(settings: &Settings) -> Self {
        Self {
            projects: settings
                .projects
                .iter()
                .map(|p| (p.id, p.name.clone()))
                .collect(),
            public_url: settings.processor.public_url.clone(),
            channels: settings
                .alerter
                .channels
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
        }
    }

    /// One notification per channel of `fired`, about an error event.
    pub fn for_event(
        &self,
        fired: &Fired,
        event: &Event,
        grouping: &Grouping,
        source: Option<Value>,
        base: &str,
    ) -> Vec<NewNotification> {
        let issue = IssueFacts {
            id: None,
            fingerprint: Some(grouping.fingerprint.clone()),
            title: grouping.title.clone(),
            culprit: grouping.culprit.clone(),
            level: Some(fired.level.map_or("error", |l| l.as_str()).to_owned()),
            count: count_of(&fired.reason),
            user_count: 0,
            first_seen: None,
            last_seen: Some(event.received_at),
        };
        let message = Message {
            environment: event.environment.clone(),
            release: event.release.clone(),
            // A spike is about a whole project, not one issue.
            issue: (!matches!(fired.reason, Reason::Spike { .. })).then_some(issue),
            event: Some(EventFacts::from(event)),
            link: self.link(&format!(
                "/api/projects/{}/events/{}",
                fired.project_id, event.event_id
            )),
            ..self.about(fired)
        };
        self.per_channel(fired, message, source, base)
    }

    /// One notification per channel of `fired`, about a created or regressed issue.
    pub fn for_notice(
        &self,
        fired: &Fired,
        notice: &IssueNotice,
        source: Option<Value>,
        base: &str,
    ) -> Vec<NewNotification> {
        let message = Message {
            environment: notice
                .event
                .as_ref()
                .and_then(|event| event.environment.clone()),
            release: notice.last_release.clone(),
            issue: Some(IssueFacts {
                id: Some(notice.issue_id),
                fingerprint: Some(notice.fingerprint.clone()),
                title: notice.title.clone(),
                culprit: notice.culprit.clone(),
                level: Some(notice.level.clone()),
                count: u64::try_from(notice.count).unwrap_or(0),
                user_count: u64::try_from(notice.user_count).unwrap_or(0),
                first_seen: Some(notice.first_seen),
                last_seen: Some(notice.last_seen),
            }),
            event: notice.event.as_ref().map(EventFacts::from),
            link: self.link(&format!(
                "/api/projects/{}/issues/{}",
                fired.project_id, notice.issue_id
            )),
            ..self.about(fired)
        };
        self.per_channel(fired, message, source, base)
    }

    /// What every message of `fired` says, whatever triggered it; the caller adds the issue,
    /// the event and the link.
    fn about(&self, fired: &Fired) -> Message {
        Message {
            kind: kind_of(&fired.reason),
            delivery_id: String::new(),
            headline: self.headline(&fired.reason, fired.project_id),
            project_id: Some(fired.project_id),
            project: self.projects.get(&fired.project_id).cloned(),
            environment: None,
            release: None,
            issue: None,
            event: None,
            reason: describe(&fired.reason),
            escalation: escalation_of(&fired.reason),
            link: None,
            digest: None,
        }
    }

    fn per_channel(
        &self,
        fired: &Fired,
        message: Message,
        source: Option<Value>,
        base: &str,
    ) -> Vec<NewNotification> {
        fired
            .channels
            .iter()
            .map(|channel| {
                let delivery_id = short_hash(&format!("{base}|{channel}"));
                let mut message = message.clone();
                message.delivery_id.clone_from(&delivery_id);
                let breaks_quiet = self
                    .channels
                    .get(channel)
                    .and_then(|c| c.quiet_hours.as_ref())
                    .is_some_and(|quiet| breaks_through(quiet.setting(), fired));
                NewNotification {
                    delivery_id,
                    channel: channel.clone(),
                    rule: fired.rule.clone(),
                    reason: kind_of(&fired.reason).as_str(),
                    project_id: i64::from(fired.project_id.get()),
                    fingerprint: fired.fingerprint.clone(),
                    level: fired.level.map(|l| l.as_str().to_owned()),
                    message: serde_json::to_value(&message).unwrap_or(Value::Null),
                    source: source.clone(),
                    breaks_quiet,
                }
            })
            .collect()
    }

    /// One message carrying `items` (pending notifications of `channel`), when more are due
    /// than its rate limit lets out one by one, or when its quiet hours end.
    pub fn digest(
        &self,
        channel: &ChannelSettings,
        items: &[Notification],
        after_quiet_hours: bool,
    ) -> NewNotification {
        let messages: Vec<Message> = items
            .iter()
            .filter_map(|n| serde_json::from_value(n.message.clone()).ok())
            .collect();
        let projects: Vec<&str> = {
            let mut names: Vec<&str> = messages
                .iter()
                .filter_map(|m| m.project.as_deref())
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        let project_id = messages.iter().find_map(|m| m.project_id);
        let new_issues = messages
            .iter()
            .filter(|m| m.kind == MessageKind::NewIssue)
            .count();
        let what = if new_issues == items.len() {
            format!("{} new issues", items.len())
        } else {
            format!("{} alerts", items.len())
        };
        let place = match projects.as_slice() {
            [one] => format!(" in {one}"),
            _ => String::new(),
        };
        let when = if after_quiet_hours {
            " during quiet hours"
        } else {
            " in the last minute"
        };
        let summary = format!("{what}{place}{when}");
        let digest_items = messages
            .iter()
            .take(MAX_DIGEST_ITEMS)
            .map(|m| DigestItem {
                text: match &m.issue {
                    Some(issue) => format!("{}: {}", m.headline, issue.title),
                    None => m.headline.clone(),
                },
                link: m.link.clone(),
            })
            .collect();
        let ids: Vec<String> = items.iter().map(|n| n.delivery_id.clone()).collect();
        let delivery_id = short_hash(&format!("digest|{}|{}", channel.name, ids.join(",")));
        let message = Message {
            kind: MessageKind::Digest,
            delivery_id: delivery_id.clone(),
            headline: summary.clone(),
            project_id,
            project: (projects.len() == 1).then(|| projects[0].to_owned()),
            environment: None,
            release: None,
            issue: None,
            event: None,
            reason: None,
            escalation: None,
            link: project_id.and_then(|p| self.link(&format!("/api/projects/{p}/issues"))),
            digest: Some(Digest {
                summary,
                items: digest_items,
            }),
        };
        NewNotification {
            delivery_id,
            channel: channel.name.clone(),
            rule: "digest".into(),
            reason: MessageKind::Digest.as_str(),
            project_id: project_id.map_or(0, |p| i64::from(p.get())),
            fingerprint: String::new(),
            level: None,
            message: serde_json::to_value(&message).unwrap_or(Value::Null),
            source: None,
            breaks_quiet: false,
        }
    }

    /// What `POST /api/channels/{name}/test` sends.
    pub fn test_message(&self) -> Value {
        let message = Message {
            kind: MessageKind::Test,
            delivery_id: format!("test-{}", uuid::Uuid::new_v4().simple()),
            headline: "Test message from frontmon".into(),
            project_id: None,
            project: None,
            environment: None,
            release: None,
            issue: None,
            event: None,
            reason: Some("An operator checked this channel: it works.".into()),
            escalation: None,
            link: self.public_url.as_ref().map(Url::to_string),
            digest: None,
        };
        serde_json::to_value(&message).unwrap_or(Value::Null)
    }

    fn headline(&self, reason: &Reason, project: ProjectId) -> String {
        let name = self
            .projects
            .get(&project)
            .cloned()
            .unwrap_or_else(|| format!("project {project}"));
        match reason {
            Reason::NewIssue => format!("New issue in {name}"),
            Reason::Regression { .. } => format!("Regression in {name}"),
            Reason::Frequency { .. } => format!("Frequent error in {name}"),
            Reason::Users { .. } => format!("Error hitting many users in {name}"),
            Reason::Spike { .. } => format!("Error spike in {name}"),
            Reason::Escalation { .. } => format!("Still happening in {name}"),
        }
    }

    fn link(&self, path: &str) -> Option<String> {
        let base = self.public_url.as_ref()?;
        Some(format!("{}{path}", base.as_str().trim_end_matches('/')))
    }
}

pub(crate) fn kind_of(reason: &Reason) -> MessageKind {
    match reason {
        Reason::NewIssue => MessageKind::NewIssue,
        Reason::Regression { .. } => MessageKind::Regression,
        Reason::Frequency { .. } => MessageKind::Frequency,
        Reason::Users { .. } => MessageKind::Users,
        Reason::Spike { .. } => MessageKind::Spike,
        Reason::Escalation { .. } => MessageKind::Escalation,
    }
}

fn count_of(reason: &Reason) -> u64 {
    match reason {
        Reason::Frequency { count, .. } | Reason::Users { count, .. } => *count,
        Reason::Escalation { more, .. } => *more,
        _ => 1,
    }
}

fn escalation_of(reason: &Reason) -> Option<Escalation> {
    match reason {
        Reason::Escalation { more, since } => Some(Escalation {
            more: *more,
            since: *since,
        }),
        _ => None,
    }
}

fn describe(reason: &Reason) -> Option<String> {
    Some(match reason {
        Reason::NewIssue => "The first event of this issue.".to_owned(),
        Reason::Regression {
            release: Some(release),
        } => {
            format!("A resolved issue is back, in release {release}.")
        }
        Reason::Regression { release: None } => "A resolved issue is back.".to_owned(),
        Reason::Frequency { count, window_secs } => {
            format!("{count} events in the last {}.", span(*window_secs))
        }
        Reason::Users { count, window_secs } => {
            format!("{count} users hit it in the last {}.", span(*window_secs))
        }
        Reason::Spike {
            count,
            average,
            window_secs,
        } => format!(
            "{count} errors in the last {}, against {average:.1} on average.",
            span(*window_secs)
        ),
        Reason::Escalation { more, since } => {
            format!(
                "Still happening: {more} more since {}.",
                since.format("%H:%M UTC")
            )
        }
    })
}

fn span(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// A [`Channel`] as the dispatcher sees it: sends stored messages.
pub struct ChannelSender {
    channel: Channel,
    http: reqwest::Client,
}

impl ChannelSender {
    pub fn new(settings: &ChannelSettings, http: reqwest::Client) -> Result<Self, ChannelError> {
        Ok(Self {
            channel: Channel::from_settings(settings)?,
            http,
        })
    }
}

impl Sender for ChannelSender {
    fn send<'a>(&'a self, message: &'a Value) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let message: Message =
                serde_json::from_value(message.clone()).map_err(|error| Failure {
                    permanent: true,
                    retry_after: None,
                    detail: format!("a stored message no longer reads: {error}"),
                })?;
            self.channel
                .send(&self.http, &message)
                .await
                .map_err(|error| Failure {
                    permanent: error.is_permanent(),
                    retry_after: error.retry_after(),
                    detail: error.to_string(),
                })
        })
    }
}

impl From<&Event> for EventFacts {
    fn from(event: &Event) -> Self {
        Self {
            event_id: event.event_id,
            routing_key: Some(event.routing_key().as_str().to_owned()),
            message: event.message.clone(),
            url: event.url.clone(),
            timestamp: Some(event.timestamp),
        }
    }
}

impl From<&NoticeEvent> for EventFacts {
    fn from(event: &NoticeEvent) -> Self {
        Self {
            event_id: event.event_id,
            routing_key: Some(event.routing_key.clone()),
            message: event.message.clone(),
            url: event.url.clone(),
            timestamp: Some(event.timestamp),
        }
    }
}
