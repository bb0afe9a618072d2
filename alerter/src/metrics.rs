//! Every metric the alerter exports, in one place.
//!
//! They live on the application's own [`Registry`] (never a global one: tests run several
//! alerters in one process), under the `frontmon_alerter_` prefix. Labels are low-cardinality: a
//! channel name comes from the configuration and an outcome from [`Outcome`]; never an event
//! id or a message.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How one webhook call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answered 2xx.
    Sent,
    /// Answered, with any other status.
    Rejected,
    /// Did not answer within `alerter.webhook_timeout_ms`.
    Timeout,
    /// Could not be reached (DNS, connection, TLS).
    Unreachable,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Sent,
        Outcome::Rejected,
        Outcome::Timeout,
        Outcome::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Rejected => "rejected",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NotificationLabels {
    pub channel: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Deliveries read from the queue, whatever became of them.
    pub events_consumed: Counter,
    /// Webhook calls, by channel and outcome.
    pub notifications: Family<NotificationLabels, Counter>,
    /// Events not notified because their fingerprint was notified within the cooldown.
    pub suppressed: Counter,
    /// Deliveries handed back to the queue to be tried again.
    pub retried: Counter,
    /// Deliveries that can never be notified, parked in the dead-letter queue.
    pub dead_lettered: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("frontmon_alerter");
        registry.register(
            "events_consumed",
            "Deliveries read from the alerter queue",
            metrics.events_consumed.clone(),
        );
        registry.register(
            "notifications",
            "Webhook calls by channel and outcome (sent, rejected, timeout, unreachable)",
            metrics.notifications.clone(),
        );
        registry.register(
            "notifications_suppressed",
            "Events not notified because the same fingerprint was notified within the cooldown",
            metrics.suppressed.clone(),
        );
        registry.register(
            "deliveries_retried",
            "Deliveries returned to the queue after a channel failed",
            metrics.retried.clone(),
        );
        registry.register(
            "deliveries_dead_lettered",
            "Deliveries that can never be notified (not an event), parked in the dead-letter queue",
            metrics.dead_lettered.clone(),
        );
        metrics
    }

    /// Creates every series of `channel` at zero, so the first failure is a change that
    /// `rate()` and `increase()` can see.
    pub fn add_channel(&self, channel: &str) {
        for outcome in Outcome::ALL {
            let _ = self.notifications.get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                outcome,
            });
        }
    }

    pub fn notification(&self, channel: &str, outcome: Outcome) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                outcome,
            })
            .inc();
    }
}
