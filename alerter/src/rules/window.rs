//! Counting events over a sliding window in fixed memory.
//!
//! Time is cut into buckets of [`Shape::bucket_secs`], about a tenth of the window, counted
//! in a ring. "Within the window" at a moment is the bucket that moment is in and the ones
//! before it, [`Shape::buckets`] in all, which never spans more than the window: an event
//! counts as within `window_secs` when it is less than `window_secs - bucket_secs` old,
//! never when it is `window_secs` old or older. So a count that reaches a threshold always
//! happened within the window (no alert from rounding), at the price of sometimes noticing
//! one bucket late.
//!
//! Distinct users are remembered one by one ([`UserWindow`]), each with the last time it was
//! seen, but never more of them than the threshold needs; past [`MAX_USERS_PER_ISSUE`], only
//! a sample of users (by a hash of their key) is kept, and the count is estimated from it.

use std::num::NonZeroU64;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Buckets per window (about; see [`Shape::new`]).
const BUCKETS_PER_WINDOW: u64 = 10;

/// The most users a `users` window keeps for one issue; a higher threshold counts a sample.
pub(crate) const MAX_USERS_PER_ISSUE: u64 = 500;

/// How a window is cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) bucket_secs: i64,
    /// Buckets that make up one window: `buckets * bucket_secs <= window_secs`.
    pub(crate) buckets: i64,
}

impl Shape {
    pub(crate) fn new(window_secs: NonZeroU64) -> Self {
        // Up to about 2 * 10 ^ 9 years: far beyond any configuration, and it keeps every
        // product below in i64.
        let window = window_secs.get().min(1 << 40) as i64;
        let bucket_secs = (window / BUCKETS_PER_WINDOW as i64).max(1);
        Self {
            bucket_secs,
            buckets: window / bucket_secs,
        }
    }

    /// The bucket `secs` (seconds since the epoch) falls in.
    pub(crate) fn bucket(&self, secs: i64) -> i64 {
        secs.div_euclid(self.bucket_secs)
    }
}

/// Seconds since the epoch.
pub(crate) fn secs(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

/// Counts per bucket for the last `len` buckets up to `newest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ring {
    newest: i64,
    /// `counts[i]` is bucket `newest - (len - 1) + i`: oldest first.
    counts: Vec<u32>,
}

impl Ring {
    pub(crate) fn new(len: usize, newest: i64) -> Self {
        Self {
            newest,
            counts: vec![0; len.max(1)],
        }
    }

    /// Rebuilt from a snapshot; `None` when the counts do not fit `len`.
    pub(crate) fn from_parts(len: usize, newest: i64, counts: Vec<u32>) -> Option<Self> {
        (counts.len() == len.max(1)).then_some(Self { newest, counts })
    }

    pub(crate) fn newest(&self) -> i64 {
        self.newest
    }

    pub(crate) fn counts(&self) -> &[u32] {
        &self.counts
    }

    fn oldest(&self) -> i64 {
        self.newest - (self.counts.len() as i64 - 1)
    }

    /// Events in buckets `from..=to`; buckets the ring no longer (or not yet) holds count 0.
    pub(crate) fn sum(&self, from: i64, to: i64) -> u64 {
        let from = from.max(self.oldest());
        let to = to.min(self.newest);
        if from > to {
            return 0;
        }
        let start = (from - self.oldest()) as usize;
        let end = (to - self.oldest()) as usize;
        self.counts[start..=end].iter().map(|&n| u64::from(n)).sum()
    }

    /// Counts one event in `bucket`; one older than the ring holds is dropped.
    pub(crate) fn add(&mut self, bucket: i64) {
        if bucket > self.newest {
            let shift = bucket - self.newest;
            let len = self.counts.len();
            if shift >= len as i64 {
                self.counts.iter_mut().for_each(|n| *n = 0);
            } else {
                let shift = shift as usize;
                self.counts.rotate_left(shift);
                self.counts[len - shift..].iter_mut().for_each(|n| *n = 0);
            }
            self.newest = bucket;
        }
        if bucket >= self.oldest() {
            let i = (bucket - self.oldest()) as usize;
            self.counts[i] = self.counts[i].saturating_add(1);
        }
    }
}

/// Events of one issue in the last window (`frequency`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counter {
    pub(crate) ring: Ring,
}

impl Counter {
    pub(crate) fn new(shape: Shape, bucket: i64) -> Self {
        Self {
            ring: Ring::new(shape.buckets as usize, bucket),
        }
    }

