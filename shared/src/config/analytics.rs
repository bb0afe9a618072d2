use serde::Deserialize;

/// The analytics the processor keeps beside the events (`[analytics]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsSettings {
    /// Whether the processor updates the rollup tables (vitals, traffic) in each batch's
    /// transaction. Off, the analytics endpoints answer from whatever rollups exist, and
    /// the drain writes only events and issues (the bench compares the two).
    pub rollups: bool,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self { rollups: true }
    }
}
