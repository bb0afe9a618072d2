//! The engine as the alerter drives it: evaluate, apply, persist, restart.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;
use shared::event::{Detail, EventId, User};
use shared::notice::NoticeKind;
use uuid::Uuid;

use super::*;

/// 2024-06-01T12:00:00Z plus `secs`: a whole hour, so windows of 60 s start at offsets
/// 0, 60, 120, … and their 6 s buckets at multiples of 6.
fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_717_243_200 + secs, 0).expect("valid time")
}

fn project(id: u32) -> ProjectId {
    ProjectId::new(id).expect("non-zero")
}

/// Two channels, `ops` and `chat`, a cooldown of 300 s, and `rules`.
fn settings(rules: serde_json::Value) -> AlerterSettings {
    serde_json::from_value(json!({
        "cooldown_secs": 300,
        "channels": [
            {"name": "ops", "kind": "webhook", "url": "https://hooks.example/ops"},
            {"name": "chat", "kind": "slack", "url": "https://hooks.example/chat"},
        ],
        "rules": rules,
    }))
    .expect("valid alerter settings")
}

fn rules_engine(rules: serde_json::Value) -> Engine {
    Engine::new(&settings(rules))
}

fn grouping(fingerprint: &str) -> Grouping {
    Grouping {
        fingerprint: fingerprint.into(),
        version: 1,
        title: "TypeError: cart is undefined".into(),
        culprit: None,
        components: Vec::new(),
    }
}

/// An error of project 1 received at `secs`.
fn error(secs: i64) -> Event {
    error_of(1, secs)
}

fn error_of(project_id: u32, secs: i64) -> Event {
    Event::new(
        EventId::new_random(),
        project(project_id),
        at(secs),
        at(secs),
        Detail::Error {},
    )
}

fn by_user(mut event: Event, id: &str) -> Event {
    event.user = Some(User {
        id: Some(id.into()),
        ..User::default()
    });
    event
}

fn regressed(fingerprint: &str, level: &str, release: Option<&str>) -> IssueNotice {
    IssueNotice {
        notice_id: Uuid::new_v4(),
        kind: NoticeKind::Regressed,
        at: at(0),
        project_id: project(1),
        issue_id: 7,
        grouping_version: 1,
        fingerprint: fingerprint.into(),
        title: "TypeError: cart is undefined".into(),
        culprit: None,
        level: level.into(),
        count: 12,
        user_count: 3,
        first_seen: at(-86_400),
        last_seen: at(0),
        last_release: release.map(str::to_owned),
        event: None,
    }
}

/// The processor's `issue.created` for `event`, grouped as `fingerprint`.
fn created(event: &Event, fingerprint: &str) -> IssueNotice {
    shared::testing::created_notice(event, &grouping(fingerprint))
}

/// Evaluates and applies, as the alerter does once the notifications are durable.
fn step(engine: &mut Engine, input: Input<'_>, now: DateTime<Utc>) -> Decision {
    let decision = engine.evaluate(&input, now);
    engine.apply(decision.clone());
    decision
}

/// An event of `fingerprint`, received and evaluated at its own time; `is_new`: the first of
/// its issue, which the processor then announces (`issue.created`), as the alerter sees it.
fn send(engine: &mut Engine, event: &Event, fingerprint: &str, is_new: bool) -> Vec<Fired> {
    let grouping = grouping(fingerprint);
    let input = Input::Event {
        event,
        grouping: &grouping,
    };
    let mut fired = step(engine, input, event.received_at).fired;
    if is_new {
        let notice = created(event, fingerprint);
        fired.extend(
            step(
                engine,
                Input::Created { notice: &notice },
                event.received_at,
            )
            .fired,
        );
    }
    fired
}

fn notice(
    engine: &mut Engine,
    notice: &IssueNotice,
    resolved_release: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<Fired> {
    let input = Input::Regressed {
        notice,
        resolved_release,
    };
    step(engine, input, now).fired
}

fn reasons(fired: &[Fired]) -> Vec<&Reason> {
    fired.iter().map(|fired| &fired.reason).collect()
}

#[test]
fn default_rules_notify_new_issues_and_regressions_to_every_channel() {
    let mut engine = rules_engine(json!([]));
    assert_eq!(
        engine.rule_names().collect::<Vec<_>>(),
        ["new_issue", "regression"]
    );

    let fired = send(&mut engine, &error(0), "aaaa", true);
    assert_eq!(
        fired,
        [Fired {
            rule: "new_issue".into(),
            condition: RuleCondition::NewIssue,
            channels: vec!["ops".into(), "chat".into()],
            project_id: project(1),
            fingerprint: "aaaa".into(),
            reason: Reason::NewIssue,
            level: Some(Level::Error),
        }]
    );
    // Seen before: not new.
    assert!(send(&mut engine, &error(1), "aaaa", false).is_empty());

    let fired = notice(
        &mut engine,
        &regressed("bbbb", "fatal", Some("1.2.0")),
        None,
        at(2),
    );
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].rule, "regression");
    assert_eq!(fired[0].condition, RuleCondition::Regression);
    assert_eq!(fired[0].fingerprint, "bbbb");
    assert_eq!(fired[0].level, Some(Level::Fatal));
    assert_eq!(
        fired[0].reason,
        Reason::Regression {
            release: Some("1.2.0".into())
        }
    );
    assert_eq!(fired[0].channels, ["ops", "chat"]);
}