    /// Events in the window that ends with the later of `bucket` and the newest event seen,
    /// counting one more at `bucket` (the event being evaluated) if it falls in it.
    pub(crate) fn count_with(&self, shape: Shape, bucket: i64) -> u64 {
        let end = bucket.max(self.ring.newest());
        let from = end - shape.buckets + 1;
        self.ring.sum(from, end) + u64::from(bucket >= from)
    }
}

/// Which users are counted, and how many of them make the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampling {
    /// One user in `every` is kept (by hash); 1 below [`MAX_USERS_PER_ISSUE`].
    pub(crate) every: u64,
    /// Kept users that stand for the threshold: `threshold / every`, rounded up.
    pub(crate) needed: u64,
}

impl Sampling {
    pub(crate) fn new(threshold: NonZeroU64) -> Self {
        let threshold = threshold.get();
        let every = threshold.div_ceil(MAX_USERS_PER_ISSUE);
        Self {
            every,
            needed: threshold.div_ceil(every),
        }
    }

    pub(crate) fn keeps(&self, user: u64) -> bool {
        user.is_multiple_of(self.every)
    }
}

/// A user's key, hashed to a fixed size (and the same across restarts and Rust versions, as
/// snapshots keep it).
pub(crate) fn user_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut head = [0; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head)
}

/// The users of one issue seen within the window (`users`): each user once, with the last
/// time it was seen, oldest first, at most [`Sampling::needed`] of them (the most recent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserWindow {
    pub(crate) seen: std::collections::VecDeque<(u64, i64)>,
}

impl UserWindow {
    fn newest(&self) -> Option<i64> {
        self.seen.back().map(|&(_, at)| at)
    }

    /// Kept users seen within the window ending with the later of `at` and the newest seen,
    /// counting `user` (seen at `at`) if it is kept and within it.
    pub(crate) fn count_with(
        &self,
        window_secs: i64,
        sampling: Sampling,
        user: Option<u64>,
        at: i64,
    ) -> u64 {
        let end = self.newest().map_or(at, |newest| newest.max(at));
        let within = |seen_at: i64| end - seen_at < window_secs;
        let user = user.filter(|&user| sampling.keeps(user) && within(at));
        let others = self
            .seen
            .iter()
            .filter(|&&(other, seen_at)| Some(other) != user && within(seen_at))
            .count() as u64;
        others + u64::from(user.is_some())
    }

    /// Remembers `user` seen at `at`, and forgets who left the window or is beyond what the
    /// threshold needs.
    pub(crate) fn add(&mut self, window_secs: i64, sampling: Sampling, user: u64, at: i64) {
        if !sampling.keeps(user) {
            return;
        }
        let previous = self.seen.iter().position(|&(other, _)| other == user);
        let at = match previous.and_then(|i| self.seen.remove(i)) {
            Some((_, before)) => before.max(at),
            None => at,
        };
        let place = self.seen.partition_point(|&(_, seen_at)| seen_at <= at);
        self.seen.insert(place, (user, at));
        let end = self.newest().unwrap_or(at);
        while let Some(&(_, oldest)) = self.seen.front() {
            if end - oldest < window_secs && self.seen.len() as u64 <= sampling.needed {
                break;
            }
            self.seen.pop_front();
        }
    }
}

/// The windows before the current one that a spike is measured against.
pub(crate) const SPIKE_HISTORY: i64 = 12;

/// A project's events over the last window and the [`SPIKE_HISTORY`] windows before it
/// (`spike`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct History {
    pub(crate) ring: Ring,
}

/// What a spike rule compares, at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    /// Events in the last window.
    pub(crate) current: u64,
    /// Events per window over the preceding windows that were fully watched; `None` when
    /// not one was.
    pub(crate) average: Option<f64>,
}

impl History {
    pub(crate) fn len(shape: Shape) -> usize {
        (shape.buckets * (SPIKE_HISTORY + 1)) as usize
    }

    pub(crate) fn new(shape: Shape, bucket: i64) -> Self {
        Self {
            ring: Ring::new(Self::len(shape), bucket),
        }
    }

