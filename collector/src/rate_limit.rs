//! Per-project rate limits (`[[projects]] rate_limit_per_minute`): a token bucket per
//! project, refilled continuously, that every accepted event draws from, whichever endpoint
//! it came through.
//!
//! A project whose limit changes in the database gets a new bucket at the collector's next
//! refresh ([`RateLimits::update`]); the others keep theirs, with what they have spent.
//!
//! Each collector instance keeps its own buckets: behind a load balancer spreading requests
//! over N collectors a project gets up to N times its limit. That keeps the hot path free of
//! any shared state outside the process, and the limit is there to stop a runaway page, not
//! to bill.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use shared::config::Project;
use shared::event::ProjectId;

pub struct RateLimits {
    buckets: RwLock<HashMap<ProjectId, Mutex<Bucket>>>,
}

struct Bucket {
    /// A minute's worth: the most a quiet project can send at once.
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Instant,
}

/// Refused: this many whole seconds until the events would be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RateLimits {
    pub fn new<'a>(projects: impl IntoIterator<Item = &'a Project>) -> Self {
        let limits = Self {
            buckets: RwLock::default(),
        };
        limits.update(projects);
        limits
    }

    /// Puts the limits of `projects` in force: a project whose limit is unchanged keeps its
    /// bucket as it is; a new limit starts with a full one.
    pub fn update<'a>(&self, projects: impl IntoIterator<Item = &'a Project>) {
        let now = Instant::now();
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        let mut kept = HashMap::new();
        for project in projects {
            let Some(limit) = project.rate_limit_per_minute else {
                continue;
            };
            let per_minute = f64::from(limit.get());
            let bucket = match buckets.remove(&project.id) {
                Some(bucket)
                    if bucket
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .capacity
                        == per_minute =>
                {
                    bucket
                }
                _ => Mutex::new(Bucket {
                    capacity: per_minute,
                    per_second: per_minute / 60.0,
                    tokens: per_minute,
                    updated: now,
                }),
            };
            kept.insert(project.id, bucket);
        }
        *buckets = kept;
    }

    /// Takes `events` from the project's budget, all or none.
    pub fn take(&self, project: ProjectId, events: usize) -> Result<(), RetryAfter> {
        // A poisoned lock only means another request panicked mid-update; the numbers are
        // still numbers.
        let buckets = self.buckets.read().unwrap_or_else(PoisonError::into_inner);
        let Some(bucket) = buckets.get(&project) else {
            return Ok(());
        };
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        bucket.take(events as f64, Instant::now())
    }
}

impl Bucket {
    fn take(&mut self, wanted: f64, now: Instant) -> Result<(), RetryAfter> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
        if wanted <= self.tokens {
            self.tokens -= wanted;
            return Ok(());
        }
        // More than a minute's budget in one request never fits; the longest wait we name.
        if wanted > self.capacity {
            return Err(RetryAfter(60));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let seconds = ((wanted - self.tokens) / self.per_second).ceil().max(1.0) as u64;
        Err(RetryAfter(seconds.min(60)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bucket(per_minute: f64, now: Instant) -> Bucket {
        Bucket {
            capacity: per_minute,
            per_second: per_minute / 60.0,
            tokens: per_minute,
            updated: now,
        }
    }

    #[test]
    fn a_minute_of_events_then_refusals_until_refilled() {
        let start = Instant::now();
        let mut bucket = bucket(60.0, start);
        for _ in 0..60 {
            assert_eq!(bucket.take(1.0, start), Ok(()));
        }
        assert_eq!(bucket.take(1.0, start), Err(RetryAfter(1)));
        assert_eq!(bucket.take(10.0, start), Err(RetryAfter(10)));
        // One a second comes back.
        assert_eq!(bucket.take(2.0, start + Duration::from_secs(2)), Ok(()));
        assert_eq!(
            bucket.take(1.0, start + Duration::from_secs(2)),
            Err(RetryAfter(1))
        );
        // Never more than a minute's worth saved up.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.take(61.0, later), Err(RetryAfter(60)));
        assert_eq!(bucket.take(60.0, later), Ok(()));
    }
}