#[test]
fn new_issue_fires_once_per_fingerprint() {
    let mut engine = rules_engine(json!([{"name": "new", "condition": "new_issue"}]));
    assert_eq!(send(&mut engine, &error(0), "a", true).len(), 1);
    assert_eq!(send(&mut engine, &error(1), "b", true).len(), 1);
    // Long after the cooldown, the fingerprint is known: nothing.
    assert!(send(&mut engine, &error(10_000), "a", false).is_empty());
}

#[test]
fn a_new_issue_is_the_processors_word_not_the_alerters_grouping() {
    let mut engine = rules_engine(json!([{"name": "new", "condition": "new_issue"}]));
    // The alerter groups a minified error by its minified frames: never new by itself.
    let event = error(0);
    assert!(send(&mut engine, &event, "minified", false).is_empty());
    // The processor resolved its frames and created the issue under its own fingerprint.
    let notice = created(&event, "resolved");
    let fired = step(&mut engine, Input::Created { notice: &notice }, at(1)).fired;
    assert_eq!(reasons(&fired), [&Reason::NewIssue]);
    assert_eq!(fired[0].fingerprint, "resolved");
    // The outbox may publish a notice twice: the copy neither fires nor counts.
    let copy = engine.evaluate(&Input::Created { notice: &notice }, at(2));
    assert!(copy.fired.is_empty());
    assert!(copy.cooldowns().is_empty());
}

#[test]
fn a_rule_notifies_its_own_channels() {
    let mut engine = rules_engine(json!([
        {"name": "new", "condition": "new_issue", "channels": ["chat"]},
    ]));
    let fired = send(&mut engine, &error(0), "a", true);
    assert_eq!(fired[0].channels, ["chat"]);
}

#[test]
fn regressions_in_newer_releases_only() {
    let mut engine = rules_engine(json!([
        {"name": "newer", "condition": "regression", "newer_release_only": true, "cooldown_secs": 0},
    ]));
    let cases = [
        (Some("shop@1.10.0"), Some("shop@1.9.2"), true),
        (Some("1.2.1"), Some("1.2.0"), true),
        (Some("1.2.0"), Some("1.2.0"), false),
        (Some("1.1.9"), Some("1.2.0"), false),
        (Some("1.0.0-rc.1"), Some("1.0.0"), false),
        // What cannot be told fires: a regression missed is worse than one too many.
        (None, Some("1.2.0"), true),
        (Some("1.2.0"), None, true),
        (Some("1f3c9a2"), Some("1.0.0"), true),
        (Some("web@2.0.0"), Some("shop@3.0.0"), true),
    ];
    for (i, (release, resolved, fires)) in cases.into_iter().enumerate() {
        let fired = notice(
            &mut engine,
            &regressed(&format!("issue-{i}"), "error", release),
            resolved,
            at(i as i64),
        );
        assert_eq!(
            fired.len(),
            usize::from(fires),
            "{release:?} after {resolved:?}"
        );
    }

    // Without the option an older release fires too.
    let mut engine = engine_any_regression();
    let fired = notice(
        &mut engine,
        &regressed("x", "error", Some("1.1.0")),
        Some("1.2.0"),
        at(0),
    );
    assert_eq!(fired.len(), 1);
}

fn engine_any_regression() -> Engine {
    rules_engine(json!([{"name": "any", "condition": "regression"}]))
}

#[test]
fn a_regression_announced_twice_is_notified_once() {
    let mut engine = engine_any_regression();
    let twice = regressed("x", "error", Some("1.2.0"));
    let first = engine.evaluate(
        &Input::Regressed {
            notice: &twice,
            resolved_release: None,
        },
        at(0),
    );
    assert_eq!(first.fired.len(), 1);
    assert_eq!(first.cooldowns().len(), 1);
    engine.apply(first);
    let again = engine.evaluate(
        &Input::Regressed {
            notice: &twice,
            resolved_release: None,
        },
        at(1),
    );
    // Neither a notification nor a count towards an escalation.
    assert!(again.fired.is_empty());
    assert!(again.cooldowns().is_empty());
    // Events of the issue do count towards its escalation.
    let counted = engine.evaluate(
        &Input::Event {
            event: &error(2),
            grouping: &grouping("x"),
        },
        at(2),
    );
    assert_eq!(counted.cooldowns()[0].since_count, 1);
}

