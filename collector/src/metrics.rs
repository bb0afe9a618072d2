//! The collector's Prometheus metrics, defined in one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ItemLabel {
    /// An envelope item type from a fixed list (`other` for the rest), so a client cannot
    /// grow the label set.
    pub item_type: &'static str,
    /// `accepted` (published), `dropped` (a type we do not keep), `counted` (client reports).
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaroItemLabel {
    /// `exceptions`, `logs`, `measurements`, `events` or `traces` (counted in spans).
    pub signal: &'static str,
    /// `accepted` (published) or `dropped` (a kind we do not keep, or past the cap).
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DiscardLabel {
    pub reason: &'static str,
    pub category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectLabel {
    pub project_id: u32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

pub struct Metrics {
    /// Requests that reached the ingest endpoint.
    pub requests_received: Counter,
    /// Events confirmed by the broker, by routing key.
    pub events_accepted: Family<RoutingKeyLabel, Counter>,
    /// Requests refused, by reason.
    pub requests_rejected: Family<ReasonLabel, Counter>,
    /// Invalid events of batches whose other events were accepted.
    pub events_refused: Counter,
    /// From the first publish of a request to the broker's last confirm.
    pub publish_seconds: Histogram,
    /// Sentry envelope items, by type and what became of them.
    pub envelope_items: Family<ItemLabel, Counter>,
    /// Items of Faro batches, by signal and what became of them.
    pub faro_items: Family<FaroItemLabel, Counter>,
    /// Events Sentry SDKs report they dropped themselves (client reports).
    pub sdk_discarded_events: Family<DiscardLabel, Counter>,
    /// Events refused by a project's rate limit.
    pub rate_limited_events: Family<ProjectLabel, Counter>,
    /// Request bytes held against the body budget now.
    pub body_bytes_held: Gauge,
    /// Reads of the projects from the database, by outcome.
    pub projects_reads: Family<OutcomeLabel, Counter>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests_received: Counter::default(),
            events_accepted: Family::default(),
            requests_rejected: Family::default(),
            events_refused: Counter::default(),
            // 0.25 ms to about 4 s.
            publish_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            envelope_items: Family::default(),
            faro_items: Family::default(),
            sdk_discarded_events: Family::default(),
            rate_limited_events: Family::default(),
            body_bytes_held: Gauge::default(),
            projects_reads: Family::default(),
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
            "events_refused",
            "Invalid events of batches whose other events were accepted (named in the answer)",
            metrics.events_refused.clone(),
        );
        registry.register(
            "publish_confirm_seconds",
            "Time from publishing a request's events to the broker confirming all of them",
            metrics.publish_seconds.clone(),
        );
        registry.register(
            "envelope_items",
            "Sentry envelope items received, by type and outcome (accepted, dropped, counted)",
            metrics.envelope_items.clone(),
        );
        registry.register(
            "faro_items",
            "Items of Grafana Faro batches, by signal and outcome (accepted, dropped); traces in spans",
            metrics.faro_items.clone(),
        );
        registry.register(
            "sdk_discarded_events",
            "Events Sentry SDKs reported dropping before sending (client reports)",
            metrics.sdk_discarded_events.clone(),
        );
        registry.register(
            "rate_limited_events",
            "Events refused because their project's rate limit was spent",
            metrics.rate_limited_events.clone(),
        );
        registry.register(
            "body_bytes_held",
            "Request bytes (read, then inflated) held against the body budget now",
            metrics.body_bytes_held.clone(),
        );
        registry.register(
            "projects_reads",
            "Reads of the projects and their keys from the database, by outcome (ok, failed); \
             while they fail the last projects read stay in force",
            metrics.projects_reads.clone(),
        );
        metrics
    }
}
