//! From delivery to ack: the processor's consume session.
//!
//! Deliveries are gathered into a batch (up to `processor.batch_size`, or whatever arrived
//! within `processor.batch_wait_ms` of the first), written in one transaction, and acked
//! after the commit with a single multiple-ack. What happens to each delivery:
//!
//! | outcome                                   | disposition                              |
//! |-------------------------------------------|------------------------------------------|
//! | stored, or already stored (redelivery)    | ack                                      |
//! | not an event (invalid JSON)               | dead-letter at once                      |
//! | an issue notice (`issue.*`, ours)         | ack                                      |
//! | the database rejects the row              | dead-letter (the rest of the batch is stored) |
//! | the database is down                      | held, unacked, and retried until it is back |
//!
//! Holding a batch while the database is down, instead of handing it back, keeps outages
//! from counting toward the queue's delivery limit: only poison is ever dead-lettered.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::consumer::{Deliveries, Delivery, Disposition, SettleError, Subscription, backoff};
use shared::event::{Event, RoutingKey};
use shared::health::ReadyFlag;
use tokio_util::sync::CancellationToken;

use crate::db::{NewEvent, Store, StoreError};
use crate::enrich::Enricher;
use crate::metrics::{Metrics, ReasonLabel};
use crate::symbolicate::{Outcome, Symbolicator, parse_native, prepend_exceptions};

pub struct Processor {
    pub store: Store,
    pub symbolicator: Symbolicator,
    pub enricher: Enricher,
    pub metrics: Arc<Metrics>,
    pub batch_size: usize,
    pub batch_wait: Duration,
    pub database_ready: ReadyFlag,
    pub shutdown: CancellationToken,
}

