//! The ceiling: a bare lapin publisher with publisher confirms, as fast as the broker takes.
//!
//! It publishes the same ~1 KB messages the collector would (persistent, same properties,
//! `mandatory`, routing key `error.js`, so each lands in both quorum queues) with a window of
//! unconfirmed messages spread over a few channels: each channel keeps its share of the
//! window in flight and publishes the next message as each confirm arrives. What it reaches
//! is the most the collector could do on the same broker; the collector adds HTTP, parsing,
//! and a confirm per request on top.
//!
//! The same publisher fills the queues for the processor drain ([`Ceiling::publish_all`]),
//! and, at a fixed rate ([`Ceiling::run_at_rate`]), gives the broker's own confirm latency at
//! the rate the collector's latency is measured at: what no collector could beat.

use std::future::Future;
use std::ops::AddAssign;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use shared::event::{Event, RoutingKey};
use tokio::time::Instant;

use crate::sample;
use crate::stats::Latencies;

/// One message ready to publish.
#[derive(Debug, Clone)]
pub struct Message {
    pub event_id: String,
    pub project_id: u32,
    pub received_at_ms: i64,
    pub body: Vec<u8>,
}

impl Message {
    pub fn of(event: &Event) -> Self {
        Self {
            event_id: event.event_id.to_string(),
            project_id: event.project_id.get(),
            received_at_ms: event.received_at.timestamp_millis(),
            body: sample::queued_body(event),
        }
    }

    /// What the collector's publisher sets, so the broker does the same work per message.
    fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert("project_id".into(), AMQPValue::LongUInt(self.project_id));
        headers.insert(
            "received_at".into(),
            AMQPValue::LongLongInt(self.received_at_ms),
        );
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(self.event_id.as_str()))
            .with_timestamp(u64::try_from(self.received_at_ms / 1000).unwrap_or(0))
            .with_headers(headers)
    }
}

/// What one publishing run got back from the broker.
#[derive(Debug, Default, Clone, Copy)]
pub struct Published {
    pub confirmed: u64,
    /// Refused by the broker (a full queue, an alarm).
    pub nacked: u64,
    /// Returned as unroutable; never expected with the bench topology.
    pub returned: u64,
    pub elapsed: Duration,
}

