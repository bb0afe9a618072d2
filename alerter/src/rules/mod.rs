//! The rules engine: which events and issue notices are worth telling someone about, and
//! the noise control that keeps it bearable. Pure and synchronous: no I/O, no clock of its
//! own (`now` is passed in); the caller persists its state and delivers what it decides.
//!
//! Flow: [`Engine::new`] builds one rule per `[[alerter.rules]]` (or the defaults: a
//! `new_issue` and a `regression` rule to every channel). For each input,
//! [`Engine::evaluate`] returns a [`Decision`]: what fires ([`Fired`]) and the state changes
//! that go with it, without making them. The caller makes the notifications durable, writes
//! [`Decision::cooldowns`] through, then calls [`Engine::apply`]; if it fails before that,
//! nothing changed and the input can be evaluated again. Apply each decision before
//! evaluating the next input: a decision is relative to the state it was computed from.
//!
//! Conditions (`Condition`, parsed with their parameters when the configuration loads):
//! - `new_issue`: an `issue.created` notice: the processor stored an issue's first event. The
//!   processor, not the alerter's own grouping, says what is new: it groups errors after
//!   resolving minified frames through source maps, which the alerter does not do.
//! - `regression`: an `issue.regressed` notice; with `newer_release_only`, only when the
//!   release it came back in is newer than the one it was resolved in (`release.rs`), or when
//!   that cannot be told (a release missing or not a version): better a notification too
//!   many than a regression missed.
//! - `frequency`: at least `threshold` events of one issue within `window_secs`.
//! - `users`: at least `threshold` distinct users (`User::key()`, else the client address)
//!   of one issue within `window_secs`; events with neither are not counted.
//! - `spike`: a project's errors in the last `window_secs` reach `factor` × the average per
//!   window over the 12 windows before, and at least [`SPIKE_MIN_COUNT`] (0 → 3 errors is
//!   not an outage). At least one whole earlier window must have been watched (since the
//!   first event the engine saw, or since the restored snapshot's), so a restart does not
//!   compare a busy minute with an empty history.
//!
//! Windows (`window.rs`) are placed by when the collector received each event (never later
//! than `now`), not by when the alerter reads it: a backlog drained after the alerter was
//! down is counted as it happened, instead of looking like a spike. They slide in steps of
//! about a tenth of the window and never count an event older than the window.
//!
//! Filters: a rule looks at events of its `projects`, `environments` and `levels` (an event
//! without a level is `error`; an event without an environment matches only rules that name
//! none). A created notice is matched as the event that created the issue. A regression
//! notice is an issue's, not an event's: it is matched by project and by the issue's level;
//! environments do not apply (an issue spans them).
//!
//! Noise control: per rule and issue (per rule and project for `spike`), at most one
//! notification per cooldown (`cooldown_secs`, default `alerter.cooldown_secs`; 0 turns it
//! off). While cooling down, the rule's matching events are counted; when they exceed
//! [`ESCALATION_FACTOR`] × the count that triggered the notification (1 for `new_issue` and
//! `regression`, the window's count for `frequency` and `spike`, the users counted for
//! `users`), one [`Reason::Escalation`] goes out ("still happening: N more since …"), once
//! per cooldown; the cooldown still ends when it would have. A notice that comes again
//! within the cooldown (the processor may publish one twice) is dropped and not counted.
//! After the cooldown, `frequency`, `users` and `spike` fire again as soon as their
//! condition holds; `new_issue` does not (the processor announces an issue once).
//!
//! Memory is bounded whatever the number of issues: each rule keeps the windows of at most
//! [`ISSUES_PER_RULE`] issues (fewer for `users` rules with a high threshold, so that no rule
//! keeps more than 250,000 users) and [`PROJECTS_PER_RULE`] projects, forgetting the least
//! recently seen, and at most [`COOLDOWNS_PER_RULE`] cooldowns, expired ones dropped first,
//! then the oldest (a forgotten cooldown can send one notification too many, never one too
//! few). The tests measure what is held with `Engine::footprint`.
//!
//! Quiet hours, for the dispatcher: [`breaks_through`]; the schedule itself is
//! [`shared::config::QuietSchedule`], parsed once when the configuration loads.