#[test]
fn frequency_fires_at_the_threshold_within_the_window() {
    let rules = json!([
        {"name": "busy", "condition": "frequency", "threshold": 3, "window_secs": 60, "cooldown_secs": 0},
    ]);
    let mut engine = rules_engine(rules.clone());
    assert!(send(&mut engine, &error(0), "a", false).is_empty());
    assert!(send(&mut engine, &error(30), "a", false).is_empty());
    // Another issue does not add up with this one.
    assert!(send(&mut engine, &error(40), "b", false).is_empty());
    let fired = send(&mut engine, &error(59), "a", false);
    assert_eq!(
        reasons(&fired),
        [&Reason::Frequency {
            count: 3,
            window_secs: 60
        }]
    );
    assert_eq!(fired[0].condition, RuleCondition::Frequency);
    assert_eq!(fired[0].fingerprint, "a");

    // Three events spanning the whole window (0, 30, 60 s) are not three within it.
    let mut engine = rules_engine(rules);
    assert!(send(&mut engine, &error(0), "a", false).is_empty());
    assert!(send(&mut engine, &error(30), "a", false).is_empty());
    assert!(send(&mut engine, &error(60), "a", false).is_empty());
    // But 30, 60 and 61 are.
    assert_eq!(send(&mut engine, &error(61), "a", false).len(), 1);
}

#[test]
fn users_fires_at_the_threshold_of_distinct_users() {
    let rules = json!([
        {"name": "many", "condition": "users", "threshold": 3, "window_secs": 60, "cooldown_secs": 0},
    ]);
    let mut engine = rules_engine(rules.clone());
    // One user, many times: one user.
    for secs in 0..10 {
        assert!(send(&mut engine, &by_user(error(secs), "ann"), "a", false).is_empty());
    }
    // An event with neither a user nor an address counts nobody.
    assert!(send(&mut engine, &error(11), "a", false).is_empty());
    assert!(send(&mut engine, &by_user(error(12), "bob"), "a", false).is_empty());
    // Without a user key, the client address stands for the user.
    let mut anonymous = error(13);
    anonymous.client.ip = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
    let fired = send(&mut engine, &anonymous, "a", false);
    assert_eq!(
        reasons(&fired),
        [&Reason::Users {
            count: 3,
            window_secs: 60
        }]
    );

    // Users seen 60 s apart are not within one window of 60 s.
    let mut engine = rules_engine(rules);
    assert!(send(&mut engine, &by_user(error(0), "ann"), "a", false).is_empty());
    assert!(send(&mut engine, &by_user(error(30), "bob"), "a", false).is_empty());
    assert!(send(&mut engine, &by_user(error(60), "cyd"), "a", false).is_empty());
    assert_eq!(
        send(&mut engine, &by_user(error(61), "dan"), "a", false).len(),
        1
    );
}

#[test]
fn filters_pick_projects_environments_and_levels() {
    let mut engine = rules_engine(json!([
        {"name": "prod-fatal", "condition": "new_issue", "projects": [2],
         "environments": ["production"], "levels": ["fatal"]},
        {"name": "errors", "condition": "new_issue", "levels": ["error"]},
        {"name": "typo", "condition": "new_issue", "levels": ["severe"]},
    ]));
    let fired_rules = |engine: &mut Engine, event: Event| {
        send(engine, &event, &Uuid::new_v4().to_string(), true)
            .into_iter()
            .map(|fired| fired.rule)
            .collect::<Vec<_>>()
    };
    let event = |project: u32, environment: Option<&str>, level: Option<Level>| {
        let mut event = error_of(project, 0);
        event.environment = environment.map(str::to_owned);
        event.level = level;
        event
    };
    assert_eq!(
        fired_rules(
            &mut engine,
            event(2, Some("production"), Some(Level::Fatal))
        ),
        ["prod-fatal"]
    );
    // Another project, environment, no environment, or level: not that rule.
    for other in [
        event(1, Some("production"), Some(Level::Fatal)),
        event(2, Some("staging"), Some(Level::Fatal)),
        event(2, None, Some(Level::Fatal)),
        event(2, Some("production"), Some(Level::Warning)),
    ] {
        assert!(!fired_rules(&mut engine, other).contains(&"prod-fatal".to_owned()));
    }
    // No level is `error`.
    assert_eq!(
        fired_rules(&mut engine, event(2, Some("production"), None)),
        ["errors"]
    );
    assert!(fired_rules(&mut engine, event(1, None, Some(Level::Warning))).is_empty());

    // Regressions: by project and the issue's level; environments do not apply.
    let mut engine = rules_engine(json!([
        {"name": "prod-fatal", "condition": "regression", "projects": [1],
         "environments": ["production"], "levels": ["fatal"]},
    ]));
    assert!(notice(&mut engine, &regressed("a", "error", None), None, at(0)).is_empty());
    assert_eq!(
        notice(&mut engine, &regressed("b", "fatal", None), None, at(0)).len(),
        1
    );
    let mut elsewhere = regressed("c", "fatal", None);
    elsewhere.project_id = project(2);
    assert!(notice(&mut engine, &elsewhere, None, at(0)).is_empty());
}

