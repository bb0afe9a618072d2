//! From one error event to a notification on every channel, under the cooldown.
//!
//! The notification is encoded once and POSTed to every channel at the same time. The event
//! counts as notified only when every channel answered 2xx: only then is its fingerprint
//! recorded in the cooldown, so a delivery that failed and comes back is not suppressed by
//! its own earlier attempt. (A channel that succeeded before another failed receives the
//! retry too; receivers recognise it by the event id header.)

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::future::join_all;
use shared::config::Settings;
use shared::event::{Event, ProjectId};
use tokio::time::Instant;

use crate::consumer::DeliveryError;
use crate::cooldown::{Cooldown, Fingerprint};
use crate::error_chain;
use crate::metrics::{Metrics, Outcome};
use crate::notification::Notification;
use crate::webhook::{self, Webhook};

/// Locks that serialise events of the same fingerprint (events whose fingerprints share a
/// lock merely wait for each other).
const TURNS: usize = 64;

/// What became of an event that needed no retry.
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
    /// Deliveries are handled concurrently; holding the turn of a fingerprint from the
    /// cooldown check to the cooldown record makes "check, send, record" one step, so two
    /// copies of an error arriving together are notified once.
    turns: Vec<tokio::sync::Mutex<()>>,
    metrics: Metrics,
}

impl Notifier {
    pub fn new(settings: &Settings, metrics: Metrics) -> Result<Self, reqwest::Error> {
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
            turns: (0..TURNS).map(|_| tokio::sync::Mutex::new(())).collect(),
            metrics,
        })
    }

    pub fn channels(&self) -> usize {
        self.webhooks.len()
    }

    /// Notifies every channel of `event`, unless the cooldown suppresses it.
    pub async fn notify(&self, event: &Event) -> Result<Notified, DeliveryError> {
        let fingerprint = Fingerprint::of(event);
        let _turn = self.turns[fingerprint.bucket(self.turns.len())]
            .lock()
            .await;
        if self.cooldown().is_cooling(&fingerprint, Instant::now()) {
            self.metrics.suppressed.inc();
            tracing::debug!(fingerprint = %fingerprint.short(), "Notification suppressed by the cooldown.");
            return Ok(Notified::Suppressed);
        }

        let project = self.projects.get(&event.project_id).map(String::as_str);
        let body = serde_json::to_vec(&Notification::new(event, project))
            .map_err(DeliveryError::Encode)?;
        let results = join_all(self.webhooks.iter().map(|webhook| {
            let body = &body;
            async move {
                let result = webhook.send(&self.client, event.event_id, body).await;
                match &result {
                    Ok(()) => self.metrics.notification(&webhook.name, Outcome::Sent),
                    Err(error) => {
                        self.metrics.notification(&webhook.name, error.outcome());
                        tracing::warn!(
                            channel = %webhook.name,
                            error = %error_chain(error),
                            "Webhook call failed."
                        );
                    }
                }
                result
            }
        }))
        .await;

        let total = results.len();
        let failed = results.iter().filter(|result| result.is_err()).count();
        if failed > 0 {
            return Err(DeliveryError::ChannelsFailed { failed, total });
        }
        self.cooldown().record(fingerprint, Instant::now());
        tracing::info!(channels = total, fingerprint = %fingerprint.short(), "Alert sent.");
        Ok(Notified::Sent)
    }

    fn cooldown(&self) -> MutexGuard<'_, Cooldown> {
        // The cooldown is consistent after every call, so a panic elsewhere leaves it usable.
        self.cooldown.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