mod lru;
mod release;
mod snapshot;
mod window;

#[cfg(test)]
mod tests;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use shared::config::{AlerterSettings, Condition, QuietHours, RuleCondition, RuleSettings};
use shared::event::{Event, Level, ProjectId};
use shared::grouping::Grouping;
use shared::notice::IssueNotice;

use self::lru::Lru;
use self::window::{Counter, History, Sampling, Shape, UserWindow, secs, user_hash};

/// Issues whose windows one `frequency` or `users` rule keeps at most.
pub const ISSUES_PER_RULE: usize = 10_000;
/// Projects whose history one `spike` rule keeps at most.
pub const PROJECTS_PER_RULE: usize = 1_000;
/// Cooldowns one rule keeps at most.
pub const COOLDOWNS_PER_RULE: usize = 10_000;
/// Users one `users` rule keeps at most, over all its issues.
const USERS_PER_RULE: u64 = 250_000;
/// How many times the triggering count the events within a cooldown must pass to escalate.
pub const ESCALATION_FACTOR: u64 = 10;
/// The fewest errors in a window that make a spike, whatever the average.
pub const SPIKE_MIN_COUNT: u64 = 10;

/// What the engine looks at.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// An error event, grouped by the alerter.
    Event {
        event: &'a Event,
        grouping: &'a Grouping,
    },
    /// `issue.created`: the processor stored the first event of an issue.
    Created { notice: &'a IssueNotice },
    /// `issue.regressed`; `resolved_release`: the issue's release when it was resolved (from
    /// the earlier `issue.resolved` notice), if known.
    Regressed {
        notice: &'a IssueNotice,
        resolved_release: Option<&'a str>,
    },
}

/// What an input fires, and the state changes that go with it (made by [`Engine::apply`]).
#[derive(Debug, Clone)]
pub struct Decision {
    pub fired: Vec<Fired>,
    cooldowns: Vec<CooldownRecord>,
    observations: Vec<Observation>,
    now: DateTime<Utc>,
    /// The event's place in the windows (seconds), for an event.
    at: Option<i64>,
}

impl Decision {
    /// The cooldown records this decision creates or changes, for the caller to write
    /// through (keyed by rule, project and fingerprint). A record changes on every event
    /// counted during a cooldown; when nothing fired, writing it may be put off and
    /// coalesced: losing such a count in a crash only delays an escalation.
    pub fn cooldowns(&self) -> &[CooldownRecord] {
        &self.cooldowns
    }
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    /// The rule's name.
    pub rule: String,
    #[serde(with = "condition_name")]
    pub condition: RuleCondition,
    /// Channel names.
    pub channels: Vec<String>,
    pub project_id: ProjectId,
    /// The issue's; empty for `spike`.
    pub fingerprint: String,
    pub reason: Reason,
    /// The event's level (`error` when it had none), the issue's for a regression; none for
    /// `spike`, which counts a whole project.
    pub level: Option<Level>,
}

/// Why a notification fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    NewIssue,
    Regression {
        /// The release it came back in.
        release: Option<String>,
    },
    Frequency {
        count: u64,
        window_secs: u64,
    },
    Users {
        /// Estimated from a sample of the users above a threshold of 500.
        count: u64,
        window_secs: u64,
    },
    Spike {
        count: u64,
        /// Errors per window over the preceding windows.
        average: f64,
        window_secs: u64,
    },
    /// Still happening: `more` events since the notification at `since`.
    Escalation {
        more: u64,
        since: DateTime<Utc>,
    },
}

/// A rule's last notification about one issue (one project for `spike`): the cooldown.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CooldownRecord {
    pub rule: String,
    pub project_id: ProjectId,
    /// Empty for `spike`.
    pub fingerprint: String,
    pub notified_at: DateTime<Utc>,
    /// The count that fired the notification.
    pub trigger_count: u64,
    /// Events counted since.
    pub since_count: u64,
    /// Whether the escalation of this cooldown went out.
    pub escalated: bool,
}

