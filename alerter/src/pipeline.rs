//! From one delivery to the notifications it causes, made durable before it is acknowledged.
//!
//! An error event is grouped (the shared function, so its fingerprint is the processor's
//! issue's, unless the processor resolved minified frames through source maps) and given to
//! the rules engine; so are `issue.created` and `issue.regressed` notices; an
//! `issue.resolved` notice is remembered (for `newer_release_only`). What the rules fire
//! becomes one notification per channel, written with the cooldowns in one transaction;
//! only then is the engine's state changed and the delivery acknowledged. The dispatchers
//! send from there.
//!
//! The engine's lock is held across that transaction, so decisions are made one at a time in
//! the order their writes commit. Most events (nothing fires, or a cooldown counts them)
//! write nothing and cost only the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::config::Settings;
use shared::db::DbError;
use shared::event::{Event, RoutingKey};
use shared::grouping::group_event;
use shared::notice::{IssueNotice, NoticeKind};
use tokio::sync::Notify;

use crate::compose::Composer;
use crate::metrics::{Metrics, RuleLabel};
use crate::rules::{CooldownRecord, Decision, Engine, Fired, Input};
use crate::store::{AlertStore, NewNotification, record_decision};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Poison: never handled, whatever the retries.
    #[error("the delivery is neither an event nor an issue notice")]
    Unreadable(#[source] serde_json::Error),
    /// The database failed: unavailable or in a conflict (the same delivery may succeed
    /// later), or it refused the data (it never will).
    #[error("the database failed")]
    Database(#[from] DbError),
}

impl From<sqlx::Error> for PipelineError {
    fn from(error: sqlx::Error) -> Self {
        PipelineError::Database(error.into())
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// This many notifications were queued.
    Notified(usize),
    /// Nothing to notify (not an error, cooling down, no rule matched).
    Quiet,
}

pub struct Pipeline {
    engine: tokio::sync::Mutex<Engine>,
    store: AlertStore,
    composer: Composer,
    /// Each channel's dispatcher, woken when it has something new.
    wake: HashMap<String, Arc<Notify>>,
    metrics: Metrics,
    /// Cooldown counts changed since they were last written (see [`Pipeline::commit`]).
    pending_cooldowns: Mutex<HashMap<CooldownKey, CooldownRecord>>,
}

type CooldownKey = (String, u32, String);

fn cooldown_key(record: &CooldownRecord) -> CooldownKey {
    (
        record.rule.clone(),
        record.project_id.get(),
        record.fingerprint.clone(),
    )
}

impl Pipeline {
    pub fn new(
        settings: &Settings,
        engine: Engine,
        store: AlertStore,
        wake: HashMap<String, Arc<Notify>>,
        metrics: Metrics,
    ) -> Self {
        Self {
            engine: tokio::sync::Mutex::new(engine),
            store,
            composer: Composer::new(settings),
            wake,
            metrics,
            pending_cooldowns: Mutex::new(HashMap::new()),
        }
    }

    /// Saves the rules' counting windows and the cooldown counts not written yet; a failure
    /// is logged (they are approximate anyway) and the counts kept for the next checkpoint.
    pub async fn save_windows(&self) {
        let snapshot = self.engine.lock().await.windows_snapshot();
        if let Err(error) = self.store.save_windows(&snapshot).await {
            tracing::warn!(error = %error, "Cannot save the rules' windows.");
        }
        let records: Vec<CooldownRecord> = self.lock_pending().drain().map(|(_, r)| r).collect();
        if records.is_empty() {
            return;
        }
        let saved = async {
            let mut tx = self.store.begin().await?;
            record_decision(&mut tx, &[], &records).await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = saved {
            tracing::warn!(error = %error, "Cannot save the cooldowns' counts; will retry.");
            let mut pending = self.lock_pending();
            for record in records {
                pending.entry(cooldown_key(&record)).or_insert(record);
            }
        }
    }

    pub async fn handle(&self, routing_key: &str, body: &[u8]) -> Result<Handled, PipelineError> {
        if routing_key
            .parse::<RoutingKey>()
            .is_ok_and(RoutingKey::is_notice)
        {
            let notice: IssueNotice =
                serde_json::from_slice(body).map_err(PipelineError::Unreadable)?;
            self.notice(&notice, body).await
        } else {
            let event: Event = serde_json::from_slice(body).map_err(PipelineError::Unreadable)?;
            self.event(&event, body).await
        }
    }

    async fn event(&self, event: &Event, body: &[u8]) -> Result<Handled, PipelineError> {
        let Some(grouping) = group_event(event) else {
            return Ok(Handled::Quiet);
        };
        let input = Input::Event {
            event,
            grouping: &grouping,
        };
        let base = event.event_id.to_string();
        self.decide(input, |fired| {
            self.composer.for_event(
                fired,
                event,
                &grouping,
                source(body),
                &delivery_base(&base, fired),
            )
        })
        .await
    }

    async fn notice(&self, notice: &IssueNotice, body: &[u8]) -> Result<Handled, PipelineError> {
        let project = i64::from(notice.project_id.get());
        let resolved_release: Option<String>;
        let input = match notice.kind {
            NoticeKind::Resolved => {
                self.store
                    .record_resolved(
                        project,
                        &notice.fingerprint,
                        notice.at,
                        notice.last_release.as_deref(),
                    )
                    .await?;
                return Ok(Handled::Quiet);
            }
            NoticeKind::Created => Input::Created { notice },
            NoticeKind::Regressed => {
                resolved_release = self
                    .store
                    .resolved_release(project, &notice.fingerprint)
                    .await?;
                Input::Regressed {
                    notice,
                    resolved_release: resolved_release.as_deref(),
                }
            }
        };
        let base = notice.notice_id.to_string();
        self.decide(input, |fired| {
            self.composer
                .for_notice(fired, notice, source(body), &delivery_base(&base, fired))
        })
        .await
    }

    /// Evaluates `input` under the engine's lock, makes the notifications `compose` writes for
    /// what fires durable, and only then changes the engine's state.
    async fn decide(
        &self,
        input: Input<'_>,
        compose: impl Fn(&Fired) -> Vec<NewNotification>,
    ) -> Result<Handled, PipelineError> {
        let mut engine = self.engine.lock().await;
        let decision = engine.evaluate(&input, Utc::now());
        let notifications: Vec<NewNotification> = decision.fired.iter().flat_map(compose).collect();
        self.commit(&notifications, &decision).await?;
        engine.apply(decision);
        drop(engine);
        Ok(self.queued(&notifications))
    }

    /// Makes a decision durable before it is applied: the notifications and the cooldowns
    /// they start, in one transaction. A decision that only counts events into running
    /// cooldowns writes nothing now: those counts are saved with the windows' checkpoint (a
    /// crash loses at most a few seconds of them, which only delays an escalation), so the
    /// common case, an issue notified a minute ago firing again, costs no write.
    async fn commit(
        &self,
        notifications: &[NewNotification],
        decision: &Decision,
    ) -> Result<(), sqlx::Error> {
        let deferred = notifications.is_empty();
        {
            let mut pending = self.lock_pending();
            for record in decision.cooldowns() {
                if deferred {
                    pending.insert(cooldown_key(record), record.clone());
                } else {
                    pending.remove(&cooldown_key(record));
                }
            }
        }
        if deferred {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        record_decision(&mut tx, notifications, decision.cooldowns()).await?;
        tx.commit().await
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<CooldownKey, CooldownRecord>> {
        self.pending_cooldowns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn queued(&self, notifications: &[NewNotification]) -> Handled {
        for notification in notifications {
            self.metrics
                .fired
                .get_or_create(&RuleLabel {
                    rule: notification.rule.clone(),
                })
                .inc();
            if let Some(wake) = self.wake.get(&notification.channel) {
                wake.notify_one();
            }
        }
        if notifications.is_empty() {
            Handled::Quiet
        } else {
            Handled::Notified(notifications.len())
        }
    }
}

/// The event or notice as it came, kept with its notifications (dead-lettered with a
/// notification that fails for good).
fn source(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// What makes a notification's delivery id: what triggered it, the rule and the kind of
/// firing, so a redelivery makes the same ids (and is inserted once); the channel is added
/// per channel. Not the reason's figures: after a crash between the write and the ack, the
/// redelivered event is judged by counts restored from the last checkpoint, which may differ
/// from the first time, and must not make a second notification of the same firing.
fn delivery_base(trigger: &str, fired: &Fired) -> String {
    let mut hasher = Sha256::new();
    hasher.update(trigger.as_bytes());
    hasher.update([0]);
    hasher.update(fired.rule.as_bytes());
    hasher.update([0]);
    hasher.update(crate::compose::kind_of(&fired.reason).as_str().as_bytes());
    hex::encode(&hasher.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use shared::config::RuleCondition;
    use shared::event::ProjectId;

    use super::*;
    use crate::rules::{Fired, Reason};

    fn fired(rule: &str, reason: Reason) -> Fired {
        Fired {
            rule: rule.into(),
            condition: RuleCondition::Frequency,
            channels: vec!["ops".into()],
            project_id: ProjectId::new(1).expect("non-zero"),
            fingerprint: "f".into(),
            reason,
            level: None,
        }
    }

    fn frequency(count: u64) -> Reason {
        Reason::Frequency {
            count,
            window_secs: 60,
        }
    }

    #[test]
    fn a_redelivered_trigger_makes_the_same_delivery_whatever_the_counts() {
        let first = delivery_base("event-1", &fired("burst", frequency(10)));
        // Judged again after a restart, from counts of the last checkpoint.
        assert_eq!(
            first,
            delivery_base("event-1", &fired("burst", frequency(7)))
        );
        assert_ne!(
            first,
            delivery_base("event-2", &fired("burst", frequency(10)))
        );
        assert_ne!(
            first,
            delivery_base("event-1", &fired("other", frequency(10)))
        );
        assert_ne!(
            first,
            delivery_base("event-1", &fired("burst", Reason::NewIssue))
        );
    }
}
