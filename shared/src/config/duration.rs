//! Durations as the configuration writes them: whole milliseconds (`*_ms`) or seconds
//! (`*_secs`), and [`NonZeroDuration`] for the timeouts and budgets that zero would turn
//! into "fail at once".

use std::num::NonZeroU64;
use std::time::Duration;

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};

/// A duration longer than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NonZeroDuration(Duration);

impl NonZeroDuration {
    /// `None` for zero.
    pub fn new(duration: Duration) -> Option<Self> {
        (!duration.is_zero()).then_some(Self(duration))
    }

    pub const fn from_secs(secs: NonZeroU64) -> Self {
        Self(Duration::from_secs(secs.get()))
    }

    pub const fn from_millis(millis: NonZeroU64) -> Self {
        Self(Duration::from_millis(millis.get()))
    }

    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<NonZeroDuration> for Duration {
    fn from(duration: NonZeroDuration) -> Self {
        duration.0
    }
}

pub(super) fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

pub(super) fn secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

pub(super) fn nonzero_millis<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<NonZeroDuration, D::Error> {
    nonzero(deserializer, "at least 1 millisecond").map(NonZeroDuration::from_millis)
}

pub(super) fn nonzero_secs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<NonZeroDuration, D::Error> {
    nonzero(deserializer, "at least 1 second").map(NonZeroDuration::from_secs)
}

fn nonzero<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: &'static str,
) -> Result<NonZeroU64, D::Error> {
    let count = u64::deserialize(deserializer)?;
    NonZeroU64::new(count)
        .ok_or_else(|| D::Error::invalid_value(Unexpected::Unsigned(0), &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Timeouts {
        #[serde(deserialize_with = "nonzero_millis")]
        timeout_ms: NonZeroDuration,
        #[serde(deserialize_with = "nonzero_secs")]
        budget_secs: NonZeroDuration,
    }

    fn parse(timeout_ms: u64, budget_secs: u64) -> Result<Timeouts, String> {
        serde_json::from_value(serde_json::json!({
            "timeout_ms": timeout_ms,
            "budget_secs": budget_secs,
        }))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn zero_is_refused_naming_the_unit() {
        let err = parse(0, 5).expect_err("zero milliseconds");
        assert!(err.contains("at least 1 millisecond"), "{err}");
        let err = parse(5, 0).expect_err("zero seconds");
        assert!(err.contains("at least 1 second"), "{err}");
    }

    #[test]
    fn one_and_more_are_taken_in_their_unit() {
        let parsed = parse(1, 3600).expect("in range");
        assert_eq!(parsed.timeout_ms.get(), Duration::from_millis(1));
        assert_eq!(parsed.budget_secs.get(), Duration::from_secs(3600));
    }

    #[test]
    fn only_zero_has_no_non_zero_duration() {
        assert_eq!(NonZeroDuration::new(Duration::ZERO), None);
        let nanosecond = NonZeroDuration::new(Duration::from_nanos(1)).expect("not zero");
        assert_eq!(Duration::from(nanosecond), Duration::from_nanos(1));
    }
}