#[test]
fn five_hundred_events_within_a_cooldown_notify_once_and_escalate_once() {
    let mut engine = rules_engine(json!([]));
    let mut fired = Vec::new();
    let mut escalated_at = None;
    for i in 0..500 {
        // One event every half second: 250 s, within the 300 s cooldown.
        let mut event = error(0);
        event.received_at = at(0) + TimeDelta::milliseconds(500 * i);
        if i == 0 {
            fired.extend(send(&mut engine, &event, "hot", true));
            continue;
        }
        let now = event.received_at;
        let grouping = grouping("hot");
        let decision = engine.evaluate(
            &Input::Event {
                event: &event,
                grouping: &grouping,
            },
            now,
        );
        if decision
            .fired
            .iter()
            .any(|f| matches!(f.reason, Reason::Escalation { .. }))
        {
            escalated_at = Some(i);
            assert!(decision.cooldowns()[0].escalated);
        }
        fired.extend(decision.fired.clone());
        engine.apply(decision);
    }
    assert_eq!(
        reasons(&fired),
        [
            &Reason::NewIssue,
            // More than 10 × the one event that triggered it.
            &Reason::Escalation {
                more: 11,
                since: at(0)
            },
        ]
    );
    assert_eq!(escalated_at, Some(11));
    assert_eq!(fired[1].rule, "new_issue");
    assert_eq!(fired[1].fingerprint, "hot");
}

#[test]
fn frequency_fires_again_after_the_cooldown() {
    let mut engine = rules_engine(json!([
        {"name": "busy", "condition": "frequency", "threshold": 5, "window_secs": 60, "cooldown_secs": 300},
    ]));
    let mut fired_at = Vec::new();
    // Six events a minute, steadily: fewer than 50 (10 × 5) within a cooldown, so no
    // escalation; the condition holds all along.
    for secs in (0..=650).step_by(10) {
        let fired = send(&mut engine, &error(secs), "a", false);
        fired_at.extend(fired.iter().map(|fired| (secs, fired.reason.clone())));
    }
    assert_eq!(
        fired_at,
        [
            (
                40,
                Reason::Frequency {
                    count: 5,
                    window_secs: 60
                }
            ),
            (
                340,
                Reason::Frequency {
                    count: 6,
                    window_secs: 60
                }
            ),
            (
                640,
                Reason::Frequency {
                    count: 6,
                    window_secs: 60
                }
            ),
        ]
    );
}

#[test]
fn one_escalation_per_cooldown() {
    let mut engine = rules_engine(json!([
        {"name": "busy", "condition": "frequency", "threshold": 2, "window_secs": 60, "cooldown_secs": 100},
    ]));
    let mut fired = Vec::new();
    for secs in 0..=250 {
        fired.extend(
            send(&mut engine, &error(secs), "a", false)
                .into_iter()
                .map(|f| (secs, f.reason)),
        );
    }
    assert_eq!(
        fired,
        [
            (
                1,
                Reason::Frequency {
                    count: 2,
                    window_secs: 60
                }
            ),
            // More than 10 × 2 events since.
            (
                22,
                Reason::Escalation {
                    more: 21,
                    since: at(1)
                }
            ),
            // A new cooldown; it fired on 60 events, so escalating would take 601 more.
            (
                101,
                Reason::Frequency {
                    count: 60,
                    window_secs: 60
                }
            ),
            // The window slides by buckets of 6 s: at 201 s it holds 144..=201 s.
            (
                201,
                Reason::Frequency {
                    count: 58,
                    window_secs: 60
                }
            ),
        ]
    );
}

/// What the caller's table of cooldowns holds: the latest record per key.
type Table = HashMap<(String, ProjectId, String), CooldownRecord>;

fn write_through(table: &mut Table, decision: &Decision) {
    for record in decision.cooldowns() {
        table.insert(
            (
                record.rule.clone(),
                record.project_id,
                record.fingerprint.clone(),
            ),
            record.clone(),
        );
    }
}

