//! `[[alerter.rules]]`: one table per rule, its condition's parameters beside the filters
//! (`condition = "frequency"`, `threshold = 100`, `window_secs = 60`). Read flat, then
//! parsed into a [`Condition`] that carries exactly what it needs, so a rule that loads can
//! be evaluated; a parameter its condition needs and lacks fails at start, naming it.
//! A parameter the condition does not use is ignored, as it always was.

use std::num::NonZeroU64;

use serde::Deserialize;

use crate::event::ProjectId;

/// One alert rule: a condition, which events it looks at, where it notifies.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct RuleSettings {
    pub name: String,
    pub condition: Condition,
    /// Only these projects; empty: all.
    pub projects: Vec<ProjectId>,
    /// Only these environments; empty: all.
    pub environments: Vec<String>,
    /// Only these levels (`fatal`, `error`, `warning`, …); empty: all.
    pub levels: Vec<String>,
    /// Channel names; empty: every channel.
    pub channels: Vec<String>,
    /// At most one notification per issue (per project for `spike`) in this window, unless
    /// it escalates. Default: `alerter.cooldown_secs`.
    pub cooldown_secs: Option<u64>,
}

/// What makes a rule fire, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// The first event of an issue the alerter has not seen before.
    NewIssue,
    /// An event of an issue that was resolved; with `newer_release_only`, only when the
    /// event's release is newer than the one the issue was resolved in.
    Regression { newer_release_only: bool },
    /// At least `threshold` events of one issue within `window_secs`.
    Frequency {
        threshold: NonZeroU64,
        window_secs: NonZeroU64,
    },
    /// At least `threshold` distinct users of one issue within `window_secs`.
    Users {
        threshold: NonZeroU64,
        window_secs: NonZeroU64,
    },
    /// A project's error count in `window_secs` reaches `factor` × its trailing average.
    Spike {
        window_secs: NonZeroU64,
        factor: SpikeFactor,
    },
}

impl Condition {
    pub fn kind(&self) -> RuleCondition {
        match self {
            Condition::NewIssue => RuleCondition::NewIssue,
            Condition::Regression { .. } => RuleCondition::Regression,
            Condition::Frequency { .. } => RuleCondition::Frequency,
            Condition::Users { .. } => RuleCondition::Users,
            Condition::Spike { .. } => RuleCondition::Spike,
        }
    }
}

/// A condition by name, as `condition = "…"` spells it and notifications record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleCondition {
    NewIssue,
    Regression,
    Frequency,
    Users,
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

/// How many times its trailing average a spike's count must reach: a finite number above 1
/// (at 1 or below, an ordinary window would be a spike).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct SpikeFactor(f64);

impl SpikeFactor {
    /// `None` unless finite and above 1.
    pub fn new(factor: f64) -> Option<Self> {
        (factor.is_finite() && factor > 1.0).then_some(Self(factor))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// Why a rule's table cannot be used: the key, then what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("{key}: required by condition \"{}\"", condition.as_str())]
    Missing {
        key: &'static str,
        condition: RuleCondition,
    },
    #[error("{key}: must be at least 1")]
    Zero { key: &'static str },
    #[error("factor: {0} is not a number above 1")]
    Factor(f64),
}

/// A rule's table as written: every condition's parameters side by side.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    condition: RuleCondition,
    #[serde(default)]
    projects: Vec<ProjectId>,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    levels: Vec<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    cooldown_secs: Option<u64>,
    #[serde(default)]
    threshold: Option<u64>,
    #[serde(default)]
    window_secs: Option<u64>,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    newer_release_only: bool,
}

impl TryFrom<RawRule> for RuleSettings {
    type Error = RuleError;

