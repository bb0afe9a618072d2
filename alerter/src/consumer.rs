//! The alerter's side of a subscription: read deliveries, notify, settle each exactly once.
//!
//! Deliveries are handled concurrently, as many as the prefetch lets the broker send. Each
//! ends in one [`Disposition`]: ack when notified or suppressed; dead-letter when the body is
//! not an event, or when a channel still fails after the retry budget (the delivery stayed
//! unacknowledged meanwhile, retried in-process: [`crate::retry`]); retry (hand back to the
//! queue) only when shutdown or a lost connection stops a delivery that is still retrying.
//!
//! On shutdown the session cancels its consumer and finishes the deliveries it holds: a
//! webhook call in progress is answered, a delivery waiting to retry is handed back at once
//! (it will be redelivered, and its `X-Frontmon-Delivery` ids are the same). When the
//! connection is lost, the deliveries it carried stop too: the broker redelivers them.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::message::Delivery;
use shared::consumer::{Disposition, Subscription, settle};
use shared::event::Event;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, field};

use crate::error_chain;
use crate::metrics::{DeadLetterReason, Metrics};
use crate::notifier::{Notified, Notifier};

/// Why a delivery was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the delivery is not an event")]
    NotAnEvent(#[source] serde_json::Error),
    #[error("cannot encode the notification")]
    Encode(#[source] serde_json::Error),
    #[error("{failed} of {total} channels still failed after the retry budget ({budget:?})")]
    RetryBudgetSpent {
        failed: usize,
        total: usize,
        budget: std::time::Duration,
    },
    #[error("stopped while {pending} of {total} channels were still retrying")]
    Stopped { pending: usize, total: usize },
}

impl DeliveryError {
    pub fn disposition(&self) -> Disposition {
        match self {
            DeliveryError::NotAnEvent(_)
            | DeliveryError::Encode(_)
            | DeliveryError::RetryBudgetSpent { .. } => Disposition::DeadLetter,
            DeliveryError::Stopped { .. } => Disposition::Retry,
        }
    }

    fn dead_letter_reason(&self) -> DeadLetterReason {
        match self {
            DeliveryError::RetryBudgetSpent { .. } => DeadLetterReason::RetryBudget,
            _ => DeadLetterReason::Poison,
        }
    }
}

/// Everything a session needs; one per application, shared by its sessions.
pub struct Consumer {
    pub notifier: Notifier,
    pub metrics: Metrics,
    pub shutdown: CancellationToken,
}

impl Consumer {
    /// Handles deliveries until the subscription ends or shutdown finishes it.
    pub async fn session(&self, mut subscription: Subscription) {
        // Stops the deliveries of this session that wait to retry: at shutdown (a child of
        // its token), or when the connection is lost, since they can no longer be settled.
        let stop = self.shutdown.child_token();
        let mut in_flight = FuturesUnordered::new();
        let mut cancelled = false;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled(), if !cancelled => {
                    cancelled = true;
                    // The stream ends once the deliveries already sent have been read.
                    subscription.cancel().await;
                }
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                next = subscription.consumer.next() => match next {
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
        // Settling on a broken connection fails, and the broker redelivers; on shutdown
        // these are the deliveries we were holding.
        while in_flight.next().await.is_some() {}
        subscription.close().await;
    }

    async fn handle(&self, delivery: Delivery, stop: &CancellationToken) {
        self.metrics.events_consumed.inc();
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned());
        let span = tracing::info_span!(
            "delivery",
            message_id = %message_id.as_deref().unwrap_or("-"),
            event_id = field::Empty,
            project_id = field::Empty,
            routing_key = field::Empty,
        );
        async {
            let disposition = match self.decide(&delivery, stop).await {
                Ok(_) => Disposition::Ack,
                Err(error) => self.fail(&error),
            };
            if let Err(error) = settle(&delivery.acker, disposition).await {
                tracing::warn!(
                    ?disposition,
                    error = %error_chain(&error),
                    "Cannot settle the delivery; the broker will redeliver it."
                );
            }
        }
        .instrument(span)
        .await
    }

    async fn decide(
        &self,
        delivery: &Delivery,
        stop: &CancellationToken,
    ) -> Result<Notified, DeliveryError> {
        let event: Event =
            serde_json::from_slice(&delivery.data).map_err(DeliveryError::NotAnEvent)?;
        let span = tracing::Span::current();
        span.record("event_id", field::display(event.event_id));
        span.record("project_id", field::display(event.project_id));
        span.record("routing_key", event.routing_key().as_str());
        self.notifier.notify(&event, stop).await
    }

    /// Logs `error` once, counts it, and says what to do with the delivery.
    fn fail(&self, error: &DeliveryError) -> Disposition {
        let disposition = error.disposition();
        match disposition {
            Disposition::DeadLetter => {
                self.metrics.dead_lettered(error.dead_letter_reason());
                // Parked, not lost; but nobody was told, so an operator should look.
                tracing::error!(error = %error_chain(error), "Delivery dead-lettered.");
            }
            Disposition::Retry => {
                self.metrics.requeued.inc();
                tracing::warn!(
                    error = %error_chain(error),
                    "Delivery handed back to the queue; it will be redelivered."
                );
            }
            Disposition::Ack => {}
        }
        disposition
    }
}
