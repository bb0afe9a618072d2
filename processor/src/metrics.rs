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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
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
    /// `events` partitions created ahead (crate::lifecycle).
    pub partitions_created: Counter,
    /// Partitions dropped past their retention, by table.
    pub partitions_dropped: Family<TableLabel, Counter>,
    /// Rows deleted past their retention where no partition could go, by table.
    pub rows_expired: Family<TableLabel, Counter>,
    pub sourcemaps_expired: Counter,
    /// Lifecycle rounds, by outcome: done, skipped (another processor's), failed.
    pub lifecycle_rounds: Family<OutcomeLabel, Counter>,
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
            partitions_created: Counter::default(),
            partitions_dropped: Family::default(),
            rows_expired: Family::default(),
            sourcemaps_expired: Counter::default(),
            lifecycle_rounds: Family::default(),
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
        registry.register(
            "partitions_created",
            "Daily events partitions created ahead",
            metrics.partitions_created.clone(),
        );
        registry.register(
            "partitions_dropped",
            "Partitions dropped whole past their retention, by table",
            metrics.partitions_dropped.clone(),
        );
        registry.register(
            "rows_expired",
            "Rows deleted past their retention where a partition could not be dropped, by table",
            metrics.rows_expired.clone(),
        );
        registry.register(
            "sourcemaps_expired",
            "Source maps deleted past their retention",
            metrics.sourcemaps_expired.clone(),
        );
        registry.register(
            "lifecycle_rounds",
            "Retention rounds, by outcome: done, skipped (another processor held the lock), failed",
            metrics.lifecycle_rounds.clone(),
        );
        let events = TableLabel { table: "events" };
        let _ = metrics.partitions_dropped.get_or_create(&events);
        let _ = metrics.rows_expired.get_or_create(&events);
        for outcome in ["done", "skipped", "failed"] {
            let _ = metrics
                .lifecycle_rounds
                .get_or_create(&OutcomeLabel { outcome });
        }
        metrics
    }
}
