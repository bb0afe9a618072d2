//! A Prometheus histogram read from a service's `/metrics`: what it recorded between two
//! scrapes, and its percentiles.
//!
//! The collector times every request's publish→confirm (`frontmon_collector_publish_confirm_
//! seconds`); scraped before and after a scenario, it splits the request's latency seen by
//! the load generator into the broker's part and the rest (HTTP, parsing, queueing for a
//! core). Its buckets double (0.25 ms, 0.5 ms, …), so a percentile is interpolated within its
//! bucket, as PromQL's `histogram_quantile` does: within a factor of two, not exact.

/// Cumulative bucket counts: `(upper bound in seconds, observations ≤ it)`, ascending, the
/// last bound `+Inf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// The histogram `name` in Prometheus text (`name_bucket{le="…"}`, `name_sum`,
    /// `name_count`), without other labels; `None` if it is not there.
    pub fn parse(text: &str, name: &str) -> Option<Self> {
        let mut histogram = Histogram::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            if let Some(rest) = rest.strip_prefix("_bucket{le=\"") {
                let (bound, rest) = rest.split_once("\"}")?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                histogram.buckets.push((bound, first_number(rest)? as u64));
            } else if let Some(rest) = rest.strip_prefix("_sum ") {
                histogram.sum = first_number(rest)?;
            } else if let Some(rest) = rest.strip_prefix("_count ") {
                histogram.count = first_number(rest)? as u64;
            }
        }
        if histogram.buckets.is_empty() {
            return None;
        }
        histogram.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(histogram)
    }

    /// What was recorded after `earlier` (a scrape of the same histogram).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(bound, count)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(b, _)| b == bound)
                        .map_or(0, |(_, c)| *c);
                    (*bound, count.saturating_sub(before))
                })
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The `p`th percentile (0..=100) in seconds, interpolated linearly within its bucket;
    /// `None` when empty. In the `+Inf` bucket, the highest finite bound.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = p / 100.0 * total as f64;
        let mut lower = (0.0, 0);
        for &(bound, count) in &self.buckets {
            if count as f64 >= rank {
                if bound.is_infinite() {
                    return Some(lower.0);
                }
                let within = (count - lower.1) as f64;
                let fraction = if within > 0.0 {
                    (rank - lower.1 as f64) / within
                } else {
                    1.0
                };
                return Some(lower.0 + (bound - lower.0) * fraction);
            }
            lower = (bound, count);
        }
        Some(lower.0)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "frontmon_collector_publish_confirm_seconds";

    fn scrape(counts: [u64; 4], sum: f64) -> String {
        format!(
            "# TYPE {NAME} histogram\n\
             {NAME}_sum {sum}\n\
             {NAME}_count {}\n\
             {NAME}_bucket{{le=\"0.001\"}} {}\n\
             {NAME}_bucket{{le=\"0.002\"}} {}\n\
             {NAME}_bucket{{le=\"0.004\"}} {}\n\
             {NAME}_bucket{{le=\"+Inf\"}} {}\n\
             {NAME}_other_bucket{{le=\"1\"}} 99\n",
            counts[3], counts[0], counts[1], counts[2], counts[3]
        )
    }

    #[test]
    fn the_difference_of_two_scrapes_gives_interpolated_percentiles() {
        let before = Histogram::parse(&scrape([10, 10, 10, 10], 0.01), NAME).expect("parsed");
        let after = Histogram::parse(&scrape([60, 110, 110, 110], 0.21), NAME).expect("parsed");
        let run = after.since(&before);
        assert_eq!(run.count, 100);
        // 50 of 100 in the first bucket, 50 in (1 ms, 2 ms].
        let p50 = run.percentile(50.0).expect("some");
        assert!((p50 - 0.001).abs() < 1e-9, "{p50}");
        let p99 = run.percentile(99.0).expect("some");
        assert!((p99 - 0.001_98).abs() < 1e-9, "{p99}");
        let mean = run.mean().expect("some");
        assert!((mean - 0.002).abs() < 1e-9, "{mean}");
    }

    #[test]
    fn the_overflow_bucket_reads_as_the_highest_bound_and_absence_is_none() {
        let histogram = Histogram::parse(&scrape([0, 0, 0, 5], 9.0), NAME).expect("parsed");
        assert_eq!(histogram.percentile(99.0), Some(0.004));
        assert_eq!(Histogram::parse("nothing 1\n", NAME), None);
        assert_eq!(Histogram::default().percentile(50.0), None);
    }
}
