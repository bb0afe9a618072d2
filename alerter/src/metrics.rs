//! Every metric the alerter exports, in one place.
//!
//! They live on the application's own [`Registry`] (never a global one: tests run several
//! alerters in one process), under the `frontmon_alerter_` prefix. Labels are low-cardinality: a
//! channel name comes from the configuration and an outcome from [`Outcome`]; never an event
//! id or a message.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: String,
}

/// Why a delivery was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// It can never be notified: the body is not an event.
    Poison,
    /// A channel still failed when the retry budget ran out.
    RetryBudget,
}

impl DeadLetterReason {
    pub const ALL: [DeadLetterReason; 2] =
        [DeadLetterReason::Poison, DeadLetterReason::RetryBudget];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Poison => "poison",
            DeadLetterReason::RetryBudget => "retry_budget",
        }
    }
}

impl EncodeLabelValue for DeadLetterReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: DeadLetterReason,
}

/// Counts one delivery in [`Metrics::retrying`] while it lives.
#[derive(Debug)]
pub struct Retrying(Gauge);

impl Drop for Retrying {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Deliveries read from the queue, whatever became of them.
    pub events_consumed: Counter,
    /// Webhook calls, by channel and outcome.
    pub notifications: Family<NotificationLabels, Counter>,
    /// Events not notified because their fingerprint was notified within the cooldown.
    pub suppressed: Counter,
    /// Deliveries waiting to call a failing channel again, by channel.
    pub retrying: Family<ChannelLabel, Gauge>,
    /// Deliveries handed back to the queue unfinished (shutdown, lost connection).
    pub requeued: Counter,
    /// Deliveries parked in the dead-letter queue, by reason.
    pub dead_lettered: Family<ReasonLabel, Counter>,
    /// Messages waiting in the alerter's dead-letter queue, read from the broker.
    pub dead_letters_waiting: Gauge,
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
            "deliveries_retrying",
            "Deliveries held unacknowledged while a failing channel is retried, by channel",
            metrics.retrying.clone(),
        );
        registry.register(
            "deliveries_requeued",
            "Deliveries handed back to the queue unfinished (shutdown or a lost connection)",
            metrics.requeued.clone(),
        );
        registry.register(
            "dead_letters_waiting",
            "Messages waiting in the alerter's dead-letter queue (read every 15 s)",
            metrics.dead_letters_waiting.clone(),
        );
        registry.register(
            "deliveries_dead_lettered",
            "Deliveries parked in the dead-letter queue, by reason (poison: not an event; \
             retry_budget: a channel still failed when the retry budget ran out)",
            metrics.dead_lettered.clone(),
        );
        for reason in DeadLetterReason::ALL {
            let _ = metrics.dead_lettered.get_or_create(&ReasonLabel { reason });
        }
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
        let _ = self.retrying.get_or_create(&ChannelLabel {
            channel: channel.to_owned(),
        });
    }

    /// Counts a delivery as retrying `channel` until the guard is dropped.
    pub fn retrying(&self, channel: &str) -> Retrying {
        let gauge = self
            .retrying
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .clone();
        gauge.inc();
        Retrying(gauge)
    }

    pub fn dead_lettered(&self, reason: DeadLetterReason) {
        self.dead_lettered
            .get_or_create(&ReasonLabel { reason })
            .inc();
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
