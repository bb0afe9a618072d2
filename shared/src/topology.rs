//! The broker topology: the one place where exchange, queue, binding and dead-letter names and
//! arguments live.
//!
//! ```text
//!                                 ┌─ #        → <processor.queue>  ─(poison)→ <processor.queue>.dead
//! collector → <exchange> (topic) ─┤
//!                                 └─ error.*, issue.* → <alerter.queue> ─(poison)→ <alerter.queue>.dead
//!                 │ (no queue matched)
//!                 └→ <exchange>.unroutable (fanout) → <exchange>.unroutable
//! ```
//!
//! With `processor.partitions = N > 1` the processor's single queue gives way to N partitions
//! behind a consistent-hash exchange (docs/scaling.md), each with single active consumer:
//!
//! ```text
//! <exchange> ─ # → <exchange>.partitions (x-consistent-hash on the partition_key header)
//!                    ├─ 1 → <processor.queue>.1 ─(poison)→ <processor.queue>.1.dead
//!                    ├─ …
//!                    └─ 1 → <processor.queue>.N ─(poison)→ <processor.queue>.N.dead
//! ```
//!
//! Every service declares all of it at start. Declarations are idempotent, so start order does
//! not matter, and a consumer queue exists (and fills) from the moment any service has run,
//! even if its consumer has never started: that is what lets the processor or alerter be
//! down while the collector keeps accepting.

use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::config::Settings;

/// A consumer's queue and what it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerQueue {
    pub name: String,
    /// The binding patterns on the events exchange.
    pub patterns: &'static [&'static str],
}

impl ConsumerQueue {
    /// Where this queue parks the messages its consumer could not handle.
    pub fn dead_letter_queue(&self) -> String {
        dead_letter_queue(&self.name)
    }
}

/// Where the queue `name` parks the messages its consumer could not handle.
pub fn dead_letter_queue(name: &str) -> String {
    format!("{name}.dead")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub exchange: String,
    pub processor: ConsumerQueue,
    pub alerter: ConsumerQueue,
    /// 1: the processor's events go to `processor`; N > 1: to N partition queues instead.
    partitions: u16,
    delivery_limit: u32,
    max_queue_length: u32,
}

