//! The confirming publisher: the collector's only way into the broker.
//!
//! [`Publisher::publish`] returns `Ok` only when the broker has confirmed every message of the
//! call, which is what lets the collector answer 2xx. Confirms are pipelined: concurrent
//! requests publish on a few shared channels and each awaits only its own confirms, so the
//! broker's round trip is paid once per request, overlapping with everyone else's.
//!
//! The publisher owns its connection. When the connection or a channel breaks, or a publish
//! times out on it (its node may be paused or cut off), the next call (at most one at a time,
//! and at most once a second) builds a new one, to the next node when `amqp.url` lists
//! several, and re-declares the topology; calls in between fail fast with
//! [`PublishError::Unavailable`], so the collector answers 503 rather than hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};

use crate::event::{EventId, ProjectId, RoutingKey};
use crate::topology::Topology;

/// How often a broken connection may be rebuilt; between attempts publishes fail fast.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// One serialized event, ready to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_id: EventId,
    pub project_id: ProjectId,
    pub routing_key: RoutingKey,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
    /// What the partition exchange hashes ([`crate::partition`]); set only when the
    /// processor's events are partitioned.
    pub partition_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the broker is unavailable")]
    Unavailable(#[source] Option<lapin::Error>),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0}")]
    Unroutable(RoutingKey),
    #[error("the broker did not confirm within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone)]
pub struct PublisherOptions {
    pub url: String,
    pub topology: Topology,
    pub channels: usize,
    pub timeout: Duration,
    /// Shown in the broker's connection list, so operators (and tests) can find it.
    pub connection_name: String,
}

pub struct Publisher {
    options: PublisherOptions,
    link: RwLock<Option<Arc<Link>>>,
    reconnect: tokio::sync::Mutex<Option<Instant>>,
}

struct Link {
    connection: Connection,
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl Link {
    fn usable(&self) -> bool {
        self.connection.status().connected() && self.channels.iter().all(|c| c.status().connected())
    }

    fn channel(&self) -> &Channel {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        &self.channels[index]
    }
}

impl Publisher {
    /// Connects and declares the topology; fails if the broker cannot be reached now, so a
    /// misconfigured service stops at start instead of answering 503 forever.
    pub async fn connect(options: PublisherOptions) -> Result<Self, PublishError> {
        let link = open(&options)
            .await
            .map_err(|e| PublishError::Unavailable(Some(e)))?;
        Ok(Self {
            options,
            link: RwLock::new(Some(Arc::new(link))),
            reconnect: tokio::sync::Mutex::new(None),
        })
    }

    /// A publisher that connects on first use, for a service that must start (and report
    /// not-ready) while the broker is still down.
    pub async fn start(options: PublisherOptions) -> Self {
        let opened = tokio::time::timeout(options.timeout, open(&options)).await;
        let link = match opened.unwrap_or_else(|_| Err(timed_out())) {
            Ok(link) => Some(Arc::new(link)),
            Err(error) => {
                tracing::warn!(error = %error, "Publisher cannot reach the broker yet.");
                None
            }
        };
        Self {
            options,
            link: RwLock::new(link),
            reconnect: tokio::sync::Mutex::new(None),
        }
    }

    /// Reconnects if the link is down (at most once a second); true when connected.
    pub async fn ensure_connected(&self) -> bool {
        self.usable_link().await.is_ok()
    }

    pub fn is_connected(&self) -> bool {
        self.current().is_some_and(|link| link.usable())
    }

    /// Publishes every message and waits for the broker to confirm all of them.
    pub async fn publish(&self, messages: &[Outgoing]) -> Result<(), PublishError> {
        let timeout = self.options.timeout;
        let link = tokio::time::timeout(timeout, self.usable_link())
            .await
            .map_err(|_| PublishError::Timeout(timeout))??;
        let result = tokio::time::timeout(timeout, self.publish_on(&link, messages))
            .await
            .map_err(|_| PublishError::Timeout(timeout))
            .and_then(|result| result);
        match &result {
            Err(PublishError::Timeout(_)) => self.abandon(&link),
            Err(_) if !link.usable() => {
                self.discard(&link);
            }
            _ => {}
        }
        result
    }

    async fn publish_on(&self, link: &Link, messages: &[Outgoing]) -> Result<(), PublishError> {
        // One channel per call keeps a batch in order; the calls spread over the channels.
        let channel = link.channel();
        // Handed to the I/O thread together, not one after the other: each `basic_publish`
        // waits until its frames are written, so awaiting them in turn paid a wake-up of the
        // I/O thread and of this task per message. `join_all` polls them in order the first
        // time, which is when each takes its delivery tag and queues its frames: the batch
        // keeps its order on the channel.
        let sent = futures::future::join_all(messages.iter().map(|message| {
            channel.basic_publish(
                self.options.topology.exchange.as_str().into(),
                message.routing_key.as_str().into(),
                // Mandatory: an event no queue would receive comes back to us as a
                // failure instead of vanishing.
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &message.body,
                properties(message),
            )
        }))
        .await;
        let mut confirms = Vec::with_capacity(messages.len());
        for (message, confirm) in messages.iter().zip(sent) {
            let confirm = confirm.map_err(|e| PublishError::Unavailable(Some(e)))?;
            confirms.push((message.routing_key, confirm));
        }
        for (routing_key, confirm) in confirms {
            match confirm
                .await
                .map_err(|e| PublishError::Unavailable(Some(e)))?
            {
                Confirmation::Ack(None) => {}
                // lapin reports a returned (unroutable) mandatory message as an ack that
                // carries it: the broker stored nothing, so this is a failure.
                Confirmation::Ack(Some(_)) => return Err(PublishError::Unroutable(routing_key)),
                Confirmation::Nack(_) => return Err(PublishError::Nacked),
                Confirmation::NotRequested => return Err(PublishError::Nacked),
            }
        }
        Ok(())
    }

    fn current(&self) -> Option<Arc<Link>> {
        self.link.read().ok().and_then(|link| link.clone())
    }

    async fn usable_link(&self) -> Result<Arc<Link>, PublishError> {
        if let Some(link) = self.current().filter(|link| link.usable()) {
            return Ok(link);
        }
        let mut last_attempt = self.reconnect.lock().await;
        // Another caller may have reconnected while we waited for the lock.
        if let Some(link) = self.current().filter(|link| link.usable()) {
            return Ok(link);
        }
        if last_attempt.is_some_and(|at| at.elapsed() < RECONNECT_INTERVAL) {
            return Err(PublishError::Unavailable(None));
        }
        *last_attempt = Some(Instant::now());
        let opened = tokio::time::timeout(self.options.timeout, open(&self.options)).await;
        match opened.unwrap_or_else(|_| Err(timed_out())) {
            Ok(link) => {
                let link = Arc::new(link);
                if let Ok(mut slot) = self.link.write() {
                    *slot = Some(link.clone());
                }
                tracing::warn!("Publisher reconnected to the broker.");
                Ok(link)
            }
            Err(error) => {
                tracing::warn!(error = %error, "Publisher cannot reach the broker.");
                Err(PublishError::Unavailable(Some(error)))
            }
        }
    }

    /// Forgets `broken` unless another call already replaced it; true if this call did.
    fn discard(&self, broken: &Arc<Link>) -> bool {
        if let Ok(mut slot) = self.link.write()
            && slot.as_ref().is_some_and(|link| Arc::ptr_eq(link, broken))
        {
            *slot = None;
            tracing::warn!("Publisher lost its broker connection.");
            return true;
        }
        false
    }

    /// Gives up on a link that stopped answering (a publish timed out on it). A node that is
    /// paused or cut off keeps its TCP connection open, so the link still looks usable and
    /// every call would wait out its timeout on it until the node came back; forgotten, the
    /// next call reconnects, to another node when `amqp.url` lists several. Under a memory
    /// alarm, which blocks every node, this costs a reconnect a second at most. The close is
    /// sent in the background, bounded: a silent node will not answer it either.
    fn abandon(&self, silent: &Arc<Link>) {
        if !self.discard(silent) {
            return;
        }
        let (link, timeout) = (silent.clone(), self.options.timeout);
        tokio::spawn(async move {
            let close = link.connection.close(200, "not answering".into());
            let _ = tokio::time::timeout(timeout, close).await;
        });
    }

    /// Closes the connection after in-flight confirms have been answered, waiting at most
    /// the publish timeout for each step so shutdown stays bounded.
    pub async fn close(&self) {
        let link = self.link.write().ok().and_then(|mut slot| slot.take());
        if let Some(link) = link {
            let timeout = self.options.timeout;
            for channel in &link.channels {
                if tokio::time::timeout(timeout, channel.wait_for_confirms())
                    .await
                    .is_err()
                {
                    tracing::warn!("Confirms still pending at shutdown.");
                }
            }
            if tokio::time::timeout(timeout, link.connection.close(200, "shutdown".into()))
                .await
                .is_err()
            {
                tracing::warn!("The broker did not answer the connection close.");
            }
        }
    }
}

fn timed_out() -> lapin::Error {
    std::io::Error::from(std::io::ErrorKind::TimedOut).into()
}

async fn open(options: &PublisherOptions) -> Result<Link, lapin::Error> {
    let connection = crate::amqp::connect(&options.url, &options.connection_name).await?;
    let setup = connection.create_channel().await?;
    options.topology.declare(&setup).await?;
    let _ = setup.close(200, "topology declared".into()).await;
    let mut channels = Vec::with_capacity(options.channels);
    for _ in 0..options.channels.max(1) {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channels.push(channel);
    }
    Ok(Link {
        connection,
        channels,
        next: AtomicUsize::new(0),
    })
}

fn properties(message: &Outgoing) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "project_id".into(),
        AMQPValue::LongUInt(message.project_id.get()),
    );
    headers.insert(
        "received_at".into(),
        AMQPValue::LongLongInt(message.received_at.timestamp_millis()),
    );
    if let Some(key) = &message.partition_key {
        headers.insert(
            crate::partition::HEADER.into(),
            AMQPValue::LongString(key.as_str().into()),
        );
    }
    BasicProperties::default()
        // Persistent: written to disk by the quorum queues before the broker confirms.
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(message.event_id.to_string()))
        .with_timestamp(u64::try_from(message.received_at.timestamp()).unwrap_or(0))
        .with_headers(headers)
}
