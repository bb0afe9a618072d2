//! The alerter's Prometheus metrics, defined in one place.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What became of a notification on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The vendor took it.
    Sent,
    /// Folded into a digest with others (over the rate limit, or held in quiet hours).
    Folded,
    /// Not sent yet: the channel's rate limit was spent (it waits, then goes in a digest).
    Throttled,
    /// The vendor failed or was unreachable; it will be retried.
    Retried,
    /// Given up: refused for good, or still failing after the retry budget.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Sent,
        Outcome::Folded,
        Outcome::Throttled,
        Outcome::Retried,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Folded => "folded",
            Outcome::Throttled => "throttled",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
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

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub events_consumed: Counter,
    pub notifications: Family<NotificationLabels, Counter>,
    /// Notifications queued, by the rule that fired.
    pub fired: Family<RuleLabel, Counter>,
    pub requeued: Counter,
    pub dead_lettered: Counter,
    pub dead_letters_waiting: Gauge,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("frontmon_alerter");
        registry.register(
            "events_consumed",
            "Deliveries read from the alerter queue (errors and issue notices)",
            metrics.events_consumed.clone(),
        );
        registry.register(
            "notifications",
            "Notifications by channel and outcome (sent, folded into a digest, throttled by \
             the channel's rate limit, retried, failed)",
            metrics.notifications.clone(),
        );
        registry.register(
            "rules_fired",
            "Notifications queued, by the rule that fired (one per channel)",
            metrics.fired.clone(),
        );
        registry.register(
            "deliveries_requeued",
            "Deliveries handed back to the queue unfinished (shutdown or a lost connection)",
            metrics.requeued.clone(),
        );
        registry.register(
            "deliveries_dead_lettered",
            "Messages parked in the dead-letter queue: deliveries that are not events or whose \
             data the database refuses, and what triggered a notification that failed for good",
            metrics.dead_lettered.clone(),
        );
        registry.register(
            "dead_letters_waiting",
            "Messages waiting in the alerter's dead-letter queue (read every 15 s)",
            metrics.dead_letters_waiting.clone(),
        );
        metrics
    }

    /// Every outcome of a channel at zero, so its series exist before anything happens.
    pub fn add_channel(&self, channel: &str) {
        for outcome in Outcome::ALL {
            let _ = self.notifications.get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                outcome,
            });
        }
    }

    pub fn outcome(&self, channel: &str, outcome: Outcome) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                outcome,
            })
            .inc();
    }
}
