//! Notification channels: where an alert goes, and how each vendor wants it said.
//!
//! A [`Message`] says what happened, whatever the channel: the kind of alert, the project,
//! the issue and its numbers, a link. A [`Channel`], built once per `[[alerter.channels]]`
//! entry, formats it the vendor's way, signs it where the vendor asks, makes one attempt to
//! deliver it, and reads the vendor's answer: success, or a [`SendError`] saying whether
//! another attempt is worth it and after how long.
//!
//! One module per vendor, each with its formatting and its error codes: [`webhook`] (ours:
//! signed JSON), [`dingtalk`], [`feishu`] (and Lark), [`wecom`], [`slack`], [`email`].
//!
//! A channel sends once; retries, rate limits and digests are the dispatcher's. It reads
//! [`SendError::is_permanent`] and [`SendError::retry_after`]; the vendors' rate limits are
//! the limiter's (`crate::limiter`).

mod dingtalk;
mod email;
mod feishu;
mod http;
mod slack;
mod text;
mod webhook;
mod wecom;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::config::{ChannelKind, ChannelSettings, Language};
use shared::event::{EventId, ProjectId};

pub use http::retry_after;

/// What kind of alert a [`Message`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The first event of an issue.
    NewIssue,
    /// An event of an issue that was resolved.
    Regression,
    /// An issue passed a number of events within a window.
    Frequency,
    /// An issue passed a number of distinct users within a window.
    Users,
    /// A whole project's error rate jumped.
    Spike,
    /// An issue notified within its cooldown grew tenfold since: "still happening".
    Escalation,
    /// Several notifications folded into one.
    Digest,
    /// An operator checking the channel.
    Test,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::NewIssue => "new_issue",
            MessageKind::Regression => "regression",
            MessageKind::Frequency => "frequency",
            MessageKind::Users => "users",
            MessageKind::Spike => "spike",
            MessageKind::Escalation => "escalation",
            MessageKind::Digest => "digest",
            MessageKind::Test => "test",
        }
    }
}

/// One notification, as every channel receives it: what to say, not how.
///
/// Stored as JSON until it is sent, so every field but `kind`, `delivery_id` and `headline` has a default and
/// unknown fields are ignored: a message written by another version still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub kind: MessageKind,
    /// The language it is written in (its channel's `language`): the labels, links and
    /// sentences each format adds are in it too. English for a message stored before
    /// channels had a language.
    #[serde(default)]
    pub language: Language,
    /// The same on every attempt to send this notification on this channel (retries,
    /// restarts), so a receiver can drop a copy; webhooks get it as `X-Frontmon-Delivery`,
    /// email as its `Message-ID`.
    pub delivery_id: String,
    /// One line that says it all: "New issue in shop-web", "12 new issues in shop-web".
    pub headline: String,
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    /// The project's name.
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    /// The issue it is about; none for a spike, a digest or a test.
    #[serde(default)]
    pub issue: Option<IssueFacts>,
    /// The event that triggered it, when one did.
    #[serde(default)]
    pub event: Option<EventFacts>,
    /// Why it fired, one line: "120 events in the last 5 minutes (threshold: 100)".
    #[serde(default)]
    pub reason: Option<String>,
    /// For [`MessageKind::Escalation`]: how much more happened since the last notification.
    #[serde(default)]
    pub escalation: Option<Escalation>,
    /// The issue (or, for a digest, the project's issues) in frontmon:
    /// `processor.public_url` and the issue's path.
    #[serde(default)]
    pub link: Option<String>,
    /// For [`MessageKind::Digest`]: what was folded into it.
    #[serde(default)]
    pub digest: Option<Digest>,
}

/// An issue, as the alerter knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueFacts {
    /// The processor's issue id, when known: a new issue or a regression is the processor's
    /// notice, and has it; `frequency`, `users` and escalations count events, which the
    /// alerter groups itself, and have only the fingerprint.
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// `TypeError: x is undefined`.
    pub title: String,
    /// Where: the innermost in-app frame.
    #[serde(default)]
    pub culprit: Option<String>,
    /// `fatal`, `error`, …
    #[serde(default)]
    pub level: Option<String>,
    /// Events so far.
    #[serde(default)]
    pub count: u64,
    /// Distinct users so far.
    #[serde(default)]
    pub user_count: u64,
    #[serde(default)]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
}

/// The event behind a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFacts {
    pub event_id: EventId,
    /// `error.js`, `error.resource`, `error.api`.
    #[serde(default)]
    pub routing_key: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// The page it happened on.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
}

/// "Still happening: `more` more since `since`."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Events since the last notification of the issue.
    pub more: u64,
    /// When that notification went out.
    pub since: DateTime<Utc>,
}

/// Notifications folded into one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// "12 new issues in shop-web in the last minute".
    pub summary: String,
    pub items: Vec<DigestItem>,
}