/// How much the engine holds, for the tests of its bounds.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    /// Issues with a window, over all rules.
    pub issue_windows: usize,
    /// Projects with a spike history, over all rules.
    pub project_windows: usize,
    /// Cooldowns held (some may have expired and not been dropped yet).
    pub cooldowns: usize,
}

/// Whether a notification goes out during a channel's quiet hours: a new issue of level
/// fatal, when the channel says so.
pub fn breaks_through(quiet: &QuietHours, fired: &Fired) -> bool {
    quiet.fatal_breaks_through
        && fired.reason == Reason::NewIssue
        && fired.level == Some(Level::Fatal)
}

/// The alert rules and their state.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    /// The earliest event time seen (seconds): spike history before it is unknown.
    watched_since: Option<i64>,
    /// The latest event time seen (seconds): windows that ended before it are not
    /// snapshotted.
    latest: Option<i64>,
}

impl Engine {
    /// Rules from the settings; with none configured: `new_issue` + `regression` to every
    /// channel, cooldown `alerter.cooldown`.
    pub fn new(settings: &AlerterSettings) -> Self {
        let channels: Vec<String> = settings.channels.iter().map(|c| c.name.clone()).collect();
        let cooldown = settings.cooldown.as_secs();
        let rules = if settings.rules.is_empty() {
            [RuleCondition::NewIssue, RuleCondition::Regression]
                .into_iter()
                .map(|condition| Rule::default_for(condition, &channels, cooldown))
                .collect()
        } else {
            settings
                .rules
                .iter()
                .map(|rule| Rule::new(rule, &channels, cooldown))
                .collect()
        };
        Self {
            rules,
            watched_since: None,
            latest: None,
        }
    }