#[test]
fn a_restart_mid_cooldown_does_not_notify_again() {
    let rules = json!([
        {"name": "new", "condition": "new_issue"},
        {"name": "busy", "condition": "frequency", "threshold": 3, "window_secs": 60},
    ]);
    let mut table = Table::new();
    let mut before = rules_engine(rules.clone());
    let mut fired = Vec::new();
    for secs in 0..5 {
        let event = error(secs);
        let grouping = grouping("a");
        let decision = step(
            &mut before,
            Input::Event {
                event: &event,
                grouping: &grouping,
            },
            at(secs),
        );
        write_through(&mut table, &decision);
        fired.extend(decision.fired);
        if secs == 0 {
            let notice = created(&event, "a");
            let decision = step(&mut before, Input::Created { notice: &notice }, at(secs));
            write_through(&mut table, &decision);
            fired.extend(decision.fired);
        }
    }
    assert_eq!(
        reasons(&fired),
        [
            &Reason::NewIssue,
            &Reason::Frequency {
                count: 3,
                window_secs: 60
            }
        ]
    );
    let checkpoint = before.windows_snapshot();
    drop(before);

    // The restarted alerter takes its cooldowns and windows back; the caller's table of
    // seen fingerprints says the issue is not new.
    let mut after = rules_engine(rules);
    after.restore_cooldowns(table.values().cloned().collect());
    assert_eq!(after.restore_windows(checkpoint), 1);
    let mut fired = Vec::new();
    for secs in 5..30 {
        fired.extend(send(&mut after, &error(secs), "a", false));
    }
    // No repeat: only the escalation of the new issue, whose count went on from the 4 events
    // before the restart (11 more since its notification, > 10 × 1).
    assert_eq!(
        fired
            .iter()
            .map(|f| (f.rule.as_str(), &f.reason))
            .collect::<Vec<_>>(),
        [(
            "new",
            &Reason::Escalation {
                more: 11,
                since: at(0)
            }
        )]
    );

    // Without the cooldowns, the same events would have notified again.
    let mut forgetful = rules_engine(json!([
        {"name": "busy", "condition": "frequency", "threshold": 3, "window_secs": 60},
    ]));
    let fired: Vec<_> = (5..10)
        .flat_map(|secs| send(&mut forgetful, &error(secs), "a", false))
        .collect();
    assert_eq!(fired.len(), 1);
}

#[test]
fn restored_cooldowns_of_other_rules_or_past_are_dropped() {
    let mut engine = rules_engine(json!([
        {"name": "busy", "condition": "frequency", "threshold": 1, "window_secs": 60},
    ]));
    let record = |rule: &str, fingerprint: &str, secs: i64| CooldownRecord {
        rule: rule.into(),
        project_id: project(1),
        fingerprint: fingerprint.into(),
        notified_at: at(secs),
        trigger_count: 1,
        since_count: 0,
        escalated: false,
    };
    engine.restore_cooldowns(vec![
        record("renamed", "a", 0),
        record("busy", "old", -1_000),
        record("busy", "recent", -10),
    ]);
    assert_eq!(engine.footprint().cooldowns, 2);
    // The expired cooldown does not hold anything back; the running one does.
    assert_eq!(send(&mut engine, &error(0), "old", false).len(), 1);
    assert!(send(&mut engine, &error(0), "recent", false).is_empty());
    // And expired ones leave: "recent" (ended at 290) and the new "old" (at 300) are gone.
    send(&mut engine, &error(400), "other", false);
    assert_eq!(engine.footprint().cooldowns, 1);
}

#[test]
fn windows_survive_a_snapshot() {
    let rules = json!([
        {"name": "busy", "condition": "frequency", "threshold": 5, "window_secs": 60},
        {"name": "many", "condition": "users", "threshold": 3, "window_secs": 60},
        {"name": "new", "condition": "new_issue"},
    ]);
    let mut before = rules_engine(rules.clone());
    for (secs, user) in [(0, "ann"), (1, "bob"), (2, "ann"), (3, "bob")] {
        assert!(send(&mut before, &by_user(error(secs), user), "a", false).is_empty());
    }
    // Through text, as the caller stores it.
    let text = before.windows_snapshot().to_string();
    let snapshot: serde_json::Value = serde_json::from_str(&text).expect("JSON");

    let mut after = rules_engine(rules);
    assert_eq!(after.restore_windows(snapshot.clone()), 2);
    assert_eq!(after.windows_snapshot(), snapshot);
    assert_eq!(after.footprint(), before.footprint());
    let fired = send(&mut after, &by_user(error(4), "cyd"), "a", false);
    assert_eq!(
        reasons(&fired),
        [
            &Reason::Frequency {
                count: 5,
                window_secs: 60
            },
            &Reason::Users {
                count: 3,
                window_secs: 60
            },
        ]
    );
}