/// One folded notification: a short line ("New issue: TypeError: x is undefined") and its
/// link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestItem {
    pub text: String,
    #[serde(default)]
    pub link: Option<String>,
}

/// Why one attempt to send failed, and whether another is worth it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth another attempt: the vendor was busy, rate-limited us, or could not be reached.
    Retry {
        /// No sooner than this, when the vendor said (`Retry-After`, a rate-limit code).
        retry_after: Option<Duration>,
        /// The vendor's code (`130101`, `429`, `SMTP 451`), when it gave one.
        code: Option<String>,
        /// The vendor's message, or what went wrong on the way.
        message: String,
    },
    /// Another attempt would fail the same way: a wrong token or signature, a payload the
    /// vendor refuses. An operator has to fix the configuration.
    Permanent {
        code: Option<String>,
        message: String,
    },
}

impl SendError {
    pub fn retry(code: Option<String>, message: impl Into<String>) -> Self {
        SendError::Retry {
            retry_after: None,
            code,
            message: message.into(),
        }
    }

    pub fn retry_later(
        after: Option<Duration>,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        SendError::Retry {
            retry_after: after,
            code,
            message: message.into(),
        }
    }

    pub fn permanent(code: Option<String>, message: impl Into<String>) -> Self {
        SendError::Permanent {
            code,
            message: message.into(),
        }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent { .. })
    }

    /// The least wait before the next attempt, when the vendor asked for one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Retry { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            SendError::Retry { code, .. } | SendError::Permanent { code, .. } => code.as_deref(),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            SendError::Retry { message, .. } | SendError::Permanent { message, .. } => message,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code() {
            Some(code) => write!(f, "{code}: {}", self.message())?,
            None => f.write_str(self.message())?,
        }
        if let Some(wait) = self.retry_after() {
            write!(f, " (retry after {} s)", wait.as_secs())?;
        }
        Ok(())
    }
}

impl std::error::Error for SendError {}

/// A channel whose settings cannot work; named, so startup can say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel {channel:?}: {reason}")]
pub struct ChannelError {
    pub channel: String,
    pub reason: String,
}

impl ChannelError {
    fn new(settings: &ChannelSettings, reason: impl Into<String>) -> Self {
        Self {
            channel: settings.name.clone(),
            reason: reason.into(),
        }
    }
}

/// One configured channel, ready to send.
#[derive(Clone)]
pub struct Channel {
    name: String,
    kind: ChannelKind,
    vendor: Vendor,
}

#[derive(Clone)]
enum Vendor {
    Webhook(webhook::Webhook),
    DingTalk(dingtalk::DingTalk),
    Feishu(feishu::Feishu),
    WeCom(wecom::WeCom),
    Slack(slack::Slack),
    Email(email::Email),
}