    /// The load when an event lands in `bucket`, the engine having watched since bucket
    /// `watched_since` (earlier buckets hold no events because nobody counted them, not
    /// because there were none).
    pub(crate) fn load_with(&self, shape: Shape, bucket: i64, watched_since: i64) -> Load {
        let end = bucket.max(self.ring.newest());
        let window = shape.buckets;
        let from = end - window + 1;
        let current = self.ring.sum(from, end) + u64::from(bucket >= from);
        let (mut total, mut windows) = (0_u64, 0_u32);
        for back in 1..=SPIKE_HISTORY {
            let last = end - back * window;
            let first = last - window + 1;
            if first < watched_since {
                break;
            }
            total += self.ring.sum(first, last);
            windows += 1;
        }
        Load {
            current,
            average: (windows > 0).then(|| total as f64 / f64::from(windows)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonzero(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).expect("not zero")
    }

    #[test]
    fn shapes_never_span_more_than_the_window() {
        for window in [
            1, 2, 9, 10, 11, 19, 25, 59, 60, 61, 300, 3600, 86_400, 1_000_003,
        ] {
            let shape = Shape::new(nonzero(window));
            assert!(
                shape.buckets * shape.bucket_secs <= window as i64,
                "{window}"
            );
            assert!(shape.buckets >= 1 && shape.buckets < 2 * BUCKETS_PER_WINDOW as i64);
            // And the part left out is less than one bucket.
            assert!((window as i64) - shape.buckets * shape.bucket_secs < shape.bucket_secs);
        }
        assert_eq!(
            Shape::new(nonzero(60)),
            Shape {
                bucket_secs: 6,
                buckets: 10
            }
        );
        assert_eq!(
            Shape::new(nonzero(5)),
            Shape {
                bucket_secs: 1,
                buckets: 5
            }
        );
    }

    #[test]
    fn a_ring_slides() {
        let mut ring = Ring::new(3, 10);
        ring.add(10);
        ring.add(10);
        ring.add(9);
        assert_eq!(ring.sum(8, 10), 3);
        ring.add(12);
        assert_eq!(ring.counts(), &[2, 0, 1]);
        assert_eq!(ring.sum(10, 12), 3);
        assert_eq!(ring.sum(11, 12), 1);
        // Too old to be held: dropped.
        ring.add(5);
        assert_eq!(ring.sum(0, 12), 3);
        ring.add(100);
        assert_eq!(ring.sum(0, 100), 1);
        assert_eq!(ring.newest(), 100);
    }

    #[test]
    fn users_are_counted_once_and_capped() {
        let sampling = Sampling::new(nonzero(3));
        assert_eq!(
            sampling,
            Sampling {
                every: 1,
                needed: 3
            }
        );
        let mut users = UserWindow::default();
        users.add(60, sampling, 1, 0);
        users.add(60, sampling, 1, 10);
        assert_eq!(users.count_with(60, sampling, Some(1), 20), 1);
        assert_eq!(users.count_with(60, sampling, Some(2), 20), 2);
        assert_eq!(users.count_with(60, sampling, None, 20), 1);
        users.add(60, sampling, 2, 20);
        users.add(60, sampling, 3, 30);
        users.add(60, sampling, 4, 40);
        // Only as many as the threshold needs, the most recent.
        assert_eq!(users.seen.len(), 3);
        assert_eq!(users.seen.front(), Some(&(2, 20)));
        // User 2, seen at 20, is 60 s old at 80: out.
        assert_eq!(users.count_with(60, sampling, None, 80), 2);
    }

    #[test]
    fn high_thresholds_count_a_sample() {
        let sampling = Sampling::new(nonzero(10_000));
        assert_eq!(
            sampling,
            Sampling {
                every: 20,
                needed: 500
            }
        );
        assert!(sampling.keeps(40) && !sampling.keeps(41));
        // About one user in `every` is kept, whatever the keys look like.
        let kept = (0..100_000)
            .filter(|i| sampling.keeps(user_hash(&format!("user-{i}"))))
            .count();
        assert!((4_000..6_000).contains(&kept), "{kept}");
    }

    #[test]
    fn spike_history_counts_only_watched_windows() {
        let shape = Shape::new(nonzero(10));
        let mut history = History::new(shape, 0);
        for bucket in 0..30 {
            history.ring.add(bucket);
        }
        // Windows are 10 buckets of 1 s: at bucket 30 the current window is 21..=30.
        let load = history.load_with(shape, 30, 0);
        assert_eq!(load.current, 10);
        assert_eq!(load.average, Some(10.0));
        // Watched only since 15: the window 11..=20 was not fully watched, 1..=10 neither.
        let load = history.load_with(shape, 30, 15);
        assert_eq!(load.average, None);
        let load = history.load_with(shape, 30, 11);
        assert_eq!(load.average, Some(10.0));
    }
}