#[test]
fn snapshots_leave_out_windows_that_ended() {
    let mut engine = rules_engine(json!([
        {"name": "busy", "condition": "frequency", "threshold": 5, "window_secs": 60},
        {"name": "many", "condition": "users", "threshold": 3, "window_secs": 60},
    ]));
    send(&mut engine, &by_user(error(0), "ann"), "old", false);
    send(&mut engine, &by_user(error(59), "bob"), "recent", false);
    send(&mut engine, &by_user(error(60), "cyd"), "now", false);
    let snapshot = engine.windows_snapshot();
    for rule in 0..2 {
        let held: Vec<_> = snapshot["rules"][rule]["windows"]["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .map(|issue| issue["fingerprint"].as_str().expect("fingerprint"))
            .collect();
        assert_eq!(
            held,
            ["recent", "now"],
            "{}",
            snapshot["rules"][rule]["rule"]
        );
    }
}

#[test]
fn windows_that_do_not_fit_start_empty() {
    let rules = json!([
        {"name": "busy", "condition": "frequency", "threshold": 2, "window_secs": 60},
        {"name": "many", "condition": "users", "threshold": 2, "window_secs": 60},
        {"name": "surge", "condition": "spike", "window_secs": 60, "factor": 3.0},
    ]);
    let mut engine = rules_engine(rules);
    assert!(send(&mut engine, &by_user(error(0), "ann"), "a", false).is_empty());
    let good = engine.windows_snapshot();
    let garbage = [
        serde_json::Value::Null,
        json!("windows"),
        json!([1, 2, 3]),
        json!({"version": 0, "rules": []}),
        json!({"version": 2, "rules": good["rules"]}),
        json!({"version": 1}),
        json!({"version": 1, "rules": [{"rule": "busy", "windows": {"condition": "frequency",
            "bucket_secs": 1, "buckets": 2, "issues": []}}]}),
        json!({"version": 1, "rules": [{"rule": "busy", "windows": {"condition": "users",
            "window_secs": 60, "every": 1, "needed": 2, "issues": []}}]}),
        json!({"version": 1, "rules": [{"rule": "busy", "windows": {"condition": "frequency",
            "bucket_secs": 6, "buckets": 10, "issues": [
                {"project": 0, "fingerprint": "a", "newest": 0, "counts": []}]}}]}),
    ];
    for snapshot in garbage {
        let restored = engine.restore_windows(snapshot.clone());
        assert_eq!(restored, 0, "{snapshot}");
        assert_eq!(engine.footprint().issue_windows, 0, "{snapshot}");
    }
    // A rule that fits, with entries that do not (wrong length, absurd times, an absurd user
    // list), keeps only what fits.
    let restored = engine.restore_windows(json!({"version": 1, "latest": i64::MAX, "rules": [
        {"rule": "busy", "windows": {"condition": "frequency", "bucket_secs": 6, "buckets": 10,
            "issues": [
                {"project": 1, "fingerprint": "short", "newest": 1, "counts": [1, 2]},
                {"project": 1, "fingerprint": "far", "newest": i64::MAX,
                 "counts": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]},
                {"project": 1, "fingerprint": "a", "newest": at(0).timestamp() / 6,
                 "counts": [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]}]}},
        {"rule": "many", "windows": {"condition": "users", "window_secs": 60, "every": 1,
            "needed": 2, "issues": [
                {"project": 1, "fingerprint": "a",
                 "users": [[1, 0], [1, 5], [2, i64::MIN], [3, 1], [4, 2], [5, 3]]}]}},
    ]}));
    assert_eq!(restored, 2);
    assert_eq!(engine.footprint().issue_windows, 2);
    // Without a latest time, nothing is left out of the next snapshot.
    let again = engine.windows_snapshot();
    assert_eq!(
        again["rules"][0]["windows"]["issues"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // The restored count of "a" is 1: one more makes 2.
    assert_eq!(send(&mut engine, &error(1), "a", false).len(), 1);
    // Everything still works after garbage.
    engine.restore_windows(json!(null));
    assert!(send(&mut engine, &error(2), "b", false).is_empty());
    assert_eq!(send(&mut engine, &error(3), "b", false).len(), 1);
}

#[test]
fn memory_stays_bounded_whatever_the_number_of_issues() {
    let mut engine = rules_engine(json!([
        {"name": "new", "condition": "new_issue"},
        {"name": "busy", "condition": "frequency", "threshold": 10, "window_secs": 60},
        {"name": "many", "condition": "users", "threshold": 10, "window_secs": 60},
        {"name": "surge", "condition": "spike", "window_secs": 60, "factor": 3.0},
    ]));
    let mut new_issues = 0;
    for i in 0..100_000 {
        // 100 distinct issues a second, each new, each from its own user.
        let mut event = by_user(error(0), &format!("user-{i}"));
        event.received_at = at(0) + TimeDelta::milliseconds(10 * i);
        let fired = send(&mut engine, &event, &format!("{i:032x}"), true);
        new_issues += fired
            .iter()
            .filter(|f| f.reason == Reason::NewIssue)
            .count();
    }
    assert_eq!(new_issues, 100_000);
    let footprint = engine.footprint();
    // Exactly the bound: the last 10,000 issues of each windowed rule.
    assert_eq!(footprint.issue_windows, 2 * ISSUES_PER_RULE);
    assert_eq!(footprint.project_windows, 1);
    // New-issue cooldowns: those of the last 300 s (30,000 issues), capped.
    assert_eq!(footprint.cooldowns, COOLDOWNS_PER_RULE);
    let snapshot = engine.windows_snapshot();
    for rule in snapshot["rules"].as_array().expect("rules") {
        let held = rule["windows"]["issues"]
            .as_array()
            .or(rule["windows"]["projects"].as_array())
            .map_or(0, Vec::len);
        assert!(held <= ISSUES_PER_RULE, "{}", rule["rule"]);
    }
}

#[test]
fn users_rules_with_high_thresholds_keep_fewer_issues() {
    let engine = rules_engine(json!([
        {"name": "crowd", "condition": "users", "threshold": 100_000, "window_secs": 3600},
    ]));
    let Some(State::Users {
        sampling, issues, ..
    }) = engine.rules.first().map(|rule| &rule.state)
    else {
        panic!("a users rule");
    };
    assert_eq!(sampling.needed, 500);
    assert_eq!(issues.capacity(), 500);
    assert!(issues.capacity() as u64 * sampling.needed <= USERS_PER_RULE);
}

fn spike_engine() -> Engine {
    rules_engine(json!([
        {"name": "surge", "condition": "spike", "window_secs": 60, "factor": 3.0, "cooldown_secs": 600},
    ]))
}

/// Events of `project` every `every` seconds from `from` to before `to`; what fired, when.
fn load(
    engine: &mut Engine,
    project_id: u32,
    from: i64,
    to: i64,
    every: usize,
) -> Vec<(i64, Fired)> {
    (from..to)
        .step_by(every)
        .flat_map(|secs| {
            send(engine, &error_of(project_id, secs), "any", false)
                .into_iter()
                .map(move |fired| (secs, fired))
        })
        .collect()
}

#[test]
fn a_steady_load_is_not_a_spike() {
    let mut engine = spike_engine();
    // 20 errors a minute for half an hour.
    assert!(load(&mut engine, 1, 0, 1_800, 3).is_empty());
}

#[test]
fn a_step_change_is_a_spike() {
    let mut engine = spike_engine();
    // 5 errors a minute for 15 minutes, then one a second.
    assert!(load(&mut engine, 1, 0, 900, 12).is_empty());
    let fired = load(&mut engine, 1, 900, 1_000, 1);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (secs, fired) = &fired[0];
    assert_eq!(fired.condition, RuleCondition::Spike);
    assert_eq!(fired.fingerprint, "");
    assert_eq!(fired.level, None);
    let Reason::Spike {
        count,
        average,
        window_secs,
    } = fired.reason
    else {
        panic!("a spike: {fired:?}");
    };
    assert_eq!(window_secs, 60);
    assert!((4.5..=5.5).contains(&average), "{average}");
    assert!(count as f64 >= 3.0 * average && count >= SPIKE_MIN_COUNT);
    // Within seconds of the step: about 15 errors in the last minute.
    assert!((900..930).contains(secs), "{secs}");
}

#[test]
fn a_small_blip_is_not_a_spike() {
    let mut engine = spike_engine();
    // The engine watches (project 2 is busy) while project 1 has no errors at all.
    assert!(load(&mut engine, 2, 0, 900, 6).is_empty());
    // 0 → 3 errors: three times anything, but not an outage.
    assert!(load(&mut engine, 1, 900, 903, 1).is_empty());
    // 0 → 10 is.
    let fired = load(&mut engine, 1, 903, 960, 1);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].0, 909);
    assert_eq!(fired[0].1.project_id, project(1));

    // 2 a minute, then 9 in one minute (1 + 8): above 3 × 2 but below the minimum.
    let mut engine = spike_engine();
    assert!(load(&mut engine, 1, 0, 900, 30).is_empty());
    assert!(load(&mut engine, 1, 900, 908, 1).is_empty());
}

