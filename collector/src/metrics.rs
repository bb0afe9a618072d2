//! The collector's Prometheus metrics, defined in one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoutingKeyLabel {
    pub routing_key: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

pub struct Metrics {
    /// Requests that reached the ingest endpoint.
    pub requests_received: Counter,
    /// Events confirmed by the broker, by routing key.
    pub events_accepted: Family<RoutingKeyLabel, Counter>,
    /// Requests refused, by reason.
    pub requests_rejected: Family<ReasonLabel, Counter>,
    /// From the first publish of a request to the broker's last confirm.
    pub publish_seconds: Histogram,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests_received: Counter::default(),
            events_accepted: Family::default(),
            requests_rejected: Family::default(),
            // 0.25 ms to about 4 s.
            publish_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
        };
        let registry = registry.sub_registry_with_prefix("frontmon_collector");
        registry.register(
            "requests_received",
            "Requests that reached the ingest endpoint",
            metrics.requests_received.clone(),
        );
        registry.register(
            "events_accepted",
            "Events confirmed durable by the broker, by routing key",
            metrics.events_accepted.clone(),
        );
        registry.register(
            "requests_rejected",
            "Requests refused, by reason",
            metrics.requests_rejected.clone(),
        );
        registry.register(
            "publish_confirm_seconds",
            "Time from publishing a request's events to the broker confirming all of them",
            metrics.publish_seconds.clone(),
        );
        metrics
    }
}