/// Why a session ended early; the connection loop reconnects.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("the consumer stream failed")]
    Stream(#[source] lapin::Error),
    #[error("a delivery could not be settled")]
    Settle(#[source] SettleError),
}

impl Processor {
    /// Runs one subscription until its stream ends, fails, or shutdown has drained it.
    /// `number` is the session's (from 1): its rollup rows are its own.
    pub async fn session(self: Arc<Self>, mut subscription: Subscription, number: u16) {
        let shard = i16::try_from(number).unwrap_or(i16::MAX);
        if let Err(error) = self.consume(&mut subscription, shard).await {
            tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "Consume session ended.");
        }
        subscription.close().await;
    }

    async fn consume(
        &self,
        subscription: &mut Subscription,
        shard: i16,
    ) -> Result<(), SessionError> {
        let mut cancelled = false;
        loop {
            let next = if cancelled {
                subscription.next_delivery(true).await
            } else {
                tokio::select! {
                    next = subscription.next_delivery(false) => next,
                    _ = self.shutdown.cancelled() => {
                        // Stop the flow, then finish what was already delivered to us.
                        subscription.cancel().await;
                        cancelled = true;
                        continue;
                    }
                }
            };
            let Some(first) = next else { return Ok(()) };
            let mut batch = Deliveries::with_capacity(self.batch_size);
            batch.push(first.map_err(SessionError::Stream)?);
            let deadline = tokio::time::Instant::now() + self.batch_wait;
            // The consumer stream is not fused: its end is reported once, so remember it
            // rather than wait on it again (after a cancel, it would never answer).
            let mut ended = false;
            while batch.len() < self.batch_size {
                match tokio::time::timeout_at(deadline, subscription.recv()).await {
                    Ok(Some(Ok(delivery))) => batch.push(delivery),
                    Ok(Some(Err(error))) => {
                        // The channel is gone, and what it delivered with it: back in the queue.
                        batch.release();
                        return Err(SessionError::Stream(error));
                    }
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.handle(batch, shard).await?;
            if ended {
                return Ok(());
            }
        }
    }

    async fn handle(&self, batch: Deliveries, shard: i16) -> Result<(), SessionError> {
        let started = Instant::now();
        self.metrics.consumed.inc_by(batch.len() as u64);
        let mut deliveries = Deliveries::with_capacity(batch.len());
        let mut events: Vec<Event> = Vec::with_capacity(batch.len());
        let mut texts: Vec<String> = Vec::with_capacity(batch.len());
        let mut pending = batch.into_iter();
        while let Some(mut delivery) = pending.next() {
            // Our own issue notices come back through the `#` binding: not events, acked
            // and left for the alerter.
            let settled = if RoutingKey::is_notice_category(delivery.routing_key()) {
                delivery.ack().await
            } else {
                // The body becomes the stored text without a copy, checked as UTF-8 once
                // here: parsing a `str` does not check it again, nor does storing it.
                match parse(delivery.take_data()) {
                    Ok((event, text)) => {
                        deliveries.push(delivery);
                        events.push(event);
                        texts.push(text);
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(message_id = ?delivery.message_id(), error = %error, "Not an event: dead-lettered.");
                        self.dead_letter(delivery, "invalid_event").await
                    }
                }
            };
            if let Err(error) = settled {
                // The session ends and its channel closes, which hands these back.
                pending.for_each(Delivery::release);
                deliveries.release();
                return Err(SessionError::Settle(error));
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        // Native stacks parsed into frames, once per event, and minified frames resolved,
        // before anything else looks at them (grouping included).
        let mut outcomes: Vec<Outcome> = events
            .iter_mut()
            .map(|event| {
                if parse_native(event) {
                    Outcome::Parsed
                } else {
                    Outcome::Unchanged
                }
            })
            .collect();
        if !self.resolve_until_done(&mut events, &mut outcomes).await {
            // Shutdown while the database is down: closing the channel hands the batch back.
            deliveries.release();
            return Ok(());
        }
        let parsed: Vec<Parsed> = events
            .into_iter()
            .zip(texts)
            .zip(outcomes)
            .map(|((mut event, text), outcome)| {
                let json = self.stored_json(&mut event, text, outcome);
                Parsed { event, json }
            })
            .collect();

        let stored = {
            let rows = rows(&parsed);
            self.insert_until_done(&rows, shard).await
        };
        match stored {
            Some(Ok(new)) => {
                self.metrics.stored.inc_by(new);
                self.metrics.duplicates.inc_by(parsed.len() as u64 - new);
                // Every earlier delivery of this channel is settled, so this is one
                // multiple-ack up to the last tag.
                deliveries.ack().await.map_err(SessionError::Settle)?;
                for Parsed { event, .. } in &parsed {
                    tracing::debug!(event_id = %event.event_id, project_id = %event.project_id, routing_key = %event.routing_key(), "Event stored.");
                }
            }
            Some(Err(_rejected)) => self.store_one_by_one(deliveries, &parsed, shard).await?,
            // Shutdown while the database is down: leave the batch unacked; closing the
            // channel hands it back to the queue.
            None => {
                deliveries.release();
                return Ok(());
            }
        }
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Enriches `event` and returns the JSON to store: `text` itself where nothing changed,
    /// spliced where only absent fields were added, written out whole otherwise.
    fn stored_json(&self, event: &mut Event, text: String, outcome: Outcome) -> String {
        let enrich = |event: &mut Event, text: String| match self.enricher.enrich(event, &text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(json) => json,
        };
        match outcome {
            Outcome::Unchanged => enrich(event, text),
            Outcome::Parsed => {
                // Enriched as its text has it, without the exception, which then goes in
                // front: no native error is written out whole for it.
                let exceptions = std::mem::take(&mut event.exceptions);
                let json = enrich(event, text);
                event.exceptions = exceptions;
                match prepend_exceptions(&json, &event.exceptions) {
                    Some(json) => json,
                    None => serde_json::to_string(event).unwrap_or(json),
                }
            }
            Outcome::Resolved => {
                let text = enrich(event, text);
                // Changed beyond what enrichment splices in: written out whole.
                serde_json::to_string(event).unwrap_or(text)
            }
        }
    }

    /// Resolves the batch's frames through source maps, retrying while the database is
    /// unavailable; false if shutdown came first. `outcomes` says how each event changed.
    async fn resolve_until_done(&self, events: &mut [Event], outcomes: &mut [Outcome]) -> bool {
        let mut failures = 0;
        loop {
            let mut refs: Vec<&mut Event> = events.iter_mut().collect();
            match self.symbolicator.resolve(&mut refs, outcomes).await {
                Ok(()) => return true,
                Err(error) => {
                    failures += 1;
                    self.database_ready.set(false);
                    tracing::warn!(error = %error, failures, "Database unavailable for source maps; holding the batch.");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(backoff(failures)) => {}
                    }
                }
            }
        }
    }

    /// Retries while the database is unavailable, or the transaction conflicts with another;
    /// `None` if shutdown came first.
    async fn insert_until_done(
        &self,
        rows: &[NewEvent<'_>],
        shard: i16,
    ) -> Option<Result<u64, StoreError>> {
        let mut failures = 0;
        let mut conflicts = 0;
        loop {
            let wait = match self.store.insert(rows, shard).await {
                Err(StoreError::Unavailable(error)) => {
                    failures += 1;
                    self.database_ready.set(false);
                    tracing::warn!(error = %error, failures, "Database unavailable; holding the batch.");
                    backoff(failures)
                }
                // Not the database's health: readiness stays as it is. A short, random wait
                // lets the other transaction finish before this one runs again.
                Err(StoreError::Conflict(error)) => {
                    conflicts += 1;
                    self.metrics.conflicts.inc();
                    tracing::info!(error = %error, conflicts, "Transaction conflict; running the batch again.");
                    backoff(conflicts.min(4)) / 4
                }
                result => {
                    self.database_ready.set(true);
                    return Some(result);
                }
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// A batch the database refused: find the rows it refuses, park them, store the rest.
    async fn store_one_by_one(
        &self,
        deliveries: Deliveries,
        parsed: &[Parsed],
        shard: i16,
    ) -> Result<(), SessionError> {
        let mut pending = deliveries.into_iter();
        for one in parsed {
            let Some(delivery) = pending.next() else {
                break;
            };
            let event = &one.event;
            let disposition = match self.insert_until_done(&[row(one)], shard).await {
                Some(Ok(new)) => {
                    self.metrics.stored.inc_by(new);
                    self.metrics.duplicates.inc_by(1 - new);
                    Disposition::Ack
                }
                Some(Err(error)) => {
                    tracing::warn!(event_id = %event.event_id, project_id = %event.project_id, error = %error, cause = ?std::error::Error::source(&error), "Event rejected by the database: dead-lettered.");
                    self.metrics
                        .dead_lettered
                        .get_or_create(&ReasonLabel {
                            reason: "rejected_by_database",
                        })
                        .inc();
                    Disposition::DeadLetter
                }
                None => {
                    // Shutdown while the database is down: closing the channel hands these
                    // back to the queue.
                    delivery.release();
                    pending.for_each(Delivery::release);
                    return Ok(());
                }
            };
            if let Err(error) = delivery.settle(disposition).await {
                pending.for_each(Delivery::release);
                return Err(SessionError::Settle(error));
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        delivery: Delivery,
        reason: &'static str,
    ) -> Result<(), SettleError> {
        self.metrics
            .dead_lettered
            .get_or_create(&ReasonLabel { reason })
            .inc();
        delivery.dead_letter().await
    }
}

/// A body that is an event, and its text (moved, not copied).
fn parse(body: Vec<u8>) -> Result<(Event, String), String> {
    match String::from_utf8(body) {
        Ok(text) => serde_json::from_str::<Event>(&text)
            .map(|event| (event, text))
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    }
}

/// An event of the batch, completed by the [`Enricher`]; its delivery is kept beside it, in
/// the same position of the batch's [`Deliveries`].
struct Parsed {
    event: Event,
    /// What is stored: the delivery's body, or the JSON enrichment or source maps changed.
    json: String,
}

fn rows(parsed: &[Parsed]) -> Vec<NewEvent<'_>> {
    parsed.iter().map(row).collect()
}

fn row(parsed: &Parsed) -> NewEvent<'_> {
    NewEvent {
        event: &parsed.event,
        json: &parsed.json,
    }
}