/// Names the channel only: its URL and secret are credentials.
impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// The channel `settings` describe, checked as far as can be without sending anything.
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        let vendor = match settings.kind {
            ChannelKind::Webhook => Vendor::Webhook(webhook::Webhook::from_settings(settings)?),
            ChannelKind::Dingtalk => Vendor::DingTalk(dingtalk::DingTalk::from_settings(settings)?),
            ChannelKind::Feishu => Vendor::Feishu(feishu::Feishu::from_settings(settings)?),
            ChannelKind::Wecom => Vendor::WeCom(wecom::WeCom::from_settings(settings)?),
            ChannelKind::Slack => Vendor::Slack(slack::Slack::from_settings(settings)?),
            ChannelKind::Email => Vendor::Email(email::Email::from_settings(settings)?),
        };
        Ok(Self {
            name: settings.name.clone(),
            kind: settings.kind,
            vendor,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// One attempt to deliver `message`. `http` should not follow redirects (a signed
    /// notification goes only where the configuration says) and should have a timeout;
    /// email ignores it and speaks SMTP.
    pub async fn send(&self, http: &reqwest::Client, message: &Message) -> Result<(), SendError> {
        match &self.vendor {
            Vendor::Webhook(channel) => channel.send(http, message).await,
            Vendor::DingTalk(channel) => channel.send(http, message).await,
            Vendor::Feishu(channel) => channel.send(http, message).await,
            Vendor::WeCom(channel) => channel.send(http, message).await,
            Vendor::Slack(channel) => channel.send(http, message).await,
            Vendor::Email(channel) => channel.send(message).await,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {

    use shared::config::Secret;

    use super::*;

    /// A chat tool's HTTP answer, as the channels judge it.
    pub(crate) fn answer(
        status: u16,
        headers: &[(&'static str, &str)],
        body: &str,
    ) -> http::Answer {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                *name,
                reqwest::header::HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        http::Answer {
            status: reqwest::StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}")),
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    /// `expect_err` without the lint: a send that was expected to fail.
    pub(crate) trait Failed {
        fn failed(self) -> SendError;
    }

    impl Failed for Result<(), SendError> {
        fn failed(self) -> SendError {
            match self {
                Ok(()) => panic!("succeeded, but a failure was expected"),
                Err(error) => error,
            }
        }
    }

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// A new-issue message with every field set.
    pub(crate) fn new_issue() -> Message {
        Message {
            kind: MessageKind::NewIssue,
            language: Default::default(),
            delivery_id: "92e5b2761e81983d3b15ce410bf41110".into(),
            headline: "New issue in shop-web".into(),
            project_id: ProjectId::new(2),
            project: Some("shop-web".into()),
            environment: Some("production".into()),
            release: Some("1.4.2".into()),
            issue: Some(IssueFacts {
                id: Some(42),
                fingerprint: Some("3f2a".into()),
                title: "TypeError: Cannot read properties of undefined (reading 'total')".into(),
                culprit: Some("checkout (app.js)".into()),
                level: Some("error".into()),
                count: 1204,
                user_count: 37,
                first_seen: Some(at("2024-05-01T14:02:03Z")),
                last_seen: Some(at("2024-05-01T14:07:09Z")),
            }),
            event: Some(EventFacts {
                event_id: "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f"
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
                routing_key: Some("error.js".into()),
                message: Some("Cannot read properties of undefined (reading 'total')".into()),
                url: Some("https://shop.example/cart".into()),
                timestamp: Some(at("2024-05-01T14:07:09.123Z")),
            }),
            reason: None,
            escalation: None,
            link: Some("https://frontmon.example/projects/2/issues/42".into()),
            digest: None,
        }
    }

    /// A digest of `n` new issues.
    pub(crate) fn digest(n: usize) -> Message {
        Message {
            kind: MessageKind::Digest,
            language: Default::default(),
            delivery_id: "0a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
            headline: format!("{n} new issues in shop-web"),
            project_id: ProjectId::new(2),
            project: Some("shop-web".into()),
            environment: None,
            release: None,
            issue: None,
            event: None,
            reason: None,
            escalation: None,
            link: Some("https://frontmon.example/projects/2/issues".into()),
            digest: Some(Digest {
                summary: format!("{n} new issues in shop-web in the last minute"),
                items: (0..n)
                    .map(|i| DigestItem {
                        text: format!("New issue: TypeError: x{i} is undefined"),
                        link: Some(format!("https://frontmon.example/projects/2/issues/{i}")),
                    })
                    .collect(),
            }),
        }
    }

    pub(crate) fn settings(kind: ChannelKind, url: &str) -> ChannelSettings {
        ChannelSettings {
            name: "ops".into(),
            kind,
            url: url.parse().unwrap_or_else(|e| panic!("{url}: {e}")),
            secret: None,
            rate_per_minute: None,
            quiet_hours: None,
            username: None,
            from: None,
            to: Vec::new(),
            language: Default::default(),
        }
    }

    #[test]
    fn a_message_reads_back_from_json_and_from_a_minimal_one() {
        let message = new_issue();
        let json = serde_json::to_value(&message).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["kind"], "new_issue");
        assert_eq!(json["project_id"], 2);
        let back: Message = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, message);

        let minimal: Message = serde_json::from_str(
            r#"{"kind":"test","delivery_id":"d","headline":"Test","future_field":1}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(minimal.kind, MessageKind::Test);
        assert!(minimal.issue.is_none() && minimal.link.is_none());
    }

    #[test]
    fn a_channel_has_its_settings_name_and_kind() {
        let settings = settings(
            ChannelKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
        );
        let channel = Channel::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(channel.name(), "ops");
        assert_eq!(channel.kind(), ChannelKind::Dingtalk);
    }

    #[test]
    fn debug_output_hides_urls_and_secrets() {
        let mut settings = settings(
            ChannelKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send?access_token=tok3n",
        );
        settings.secret = Some(Secret::new("SECsecret"));
        let channel = Channel::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{channel:?}");
        assert!(
            !debug.contains("tok3n") && !debug.contains("SECsecret"),
            "{debug}"
        );
        assert!(debug.contains("ops"), "{debug}");
    }

    #[test]
    fn send_errors_say_what_to_do() {
        let busy = SendError::retry_later(
            Some(Duration::from_secs(600)),
            Some("130101".into()),
            "send too fast",
        );
        assert!(!busy.is_permanent());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(600)));
        assert_eq!(busy.code(), Some("130101"));
        assert_eq!(
            busy.to_string(),
            "130101: send too fast (retry after 600 s)"
        );
        let bad = SendError::permanent(Some("310000".into()), "sign not match");
        assert!(bad.is_permanent());
        assert_eq!(bad.retry_after(), None);
        assert_eq!(bad.to_string(), "310000: sign not match");
        assert_eq!(
            SendError::retry(None, "cannot connect").to_string(),
            "cannot connect"
        );
    }
}
