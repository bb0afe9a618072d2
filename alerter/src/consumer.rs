//! The alerter's side of a subscription: each delivery through the [`Pipeline`], settled
//! once its notifications are written.
//!
//! Deliveries are handled as they come, up to the prefetch in flight. Ack once the pipeline
//! has written what the delivery caused (or found nothing to notify); dead-letter a delivery
//! that is not an event nor a notice, or whose data the database refuses; after a conflict
//! with another transaction, run it again at once; while the database is down, hold the
//! delivery and retry with backoff (outages do not count toward the queue's delivery limit),
//! handing it back to the queue only at shutdown or when the connection is lost.
//!
//! Start at [`Consumer::decide`].

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use shared::consumer::{Delivery, Disposition, Subscription, backoff};
use shared::db::DbError;
use shared::health::ReadyFlag;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::pipeline::{Handled, Pipeline, PipelineError};

pub struct Consumer {
    pub pipeline: Pipeline,
    pub metrics: Metrics,
    pub database_ready: ReadyFlag,
    pub shutdown: CancellationToken,
}

impl Consumer {
    /// Handles deliveries until the subscription ends or shutdown finishes it.
    pub async fn session(&self, mut subscription: Subscription) {
        let stop = self.shutdown.child_token();
        let mut in_flight = FuturesUnordered::new();
        let mut cancelled = false;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled(), if !cancelled => {
                    cancelled = true;
                    subscription.cancel().await;
                }
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                next = subscription.next_delivery(cancelled) => match next {
                    Some(Ok(delivery)) => in_flight.push(self.handle(delivery, &stop)),
                    Some(Err(error)) => {
                        tracing::warn!(error = %error, "Delivery stream failed.");
                        break;
                    }
                    None => break,
                },
            }
        }
        stop.cancel();
        while in_flight.next().await.is_some() {}
        subscription.close().await;
    }

    async fn handle(&self, delivery: Delivery, stop: &CancellationToken) {
        self.metrics.events_consumed.inc();
        let disposition = self.decide(&delivery, stop).await;
        if let Err(error) = delivery.settle(disposition).await {
            tracing::warn!(?disposition, error = %error, "Cannot settle the delivery; the broker will redeliver it.");
        }
    }

    /// What becomes of a delivery: it is handled until it is done, found poison, or shutdown
    /// stops the wait for the database.
    async fn decide(&self, delivery: &Delivery, stop: &CancellationToken) -> Disposition {
        // A replayed dead letter comes back under the queue's name: what it is (an event, which
        // notice) is told by the key it was published with.
        let routing_key = shared::consumer::published_routing_key(
            delivery.routing_key(),
            delivery.properties().headers().as_ref(),
        );
        let mut failures = 0;
        let mut conflicts = 0;
        loop {
            let wait = match self.pipeline.handle(routing_key, delivery.data()).await {
                Ok(handled) => {
                    self.database_ready.set(true);
                    if let Handled::Notified(count) = handled {
                        tracing::debug!(count, routing_key, "Notifications queued.");
                    }
                    return Disposition::Ack;
                }
                Err(PipelineError::Unreadable(error)) => {
                    self.metrics.dead_lettered.inc();
                    tracing::error!(error = %error, routing_key, "Not an event nor an issue notice: dead-lettered.");
                    return Disposition::DeadLetter;
                }
                // The data's fault, not the database's health: holding it would hold it
                // forever, and readiness stays as it is.
                Err(PipelineError::Database(DbError::Rejected(error))) => {
                    self.metrics.dead_lettered.inc();
                    tracing::error!(error = %error, cause = ?std::error::Error::source(&error), routing_key, "The database refused the delivery's data: dead-lettered.");
                    return Disposition::DeadLetter;
                }
                // A short, random wait lets the other transaction finish before this one runs
                // again.
                Err(PipelineError::Database(DbError::Conflict(error))) => {
                    conflicts += 1;
                    tracing::info!(error = %error, conflicts, routing_key, "Transaction conflict; handling the delivery again.");
                    backoff(conflicts.min(4)) / 4
                }
                Err(PipelineError::Database(DbError::Unavailable(error))) => {
                    failures += 1;
                    self.database_ready.set(false);
                    tracing::warn!(error = %error, failures, "Database unavailable; holding the delivery.");
                    backoff(failures)
                }
            };
            tokio::select! {
                () = stop.cancelled() => {
                    self.metrics.requeued.inc();
                    return Disposition::Retry;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