    fn try_from(raw: RawRule) -> Result<Self, RuleError> {
        let kind = raw.condition;
        let at_least_one = |key, value: Option<u64>| {
            let value = value.ok_or(RuleError::Missing {
                key,
                condition: kind,
            })?;
            NonZeroU64::new(value).ok_or(RuleError::Zero { key })
        };
        let condition = match kind {
            RuleCondition::NewIssue => Condition::NewIssue,
            RuleCondition::Regression => Condition::Regression {
                newer_release_only: raw.newer_release_only,
            },
            RuleCondition::Frequency => Condition::Frequency {
                threshold: at_least_one("threshold", raw.threshold)?,
                window_secs: at_least_one("window_secs", raw.window_secs)?,
            },
            RuleCondition::Users => Condition::Users {
                threshold: at_least_one("threshold", raw.threshold)?,
                window_secs: at_least_one("window_secs", raw.window_secs)?,
            },
            RuleCondition::Spike => {
                let window_secs = at_least_one("window_secs", raw.window_secs)?;
                let factor = raw.factor.ok_or(RuleError::Missing {
                    key: "factor",
                    condition: kind,
                })?;
                Condition::Spike {
                    window_secs,
                    factor: SpikeFactor::new(factor).ok_or(RuleError::Factor(factor))?,
                }
            }
        };
        Ok(Self {
            name: raw.name,
            condition,
            projects: raw.projects,
            environments: raw.environments,
            levels: raw.levels,
            channels: raw.channels,
            cooldown_secs: raw.cooldown_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(table: serde_json::Value) -> Result<RuleSettings, String> {
        serde_json::from_value(table).map_err(|e| e.to_string())
    }

    fn nonzero(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).expect("not zero")
    }

    #[test]
    fn each_condition_carries_its_parameters() {
        let cases = [
            (
                serde_json::json!({"name": "r", "condition": "new_issue"}),
                Condition::NewIssue,
            ),
            (
                serde_json::json!({"name": "r", "condition": "regression"}),
                Condition::Regression {
                    newer_release_only: false,
                },
            ),
            (
                serde_json::json!({"name": "r", "condition": "regression", "newer_release_only": true}),
                Condition::Regression {
                    newer_release_only: true,
                },
            ),
            (
                serde_json::json!({"name": "r", "condition": "frequency", "threshold": 100, "window_secs": 60}),
                Condition::Frequency {
                    threshold: nonzero(100),
                    window_secs: nonzero(60),
                },
            ),
            (
                serde_json::json!({"name": "r", "condition": "users", "threshold": 1, "window_secs": 1}),
                Condition::Users {
                    threshold: nonzero(1),
                    window_secs: nonzero(1),
                },
            ),
            (
                serde_json::json!({"name": "r", "condition": "spike", "window_secs": 60, "factor": 1.5}),
                Condition::Spike {
                    window_secs: nonzero(60),
                    factor: SpikeFactor::new(1.5).expect("above 1"),
                },
            ),
        ];
        for (table, condition) in cases {
            let parsed = rule(table.clone()).unwrap_or_else(|e| panic!("{table}: {e}"));
            assert_eq!(parsed.condition, condition, "{table}");
            assert_eq!(parsed.condition.kind().as_str(), table["condition"]);
        }
    }

    #[test]
    fn a_missing_or_zero_parameter_is_refused_naming_it() {
        for (table, message) in [
            (
                serde_json::json!({"name": "r", "condition": "frequency", "window_secs": 60}),
                "threshold: required by condition \"frequency\"",
            ),
            (
                serde_json::json!({"name": "r", "condition": "users", "threshold": 5}),
                "window_secs: required by condition \"users\"",
            ),
            (
                serde_json::json!({"name": "r", "condition": "frequency", "threshold": 0, "window_secs": 60}),
                "threshold: must be at least 1",
            ),
            (
                serde_json::json!({"name": "r", "condition": "users", "threshold": 3, "window_secs": 0}),
                "window_secs: must be at least 1",
            ),
            (
                serde_json::json!({"name": "r", "condition": "spike", "factor": 2.0}),
                "window_secs: required by condition \"spike\"",
            ),
            (
                serde_json::json!({"name": "r", "condition": "spike", "window_secs": 60}),
                "factor: required by condition \"spike\"",
            ),
            (
                serde_json::json!({"name": "r", "condition": "spike", "window_secs": 60, "factor": 1.0}),
                "factor: 1 is not a number above 1",
            ),
        ] {
            let err = rule(table.clone()).expect_err("unusable");
            assert!(err.contains(message), "{table}: {err}");
        }
    }

    #[test]
    fn parameters_a_condition_does_not_use_are_ignored() {
        // As before conditions were typed: the commented example in deploy/frontmon.toml
        // gives a new_issue rule a threshold and a window.
        let parsed = rule(serde_json::json!({
            "name": "r", "condition": "new_issue", "threshold": 0, "window_secs": 300,
            "factor": 0.5, "newer_release_only": true,
        }))
        .expect("valid");
        assert_eq!(parsed.condition, Condition::NewIssue);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = rule(serde_json::json!({"name": "r", "condition": "new_issue", "treshold": 3}))
            .expect_err("unknown key");
        assert!(err.contains("treshold"), "{err}");
    }

    #[test]
    fn spike_factors_are_finite_and_above_1() {
        for factor in [1.0, 0.5, -2.0, f64::INFINITY, f64::NAN] {
            assert_eq!(SpikeFactor::new(factor), None, "{factor}");
        }
        assert_eq!(SpikeFactor::new(1.01).map(SpikeFactor::get), Some(1.01));
    }
}