#[test]
fn no_spike_without_history() {
    // A fresh engine (a restart without a checkpoint) has no trailing window yet.
    let mut engine = spike_engine();
    assert!(load(&mut engine, 1, 0, 59, 1).is_empty());

    // With a checkpoint, the history comes back and the step is seen at once.
    let mut before = spike_engine();
    assert!(load(&mut before, 1, 0, 900, 12).is_empty());
    let mut after = spike_engine();
    assert_eq!(after.restore_windows(before.windows_snapshot()), 1);
    assert_eq!(load(&mut after, 1, 900, 960, 1).len(), 1);
}

#[test]
fn a_drained_backlog_is_counted_when_it_happened() {
    // Events received a minute apart, read all at once after an outage: not 10 a minute.
    let mut engine = rules_engine(json!([
        {"name": "busy", "condition": "frequency", "threshold": 5, "window_secs": 60},
    ]));
    let now = at(600);
    for minute in 0..10 {
        let event = error(minute * 60);
        let grouping = grouping("a");
        let decision = step(
            &mut engine,
            Input::Event {
                event: &event,
                grouping: &grouping,
            },
            now,
        );
        assert!(decision.fired.is_empty());
    }
}

#[test]
fn evaluate_changes_nothing_until_apply() {
    let mut engine = rules_engine(json!([
        {"name": "new", "condition": "new_issue"},
        {"name": "busy", "condition": "frequency", "threshold": 2, "window_secs": 60},
    ]));
    let event = error(0);
    let grouping = grouping("a");
    let input = Input::Event {
        event: &event,
        grouping: &grouping,
    };
    let empty = engine.windows_snapshot();
    let first = engine.evaluate(&input, at(0));
    let second = engine.evaluate(&input, at(0));
    assert!(first.fired.is_empty());
    assert_eq!(first.fired, second.fired);
    assert_eq!(first.cooldowns(), second.cooldowns());
    assert_eq!(engine.footprint(), Footprint::default());
    assert_eq!(engine.windows_snapshot(), empty);
    let notice = created(&event, "a");
    let announced = engine.evaluate(&Input::Created { notice: &notice }, at(0));
    assert_eq!(reasons(&announced.fired), [&Reason::NewIssue]);
    // Evaluated again: still new, no cooldown was started.
    let again = engine.evaluate(&Input::Created { notice: &notice }, at(0));
    assert_eq!(announced.fired, again.fired);
    assert_eq!(engine.footprint(), Footprint::default());

    // Not applied (say the notification could not be made durable): the next event is
    // still the first in the window.
    let later = error(1);
    let next = Input::Event {
        event: &later,
        grouping: &grouping,
    };
    assert!(engine.evaluate(&next, at(1)).fired.is_empty());

    engine.apply(first);
    engine.apply(announced);
    let applied = engine.evaluate(&next, at(1));
    // Now the window holds the first event, and the new issue's cooldown counts this one.
    assert_eq!(
        reasons(&applied.fired),
        [&Reason::Frequency {
            count: 2,
            window_secs: 60
        }]
    );
    assert_eq!(
        applied
            .cooldowns()
            .iter()
            .map(|r| (r.rule.as_str(), r.since_count))
            .collect::<Vec<_>>(),
        [("new", 1), ("busy", 0)]
    );
}

