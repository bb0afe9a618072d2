//! When to call a failing webhook again, and when to give up.
//!
//! A channel that fails is retried in-process while its delivery stays unacknowledged:
//! exponential backoff with jitter from [`RetryPolicy::first_delay`] up to
//! [`RetryPolicy::max_delay`], or exactly what a 429/503 answer asked for in `Retry-After`.
//! Waiting is a timer, not a thread, so a channel that retries holds up neither the other
//! channels, nor the other deliveries, nor the broker connection.
//!
//! Every answer but a 2xx is retried, 4xx included. A 4xx (other than 408 and 429) usually
//! means a misconfiguration, but dead-lettering it at once would turn a receiver's passing
//! fault (a deploy answering 404 for a minute, an auth proxy rotating keys) into a manual
//! replay, and a misconfiguration on our side is fixed by editing the configuration and
//! restarting, which hands the held deliveries back to be sent with the fixed one. Svix and
//! Stripe retry every non-2xx the same way. The cost is bounded: the retry budget, and
//! `alerter.prefetch` deliveries held at most; the first such answer is logged as an error.
//!
//! After [`RetryPolicy::budget`] (counted from the delivery's first attempt in this process)
//! the channel gives up and the delivery is dead-lettered: parked, not dropped.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use shared::config::Settings;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error_chain;
use crate::webhook::WebhookError;

/// The pause after a first failure is between half this and this.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest pause of the backoff (a `Retry-After` may ask for longer).
pub const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub budget: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            // `alerter.retry_budget_secs`'s default: one source for the number.
            budget: shared::config::AlerterSettings::default().retry_budget,
            first_delay: FIRST_DELAY,
            max_delay: MAX_DELAY,
        }
    }
}

impl RetryPolicy {
    /// The policy the configuration asks for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            budget: settings.alerter.retry_budget,
            ..Self::default()
        }
    }

    /// The pause after `failures` failed attempts in a row (1 for the first): doubling from
    /// `first_delay` up to `max_delay`, then a random point in its upper half, so that
    /// deliveries failing together do not come back together.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let ceiling = self
            .first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let random = RandomState::new().hash_one(failures);
        Duration::from_millis(ceiling_ms - (random % (ceiling_ms / 2 + 1)))
    }

    /// The pause before the next attempt after `error`: what `Retry-After` asked for (but
    /// never less than `first_delay`, so a receiver answering `Retry-After: 0` is not
    /// hammered), otherwise the backoff.
    pub fn delay(&self, failures: u32, error: &WebhookError) -> Duration {
        match error.retry_after() {
            Some(asked) => asked.max(self.first_delay),
            None => self.backoff(failures),
        }
    }
}

/// How the attempts at one channel ended.
#[derive(Debug)]
pub enum Attempts {
    /// Answered 2xx, after `failures` failed attempts.
    Delivered { failures: u32 },
    /// The next attempt would have been after the deadline.
    GaveUp { failures: u32, last: WebhookError },
    /// Stopped (shutdown, or the broker connection was lost) while waiting to retry; the
    /// delivery goes back to the queue.
    Stopped { failures: u32 },
}

