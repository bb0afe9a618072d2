//! The cooldown: at most one notification per fingerprint per window, so an error thrown on
//! every page view of every visitor pages someone once, not ten thousand times.
//!
//! A [`Fingerprint`] says "the same problem": the same project and the same issue, as
//! `shared::grouping` (the processor's grouping) decides. [`Cooldown`] remembers when each fingerprint was last notified, in memory: a
//! restart forgets, which at worst sends one extra notification per fingerprint.
//!
//! The memory is bounded twice: entries leave when their window has passed, and beyond
//! [`Cooldown::CAPACITY`] fingerprints the oldest leave early (a repeat of one of them is
//! notified again: an extra alert rather than a missed one).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};
use shared::event::Event;
use tokio::time::Instant;

/// What makes two events the same problem, as a digest: fixed size however long the
/// message, so the cooldown's memory does not depend on what browsers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The event's issue, by the grouping the processor uses (`shared::grouping`), so one
    /// problem is one notification per cooldown whichever browser, deploy or line it came
    /// from. An event grouping does not cover (none reaches the alerter today) falls back to
    /// its routing key and message.
    pub fn of(event: &Event) -> Self {
        let mut digest = Sha256::new();
        digest.update(event.project_id.get().to_be_bytes());
        let grouping = shared::grouping::group_event(event);
        // Each part is length-prefixed, so no two different tuples hash the same bytes.
        for part in [
            Some(event.routing_key().as_str()),
            match &grouping {
                Some(grouping) => Some(grouping.fingerprint.as_str()),
                None => event.message.as_deref(),
            },
        ] {
            match part {
                Some(text) => {
                    digest.update([1]);
                    digest.update((text.len() as u64).to_be_bytes());
                    digest.update(text.as_bytes());
                }
                None => digest.update([0]),
            }
        }
        Self(digest.finalize().into())
    }

    /// One of `buckets` (numbered from 0), spreading fingerprints evenly.
    pub fn bucket(&self, buckets: usize) -> usize {
        let mut head = [0; 8];
        head.copy_from_slice(&self.0[..8]);
        let buckets = buckets.max(1) as u64;
        // The remainder is below `buckets`, which came from a usize.
        (u64::from_be_bytes(head) % buckets) as usize
    }

    /// A short form for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

/// A fingerprint's window, taken by the event being notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    fingerprint: Fingerprint,
    at: Instant,
}

/// When each fingerprint was last notified, for one window.
#[derive(Debug)]
pub struct Cooldown {
    window: Duration,
    capacity: usize,
    notified: HashMap<Fingerprint, Instant>,
    /// The same entries in the order they were recorded (so oldest first, since time only
    /// moves forward): expiry and eviction pop from the front.
    order: VecDeque<(Fingerprint, Instant)>,
}

impl Cooldown {
    /// Fingerprints remembered at most: about 100 bytes each, so a few megabytes.
    pub const CAPACITY: usize = 50_000;

    /// A cooldown of `window`. A zero window turns suppression off: nothing is remembered
    /// and every event is notified.
    pub fn new(window: Duration) -> Self {
        Self::with_capacity(window, Self::CAPACITY)
    }

    pub fn with_capacity(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            notified: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `fingerprint` was notified less than a window before `now`.
    pub fn is_cooling(&mut self, fingerprint: &Fingerprint, now: Instant) -> bool {
        self.expire(now);
        self.notified
            .get(fingerprint)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.window)
    }

    /// Claims the window of `fingerprint` from `now`, unless it is cooling: the check and
    /// the record in one step, so of two copies of an error arriving together only one is
    /// notified. `None` means suppress this event.
    pub fn claim(&mut self, fingerprint: Fingerprint, now: Instant) -> Option<Claim> {
        if self.is_cooling(&fingerprint, now) {
            return None;
        }
        self.record(fingerprint, now);
        Some(Claim {
            fingerprint,
            at: now,
        })
    }

    /// Gives back a claim whose notification was not sent (dead-lettered, or handed back to
    /// the queue), so that the redelivery, or the next copy of the error, is notified.
    pub fn release(&mut self, claim: Claim) {
        // Only if the window is still this claim's: it may have expired and been claimed again.
        if self.notified.get(&claim.fingerprint) == Some(&claim.at) {
            self.notified.remove(&claim.fingerprint);
        }
    }

    /// Remembers that `fingerprint` was notified at `now`.
    pub fn record(&mut self, fingerprint: Fingerprint, now: Instant) {
        if self.window.is_zero() {
            return;
        }
        self.expire(now);
        while self.order.len() >= self.capacity {
            self.pop_oldest();
        }
        self.notified.insert(fingerprint, now);
        self.order.push_back((fingerprint, now));
    }