impl Published {
    pub fn per_sec(&self) -> f64 {
        self.confirmed as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Channels' results add up: their counts, and the longest of their times.
impl AddAssign for Published {
    fn add_assign(&mut self, other: Published) {
        self.confirmed += other.confirmed;
        self.nacked += other.nacked;
        self.returned += other.returned;
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

/// What the bare publisher got at a fixed rate.
#[derive(Debug, Default)]
pub struct Paced {
    pub published: Published,
    /// Of each confirmed message, from when it was due to its confirm.
    pub latencies: Latencies,
}

impl AddAssign for Paced {
    fn add_assign(&mut self, other: Paced) {
        self.published += other.published;
        self.latencies.merge(other.latencies);
    }
}

pub struct Ceiling {
    connection: Connection,
    channels: Vec<Channel>,
    exchange: String,
    /// Unconfirmed messages each channel may have.
    window_per_channel: usize,
}

/// Which messages of a list one channel publishes: `first`, `first + step`, …, cycling
/// through the list, until `end` (if any).
#[derive(Debug, Clone, Copy)]
struct Share {
    first: usize,
    step: usize,
    end: Option<usize>,
}

impl Ceiling {
    pub async fn open(
        url: &str,
        exchange: &str,
        channels: usize,
        window: usize,
    ) -> Result<Self, lapin::Error> {
        let connection = Connection::connect(
            url,
            ConnectionProperties::default()
                .with_connection_name(format!("{exchange}.bench-publisher").into()),
        )
        .await?;
        let mut opened = Vec::with_capacity(channels);
        for _ in 0..channels {
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            opened.push(channel);
        }
        Ok(Self {
            connection,
            window_per_channel: window.div_ceil(channels).max(1),
            channels: opened,
            exchange: exchange.to_owned(),
        })
    }

    /// Publishes from `pool`, cycling, for `duration`; counts what was confirmed.
    pub async fn run_for(
        &self,
        pool: Arc<Vec<Message>>,
        duration: Duration,
    ) -> Result<Published, lapin::Error> {
        let deadline = Instant::now() + duration;
        self.publish(pool, Some(deadline), None).await
    }

    /// Publishes `per_sec` messages a second in all, spread over the channels, for
    /// `duration`, whatever the confirms do (open loop, like the HTTP half-rate run), and
    /// times each message from when it was due to its confirm.
    pub async fn run_at_rate(
        &self,
        pool: Arc<Vec<Message>>,
        per_sec: f64,
        duration: Duration,
    ) -> Result<Paced, lapin::Error> {
        let start = Instant::now();
        let step = self.channels.len();
        self.on_every_channel(|first, channel| {
            PacedPump {
                channel,
                exchange: self.exchange.clone(),
                messages: pool.clone(),
                first,
                step,
                per_sec,
                start,
                deadline: start + duration,
            }
            .run()
        })
        .await
    }

    /// Publishes every message once.
    pub async fn publish_all(
        &self,
        messages: Arc<Vec<Message>>,
    ) -> Result<Published, lapin::Error> {
        let end = messages.len();
        self.publish(messages, None, Some(end)).await
    }

    async fn publish(
        &self,
        messages: Arc<Vec<Message>>,
        deadline: Option<Instant>,
        end: Option<usize>,
    ) -> Result<Published, lapin::Error> {
        let start = Instant::now();
        let step = self.channels.len();
        self.on_every_channel(|first, channel| {
            Pump {
                channel,
                exchange: self.exchange.clone(),
                window: self.window_per_channel,
                messages: messages.clone(),
                share: Share { first, step, end },
                deadline,
                start,
            }
            .run()
        })
        .await
    }

    /// Runs `pump(index, channel)` on every channel at once, and adds up what they got.
    async fn on_every_channel<T, F, Fut>(&self, pump: F) -> Result<T, lapin::Error>
    where
        T: Default + AddAssign + Send + 'static,
        F: Fn(usize, Channel) -> Fut,
        Fut: Future<Output = Result<T, lapin::Error>> + Send + 'static,
    {
        let pumps: Vec<_> = self
            .channels
            .iter()
            .enumerate()
            .map(|(index, channel)| tokio::spawn(pump(index, channel.clone())))
            .collect();
        let mut total = T::default();
        for pump in pumps {
            match pump.await {
                Ok(result) => total += result?,
                Err(join) => eprintln!("bench: a publishing task failed: {join}"),
            }
        }
        Ok(total)
    }

    pub async fn close(&self) {
        let _ = self.connection.close(200, "bench done".into()).await;
    }
}

fn publish_options() -> BasicPublishOptions {
    BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    }
}

/// One channel's share of a paced run: message `n` (of all channels) is due at
/// `start + n / per_sec`, and this channel sends `first`, `first + step`, …
struct PacedPump {
    channel: Channel,
    exchange: String,
    messages: Arc<Vec<Message>>,
    first: usize,
    step: usize,
    per_sec: f64,
    start: Instant,
    deadline: Instant,
}

impl PacedPump {
    async fn run(self) -> Result<Paced, lapin::Error> {
        let mut paced = Paced::default();
        let mut in_flight = FuturesUnordered::new();
        let mut next = self.first;
        loop {
            let due = self.start + Duration::from_secs_f64(next as f64 / self.per_sec);
            let more = due < self.deadline;
            if !more && in_flight.is_empty() {
                break;
            }
            tokio::select! {
                // Confirms first: a confirm waiting behind a publish would count the
                // publisher's delay as the broker's.
                biased;
                Some((due, confirmation)) = in_flight.next() => {
                    // Typed here: the futures' type is only known from the push below.
                    let (due, confirmation): (Instant, Result<Confirmation, lapin::Error>) =
                        (due, confirmation);
                    match confirmation? {
                        Confirmation::Ack(None) => {
                            paced.published.confirmed += 1;
                            paced.latencies.record(due.elapsed());
                        }
                        Confirmation::Ack(Some(_)) => paced.published.returned += 1,
                        Confirmation::Nack(_) | Confirmation::NotRequested => {
                            paced.published.nacked += 1;
                        }
                    }
                }
                () = tokio::time::sleep_until(due), if more => {
                    let message = &self.messages[next % self.messages.len()];
                    let confirm = self
                        .channel
                        .basic_publish(
                            self.exchange.as_str().into(),
                            RoutingKey::ErrorJs.as_str().into(),
                            publish_options(),
                            &message.body,
                            message.properties(),
                        )
                        .await?;
                    in_flight.push(async move { (due, confirm.await) });
                    next += self.step;
                }
                else => break,
            }
        }
        paced.published.elapsed = self.start.elapsed();
        Ok(paced)
    }
}

struct Pump {
    channel: Channel,
    exchange: String,
    window: usize,
    messages: Arc<Vec<Message>>,
    share: Share,
    deadline: Option<Instant>,
    start: Instant,
}

impl Pump {
    async fn run(self) -> Result<Published, lapin::Error> {
        let mut result = Published::default();
        let mut in_flight = FuturesUnordered::new();
        let mut next = self.share.first;
        let more = |next: usize| {
            self.share.end.is_none_or(|end| next < end)
                && self
                    .deadline
                    .is_none_or(|deadline| Instant::now() < deadline)
        };
        loop {
            while in_flight.len() < self.window && more(next) {
                let message = &self.messages[next % self.messages.len()];
                let confirm = self
                    .channel
                    .basic_publish(
                        self.exchange.as_str().into(),
                        RoutingKey::ErrorJs.as_str().into(),
                        publish_options(),
                        &message.body,
                        message.properties(),
                    )
                    .await?;
                in_flight.push(confirm);
                next += self.share.step;
            }
            let Some(confirmation) = in_flight.next().await else {
                break;
            };
            match confirmation? {
                Confirmation::Ack(None) => result.confirmed += 1,
                Confirmation::Ack(Some(_)) => result.returned += 1,
                Confirmation::Nack(_) | Confirmation::NotRequested => result.nacked += 1,
            }
        }
        result.elapsed = self.start.elapsed();
        Ok(result)
    }
}
