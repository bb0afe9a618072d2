use serde::Deserialize;

use crate::event::ProjectId;

/// One alert rule: a condition, which events it looks at, where it notifies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    pub name: String,
    pub condition: RuleCondition,
    /// Only these projects; empty: all.
    #[serde(default)]
    pub projects: Vec<ProjectId>,
    /// Only these environments; empty: all.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Only these levels (`fatal`, `error`, `warning`, …); empty: all.
    #[serde(default)]
    pub levels: Vec<String>,
    /// Channel names; empty: every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    /// At most one notification per issue (per project for `spike`) in this window, unless
    /// it escalates. Default: `alerter.cooldown_secs`.
    #[serde(default)]
    pub cooldown_secs: Option<u64>,
    /// `frequency`: events, `users`: distinct users, within `window_secs`.
    #[serde(default)]
    pub threshold: Option<u64>,
    /// `frequency`, `users`, `spike`: the window.
    #[serde(default)]
    pub window_secs: Option<u64>,
    /// `spike`: how many times the trailing average the window's count must reach.
    #[serde(default)]
    pub factor: Option<f64>,
    /// `regression`: only when the event's release is newer than the one the issue was
    /// resolved in.
    #[serde(default)]
    pub newer_release_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleCondition {
    /// The first event of an issue the alerter has not seen before.
    NewIssue,
    /// An event of an issue that was resolved.
    Regression,
    /// At least `threshold` events of one issue within `window_secs`.
    Frequency,
    /// At least `threshold` distinct users of one issue within `window_secs`.
    Users,
    /// A project's error count in `window_secs` reaches `factor` × its trailing average.
    Spike,
}

impl RuleCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleCondition::NewIssue => "new_issue",
            RuleCondition::Regression => "regression",
            RuleCondition::Frequency => "frequency",
            RuleCondition::Users => "users",
            RuleCondition::Spike => "spike",
        }
    }
}