#[test]
fn a_cooldown_of_zero_notifies_every_time() {
    let mut engine = rules_engine(json!([
        {"name": "any", "condition": "regression", "cooldown_secs": 0},
    ]));
    let again = regressed("x", "error", None);
    for secs in 0..3 {
        let decision = step(
            &mut engine,
            Input::Regressed {
                notice: &again,
                resolved_release: None,
            },
            at(secs),
        );
        assert_eq!(decision.fired.len(), 1);
        assert!(decision.cooldowns().is_empty());
    }
}

#[test]
fn fatal_new_issues_break_through_quiet_hours_when_asked() {
    let mut engine = rules_engine(json!([]));
    let mut fatal = error(0);
    fatal.level = Some(Level::Fatal);
    let fired = send(&mut engine, &fatal, "a", true);
    let mut quiet = QuietHours {
        start: "22:00".into(),
        end: "08:00".into(),
        timezone: "Europe/Berlin".into(),
        fatal_breaks_through: true,
    };
    assert!(breaks_through(&quiet, &fired[0]));
    let plain = send(&mut engine, &error(1), "b", true);
    assert!(!breaks_through(&quiet, &plain[0]));
    quiet.fatal_breaks_through = false;
    assert!(!breaks_through(&quiet, &fired[0]));
}

#[test]
fn notifications_serialize_for_the_outbox() {
    let mut engine = rules_engine(json!([]));
    let fired = send(&mut engine, &error(0), "a", true);
    let value = serde_json::to_value(&fired[0]).expect("serializes");
    assert_eq!(value["condition"], "new_issue");
    assert_eq!(value["reason"], json!({"kind": "new_issue"}));
    let back: Fired = serde_json::from_value(value).expect("deserializes");
    assert_eq!(back, fired[0]);
    let escalation = Reason::Escalation {
        more: 11,
        since: at(0),
    };
    let text = serde_json::to_string(&escalation).expect("serializes");
    assert_eq!(
        serde_json::from_str::<Reason>(&text).expect("deserializes"),
        escalation
    );
}
