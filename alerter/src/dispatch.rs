//! One dispatcher per channel: sends the channel's pending notifications from the database,
//! within the vendor's rate limit and outside its quiet hours, retrying failures with
//! backoff, each channel on its own so a slow or failing one holds up no other (nor the
//! queue: deliveries were acknowledged once their notifications were written).
//!
//! Per round, the notifications due now are sent one by one while the rate limit allows;
//! when more are due than it allows, when over half of its allowance is spent, or when quiet
//! hours end with several held, they are folded into one digest instead ("12 new issues in shop-web: …"), so nothing is dropped nor
//! queued forever. A notification that still fails after `alerter.retry_budget_secs`, or that
//! the vendor refuses for good (a wrong token), is recorded as failed and what triggered it is
//! dead-lettered into the alerter's dead-letter queue, where an operator sees it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::config::ChannelSettings;
use shared::consumer::backoff;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::compose::Composer;
use crate::dead_letter::DeadLetters;
use crate::limiter::Limiter;
use crate::metrics::{Metrics, Outcome};
use crate::send::Sender;
use crate::store::{AlertStore, Notification};

/// How long a woken dispatcher waits for more of a burst before it looks.
const GATHER: Duration = Duration::from_millis(250);
/// Notifications read per round.
const BATCH: i64 = 200;
/// The longest a dispatcher sleeps without looking (notifications written by another
/// alerter process, a clock that jumped).
const IDLE: Duration = Duration::from_secs(5);

pub struct Dispatcher {
    pub channel: ChannelSettings,
    pub sender: Arc<dyn Sender>,
    pub store: AlertStore,
    pub composer: Arc<Composer>,
    pub dead_letters: DeadLetters,
    pub metrics: Metrics,
    pub retry_budget: Duration,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl Dispatcher {
    pub async fn run(self) {
        let mut limiter = Limiter::for_channel(&self.channel);
        // Quiet hours that ended since the last round: what they held goes as one digest.
        let mut was_quiet = false;
        let mut failures = 0;
        loop {
            let wait = match self.round(&mut limiter, &mut was_quiet).await {
                Ok(wait) => {
                    failures = 0;
                    wait
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(channel = %self.channel.name, error = %error, failures, "Cannot read or update notifications; retrying.");
                    backoff(failures)
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = self.wake.notified() => {
                    // Woken by a new notification: let the rest of a burst arrive, so it is
                    // seen, and folded, as one.
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = tokio::time::sleep(GATHER) => {}
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends what it can now; how long to wait before the next round.
    async fn round(
        &self,
        limiter: &mut Limiter,
        was_quiet: &mut bool,
    ) -> Result<Duration, sqlx::Error> {
        let now = Utc::now();
        let quiet = self
            .channel
            .quiet_hours
            .as_ref()
            .and_then(|schedule| schedule.until(now));
        let due = self.store.due(&self.channel.name, BATCH).await?;
        let (sendable, held): (Vec<Notification>, Vec<Notification>) = due
            .into_iter()
            .partition(|n| quiet.is_none() || n.breaks_quiet);
        if let Some(until) = quiet {
            if !held.is_empty() {
                *was_quiet = true;
            }
            if sendable.is_empty() {
                return Ok(until_duration(until).min(IDLE * 60));
            }
        }
        if sendable.is_empty() {
            let next = self.store.next_due(&self.channel.name).await?;
            return Ok(next.map_or(IDLE, |at| until_duration(at).min(IDLE)));
        }
        let instant = Instant::now();
        let available = limiter.available(instant);
        if available == 0 {
            self.metrics.outcome(&self.channel.name, Outcome::Throttled);
            let slot = limiter.next_slot(instant).unwrap_or(instant + IDLE);
            return Ok(slot.saturating_duration_since(instant));
        }
        let ending_quiet = quiet.is_none() && std::mem::take(was_quiet);
        // Past half the allowance, several due go as one digest rather than spending the
        // rest one by one (and then making the next ones wait a whole window).
        let fold = sendable.len() > 1
            && (sendable.len() > available || ending_quiet || limiter.strained(instant));
        let to_send = if fold {
            // More than may go out one by one: one digest carries them all.
            let ids: Vec<i64> = sendable.iter().map(|n| n.id).collect();
            let digest = self.composer.digest(&self.channel, &sendable, ending_quiet);
            let digest = self.store.fold(&self.channel.name, &ids, digest).await?;
            for _ in &sendable {
                self.metrics.outcome(&self.channel.name, Outcome::Folded);
            }
            vec![digest]
        } else {
            sendable.into_iter().take(available).collect()
        };
        for notification in to_send {
            limiter.record(Instant::now());
            self.send(&notification).await?;
        }
        Ok(Duration::ZERO)
    }

    async fn send(&self, notification: &Notification) -> Result<(), sqlx::Error> {
        let channel = &self.channel.name;
        match self.sender.send(&notification.message).await {
            Ok(()) => {
                self.store.mark_sent(notification.id).await?;
                self.metrics.outcome(channel, Outcome::Sent);
                tracing::info!(channel = %channel, notification = notification.id, rule = %notification.rule, "Notification sent.");
            }
            Err(failure) => {
                let age = (Utc::now() - notification.created_at)
                    .to_std()
                    .unwrap_or_default();
                if failure.permanent || age >= self.retry_budget {
                    self.store
                        .mark_failed(notification.id, &failure.detail)
                        .await?;
                    self.metrics.outcome(channel, Outcome::Failed);
                    tracing::error!(channel = %channel, notification = notification.id, error = %failure.detail, permanent = failure.permanent, "Notification failed for good; what triggered it is dead-lettered.");
                    self.dead_letters.park(notification).await;
                } else {
                    let attempts = u32::try_from(notification.attempts).unwrap_or(u32::MAX) + 1;
                    let wait = failure
                        .retry_after
                        .unwrap_or_default()
                        .max(backoff(attempts));
                    let at = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                    self.store
                        .retry_at(notification.id, at, &failure.detail)
                        .await?;
                    self.metrics.outcome(channel, Outcome::Retried);
                    tracing::warn!(channel = %channel, notification = notification.id, error = %failure.detail, retry_in = ?wait, "Notification not delivered; will retry.");
                }
            }
        }
        Ok(())
    }
}

fn until_duration(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or_default()
}
