//! Percentiles of latencies and the spread of a measurement over rounds.

use std::time::Duration;

/// Recorded latencies, in microseconds: every request is kept (a few hundred thousand `u32`s
/// per scenario), so percentiles are exact rather than bucketed.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.0
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The nearest-rank percentile (`p` in 0..=100): the smallest latency that at least `p`
    /// percent of the requests did not exceed. `None` without any request.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        Some(Duration::from_micros(u64::from(self.0[index])))
    }
}

/// The least, middle and greatest of one measurement over the rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values; the median of an even count is the mean of the middle two.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Self {
            min: values[0],
            median,
            max: values[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latencies(micros: impl IntoIterator<Item = u64>) -> Latencies {
        let mut recorded = Latencies::default();
        for us in micros {
            recorded.record(Duration::from_micros(us));
        }
        recorded
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        // 1..=100 µs, shuffled: p50 is the 50th value, p99 the 99th.
        let mut recorded = latencies((1..=100).rev());
        assert_eq!(recorded.percentile(50.0), Some(Duration::from_micros(50)));
        assert_eq!(recorded.percentile(99.0), Some(Duration::from_micros(99)));
        assert_eq!(recorded.percentile(100.0), Some(Duration::from_micros(100)));
        assert_eq!(recorded.percentile(0.0), Some(Duration::from_micros(1)));
    }

    #[test]
    fn a_few_slow_requests_show_in_p99_not_p50() {
        let mut recorded = latencies((0..990).map(|_| 1_000).chain((0..10).map(|_| 40_000)));
        assert_eq!(recorded.percentile(50.0), Some(Duration::from_millis(1)));
        assert_eq!(recorded.percentile(99.0), Some(Duration::from_millis(1)));
        assert_eq!(recorded.percentile(99.5), Some(Duration::from_millis(40)));
        assert_eq!(Latencies::default().percentile(50.0), None);
    }

    #[test]
    fn spread_has_min_median_max() {
        let spread = Spread::of([3.0, 1.0, 2.0]).expect("values");
        assert_eq!((spread.min, spread.median, spread.max), (1.0, 2.0, 3.0));
        assert_eq!(Spread::of([4.0, 1.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Spread::of([]), None);
    }
}
