//! The alerter's side of a subscription: read deliveries, notify, settle each exactly once.
//!
//! Deliveries are handled concurrently, as many as the prefetch lets the broker send. Each
//! ends in one [`Disposition`]: ack when notified or suppressed, retry when a channel failed
//! (after a short backoff, so a webhook outage is not a hot loop; the queue's delivery limit
//! dead-letters a message that keeps failing), dead-letter when the body is not an event.
//!
//! On shutdown the session cancels its consumer, finishes the deliveries it holds, settles
//! them and closes the subscription.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::message::Delivery;
use lapin::types::AMQPValue;
use shared::consumer::{Disposition, Subscription, backoff, settle};
use shared::event::Event;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, field};

use crate::error_chain;
use crate::metrics::Metrics;
use crate::notifier::{Notified, Notifier};

/// Why a delivery was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the delivery is not an event")]
    NotAnEvent(#[source] serde_json::Error),
    #[error("cannot encode the notification")]
    Encode(#[source] serde_json::Error),
    #[error("{failed} of {total} channels failed")]
    ChannelsFailed { failed: usize, total: usize },
}

impl DeliveryError {
    pub fn disposition(&self) -> Disposition {
        match self {
            DeliveryError::NotAnEvent(_) | DeliveryError::Encode(_) => Disposition::DeadLetter,
            DeliveryError::ChannelsFailed { .. } => Disposition::Retry,
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
                    Some(Ok(delivery)) => in_flight.push(self.handle(delivery)),
                    Some(Err(error)) => {
                        tracing::warn!(error = %error, "Delivery stream failed.");
                        break;
                    }
                    None => break,
                },
            }
        }
        // Settling on a broken connection fails, and the broker redelivers; on shutdown
        // these are the deliveries we were holding.
        while in_flight.next().await.is_some() {}
        subscription.close().await;
    }

    async fn handle(&self, delivery: Delivery) {
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
            let disposition = match self.decide(&delivery).await {
                Ok(_) => Disposition::Ack,
                Err(error) => self.fail(&delivery, &error).await,
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

    async fn decide(&self, delivery: &Delivery) -> Result<Notified, DeliveryError> {
        let event: Event =
            serde_json::from_slice(&delivery.data).map_err(DeliveryError::NotAnEvent)?;
        let span = tracing::Span::current();
        span.record("event_id", field::display(event.event_id));
        span.record("project_id", field::display(event.project_id));
        span.record("routing_key", event.routing_key().as_str());
        self.notifier.notify(&event).await
    }

    /// Logs `error` once, waits before a retry, and says what to do with the delivery.
    async fn fail(&self, delivery: &Delivery, error: &DeliveryError) -> Disposition {
        let disposition = error.disposition();
        match disposition {
            Disposition::DeadLetter => {
                self.metrics.dead_lettered.inc();
                tracing::warn!(error = %error_chain(error), "Delivery dead-lettered.");
            }
            Disposition::Retry => {
                self.metrics.retried.inc();
                let attempts = delivery_count(delivery).saturating_add(1);
                let delay = backoff(attempts);
                tracing::warn!(
                    error = %error_chain(error),
                    attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    "Notification failed; the delivery will be retried."
                );
                tokio::select! {
                    () = self.shutdown.cancelled() => {}
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Disposition::Ack => {}
        }
        disposition
    }
}

/// How many times the broker delivered this message before: quorum queues count in the
/// `x-delivery-count` header; otherwise we only know whether it was redelivered.
fn delivery_count(delivery: &Delivery) -> u32 {
    let header = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get("x-delivery-count"));
    let count = match header {
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::LongLongInt(n)) => *n,
        _ => i64::from(delivery.redelivered),
    };
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}
