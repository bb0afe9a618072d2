//! What a fired rule says: the [`Message`] each channel gets, built from the event or notice
//! and the rule's reason, in the channel's language, and the digest that folds several; plus
//! the adapter that lets the dispatcher send stored messages through a [`Channel`].

use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use shared::config::{ChannelSettings, Language, Settings};
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
use crate::words::{self, Headline, Why};

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
                "/projects/{}/events/{}",
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
                "/projects/{}/issues/{}",
                fired.project_id, notice.issue_id
            )),
            ..self.about(fired)
        };
        self.per_channel(fired, message, source, base)
    }

    /// What every message of `fired` says, whatever triggered it, in English; the caller
    /// adds the issue, the event and the link, and each channel's copy is put in its
    /// language.
    fn about(&self, fired: &Fired) -> Message {
        Message {
            kind: kind_of(&fired.reason),
            language: Language::En,
            delivery_id: String::new(),
            headline: self.headline(&fired.reason, fired.project_id, Language::En),
            project_id: Some(fired.project_id),
            project: self.projects.get(&fired.project_id).cloned(),
            environment: None,
            release: None,
            issue: None,
            event: None,
            reason: Some(describe(&fired.reason, Language::En)),
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
                let settings = self.channels.get(channel);
                let language = settings.map_or(Language::En, |c| c.language);
                if language != message.language {
                    message.language = language;
                    message.headline = self.headline(&fired.reason, fired.project_id, language);
                    message.reason = Some(describe(&fired.reason, language));
                }
                let breaks_quiet = settings
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
        let place = match projects.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let summary = words::digest_summary(
            channel.language,
            items.len(),
            new_issues == items.len(),
            place,
            after_quiet_hours,
        );
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
            language: channel.language,
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
            link: project_id.and_then(|p| self.link(&format!("/projects/{p}/issues"))),
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

    /// What `POST /api/channels/{name}/test` sends to a channel of `language`.
    pub fn test_message(&self, language: Language) -> Value {
        let w = words::words(language);
        let message = Message {
            kind: MessageKind::Test,
            language,
            delivery_id: format!("test-{}", uuid::Uuid::new_v4().simple()),
            headline: w.test_headline.into(),
            project_id: None,
            project: None,
            environment: None,
            release: None,
            issue: None,
            event: None,
            reason: Some(w.test_reason.into()),
            escalation: None,
            link: self.public_url.as_ref().map(Url::to_string),
            digest: None,
        };
        serde_json::to_value(&message).unwrap_or(Value::Null)
    }

    fn headline(&self, reason: &Reason, project: ProjectId, language: Language) -> String {
        let name = self
            .projects
            .get(&project)
            .cloned()
            .unwrap_or_else(|| words::unnamed_project(language, project));
        let name = name.as_str();
        words::headline(
            language,
            match reason {
                Reason::NewIssue => Headline::NewIssue(name),
                Reason::Regression { .. } => Headline::Regression(name),
                Reason::Frequency { .. } => Headline::Frequency(name),
                Reason::Users { .. } => Headline::Users(name),
                Reason::Spike { .. } => Headline::Spike(name),
                Reason::Escalation { .. } => Headline::Escalation(name),
            },
        )
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

fn describe(reason: &Reason, language: Language) -> String {
    let span = |seconds| words::span(language, seconds);
    words::why(
        language,
        match reason {
            Reason::NewIssue => Why::NewIssue,
            Reason::Regression { release } => Why::Regression(release.as_deref()),
            Reason::Frequency { count, window_secs } => Why::Frequency {
                count: *count,
                span: span(*window_secs),
            },
            Reason::Users { count, window_secs } => Why::Users {
                count: *count,
                span: span(*window_secs),
            },
            Reason::Spike {
                count,
                average,
                window_secs,
            } => Why::Spike {
                count: *count,
                average: *average,
                span: span(*window_secs),
            },
            Reason::Escalation { more, since } => Why::Escalation {
                more: *more,
                since: *since,
            },
        },
    )
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

#[cfg(test)]
mod tests {
    use shared::config::RuleCondition;
    use shared::notice::NoticeKind;

    use super::*;

    /// Two DingTalk robots, one English and one Chinese, on project 2 "shop-web".
    fn composer() -> (Composer, Settings) {
        let settings = Settings::from_toml(
            r#"
            [processor]
            public_url = "https://frontmon.example"
            [[alerter.channels]]
            name = "en"
            kind = "dingtalk"
            url = "https://oapi.dingtalk.com/robot/send?access_token=a"
            [[alerter.channels]]
            name = "zh"
            kind = "dingtalk"
            url = "https://oapi.dingtalk.com/robot/send?access_token=b"
            language = "zh-CN"
            [[projects]]
            id = 2
            name = "shop-web"
            public_key = "0123456789abcdef0123456789abcdef"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (Composer::new(&settings), settings)
    }

    fn fired(reason: Reason) -> Fired {
        Fired {
            rule: "r".into(),
            condition: RuleCondition::Regression,
            channels: vec!["en".into(), "zh".into()],
            project_id: ProjectId::new(2).unwrap_or_else(|| panic!("non-zero")),
            fingerprint: "3f2a".into(),
            reason,
            level: None,
        }
    }

    fn notice() -> IssueNotice {
        let at = "2024-05-01T14:02:03Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        IssueNotice {
            notice_id: uuid::Uuid::new_v4(),
            kind: NoticeKind::Regressed,
            at,
            project_id: ProjectId::new(2).unwrap_or_else(|| panic!("non-zero")),
            issue_id: 42,
            grouping_version: 1,
            fingerprint: "3f2a".into(),
            title: "TypeError: x is undefined".into(),
            culprit: None,
            level: "error".into(),
            count: 3,
            user_count: 2,
            first_seen: at,
            last_seen: at,
            last_release: Some("1.4.2".into()),
            event: None,
        }
    }

    /// The stored message of each channel, by channel.
    fn messages(notifications: &[NewNotification]) -> HashMap<String, Message> {
        notifications
            .iter()
            .map(|n| {
                let message =
                    serde_json::from_value(n.message.clone()).unwrap_or_else(|e| panic!("{e}"));
                (n.channel.clone(), message)
            })
            .collect()
    }

    #[test]
    fn each_channel_gets_the_message_in_its_language() {
        let (composer, _) = composer();
        let fired = fired(Reason::Regression {
            release: Some("1.4.2".into()),
        });
        let notifications = composer.for_notice(&fired, &notice(), None, "base");
        let by_channel = messages(&notifications);
        let en = &by_channel["en"];
        assert_eq!(en.language, Language::En);
        assert_eq!(en.headline, "Regression in shop-web");
        assert_eq!(
            en.reason.as_deref(),
            Some("A resolved issue is back, in release 1.4.2.")
        );
        let zh = &by_channel["zh"];
        assert_eq!(zh.language, Language::ZhCn);
        assert_eq!(zh.headline, "shop-web 的问题再次出现");
        assert_eq!(
            zh.reason.as_deref(),
            Some("已解决的问题在版本 1.4.2 中再次出现。")
        );
        // What events said is quoted as it came, in both.
        for message in [en, zh] {
            assert_eq!(
                message.issue.as_ref().map(|i| i.title.as_str()),
                Some("TypeError: x is undefined")
            );
        }
    }

    /// Links lead to the dashboard's pages, which a signed-in reader can open (the JSON API
    /// answered them 401).
    #[test]
    fn an_issue_notice_links_to_its_issue_page() {
        let (composer, _) = composer();
        let fired = fired(Reason::NewIssue);
        for message in messages(&composer.for_notice(&fired, &notice(), None, "base")).values() {
            assert_eq!(
                message.link.as_deref(),
                Some("https://frontmon.example/projects/2/issues/42")
            );
        }
    }

    #[test]
    fn windows_and_counts_are_said_in_each_language() {
        let (composer, _) = composer();
        let fired = fired(Reason::Frequency {
            count: 120,
            window_secs: 300,
        });
        let by_channel = messages(&composer.for_notice(&fired, &notice(), None, "base"));
        assert_eq!(by_channel["en"].headline, "Frequent error in shop-web");
        assert_eq!(
            by_channel["en"].reason.as_deref(),
            Some("120 events in the last 5 min.")
        );
        assert_eq!(by_channel["zh"].headline, "shop-web 错误频发");
        assert_eq!(
            by_channel["zh"].reason.as_deref(),
            Some("最近 5 分钟内发生 120 次。")
        );
    }

    #[test]
    fn digests_and_tests_are_in_the_channels_language() {
        let (composer, settings) = composer();
        let fired = fired(Reason::NewIssue);
        let stored: Vec<Notification> = composer
            .for_notice(&fired, &notice(), None, "base")
            .into_iter()
            .filter(|n| n.channel == "zh")
            .map(|n| Notification {
                id: 1,
                delivery_id: n.delivery_id,
                channel: n.channel,
                rule: n.rule,
                reason: n.reason.into(),
                project_id: n.project_id,
                fingerprint: n.fingerprint,
                level: n.level,
                status: "pending".into(),
                digest_id: None,
                attempts: 0,
                last_error: None,
                created_at: chrono::Utc::now(),
                finished_at: None,
                message: n.message,
                source: None,
                breaks_quiet: false,
            })
            .collect();
        for channel in &settings.alerter.channels {
            let digest = composer.digest(channel, &stored, false);
            let message: Message =
                serde_json::from_value(digest.message).unwrap_or_else(|e| panic!("{e}"));
            let summary = message.digest.map(|d| d.summary).unwrap_or_default();
            match channel.language {
                Language::En => {
                    assert_eq!(summary, "1 new issues in shop-web in the last minute");
                }
                Language::ZhCn => assert_eq!(summary, "最近一分钟内 shop-web 有 1 个新问题"),
            }
        }
        let test: Message = serde_json::from_value(composer.test_message(Language::ZhCn))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(test.headline, "frontmon 测试消息");
        assert_eq!(test.language, Language::ZhCn);
        let test: Message = serde_json::from_value(composer.test_message(Language::En))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(test.headline, "Test message from frontmon");
    }
}
