//! The Alerts screen's data, beside the pages: what the alerter notified ([`log`], its
//! `notifications` read from its schema), the channels and rules in force (read from the
//! configuration the processor loaded: one file holds every service's sections, so these are
//! the alerter's own), and the alerter's API for a channel's test message ([`client`]).

pub mod client;
pub mod log;

use shared::config::{Condition, Settings};

pub use client::{AlerterApi, AlerterError, TestOutcome};
pub use log::{AlertLog, AlertPage, AlertRow, LogError};

/// A configured channel, as the screen names it: never its URL or secret (credentials).
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub name: String,
    /// `webhook`, `dingtalk`, …
    pub kind: &'static str,
    /// `en` or `zh-CN`.
    pub language: &'static str,
}

/// A rule in force, as the configuration says it.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub name: String,
    /// `new_issue`, `regression`, `frequency`, `users` or `spike`.
    pub condition: &'static str,
    pub threshold: Option<u64>,
    pub window_secs: Option<u64>,
    pub factor: Option<f64>,
    pub newer_release_only: bool,
    /// Empty: every project.
    pub projects: Vec<u32>,
    pub environments: Vec<String>,
    pub levels: Vec<String>,
    /// Empty: every channel.
    pub channels: Vec<String>,
    pub cooldown_secs: u64,
}

/// The alerter's configuration as the screen shows it, and its API.
pub struct AlertSetup {
    pub channels: Vec<ChannelInfo>,
    pub rules: Vec<RuleInfo>,
    /// No `[[alerter.rules]]`: the alerter's defaults are in force (listed in `rules`).
    pub default_rules: bool,
    pub api: AlerterApi,
}

impl AlertSetup {
    pub fn from_settings(settings: &Settings) -> Self {
        let alerter = &settings.alerter;
        let cooldown = alerter.cooldown.as_secs();
        let rules = if alerter.rules.is_empty() {
            // What the alerter runs without rules: new issues and regressions, every channel.
            ["new_issue", "regression"]
                .into_iter()
                .map(|condition| RuleInfo {
                    name: condition.to_owned(),
                    condition,
                    threshold: None,
                    window_secs: None,
                    factor: None,
                    newer_release_only: false,
                    projects: Vec::new(),
                    environments: Vec::new(),
                    levels: Vec::new(),
                    channels: Vec::new(),
                    cooldown_secs: cooldown,
                })
                .collect()
        } else {
            alerter
                .rules
                .iter()
                .map(|rule| {
                    let (threshold, window_secs, factor, newer_release_only) = match rule.condition
                    {
                        Condition::NewIssue => (None, None, None, false),
                        Condition::Regression { newer_release_only } => {
                            (None, None, None, newer_release_only)
                        }
                        Condition::Frequency {
                            threshold,
                            window_secs,
                        }
                        | Condition::Users {
                            threshold,
                            window_secs,
                        } => (Some(threshold.get()), Some(window_secs.get()), None, false),
                        Condition::Spike {
                            window_secs,
                            factor,
                        } => (None, Some(window_secs.get()), Some(factor.get()), false),
                    };
                    RuleInfo {
                        name: rule.name.clone(),
                        condition: rule.condition.kind().as_str(),
                        threshold,
                        window_secs,
                        factor,
                        newer_release_only,
                        projects: rule.projects.iter().map(|p| p.get()).collect(),
                        environments: rule.environments.clone(),
                        levels: rule.levels.clone(),
                        channels: rule.channels.clone(),
                        cooldown_secs: rule.cooldown_secs.unwrap_or(cooldown),
                    }
                })
                .collect()
        };
        Self {
            channels: alerter
                .channels
                .iter()
                .map(|channel| ChannelInfo {
                    name: channel.name.clone(),
                    kind: channel.kind.as_str(),
                    language: channel.language.as_str(),
                })
                .collect(),
            rules,
            default_rules: alerter.rules.is_empty(),
            api: AlerterApi::new(
                settings.processor.alerter_url.clone(),
                settings.processor.admin_token.clone().into(),
            ),
        }
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelInfo> {
        self.channels.iter().find(|channel| channel.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_rules_the_alerters_defaults_are_shown() {
        let settings = Settings::from_toml(
            "[alerter]\ncooldown_secs = 120\n\
             [[alerter.channels]]\nname = \"ding\"\nkind = \"dingtalk\"\n\
             url = \"https://oapi.dingtalk.com/robot/send?access_token=secret-token\"\n\
             language = \"zh-CN\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let setup = AlertSetup::from_settings(&settings);
        assert!(setup.default_rules);
        let names: Vec<&str> = setup.rules.iter().map(|r| r.condition).collect();
        assert_eq!(names, ["new_issue", "regression"]);
        assert!(setup.rules.iter().all(|r| r.cooldown_secs == 120));
        assert_eq!(setup.channels[0].kind, "dingtalk");
        assert_eq!(setup.channels[0].language, "zh-CN");
        // Nothing of the channel's URL reaches the screen.
        assert!(!format!("{:?}", setup.channels).contains("secret-token"));
    }

    #[test]
    fn configured_rules_are_shown_with_their_parameters() {
        let settings = Settings::from_toml(
            "[[alerter.channels]]\nname = \"ops\"\nkind = \"webhook\"\n\
             url = \"https://hooks.example/ops\"\n\
             [[alerter.rules]]\nname = \"busy\"\ncondition = \"frequency\"\n\
             threshold = 100\nwindow_secs = 300\nprojects = [1]\ncooldown_secs = 60\n\
             [[alerter.rules]]\nname = \"surge\"\ncondition = \"spike\"\n\
             window_secs = 600\nfactor = 3.5\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let setup = AlertSetup::from_settings(&settings);
        assert!(!setup.default_rules);
        let busy = &setup.rules[0];
        assert_eq!(
            (busy.condition, busy.threshold, busy.window_secs),
            ("frequency", Some(100), Some(300))
        );
        assert_eq!((busy.projects.clone(), busy.cooldown_secs), (vec![1], 60));
        let surge = &setup.rules[1];
        assert_eq!(
            (surge.condition, surge.window_secs, surge.factor),
            ("spike", Some(600), Some(3.5))
        );
        assert_eq!(surge.cooldown_secs, 300);
    }
}