    /// The rules' names, in order.
    #[cfg(test)]
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.name.as_str())
    }

    /// What `input` would fire at `now`, and the state changes that go with it, without
    /// making them.
    pub fn evaluate(&self, input: &Input<'_>, now: DateTime<Utc>) -> Decision {
        let mut decision = Decision {
            fired: Vec::new(),
            cooldowns: Vec::new(),
            observations: Vec::new(),
            now,
            at: None,
        };
        match *input {
            Input::Event { event, grouping } => self.evaluate_event(event, grouping, &mut decision),
            Input::Created { notice } => self.evaluate_created(notice, &mut decision),
            Input::Regressed {
                notice,
                resolved_release,
            } => self.evaluate_regression(notice, resolved_release, &mut decision),
        }
        decision
    }

    fn evaluate_event(&self, event: &Event, grouping: &Grouping, decision: &mut Decision) {
        // The collector's clock, capped by ours: a skewed one cannot push windows ahead.
        let at = secs(event.received_at.min(decision.now));
        decision.at = Some(at);
        let watched_since = self.watched_since.map_or(at, |since| since.min(at));
        let level = event.level.unwrap_or(Level::Error);
        let user = event
            .user
            .as_ref()
            .and_then(|user| user.key())
            .map(user_hash)
            .or_else(|| event.client.ip.map(|ip| user_hash(&ip.to_string())));
        let project = event.project_id;
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule
                .filter
                .matches(project, event.environment.as_deref(), level)
            {
                continue;
            }
            let issue = || (project, grouping.fingerprint.clone());
            let hit = match &rule.state {
                // Fired by the processor's `issue.created`; an event only counts towards
                // the escalation of a cooldown.
                State::NewIssue | State::Regression { .. } => None,
                State::Frequency {
                    threshold,
                    window_secs,
                    shape,
                    issues,
                } => {
                    let bucket = shape.bucket(at);
                    let key = issue();
                    let count = issues
                        .get(&key)
                        .map_or(1, |counter| counter.count_with(*shape, bucket));
                    decision.observations.push(Observation::Count {
                        rule: index,
                        issue: key,
                        bucket,
                    });
                    (count >= *threshold).then_some((
                        Reason::Frequency {
                            count,
                            window_secs: *window_secs,
                        },
                        count,
                    ))
                }
                State::Users {
                    window_secs,
                    sampling,
                    issues,
                } => {
                    let window = *window_secs as i64;
                    let key = issue();
                    let kept = match issues.get(&key) {
                        Some(users) => users.count_with(window, *sampling, user, at),
                        None => u64::from(user.is_some_and(|user| sampling.keeps(user))),
                    };
                    if let Some(user) = user.filter(|&user| sampling.keeps(user)) {
                        decision.observations.push(Observation::User {
                            rule: index,
                            issue: key,
                            user,
                            at,
                        });
                    }
                    let count = kept.saturating_mul(sampling.every);
                    (kept >= sampling.needed).then_some((
                        Reason::Users {
                            count,
                            window_secs: *window_secs,
                        },
                        count,
                    ))
                }
                State::Spike {
                    factor,
                    window_secs,
                    shape,
                    projects,
                } => {
                    let bucket = shape.bucket(at);
                    let since = shape.bucket(watched_since);
                    let load = match projects.get(&project) {
                        Some(history) => history.load_with(*shape, bucket, since),
                        None => History::new(*shape, bucket).load_with(*shape, bucket, since),
                    };
                    decision.observations.push(Observation::Load {
                        rule: index,
                        project,
                        bucket,
                    });
                    let spiking = load.current >= SPIKE_MIN_COUNT
                        && load
                            .average
                            .is_some_and(|average| load.current as f64 >= factor * average);
                    spiking.then(|| {
                        (
                            Reason::Spike {
                                count: load.current,
                                average: load.average.unwrap_or_default(),
                                window_secs: *window_secs,
                            },
                            load.current,
                        )
                    })
                }
            };
            // A spike is a project's, not an issue's: no fingerprint, no one level.
            let (fingerprint, level) = match rule.state {
                State::Spike { .. } => ("", None),
                _ => (grouping.fingerprint.as_str(), Some(level)),
            };
            rule.settle(project, fingerprint, hit, level, true, decision);
        }
    }

    fn evaluate_created(&self, notice: &IssueNotice, decision: &mut Decision) {
        let level = Level::parse(&notice.level);
        // The issue's first event's environment: the one a new issue appeared in.
        let environment = notice
            .event
            .as_ref()
            .and_then(|event| event.environment.as_deref());
        for rule in &self.rules {
            if !matches!(rule.state, State::NewIssue)
                || !rule.filter.matches(
                    notice.project_id,
                    environment,
                    level.unwrap_or(Level::Error),
                )
            {
                continue;
            }
            rule.settle(
                notice.project_id,
                &notice.fingerprint,
                Some((Reason::NewIssue, 1)),
                level,
                false,
                decision,
            );
        }
    }

    fn evaluate_regression(
        &self,
        notice: &IssueNotice,
        resolved_release: Option<&str>,
        decision: &mut Decision,
    ) {
        let level = Level::parse(&notice.level);
        for rule in &self.rules {
            let State::Regression { newer_release_only } = rule.state else {
                continue;
            };
            if !rule
                .filter
                .matches_issue(notice.project_id, level.unwrap_or(Level::Error))
            {
                continue;
            }
            let newer = match (notice.last_release.as_deref(), resolved_release) {
                (Some(release), Some(resolved)) => {
                    release::is_newer(release, resolved).unwrap_or(true)
                }
                _ => true,
            };
            let hit = (!newer_release_only || newer).then(|| {
                (
                    Reason::Regression {
                        release: notice.last_release.clone(),
                    },
                    1,
                )
            });
            rule.settle(
                notice.project_id,
                &notice.fingerprint,
                hit,
                level,
                false,
                decision,
            );
        }
    }

    /// Makes the state changes of `decision` (from [`Engine::evaluate`] on this engine).
    pub fn apply(&mut self, decision: Decision) {
        if let Some(at) = decision.at {
            self.watched_since = Some(self.watched_since.map_or(at, |since| since.min(at)));
            self.latest = Some(self.latest.map_or(at, |latest| latest.max(at)));
        }
        for observation in decision.observations {
            match observation {
                Observation::Count {
                    rule,
                    issue,
                    bucket,
                } => {
                    if let Some(State::Frequency { shape, issues, .. }) =
                        self.rules.get_mut(rule).map(|rule| &mut rule.state)
                    {
                        let shape = *shape;
                        issues
                            .touch_or_insert_with(issue, || Counter::new(shape, bucket))
                            .ring
                            .add(bucket);
                    }
                }
                Observation::User {
                    rule,
                    issue,
                    user,
                    at,
                } => {
                    if let Some(State::Users {
                        window_secs,
                        sampling,
                        issues,
                    }) = self.rules.get_mut(rule).map(|rule| &mut rule.state)
                    {
                        issues.touch_or_insert_with(issue, UserWindow::default).add(
                            *window_secs as i64,
                            *sampling,
                            user,
                            at,
                        );
                    }
                }
                Observation::Load {
                    rule,
                    project,
                    bucket,
                } => {
                    if let Some(State::Spike {
                        shape, projects, ..
                    }) = self.rules.get_mut(rule).map(|rule| &mut rule.state)
                    {
                        let shape = *shape;
                        projects
                            .touch_or_insert_with(project, || History::new(shape, bucket))
                            .ring
                            .add(bucket);
                    }
                }
            }
        }
        for record in decision.cooldowns {
            if let Some(rule) = self.rules.iter_mut().find(|rule| rule.name == record.rule) {
                rule.keep_cooldown(record);
            }
        }
        for rule in &mut self.rules {
            rule.drop_expired(decision.now);
        }
    }

    /// Takes back the cooldowns the caller stored (at start): records of rules that no
    /// longer exist are ignored, and of each rule only the [`COOLDOWNS_PER_RULE`] latest.
    pub fn restore_cooldowns(&mut self, mut records: Vec<CooldownRecord>) {
        // Oldest first, so the latest are kept and expire last.
        records.sort_by_key(|record| record.notified_at);
        for record in records {
            if let Some(rule) = self.rules.iter_mut().find(|rule| rule.name == record.rule) {
                rule.cooldowns
                    .put((record.project_id, record.fingerprint.clone()), record);
            }
        }
    }

    /// The windows, for a checkpoint now and then (cooldowns are written through instead).
    /// Windows with nothing left in them are left out.
    pub fn windows_snapshot(&self) -> serde_json::Value {
        snapshot::take(self)
    }

    /// Takes back windows from [`Engine::windows_snapshot`] (at start, replacing what the
    /// engine holds). What does not fit, such as garbage, an older shape, or a rule whose
    /// window changed since, starts empty. Returns how many rules got their windows back.
    pub fn restore_windows(&mut self, snapshot: serde_json::Value) -> usize {
        snapshot::restore(self, snapshot)
    }

    /// How much the engine holds.
    #[cfg(test)]
    pub fn footprint(&self) -> Footprint {
        let mut footprint = Footprint::default();
        for rule in &self.rules {
            footprint.cooldowns += rule.cooldowns.len();
            match &rule.state {
                State::Frequency { issues, .. } => footprint.issue_windows += issues.len(),
                State::Users { issues, .. } => footprint.issue_windows += issues.len(),
                State::Spike { projects, .. } => footprint.project_windows += projects.len(),
                State::NewIssue | State::Regression { .. } => {}
            }
        }
        footprint
    }
}

