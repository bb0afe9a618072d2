//! From one error event to a notification on every channel, under the cooldown.
//!
//! The event first claims its fingerprint's window in the cooldown (a copy of the same
//! problem arriving meanwhile is suppressed). The notification is encoded once and each
//! channel is called on its own: a channel that answers 2xx is done and never called again
//! for this delivery, a channel that fails is retried ([`crate::retry`]) without holding up
//! the others. The event counts as notified when every channel has it; if one gives up (the
//! retry budget is spent) or the delivery is stopped, the claim is released, so the
//! redelivery, or the next copy of the error, is notified.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use futures::future::join_all;
use shared::config::Settings;
use shared::event::{Event, ProjectId};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::consumer::DeliveryError;
use crate::cooldown::{Cooldown, Fingerprint};
use crate::error_chain;
use crate::metrics::{Metrics, Outcome};
use crate::notification::Notification;
use crate::retry::{self, Attempts, RetryPolicy};
use crate::webhook::{self, Webhook};

/// What became of an event that was not handed back nor dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// Every channel has it.
    Sent,
    /// The same problem was notified within the cooldown.
    Suppressed,
}

pub struct Notifier {
    client: reqwest::Client,
    webhooks: Vec<Webhook>,
    projects: HashMap<ProjectId, String>,
    cooldown: Mutex<Cooldown>,
    retry: RetryPolicy,
    metrics: Metrics,
}

impl Notifier {
    pub fn new(
        settings: &Settings,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let webhooks: Vec<Webhook> = settings
            .alerter
            .channels
            .iter()
            .filter_map(Webhook::from_settings)
            .collect();
        for webhook in &webhooks {
            metrics.add_channel(&webhook.name);
        }
        Ok(Self {
            client: webhook::client(settings.alerter.webhook_timeout)?,
            webhooks,
            projects: settings
                .projects
                .iter()
                .map(|project| (project.id, project.name.clone()))
                .collect(),
            cooldown: Mutex::new(Cooldown::new(settings.alerter.cooldown)),
            retry,
            metrics,
        })
    }

    pub fn channels(&self) -> usize {
        self.webhooks.len()
    }

    /// Notifies every channel of `event`, unless the cooldown suppresses it, retrying the
    /// channels that fail until the budget is spent or `stop` is cancelled.
    pub async fn notify(
        &self,
        event: &Event,
        stop: &CancellationToken,
    ) -> Result<Notified, DeliveryError> {
        let fingerprint = Fingerprint::of(event);
        let Some(claim) = self.cooldown().claim(fingerprint, Instant::now()) else {
            self.metrics.suppressed.inc();
            tracing::debug!(fingerprint = %fingerprint.short(), "Notification suppressed by the cooldown.");
            return Ok(Notified::Suppressed);
        };

        let project = self.projects.get(&event.project_id).map(String::as_str);
        let body = match serde_json::to_vec(&Notification::new(event, project)) {
            Ok(body) => body,
            Err(error) => {
                self.cooldown().release(claim);
                return Err(DeliveryError::Encode(error));
            }
        };
        let deadline = Instant::now() + self.retry.budget;
        let results = join_all(self.webhooks.iter().map(|webhook| {
            let span = tracing::info_span!("channel", channel = %webhook.name);
            self.deliver(webhook, event, &body, deadline, stop)
                .instrument(span)
        }))
        .await;

        let total = results.len();
        let gave_up = results
            .iter()
            .filter(|attempts| matches!(attempts, Attempts::GaveUp { .. }))
            .count();
        let stopped = results
            .iter()
            .filter(|attempts| matches!(attempts, Attempts::Stopped { .. }))
            .count();
        if stopped > 0 {
            // Even if another channel gave up: the redelivery gets a whole budget, and
            // shutdown never dead-letters.
            self.cooldown().release(claim);
            return Err(DeliveryError::Stopped {
                pending: stopped,
                total,
            });
        }
        if gave_up > 0 {
            self.cooldown().release(claim);
            return Err(DeliveryError::RetryBudgetSpent {
                failed: gave_up,
                total,
                budget: self.retry.budget,
            });
        }
        tracing::info!(channels = total, fingerprint = %fingerprint.short(), "Alert sent.");
        Ok(Notified::Sent)
    }

    /// Delivers to one channel, retrying; counts every call.
    async fn deliver(
        &self,
        webhook: &Webhook,
        event: &Event,
        body: &[u8],
        deadline: Instant,
        stop: &CancellationToken,
    ) -> Attempts {
        // Counts this delivery in `retrying` from its first failure to its end.
        let retrying = OnceLock::new();
        let attempts = retry::until_delivered(&self.retry, deadline, stop, || async {
            let result = webhook.send(&self.client, event.event_id, body).await;
            match &result {
                Ok(()) => self.metrics.notification(&webhook.name, Outcome::Sent),
                Err(error) => {
                    self.metrics.notification(&webhook.name, error.outcome());
                    retrying.get_or_init(|| self.metrics.retrying(&webhook.name));
                }
            }
            result
        })
        .await;
        if let Attempts::GaveUp { failures, last } = &attempts {
            tracing::error!(
                attempts = failures,
                error = %error_chain(last),
                "The webhook still failed when the retry budget ran out."
            );
        }
        attempts
    }

    fn cooldown(&self) -> MutexGuard<'_, Cooldown> {
        // The cooldown is consistent after every call, so a panic elsewhere leaves it usable.
        self.cooldown.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