/// Calls `attempt` until it succeeds, the next try would start after `deadline`, or `stop`
/// is cancelled. A call in progress is never interrupted (the HTTP timeout bounds it), so
/// shutdown does not abandon a notification the receiver may be handling.
pub async fn until_delivered<F, Fut>(
    policy: &RetryPolicy,
    deadline: Instant,
    stop: &CancellationToken,
    mut attempt: F,
) -> Attempts
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), WebhookError>>,
{
    let mut failures: u32 = 0;
    loop {
        let error = match attempt().await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(attempts = failures + 1, "Webhook call succeeded on retry.");
                }
                return Attempts::Delivered { failures };
            }
            Err(error) => error,
        };
        failures = failures.saturating_add(1);
        let delay = policy.delay(failures, &error);
        let next = Instant::now()
            .checked_add(delay)
            .filter(|at| *at <= deadline);
        let Some(next) = next else {
            return Attempts::GaveUp {
                failures,
                last: error,
            };
        };
        if failures == 1 && error.is_client_error() {
            // An operator should look: the URL, the secret, the receiver's routes.
            tracing::error!(
                error = %error_chain(&error),
                retry_in_ms = delay.as_millis() as u64,
                "The webhook refused the notification as a bad request; retrying, but it is \
                 probably misconfigured."
            );
        } else if failures == 1 {
            tracing::warn!(
                error = %error_chain(&error),
                retry_in_ms = delay.as_millis() as u64,
                "Webhook call failed; retrying."
            );
        } else {
            tracing::debug!(
                error = %error_chain(&error),
                failures,
                retry_in_ms = delay.as_millis() as u64,
                "Webhook call failed again; retrying."
            );
        }
        tokio::select! {
            () = stop.cancelled() => return Attempts::Stopped { failures },
            () = tokio::time::sleep_until(next) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use reqwest::StatusCode;

    use super::*;

    fn rejected(status: u16, retry_after: Option<u64>) -> WebhookError {
        WebhookError::Rejected {
            status: StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}")),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn policy(budget_secs: u64) -> RetryPolicy {
        RetryPolicy {
            budget: Duration::from_secs(budget_secs),
            ..RetryPolicy::default()
        }
    }

    /// Runs `until_delivered` against scripted answers (then 200s), recording when each
    /// attempt happened, in seconds since the start.
    async fn run(
        policy: RetryPolicy,
        answers: Vec<WebhookError>,
        stop: &CancellationToken,
    ) -> (Attempts, Vec<f64>) {
        let start = Instant::now();
        let times = RefCell::new(Vec::new());
        let answers = RefCell::new(answers.into_iter());
        let attempts = until_delivered(&policy, start + policy.budget, stop, || {
            times
                .borrow_mut()
                .push((Instant::now() - start).as_secs_f64());
            let answer = answers.borrow_mut().next();
            async move { answer.map_or(Ok(()), Err) }
        })
        .await;
        (attempts, times.into_inner())
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        for failures in 1..100 {
            let delay = policy.backoff(failures);
            let ceiling = FIRST_DELAY
                .saturating_mul(1 << (failures - 1).min(20))
                .min(MAX_DELAY);
            assert!(delay <= ceiling, "{failures}: {delay:?}");
            assert!(delay >= ceiling / 2, "{failures}: {delay:?}");
        }
        assert!(policy.backoff(1) <= Duration::from_secs(1));
        assert!(policy.backoff(7) >= Duration::from_secs(30));
        assert!(policy.backoff(u32::MAX) <= MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_delivered_and_stops_calling() {
        let stop = CancellationToken::new();
        let (attempts, times) = run(
            policy(3600),
            vec![
                rejected(500, None),
                rejected(502, None),
                rejected(500, None),
            ],
            &stop,
        )
        .await;
        assert!(matches!(attempts, Attempts::Delivered { failures: 3 }));
        assert_eq!(times.len(), 4, "no call after the 2xx: {times:?}");
        // Backoff: 0.5–1 s, then 1–2 s, then 2–4 s.
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!((0.5..=1.0).contains(&gaps[0]), "{gaps:?}");
        assert!((1.0..=2.0).contains(&gaps[1]), "{gaps:?}");
        assert!((2.0..=4.0).contains(&gaps[2]), "{gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let stop = CancellationToken::new();
        let (attempts, times) = run(
            policy(3600),
            vec![rejected(503, Some(120)), rejected(429, Some(0))],
            &stop,
        )
        .await;
        assert!(matches!(attempts, Attempts::Delivered { failures: 2 }));
        assert_eq!(times[1] - times[0], 120.0, "{times:?}");
        // Retry-After: 0 still waits the first delay.
        assert_eq!(times[2] - times[1], FIRST_DELAY.as_secs_f64(), "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_the_budget_is_spent() {
        let stop = CancellationToken::new();
        let failing = (0..1000).map(|_| rejected(404, None)).collect();
        let (attempts, times) = run(policy(600), failing, &stop).await;
        let Attempts::GaveUp { failures, last } = attempts else {
            panic!("{attempts:?}");
        };
        assert_eq!(failures as usize, times.len());
        assert!(last.is_client_error());
        let last_attempt = times.last().copied().unwrap_or_default();
        // The last attempt is at most one maximum pause before the deadline.
        assert!(
            (600.0 - MAX_DELAY.as_secs_f64()..=600.0).contains(&last_attempt),
            "{times:?}"
        );
        // 4xx answers were retried all along, with the same backoff as any other failure.
        assert!(times.len() > 10, "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_budget_gives_up_at_once() {
        let stop = CancellationToken::new();
        let (attempts, times) = run(policy(60), vec![rejected(503, Some(3600))], &stop).await;
        assert!(matches!(attempts, Attempts::GaveUp { failures: 1, .. }));
        assert_eq!(times, vec![0.0]);
        // A date so far away it does not fit in an Instant.
        let (attempts, _) = run(policy(60), vec![rejected(503, Some(u64::MAX))], &stop).await;
        assert!(matches!(attempts, Attempts::GaveUp { failures: 1, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_the_wait_not_the_call() {
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            stopper.cancel();
        });
        let failing = (0..1000).map(|_| rejected(500, None)).collect();
        let start = Instant::now();
        let (attempts, _) = run(policy(3600), failing, &stop).await;
        assert!(matches!(attempts, Attempts::Stopped { .. }), "{attempts:?}");
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
    }
}
