//! Fixed log-bucketed histograms: a value falls in the bucket `b` whose range is
//! `[MIN·G^(b-1), MIN·G^b)`, `G` = 1.05, bucket 0 holding everything below `MIN`. Buckets
//! are the same everywhere, so histograms of any hours, pages or releases merge by adding
//! their counts, and a percentile read back is the geometric middle of its bucket: within
//! 2.5 % of the value at that rank (docs/analytics.md#error-bounds).
//!
//! A stored bucket also carries the value's rating ([`rated`]): `rating · BUCKETS + b`. The
//! ratings' thresholds rarely fall on a bucket's edge, so a bucket they cross is kept as two,
//! one per rating, and the shares rated good, needs improvement and poor are read exactly
//! from the buckets ([`Histogram::ratings`]) instead of counted apart. As a rating rises with
//! the value, rated buckets sort like the values they hold.

/// Bucket growth: each bucket is 5 % wider than the one before.
pub const GROWTH: f64 = 1.05;
/// Buckets 0 to `BUCKETS - 1`; larger values are counted in the last one.
pub const BUCKETS: i16 = 300;

/// The lower edge of bucket 1 for a metric: 1 ms for times, 0.0001 for layout shift.
pub fn min_for(unitless: bool) -> f64 {
    if unitless { 1e-4 } else { 1.0 }
}

/// The bucket of `value` (negative and NaN values count as 0).
pub fn bucket(value: f64, min: f64) -> i16 {
    if value.is_nan() || value < min {
        return 0;
    }
    let b = ((value / min).ln() / GROWTH.ln()).floor() + 1.0;
    // Float rounding at an edge may put a value one bucket high or low: still within the
    // stated bound, as the middle of either is within 5 % of it.
    if b >= f64::from(BUCKETS - 1) {
        BUCKETS - 1
    } else {
        b as i16
    }
}

/// The stored bucket of a value in `bucket` rated `rating` (0 good, 1 needs improvement,
/// 2 poor).
pub fn rated(bucket: i16, rating: i16) -> i16 {
    rating * BUCKETS + bucket
}

/// The value a (rated) bucket stands for: its geometric middle (0 for bucket 0).
pub fn representative(bucket: i16, min: f64) -> f64 {
    let bucket = bucket.rem_euclid(BUCKETS);
    if bucket <= 0 {
        0.0
    } else {
        min * GROWTH.powf(f64::from(bucket) - 0.5)
    }
}

/// A merged histogram: counts per bucket.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Histogram {
    counts: std::collections::BTreeMap<i16, i64>,
    total: i64,
}

impl Histogram {
    pub fn add(&mut self, bucket: i16, n: i64) {
        *self.counts.entry(bucket).or_default() += n;
        self.total += n;
    }

    /// Adds `other`'s counts: the histogram of both sets of values.
    pub fn merge(&mut self, other: &Histogram) {
        for (&bucket, &n) in &other.counts {
            self.add(bucket, n);
        }
    }

    pub fn count(&self) -> i64 {
        self.total
    }

    /// How many values were rated good, needs improvement and poor.
    pub fn ratings(&self) -> [i64; 3] {
        let mut ratings = [0; 3];
        for (&bucket, &n) in &self.counts {
            let rating = usize::try_from(bucket / BUCKETS).unwrap_or_default();
            if let Some(slot) = ratings.get_mut(rating) {
                *slot += n;
            }
        }
        ratings
    }

    /// The `p` quantile (0 to 1) as `percentile_cont` would rank it: the bucket of the value
    /// at position ⌊p·(n−1)⌋ in order, as its representative. `None` when empty.
    pub fn quantile(&self, p: f64, min: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 1.0) * (self.total - 1) as f64).floor() as i64;
        let mut seen = 0;
        for (&bucket, &n) in &self.counts {
            seen += n;
            if seen > rank {
                return Some(representative(bucket, min));
            }
        }
        self.counts
            .keys()
            .next_back()
            .map(|&b| representative(b, min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_within_its_buckets_bounds_and_the_middle_within_2_5_percent() {
        for min in [1.0, 1e-4] {
            let mut value = min;
            while value < min * 1e5 {
                let b = bucket(value, min);
                let mid = representative(b, min);
                let error = (mid - value).abs() / value;
                assert!(
                    error <= 0.0247,
                    "{value}: bucket {b}, middle {mid}, {error}"
                );
                value *= 1.013;
            }
        }
        assert_eq!(bucket(0.0, 1.0), 0);
        assert_eq!(bucket(-5.0, 1.0), 0);
        assert_eq!(bucket(f64::NAN, 1.0), 0);
        assert_eq!(bucket(f64::INFINITY, 1.0), BUCKETS - 1);
        assert_eq!(bucket(1e300, 1e-4), BUCKETS - 1);
    }

    #[test]
    fn quantiles_rank_like_percentile_cont() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.add(bucket(f64::from(v) * 10.0, 1.0), 1);
        }
        // percentile_cont(0.75) of 10..=1000 is 752.5; the value at rank 74 is 750.
        let p75 = h.quantile(0.75, 1.0).expect("values");
        assert!((p75 / 750.0 - 1.0).abs() < 0.025, "{p75}");
        assert_eq!(Histogram::default().quantile(0.5, 1.0), None);
        // Merging is adding.
        let mut a = Histogram::default();
        a.add(3, 2);
        let mut b = Histogram::default();
        b.add(3, 1);
        b.add(7, 1);
        a.add(7, 1);
        a.add(3, 1);
        assert_eq!(a.count(), 4);
        assert_eq!(a.quantile(1.0, 1.0), Some(representative(7, 1.0)));
    }

    #[test]
    fn rated_buckets_sort_like_their_values_and_count_each_rating() {
        // A threshold inside bucket 20: its values below and above it are two buckets.
        let mut h = Histogram::default();
        h.add(rated(20, 0), 3);
        h.add(rated(20, 1), 1);
        h.add(rated(30, 1), 2);
        h.add(rated(40, 2), 4);
        assert_eq!(h.ratings(), [3, 3, 4]);
        assert_eq!(representative(rated(20, 1), 1.0), representative(20, 1.0));
        assert_eq!(h.quantile(0.0, 1.0), Some(representative(20, 1.0)));
        assert_eq!(h.quantile(0.5, 1.0), Some(representative(30, 1.0)));
        assert_eq!(h.quantile(1.0, 1.0), Some(representative(40, 1.0)));
    }
}