/// A window change an event makes, by rule index.
#[derive(Debug, Clone)]
enum Observation {
    Count {
        rule: usize,
        issue: IssueKey,
        bucket: i64,
    },
    User {
        rule: usize,
        issue: IssueKey,
        user: u64,
        at: i64,
    },
    Load {
        rule: usize,
        project: ProjectId,
        bucket: i64,
    },
}

/// An issue: its project and fingerprint. The cooldowns of `spike` use an empty fingerprint.
type IssueKey = (ProjectId, String);

#[derive(Debug)]
struct Rule {
    name: String,
    filter: Filter,
    channels: Vec<String>,
    cooldown: TimeDelta,
    cooldowns: Lru<IssueKey, CooldownRecord>,
    state: State,
}

/// A rule's condition and the windows it needs.
#[derive(Debug)]
enum State {
    NewIssue,
    Regression {
        newer_release_only: bool,
    },
    Frequency {
        threshold: u64,
        window_secs: u64,
        shape: Shape,
        issues: Lru<IssueKey, Counter>,
    },
    Users {
        window_secs: u64,
        sampling: Sampling,
        issues: Lru<IssueKey, UserWindow>,
    },
    Spike {
        factor: f64,
        window_secs: u64,
        shape: Shape,
        projects: Lru<ProjectId, History>,
    },
}

