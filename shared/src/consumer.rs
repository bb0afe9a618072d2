//! Consuming a queue: the connection loop every consumer runs, and the one way a delivery is
//! settled.
//!
//! [`run`] keeps a [`Subscription`] alive: it connects, declares the topology, subscribes
//! with manual acks and a prefetch, and hands the subscription to the service's session. When
//! the session ends because the broker went away, [`run`] reconnects with backoff and jitter;
//! when it ends because shutdown began, [`run`] returns.
//!
//! Every delivery is a [`Delivery`], answered once and only once, with a [`Disposition`]
//! (the messaging twin of an HTTP status), in a batch ([`Deliveries`]), or released to the
//! queue at shutdown.
//!
//! Start at [`run`], then [`Delivery`].

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;

use crate::event::RoutingKey;
use crate::health::ReadyFlag;
use crate::topology::{Topology, queue_depth};

mod delivery;

use delivery::Unsettled;
pub use delivery::{Deliveries, Delivery, SettleError};

/// What becomes of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done (or a duplicate of something already done): remove it from the queue.
    Ack,
    /// Failed for a reason that may pass (a database or webhook outage): deliver it again.
    /// Each retry counts toward the queue's delivery limit.
    Retry,
    /// Can never succeed (not an event, rejected by the store): park it in the dead-letter
    /// queue for an operator, and let the messages behind it flow.
    DeadLetter,
}

/// How long connecting, declaring the topology and subscribing may take together.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping session waits on the broker at each step: its answer to the cancel, the
/// next delivery already sent, the channel's and the connection's close. A broker that never
/// answers (seen once after a broker restart, in CI) must not hang shutdown; what was not acked
/// by then goes back to the queue when the connection closes.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub url: String,
    pub topology: Topology,
    pub queue: String,
    pub prefetch: u16,
    /// Shown in the broker's connection list, so operators (and tests) can find it.
    pub connection_name: String,
}

/// A live subscription to one queue, on its own connection.
pub struct Subscription {
    pub connection: Connection,
    pub channel: Channel,
    consumer: lapin::Consumer,
    unsettled: Unsettled,
}

impl Subscription {
    async fn open(options: &ConsumeOptions) -> Result<Self, lapin::Error> {
        let connection = crate::amqp::connect(&options.url, &options.connection_name).await?;
        let channel = connection.create_channel().await?;
        options.topology.declare(&channel).await?;
        channel
            .basic_qos(options.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                options.queue.as_str().into(),
                options.connection_name.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            connection,
            channel,
            consumer,
            unsettled: Unsettled::default(),
        })
    }

    /// Asks the broker to stop delivering. Deliveries already sent stay in the stream, which
    /// ends once they have been read, so the session can finish them instead of handing them
    /// back (a handed-back message counts as a delivery attempt).
    pub async fn cancel(&self) {
        let tag = self.consumer.tag();
        let cancel = self
            .channel
            .basic_cancel(tag, BasicCancelOptions::default());
        match tokio::time::timeout(DRAIN_TIMEOUT, cancel).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(error = %error, "Cannot cancel the consumer."),
            Err(_) => tracing::warn!("The broker did not confirm the consumer's cancel."),
        }
    }

    /// The next delivery, `None` once the stream has ended. The stream is not fused: its end
    /// is reported once.
    pub async fn recv(&mut self) -> Option<Result<Delivery, lapin::Error>> {
        let next = self.consumer.next().await?;
        Some(next.map(|delivery| Delivery::new(delivery, self.unsettled.clone())))
    }

    /// The next delivery. After [`Subscription::cancel`] (`cancelled`), `None` also when the
    /// stream has not moved for [`DRAIN_TIMEOUT`]: without the broker's answer to the cancel
    /// it would never end.
    pub async fn next_delivery(
        &mut self,
        cancelled: bool,
    ) -> Option<Result<Delivery, lapin::Error>> {
        if !cancelled {
            return self.recv().await;
        }
        match tokio::time::timeout(DRAIN_TIMEOUT, self.recv()).await {
            Ok(next) => next,
            Err(_) => {
                tracing::warn!("The consumer's stream did not end after its cancel; closing.");
                None
            }
        }
    }

    pub async fn close(self) {
        let _ =
            tokio::time::timeout(DRAIN_TIMEOUT, self.channel.close(200, "shutdown".into())).await;
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, self.connection.close(200, "shutdown".into()))
            .await;
    }
}

/// Keeps `session` running on a live subscription until `shutdown`.
///
/// `ready` is up while a subscription is open. The session should return when its stream
/// ends or fails; it should react to `shutdown` by cancelling, finishing what it holds and
/// closing the subscription.
pub async fn run<S, F>(
    options: ConsumeOptions,
    shutdown: CancellationToken,
    ready: ReadyFlag,
    mut session: S,
) where
    S: FnMut(Subscription) -> F,
    F: Future<Output = ()>,
{
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        // A broker that accepts the TCP connection but never answers must not hang us here.
        let opened = tokio::time::timeout(OPEN_TIMEOUT, Subscription::open(&options))
            .await
            .unwrap_or_else(|_| {
                Err(lapin::Error::from(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )))
            });
        match opened {
            Ok(subscription) => {
                if failures > 0 {
                    tracing::warn!(queue = %options.queue, "Consumer reconnected.");
                }
                failures = 0;
                ready.set(true);
                session(subscription).await;
                ready.set(false);
                if shutdown.is_cancelled() {
                    break;
                }
                tracing::warn!(queue = %options.queue, "Consumer lost its broker connection.");
            }
            Err(error) => {
                tracing::warn!(queue = %options.queue, error = %error, "Consumer cannot reach the broker.");
            }
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff(failures)) => {}
        }
    }
    ready.set(false);
}