impl Topology {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            exchange: settings.amqp.exchange.to_string(),
            processor: ConsumerQueue {
                name: settings.processor.queue.to_string(),
                patterns: &["#"],
            },
            alerter: ConsumerQueue {
                name: settings.alerter.queue.to_string(),
                // Errors, and the processor's issue notices (regressions, resolutions).
                patterns: &["error.*", "issue.*"],
            },
            partitions: settings.processor.partitions.get(),
            delivery_limit: settings.amqp.delivery_limit.get(),
            max_queue_length: settings.amqp.max_queue_length.get(),
        }
    }

    /// The direct exchange that routes dead letters to each queue's own dead-letter queue,
    /// by the name of the queue they died in.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dead", self.exchange)
    }

    /// The alternate exchange, and the queue behind it, that keep an event no binding matched.
    pub fn unroutable(&self) -> String {
        format!("{}.unroutable", self.exchange)
    }

    /// The consistent-hash exchange in front of the processor's partitions.
    pub fn partition_exchange(&self) -> String {
        format!("{}.partitions", self.exchange)
    }

    /// Whether the processor's events go through partitions.
    pub fn is_partitioned(&self) -> bool {
        self.partitions > 1
    }

    /// The queues the processor consumes: its one queue, or its partitions in order
    /// (`<processor.queue>.1` to `.N`).
    pub fn processor_queues(&self) -> Vec<String> {
        if self.is_partitioned() {
            (1..=self.partitions)
                .map(|number| format!("{}.{number}", self.processor.name))
                .collect()
        } else {
            vec![self.processor.name.clone()]
        }
    }

    /// Every queue consumers read: the processor's (one or its partitions) and the alerter's.
    pub fn consumed_queues(&self) -> Vec<String> {
        let mut queues = self.processor_queues();
        queues.push(self.alerter.name.clone());
        queues
    }

    /// Every queue this topology declares, for inspection and clean-up.
    pub fn all_queues(&self) -> Vec<String> {
        let mut queues = vec![self.unroutable()];
        for queue in self.consumed_queues() {
            queues.push(dead_letter_queue(&queue));
            queues.push(queue);
        }
        queues
    }

    /// Every exchange this topology declares.
    pub fn all_exchanges(&self) -> Vec<String> {
        let mut exchanges = vec![
            self.exchange.clone(),
            self.dead_letter_exchange(),
            self.unroutable(),
        ];
        if self.is_partitioned() {
            exchanges.push(self.partition_exchange());
        }
        exchanges
    }

    /// Declares everything; safe to call from every service, any number of times.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable_exchange = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };

        let unroutable = self.unroutable();
        channel
            .exchange_declare(
                unroutable.as_str().into(),
                ExchangeKind::Fanout,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(unroutable.as_str().into(), durable_queue, quorum())
            .await?;
        channel
            .queue_bind(
                unroutable.as_str().into(),
                unroutable.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let mut events_args = FieldTable::default();
        // With `mandatory` publishing an unroutable event is returned to the collector (which
        // answers 503); the alternate exchange is the second net, so nothing is ever dropped.
        events_args.insert("alternate-exchange".into(), long_string(&unroutable));
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                durable_exchange,
                events_args,
            )
            .await?;

        let dead_letters = self.dead_letter_exchange();
        channel
            .exchange_declare(
                dead_letters.as_str().into(),
                ExchangeKind::Direct,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;

        // The processor's queue, or its partitions behind the consistent-hash exchange.
        if self.is_partitioned() {
            let partitions = self.partition_exchange();
            let mut hash_args = FieldTable::default();
            hash_args.insert("hash-header".into(), long_string(crate::partition::HEADER));
            // A message the hash cannot place (no partition bound yet) is kept, not dropped.
            hash_args.insert("alternate-exchange".into(), long_string(&unroutable));
            channel
                .exchange_declare(
                    partitions.as_str().into(),
                    ExchangeKind::Custom("x-consistent-hash".into()),
                    durable_exchange,
                    hash_args,
                )
                .await?;
            for pattern in self.processor.patterns {
                channel
                    .exchange_bind(
                        partitions.as_str().into(),
                        self.exchange.as_str().into(),
                        (*pattern).into(),
                        ExchangeBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            for queue in self.processor_queues() {
                // The binding key is the partition's weight: every partition gets one share.
                self.declare_consumer_queue(channel, &queue, &partitions, &["1"], true)
                    .await?;
            }
        } else {
            let queue = &self.processor;
            self.declare_consumer_queue(
                channel,
                &queue.name,
                &self.exchange,
                queue.patterns,
                false,
            )
            .await?;
        }
        let alerter = &self.alerter;
        self.declare_consumer_queue(
            channel,
            &alerter.name,
            &self.exchange,
            alerter.patterns,
            false,
        )
        .await?;
        Ok(())
    }

    /// Declares the consumer queue `name`, bound to `source` by each of `keys`, and its
    /// dead-letter queue. `single_active`: one consumer at a time gets its messages (the
    /// others wait to take over), so they are handled in order, one batch after another.
    async fn declare_consumer_queue(
        &self,
        channel: &Channel,
        name: &str,
        source: &str,
        keys: &[&str],
        single_active: bool,
    ) -> Result<(), lapin::Error> {
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let parked = dead_letter_queue(name);
        channel
            .queue_declare(parked.as_str().into(), durable_queue, quorum())
            .await?;
        channel
            .queue_bind(
                parked.as_str().into(),
                self.dead_letter_exchange().as_str().into(),
                name.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut args = self.consumer_queue_arguments(name);
        if single_active {
            args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        }
        channel
            .queue_declare(name.into(), durable_queue, args)
            .await?;
        for key in keys {
            channel
                .queue_bind(
                    name.into(),
                    source.into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    fn consumer_queue_arguments(&self, queue: &str) -> FieldTable {
        let mut args = quorum();
        // A message redelivered this many times (nacked with requeue, or unacked when its
        // consumer died) is a poison message: dead-letter it instead of looping forever.
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(i32::try_from(self.delivery_limit).unwrap_or(i32::MAX)),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            long_string(&self.dead_letter_exchange()),
        );
        args.insert("x-dead-letter-routing-key".into(), long_string(queue));
        // The default dead-lettering of quorum queues is at-most-once: a dead letter can be
        // lost if its queue is unavailable. At-least-once keeps it until the dead-letter
        // queue confirms it (RabbitMQ ≥ 3.10; it requires reject-publish below).
        args.insert(
            "x-dead-letter-strategy".into(),
            long_string("at-least-once"),
        );
        // A bounded queue: when the backlog reaches this length the broker nacks new
        // publishes, the collector answers 503 and clients retry later, instead of the
        // broker running out of memory or silently dropping the oldest events.
        args.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(i64::from(self.max_queue_length)),
        );
        args.insert("x-overflow".into(), long_string("reject-publish"));
        args
    }
}

/// How many messages are ready in `queue`, which must exist (a passive declaration of a
/// missing queue closes the channel).
pub async fn queue_depth(channel: &Channel, queue: &str) -> Result<u32, lapin::Error> {
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(declared.message_count())
}

/// Replicated, durable queues with delivery counting: what the dead-lettering of poison
/// messages needs (classic queues do not count deliveries).
fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), long_string("quorum"));
    args
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.to_owned()))
}
