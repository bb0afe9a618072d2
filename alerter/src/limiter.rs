//! How many messages a channel may send: at most N in any window of the vendor's, counted
//! exactly (a sliding log of send times), since a token bucket would let twice the limit
//! through in the first minute, and DingTalk blocks a robot for ten minutes past 20 a minute.

use std::collections::VecDeque;
use std::time::Duration;

use shared::config::{ChannelKind, ChannelSettings};
use tokio::time::Instant;

#[derive(Debug)]
pub struct Limiter {
    /// (window, most sends in it), all of which hold.
    limits: Vec<(Duration, usize)>,
    sent: VecDeque<Instant>,
}

impl Limiter {
    /// The channel's `rate_per_minute`, else its vendor's documented limits.
    pub fn for_channel(channel: &ChannelSettings) -> Self {
        let minute = Duration::from_secs(60);
        let second = Duration::from_secs(1);
        let limits = match channel.rate_per_minute {
            Some(rate) => vec![(minute, rate.get() as usize)],
            None => match channel.kind {
                // Custom robots: 20 a minute; DingTalk blocks the robot for 10 minutes past it.
                ChannelKind::Dingtalk | ChannelKind::Wecom => vec![(minute, 20)],
                // Custom bots: 5 a second and 100 a minute.
                ChannelKind::Feishu => vec![(second, 5), (minute, 100)],
                // Incoming webhooks: about one a second.
                ChannelKind::Slack => vec![(second, 1)],
                // Our own receivers and mail servers set no limit; a burst of these is still
                // noise for the people reading them.
                ChannelKind::Webhook => vec![(second, 10)],
                ChannelKind::Email => vec![(minute, 10)],
            },
        };
        Self::new(limits)
    }

    pub fn new(limits: Vec<(Duration, usize)>) -> Self {
        Self {
            limits,
            sent: VecDeque::new(),
        }
    }

    /// How many could be sent now.
    pub fn available(&mut self, now: Instant) -> usize {
        self.forget_before(now);
        self.limits
            .iter()
            .map(|(window, most)| {
                let recent = self.sent.iter().filter(|at| now - **at < *window).count();
                most.saturating_sub(recent)
            })
            .min()
            .unwrap_or(usize::MAX)
    }

    /// When one more could be sent, if not now.
    pub fn next_slot(&mut self, now: Instant) -> Option<Instant> {
        if self.available(now) > 0 {
            return None;
        }
        self.limits
            .iter()
            .filter_map(|(window, most)| {
                let recent: Vec<&Instant> =
                    self.sent.iter().filter(|at| now - **at < *window).collect();
                // The window frees a slot when its oldest counted send leaves it.
                (recent.len() >= *most).then(|| *recent[recent.len() - most] + *window)
            })
            .max()
    }

    /// Whether less than half of some window's allowance is left: a burst is under way.
    pub fn strained(&mut self, now: Instant) -> bool {
        self.forget_before(now);
        self.limits.iter().any(|(window, most)| {
            let recent = self.sent.iter().filter(|at| now - **at < *window).count();
            (most - recent.min(*most)) * 2 < *most
        })
    }

    pub fn record(&mut self, at: Instant) {
        self.sent.push_back(at);
    }

    fn forget_before(&mut self, now: Instant) {
        let longest = self
            .limits
            .iter()
            .map(|(w, _)| *w)
            .max()
            .unwrap_or_default();
        while self.sent.front().is_some_and(|at| now - *at >= longest) {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut limiter = Limiter::new(vec![(minute, 20)]);
        for n in 0..20 {
            assert_eq!(limiter.available(start), 20 - n);
            limiter.record(start);
        }
        assert_eq!(limiter.available(start), 0);
        assert_eq!(limiter.next_slot(start), Some(start + minute));
        // Half a minute later still nothing: a token bucket would have refilled ten.
        assert_eq!(limiter.available(start + minute / 2), 0);
        assert_eq!(limiter.available(start + minute), 20);
    }

    #[test]
    fn every_window_holds() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut limiter = Limiter::new(vec![(second, 5), (Duration::from_secs(60), 7)]);
        for _ in 0..5 {
            limiter.record(start);
        }
        assert_eq!(limiter.available(start), 0);
        assert_eq!(limiter.next_slot(start), Some(start + second));
        assert_eq!(
            limiter.available(start + second),
            2,
            "the minute's limit now binds"
        );
    }
}