    /// Fingerprints currently remembered.
    pub fn len(&self) -> usize {
        self.notified.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notified.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.window)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((fingerprint, at)) = self.order.pop_front()
            // A fingerprint recorded again later has a newer entry further back; this one
            // only leaves the queue.
            && self.notified.get(&fingerprint) == Some(&at)
        {
            self.notified.remove(&fingerprint);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::DateTime;
    use shared::event::{Client, Detail, EventId, ProjectId};

    use super::*;

    fn event(project: u32, message: &str, stack: Option<&str>) -> Event {
        Event {
            event_id: EventId::new_random(),
            project_id: ProjectId::new(project).unwrap_or_else(|| panic!("zero")),
            timestamp: DateTime::from_timestamp_millis(1_700_000_000_000)
                .unwrap_or_else(|| panic!("valid")),
            received_at: DateTime::from_timestamp_millis(1_700_000_000_000)
                .unwrap_or_else(|| panic!("valid")),
            detail: Detail::Error {},
            url: Some("https://shop.example/".into()),
            message: Some(message.into()),
            stack: stack.map(Into::into),
            release: None,
            environment: None,
            user: None,
            tags: BTreeMap::new(),
            session_id: None,
            client: Client::default(),
            level: None,
            exceptions: Vec::new(),
            fingerprint: Vec::new(),
            contexts: serde_json::Map::new(),
            sentry: serde_json::Map::new(),
            processing_errors: Vec::new(),
        }
    }

    fn fp(n: u8) -> Fingerprint {
        Fingerprint([n; 32])
    }

    #[test]
    fn fingerprints_ignore_ids_and_urls_but_not_the_problem() {
        let stack = Some("TypeError: x\n    at render (app.js:10:5)");
        let a = event(1, "x is undefined", stack);
        let mut b = event(1, "x is undefined", stack);
        b.url = Some("https://shop.example/other".into());
        b.release = Some("2.0".into());
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&b));

        assert_ne!(
            Fingerprint::of(&a),
            Fingerprint::of(&event(2, "x is undefined", stack))
        );
        // The same stack is the same issue, whatever the message says (browsers word the
        // same TypeError differently).
        assert_eq!(
            Fingerprint::of(&a),
            Fingerprint::of(&event(1, "y is undefined", stack))
        );
        // Without a stack, the message decides.
        assert_ne!(
            Fingerprint::of(&event(1, "x is undefined", None)),
            Fingerprint::of(&event(1, "payment declined", None))
        );
        assert_ne!(
            Fingerprint::of(&a),
            Fingerprint::of(&event(1, "x is undefined", Some("at main (app.js:1:1)")))
        );
        let mut api = a.clone();
        api.detail = Detail::ApiError {
            target: "/api".into(),
            method: None,
            status: None,
            duration_ms: None,
        };
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&api));
        // Length prefixes: moving text between message and frame changes the fingerprint.
        let moved = event(1, "x", Some("a@b"));
        let other = event(1, "xa", Some("@b"));
        assert_eq!(moved.top_frame(), Some("a@b"));
        assert_ne!(Fingerprint::of(&moved), Fingerprint::of(&other));
    }

    #[tokio::test(start_paused = true)]
    async fn suppresses_within_the_window_only() {
        let mut cooldown = Cooldown::new(Duration::from_secs(60));
        let start = Instant::now();
        assert!(!cooldown.is_cooling(&fp(1), Instant::now()));
        cooldown.record(fp(1), Instant::now());
        assert!(cooldown.is_cooling(&fp(1), Instant::now()));
        assert!(!cooldown.is_cooling(&fp(2), Instant::now()));

        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(cooldown.is_cooling(&fp(1), Instant::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
        assert!(!cooldown.is_cooling(&fp(1), Instant::now()));
        assert!(cooldown.is_empty(), "the expired entry was evicted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_notification_restarts_the_window() {
        let mut cooldown = Cooldown::new(Duration::from_secs(60));
        cooldown.record(fp(1), Instant::now());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!cooldown.is_cooling(&fp(1), Instant::now()));
        cooldown.record(fp(1), Instant::now());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(cooldown.is_cooling(&fp(1), Instant::now()));
        assert_eq!(cooldown.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_evicted() {
        let mut cooldown = Cooldown::new(Duration::from_secs(10));
        for n in 0..100 {
            cooldown.record(fp(n), Instant::now());
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        // Only the last ten seconds' worth remain.
        assert_eq!(cooldown.len(), 10);
        assert!(cooldown.order.len() <= 10);
        assert!(cooldown.is_cooling(&fp(99), Instant::now()));
        assert!(!cooldown.is_cooling(&fp(89), Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_evicts_the_oldest() {
        let mut cooldown = Cooldown::with_capacity(Duration::from_secs(3600), 3);
        for n in 0..5 {
            cooldown.record(fp(n), Instant::now());
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(cooldown.len(), 3);
        assert!(!cooldown.is_cooling(&fp(0), Instant::now()));
        assert!(!cooldown.is_cooling(&fp(1), Instant::now()));
        assert!(cooldown.is_cooling(&fp(2), Instant::now()));
        assert!(cooldown.is_cooling(&fp(4), Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_suppresses_copies_until_released() {
        let mut cooldown = Cooldown::new(Duration::from_secs(60));
        let claim = cooldown.claim(fp(1), Instant::now());
        assert!(claim.is_some());
        assert_eq!(cooldown.claim(fp(1), Instant::now()), None);
        assert!(cooldown.claim(fp(2), Instant::now()).is_some());
        cooldown.release(claim.unwrap_or_else(|| panic!("claimed")));
        assert!(!cooldown.is_cooling(&fp(1), Instant::now()));
        assert!(cooldown.is_cooling(&fp(2), Instant::now()));

        // A stale claim does not release a newer window of the same fingerprint.
        let stale = cooldown.claim(fp(3), Instant::now());
        tokio::time::advance(Duration::from_secs(61)).await;
        let fresh = cooldown.claim(fp(3), Instant::now());
        assert!(stale.is_some() && fresh.is_some());
        cooldown.release(stale.unwrap_or_else(|| panic!("claimed")));
        assert!(cooldown.is_cooling(&fp(3), Instant::now()));
    }

    #[test]
    fn a_zero_window_suppresses_nothing() {
        let mut cooldown = Cooldown::new(Duration::ZERO);
        let now = Instant::now();
        cooldown.record(fp(1), now);
        assert!(!cooldown.is_cooling(&fp(1), now));
        assert!(cooldown.is_empty());
    }
}
