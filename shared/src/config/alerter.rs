use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU64};
use std::time::Duration;

use serde::Deserialize;

use super::{
    AmqpName, ChannelSettings, NonZeroDuration, RuleSettings, nonzero_millis, nonzero_secs, secs,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlerterSettings {
    pub listen: SocketAddr,
    pub queue: AmqpName,
    /// At most one notification per fingerprint in this window.
    #[serde(rename = "cooldown_secs", deserialize_with = "secs")]
    pub cooldown: Duration,
    pub prefetch: NonZeroU16,
    /// How long one webhook call may take.
    #[serde(rename = "webhook_timeout_ms", deserialize_with = "nonzero_millis")]
    pub webhook_timeout: NonZeroDuration,
    /// How long a failing channel is retried before the event is dead-lettered. The delivery
    /// was acked when its notification was written, so this holds nothing on the broker.
    #[serde(rename = "retry_budget_secs", deserialize_with = "nonzero_secs")]
    pub retry_budget: NonZeroDuration,
    pub channels: Vec<ChannelSettings>,
    /// What is notified, to which channels. None: new issues and regressions, to every
    /// channel.
    pub rules: Vec<RuleSettings>,
}

impl Default for AlerterSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8082)),
            queue: AmqpName("frontmon.alerter".into()),
            cooldown: Duration::from_secs(300),
            prefetch: NonZeroU16::new(32).unwrap_or(NonZeroU16::MIN),
            webhook_timeout: NonZeroDuration::from_secs(
                NonZeroU64::new(10).unwrap_or(NonZeroU64::MIN),
            ),
            retry_budget: NonZeroDuration::from_secs(
                NonZeroU64::new(3600).unwrap_or(NonZeroU64::MIN),
            ),
            channels: Vec::new(),
            rules: Vec::new(),
        }
    }
}
