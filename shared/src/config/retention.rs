use std::num::{NonZeroU16, NonZeroU64};

use serde::Deserialize;

use super::{NonZeroDuration, nonzero_secs};

/// How long stored data is kept, and how often the processor enforces it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days an event is kept after it was received; a project's `retention_days` overrides
    /// it. Whole days' partitions past the longest window are dropped.
    pub events_days: NonZeroU16,
    /// Days the rollup tables keep their buckets.
    pub rollups_days: NonZeroU16,
    /// Days a release's source maps are kept after its last upload, unless the release is
    /// among the project's newest `sourcemaps_keep_releases`; maps without a release, days
    /// after their upload.
    pub sourcemaps_days: NonZeroU16,
    /// A project's newest releases (by last upload) whose maps are kept whatever their age.
    pub sourcemaps_keep_releases: u16,
    /// How often the processor creates partitions ahead and deletes what expired.
    #[serde(rename = "interval_secs", deserialize_with = "nonzero_secs")]
    pub interval: NonZeroDuration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        let days = |n| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
        Self {
            events_days: days(90),
            rollups_days: days(400),
            sourcemaps_days: days(90),
            sourcemaps_keep_releases: 10,
            interval: NonZeroDuration::from_secs(NonZeroU64::new(3600).unwrap_or(NonZeroU64::MIN)),
        }
    }
}
