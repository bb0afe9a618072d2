//! The processor's Prometheus metrics, defined in one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

pub struct Metrics {
    pub consumed: Counter,
    pub stored: Counter,
    pub duplicates: Counter,
    pub dead_lettered: Family<ReasonLabel, Counter>,
    pub batch_seconds: Histogram,
    /// Batches PostgreSQL rolled back for a deadlock or a serialization failure, and ran again.
    pub conflicts: Counter,
    /// Messages parked in the processor's dead-letter queue.
    pub dead_letters_waiting: Gauge,
    /// Events no binding matched, kept by the alternate exchange.
    pub unroutable_waiting: Gauge,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            consumed: Counter::default(),
            stored: Counter::default(),
            duplicates: Counter::default(),
            dead_lettered: Family::default(),
            // 1 ms to about 16 s.
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            conflicts: Counter::default(),
            dead_letters_waiting: Gauge::default(),
            unroutable_waiting: Gauge::default(),
        };
        let registry = registry.sub_registry_with_prefix("frontmon_processor");
        registry.register(
            "events_consumed",
            "Deliveries taken from the queue",
            metrics.consumed.clone(),
        );
        registry.register(
            "events_stored",
            "Events written to PostgreSQL for the first time",
            metrics.stored.clone(),
        );
        registry.register(
            "events_duplicate",
            "Redelivered events that were already stored, acked without a second row",
            metrics.duplicates.clone(),
        );
        registry.register(
            "events_dead_lettered",
            "Deliveries parked in the dead-letter queue, by reason",
            metrics.dead_lettered.clone(),
        );
        // Every reason exists from the start, so a rate or increase() sees the first one.
        for reason in ["invalid_event", "rejected_by_database"] {
            let _ = metrics.dead_lettered.get_or_create(&ReasonLabel { reason });
        }
        registry.register(
            "batch_seconds",
            "Time to store and ack one batch",
            metrics.batch_seconds.clone(),
        );
        registry.register(
            "transaction_conflicts",
            "Batches rolled back by PostgreSQL for a deadlock or a serialization failure, then run again",
            metrics.conflicts.clone(),
        );
        registry.register(
            "dead_letters_waiting",
            "Messages waiting in the processor's dead-letter queue (read every 15 s)",
            metrics.dead_letters_waiting.clone(),
        );
        registry.register(
            "unroutable_waiting",
            "Events no queue was bound for, kept in the unroutable queue (read every 15 s)",
            metrics.unroutable_waiting.clone(),
        );
        metrics
    }
}
