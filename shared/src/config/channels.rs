use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{QuietSchedule, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    pub name: String,
    pub kind: ChannelKind,
    /// Where to send: the webhook or robot URL (`https://oapi.dingtalk.com/robot/send?
    /// access_token=…`), or for email the SMTP server (`smtp://host:587` for STARTTLS,
    /// `smtps://host:465` for TLS, `smtp+plain://host:25` for neither).
    pub url: Url,
    /// Webhook: the HMAC key; DingTalk, Feishu: the robot's signing secret; email: the SMTP
    /// password.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Messages a minute at most, overriding the vendor's documented limit.
    #[serde(default)]
    pub rate_per_minute: Option<NonZeroU32>,
    #[serde(default)]
    pub quiet_hours: Option<QuietSchedule>,
    /// Email: the SMTP user name (with `secret` as the password).
    #[serde(default)]
    pub username: Option<String>,
    /// Email: the sender address.
    #[serde(default)]
    pub from: Option<String>,
    /// Email: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// The language the channel's messages are written in: `en` (the default) or `zh-CN`.
    #[serde(default)]
    pub language: Language,
}

/// A language the alerter writes its messages in. An unknown code is refused as the
/// configuration is read, naming the key, rather than falling back to English unnoticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    #[default]
    #[serde(rename = "en")]
    En,
    /// 简体中文.
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::ZhCn => "zh-CN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook,
    Dingtalk,
    /// Feishu, and Lark (its international edition): the same robot API.
    #[serde(alias = "lark")]
    Feishu,
    Wecom,
    Slack,
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }
}