/// How often [`watch_depths`] reads the queues.
const DEPTH_INTERVAL: Duration = Duration::from_secs(15);

/// Keeps each gauge at the number of messages waiting in its queues (summed: a partitioned
/// processor's dead letters are in one queue per partition), read every 15 s on a connection
/// of its own, until `shutdown`: how the dead-letter queues reach `/metrics`.
pub async fn watch_depths(
    url: String,
    connection_name: String,
    topology: Topology,
    queues: Vec<(Vec<String>, prometheus_client::metrics::gauge::Gauge)>,
    shutdown: CancellationToken,
) {
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let watched = async {
            let connection = crate::amqp::connect(&url, &connection_name).await?;
            let channel = connection.create_channel().await?;
            // The queues may not exist yet if this runs before the consumer has started.
            topology.declare(&channel).await?;
            loop {
                for (names, gauge) in &queues {
                    let mut depth = 0;
                    for queue in names {
                        depth += i64::from(queue_depth(&channel, queue).await?);
                    }
                    gauge.set(depth);
                }
                failures = 0;
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        let _ = connection.close(200, "shutdown".into()).await;
                        return Ok::<(), lapin::Error>(());
                    }
                    _ = tokio::time::sleep(DEPTH_INTERVAL) => {}
                }
            }
        };
        if let Err(error) = watched.await {
            tracing::debug!(error = %error, "Cannot read queue depths; retrying.");
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff(failures)) => {}
        }
    }
}

/// Exponential backoff from 100 ms to 10 s, with full jitter so that many consumers losing
/// the same broker do not all come back in the same instant.
pub fn backoff(failures: u32) -> Duration {
    let ceiling_ms = 100u64.saturating_mul(1u64 << failures.min(7)).min(10_000);
    let random = RandomState::new().hash_one(failures);
    Duration::from_millis(ceiling_ms / 2 + random % (ceiling_ms / 2 + 1))
}

/// The routing key a delivery was published with. A dead letter that an operator replays
/// (`frontmon-admin replay`) comes back through the default exchange under its queue's name;
/// the broker kept the key it was first published with in the `x-death` header, whose
/// entries each list the `routing-keys` of one death. The oldest known routing key there is
/// the original; without one, the delivery's own key.
pub fn published_routing_key<'a>(routing_key: &'a str, headers: Option<&FieldTable>) -> &'a str {
    if routing_key.parse::<RoutingKey>().is_ok() {
        return routing_key;
    }
    let deaths = headers
        .and_then(|headers| {
            headers
                .inner()
                .iter()
                .find(|(name, _)| name.as_str() == "x-death")
        })
        .and_then(|(_, value)| match value {
            AMQPValue::FieldArray(deaths) => Some(deaths.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    // Most recent first: the original is in the last entry that names a routing key of ours.
    let original: Option<RoutingKey> = deaths
        .iter()
        .rev()
        .filter_map(|death| match death {
            AMQPValue::FieldTable(death) => death
                .inner()
                .iter()
                .find(|(name, _)| name.as_str() == "routing-keys")
                .map(|(_, keys)| keys),
            _ => None,
        })
        .filter_map(|keys| match keys {
            AMQPValue::FieldArray(keys) => Some(keys.as_slice()),
            _ => None,
        })
        .flatten()
        .find_map(|key| match key {
            AMQPValue::LongString(key) => std::str::from_utf8(key.as_bytes())
                .ok()?
                .parse::<RoutingKey>()
                .ok(),
            AMQPValue::ShortString(key) => key.as_str().parse::<RoutingKey>().ok(),
            _ => None,
        });
    match original {
        Some(key) => key.as_str(),
        None => routing_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for failures in 0..40 {
            let delay = backoff(failures);
            assert!(delay <= Duration::from_secs(10), "{failures}: {delay:?}");
            assert!(delay >= Duration::from_millis(50), "{failures}: {delay:?}");
        }
        assert!(backoff(20) >= Duration::from_secs(5));
        assert!(backoff(1) <= Duration::from_millis(200));
    }

    fn death(queue: &str, keys: &[&str]) -> AMQPValue {
        let mut death = FieldTable::default();
        death.insert("queue".into(), AMQPValue::LongString(queue.into()));
        let mut array = lapin::types::FieldArray::default();
        for key in keys {
            array.push(AMQPValue::LongString((*key).into()));
        }
        death.insert("routing-keys".into(), AMQPValue::FieldArray(array));
        AMQPValue::FieldTable(death)
    }

    #[test]
    fn a_replayed_dead_letter_keeps_the_routing_key_it_was_published_with() {
        // As published: its own key, whatever the headers.
        assert_eq!(
            published_routing_key("issue.created", None),
            "issue.created"
        );
        // Replayed through the default exchange: the key of its first death.
        let mut headers = FieldTable::default();
        let mut deaths = lapin::types::FieldArray::default();
        // Died again after a replay (most recent first), then first as published.
        deaths.push(death("frontmon.alerter", &["frontmon.alerter"]));
        deaths.push(death("frontmon.alerter", &["issue.created"]));
        headers.insert("x-death".into(), AMQPValue::FieldArray(deaths));
        assert_eq!(
            published_routing_key("frontmon.alerter", Some(&headers)),
            "issue.created"
        );
        // Nothing better known: the delivery's own key.
        assert_eq!(
            published_routing_key("frontmon.alerter", Some(&FieldTable::default())),
            "frontmon.alerter"
        );
    }
}