impl Rule {
    fn new(settings: &RuleSettings, channels: &[String], default_cooldown: u64) -> Self {
        let state = match settings.condition {
            Condition::NewIssue => State::NewIssue,
            Condition::Regression { newer_release_only } => {
                State::Regression { newer_release_only }
            }
            Condition::Frequency {
                threshold,
                window_secs,
            } => State::Frequency {
                threshold: threshold.get(),
                window_secs: window_secs.get(),
                shape: Shape::new(window_secs),
                issues: Lru::new(ISSUES_PER_RULE),
            },
            Condition::Users {
                threshold,
                window_secs,
            } => {
                let sampling = Sampling::new(threshold);
                let issues = (USERS_PER_RULE / sampling.needed).clamp(1, ISSUES_PER_RULE as u64);
                State::Users {
                    window_secs: window_secs.get(),
                    sampling,
                    issues: Lru::new(issues as usize),
                }
            }
            Condition::Spike {
                window_secs,
                factor,
            } => State::Spike {
                factor: factor.get(),
                window_secs: window_secs.get(),
                shape: Shape::new(window_secs),
                projects: Lru::new(PROJECTS_PER_RULE),
            },
        };
        let channels = if settings.channels.is_empty() {
            channels.to_vec()
        } else {
            settings.channels.clone()
        };
        Self {
            name: settings.name.clone(),
            filter: Filter::new(settings),
            channels,
            cooldown: cooldown(settings.cooldown_secs.unwrap_or(default_cooldown)),
            cooldowns: Lru::new(COOLDOWNS_PER_RULE),
            state,
        }
    }

    /// The rules that apply when none are configured, named after their condition: every
    /// event, every channel.
    fn default_for(condition: RuleCondition, channels: &[String], cooldown_secs: u64) -> Self {
        Self {
            name: condition.as_str().to_owned(),
            filter: Filter {
                projects: Vec::new(),
                environments: Vec::new(),
                levels: None,
            },
            channels: channels.to_vec(),
            cooldown: cooldown(cooldown_secs),
            cooldowns: Lru::new(COOLDOWNS_PER_RULE),
            state: match condition {
                RuleCondition::Regression => State::Regression {
                    newer_release_only: false,
                },
                _ => State::NewIssue,
            },
        }
    }

    /// The cooldown of `key` if it is still running at `now`.
    fn cooling(&self, key: &IssueKey, now: DateTime<Utc>) -> Option<&CooldownRecord> {
        self.cooldowns
            .get(key)
            .filter(|record| now < record.notified_at + self.cooldown)
    }

    /// Turns a condition's outcome into notifications, through the cooldown. `counts`: the
    /// input is an event, which counts towards an escalation during a cooldown.
    fn settle(
        &self,
        project_id: ProjectId,
        fingerprint: &str,
        hit: Option<(Reason, u64)>,
        level: Option<Level>,
        counts: bool,
        decision: &mut Decision,
    ) {
        let key = (project_id, fingerprint.to_owned());
        let fire = |reason| Fired {
            rule: self.name.clone(),
            condition: self.condition(),
            channels: self.channels.clone(),
            project_id,
            fingerprint: fingerprint.to_owned(),
            reason,
            level,
        };
        match self.cooling(&key, decision.now) {
            Some(record) => {
                if !counts {
                    return;
                }
                let mut record = record.clone();
                record.since_count = record.since_count.saturating_add(1);
                if !record.escalated
                    && record.since_count > record.trigger_count.saturating_mul(ESCALATION_FACTOR)
                {
                    record.escalated = true;
                    decision.fired.push(fire(Reason::Escalation {
                        more: record.since_count,
                        since: record.notified_at,
                    }));
                }
                decision.cooldowns.push(record);
            }
            None => {
                let Some((reason, trigger_count)) = hit else {
                    return;
                };
                decision.fired.push(fire(reason));
                if self.cooldown > TimeDelta::zero() {
                    decision.cooldowns.push(CooldownRecord {
                        rule: self.name.clone(),
                        project_id,
                        fingerprint: fingerprint.to_owned(),
                        notified_at: decision.now,
                        trigger_count: trigger_count.max(1),
                        since_count: 0,
                        escalated: false,
                    });
                }
            }
        }
    }

    fn condition(&self) -> RuleCondition {
        match self.state {
            State::NewIssue => RuleCondition::NewIssue,
            State::Regression { .. } => RuleCondition::Regression,
            State::Frequency { .. } => RuleCondition::Frequency,
            State::Users { .. } => RuleCondition::Users,
            State::Spike { .. } => RuleCondition::Spike,
        }
    }

    fn keep_cooldown(&mut self, record: CooldownRecord) {
        let key = (record.project_id, record.fingerprint.clone());
        match self.cooldowns.get_mut(&key) {
            // A count during the cooldown: the record keeps its place (by notification
            // time), so the oldest notification is always the first to go.
            Some(held) if held.notified_at == record.notified_at => *held = record,
            _ => self.cooldowns.put(key, record),
        }
    }

    /// Drops the cooldowns that ended: they are the oldest notified, first in line.
    fn drop_expired(&mut self, now: DateTime<Utc>) {
        while let Some((_, record)) = self.cooldowns.oldest() {
            if now < record.notified_at + self.cooldown {
                break;
            }
            self.cooldowns.pop_oldest();
        }
    }
}

fn cooldown(secs: u64) -> TimeDelta {
    // Beyond about 292 billion years TimeDelta has no room; a century is forever here.
    TimeDelta::try_seconds(secs.min(100 * 366 * 86_400) as i64).unwrap_or(TimeDelta::MAX)
}

/// Which events a rule looks at.
#[derive(Debug)]
struct Filter {
    projects: Vec<ProjectId>,
    environments: Vec<String>,
    /// `None`: every level. Names that are not a level match nothing (so a typo narrows
    /// the rule instead of widening it to every level).
    levels: Option<Vec<Level>>,
}

impl Filter {
    fn new(settings: &RuleSettings) -> Self {
        Self {
            projects: settings.projects.clone(),
            environments: settings.environments.clone(),
            levels: (!settings.levels.is_empty()).then(|| {
                settings
                    .levels
                    .iter()
                    .filter_map(|level| Level::parse(level))
                    .collect()
            }),
        }
    }

    fn matches(&self, project: ProjectId, environment: Option<&str>, level: Level) -> bool {
        self.matches_issue(project, level)
            && (self.environments.is_empty()
                || environment.is_some_and(|env| self.environments.iter().any(|e| e == env)))
    }

    fn matches_issue(&self, project: ProjectId, level: Level) -> bool {
        (self.projects.is_empty() || self.projects.contains(&project))
            && self
                .levels
                .as_ref()
                .is_none_or(|levels| levels.contains(&level))
    }
}

/// `RuleCondition` as its configuration name (the config type only deserializes).
mod condition_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use shared::config::RuleCondition;

    pub(super) fn serialize<S: Serializer>(
        condition: &RuleCondition,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(condition.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RuleCondition, D::Error> {
        RuleCondition::deserialize(deserializer)
    }
}
