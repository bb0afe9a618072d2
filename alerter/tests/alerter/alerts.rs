//! Rules and noise control end to end: events published to the real broker, notifications
//! written to the real database, delivered to local stand-ins of every vendor.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use shared::config::{ChannelKind, ChannelSettings, Condition, QuietHours, RuleSettings, Secret};
use shared::notice::{IssueNotice, NoticeKind};
use shared::publisher::Outgoing;
use shared::testing::{TestEnv, eventually, publish_confirmed};
use sqlx::migrate::MigrateDatabase;

use crate::fakes::{ChatFake, Robot, SmtpSink};
use crate::support::*;

fn channel(name: &str, kind: ChannelKind, url: &str, secret: Option<&str>) -> ChannelSettings {
    ChannelSettings {
        name: name.into(),
        kind,
        url: url.parse().expect("a URL"),
        secret: secret.map(Secret::new),
        rate_per_minute: None,
        quiet_hours: None,
        username: None,
        from: None,
        to: Vec::new(),
        language: Default::default(),
    }
}

/// Waits until every delivery of the alerter's queue is consumed and every notification is
/// settled (sent, folded or failed): nothing more will arrive.
async fn settled(app: &TestApp, env: &TestEnv, consumed: f64) -> Vec<Value> {
    settled_within(app, env, consumed, WAIT).await
}

async fn settled_within(
    app: &TestApp,
    env: &TestEnv,
    consumed: f64,
    limit: Duration,
) -> Vec<Value> {
    eventually("the alerter to settle", limit, || async {
        if app.metric("frontmon_alerter_events_consumed_total").await < consumed {
            return None;
        }
        if env.queue_depth(&env.topology().alerter.name).await > 0 {
            return None;
        }
        let alerts = app.alerts().await;
        alerts
            .iter()
            .all(|alert| alert["status"] != "pending")
            .then_some(alerts)
    })
    .await
}

#[tokio::test]
async fn a_new_issue_reaches_every_channel_once_and_copies_do_not() {
    let receiver = Receiver::start();
    let dingtalk = ChatFake::dingtalk(Robot::new("ding-token").secret("SECding"));
    let feishu = ChatFake::feishu(Robot::new("feishu-hook").secret("feishu-secret"));
    let wecom = ChatFake::wecom(Robot::new("wecom-key"));
    let slack = ChatFake::slack(Robot::new("T000/B000/slack"));
    let smtp = SmtpSink::start(None).await;
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), Some("webhook-secret"));
    let channels = &mut env.settings.alerter.channels;
    channels.push(channel(
        "ding",
        ChannelKind::Dingtalk,
        &dingtalk.url(),
        Some("SECding"),
    ));
    channels.push(channel(
        "feishu",
        ChannelKind::Feishu,
        &feishu.url(),
        Some("feishu-secret"),
    ));
    channels.push(channel("wecom", ChannelKind::Wecom, &wecom.url(), None));
    channels.push(channel("slack", ChannelKind::Slack, &slack.url(), None));
    let mut email = channel("mail", ChannelKind::Email, &smtp.url(), None);
    email.from = Some("frontmon@shop.example".into());
    email.to = vec!["oncall@shop.example".into()];
    channels.push(email);
    let app = TestApp::spawn(env.settings.clone()).await;
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    // An error, a copy of it, and the processor's word that it is a new issue, published
    // twice (its outbox may): one notification per channel.
    let error = js_error("cart is undefined");
    let copy = js_error("cart is undefined");
    publish(&publisher, &[&error, &copy, &vital()]).await;
    let announced = notice_message(&created(&error));
    publish_confirmed(&publisher, &[announced.clone(), announced]).await;
    let alerts = settled(&app, &env, 4.0).await;

    assert_eq!(alerts.len(), 6, "one per channel: {alerts:#?}");
    assert!(
        alerts
            .iter()
            .all(|a| a["status"] == "sent" && a["reason"] == "new_issue")
    );
    // Times as the processor's read API writes them: RFC 3339, UTC, milliseconds.
    for time in [&alerts[0]["created_at"], &alerts[0]["finished_at"]] {
        let text = time.as_str().unwrap_or_default();
        assert!(
            text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
            "{time}"
        );
        assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{time}");
    }
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].event_id(), error.event_id);
    assert_eq!(delivered[0].json()["kind"], "new_issue");
    for fake in [&dingtalk, &feishu, &wecom, &slack] {
        assert_eq!(fake.delivered().len(), 1);
    }
    let text = dingtalk.delivered()[0].json().to_string();
    assert!(text.contains("cart is undefined"), "{text}");
    let mails = smtp.received();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].data.contains("cart is undefined"));
    assert_eq!(
        app.metric(r#"frontmon_alerter_notifications_total{channel="ding",outcome="sent"}"#)
            .await,
        1.0
    );
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn five_hundred_events_of_one_issue_are_one_message_and_one_escalation() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    let app = TestApp::spawn(env.settings.clone()).await;
    let publisher = publisher(&env).await;
    let events: Vec<_> = (0..500).map(|_| js_error("payment failed")).collect();
    // The processor announces the issue once it stored the first event; the rest follow.
    publish(&publisher, &[&events[0]]).await;
    announce(&publisher, &[&events[0]]).await;
    settled(&app, &env, 2.0).await;
    for chunk in events[1..].chunks(50) {
        publish(&publisher, &chunk.iter().collect::<Vec<_>>()).await;
    }
    let alerts = settled(&app, &env, 501.0).await;
    let reasons: Vec<&str> = alerts
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["new_issue", "escalation"], "{alerts:#?}");
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 2);
    let escalation = &delivered[1].json();
    assert!(
        escalation["escalation"]["more"].as_u64().unwrap() > 10,
        "{escalation}"
    );
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn thirty_new_issues_to_dingtalk_fold_into_a_digest_within_its_limit() {
    let dingtalk = ChatFake::dingtalk(Robot::new("ding-token"));
    let mut env = TestEnv::new();
    env.settings.alerter.channels.push(channel(
        "ding",
        ChannelKind::Dingtalk,
        &dingtalk.url(),
        None,
    ));
    let app = TestApp::spawn(env.settings.clone()).await;
    let publisher = publisher(&env).await;
    let events: Vec<_> = (0..30)
        .map(|n| {
            js_error(
                &format!("widget {} crashed", char::from(b'a' + n as u8 % 26)).repeat(1 + n / 26),
            )
        })
        .collect();
    announce(&publisher, &events.iter().collect::<Vec<_>>()).await;
    // Past its 20 a minute, what is left may wait for the minute to pass: allow for it.
    let alerts = settled_within(&app, &env, 30.0, Duration::from_secs(90)).await;

    let delivered = dingtalk.delivered();
    // At most 20 in any minute (the fake would have answered 130101 past that, checked next).
    for (n, first) in delivered.iter().enumerate() {
        let in_minute = delivered[n..]
            .iter()
            .filter(|r| r.at.duration_since(first.at) < Duration::from_secs(60))
            .count();
        assert!(in_minute <= 20, "{in_minute} messages within a minute");
    }
    assert!(delivered.len() < 30, "folded, not one message each");
    assert!(
        dingtalk
            .received()
            .iter()
            .all(|r| r.answer_json()["errcode"] == 0),
        "the robot was never rate-limited"
    );
    // None lost: every new issue was sent alone or folded into a digest that was sent.
    let issues: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["reason"] == "new_issue")
        .collect();
    assert_eq!(issues.len(), 30);
    let folded = issues.iter().filter(|a| a["status"] == "folded").count();
    let sent = issues.iter().filter(|a| a["status"] == "sent").count();
    assert_eq!(folded + sent, 30);
    assert!(folded > 0, "over the limit, some were folded");
    let digests: Vec<&Value> = alerts.iter().filter(|a| a["reason"] == "digest").collect();
    assert!(!digests.is_empty() && digests.iter().all(|d| d["status"] == "sent"));
    let digest_text = delivered
        .iter()
        .map(|r| r.json().to_string())
        .find(|text| text.contains("new issues"))
        .expect("a digest message");
    assert!(digest_text.contains("crashed"), "{digest_text}");
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_channel_down_then_up_gets_the_notification_once() {
    let receiver = Receiver::start();
    receiver.answer_until("/ops", 503, Instant::now() + Duration::from_secs(3));
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    let app = TestApp::spawn(env.settings.clone()).await;
    let publisher = publisher(&env).await;
    let error = js_error("checkout broke");
    announce(&publisher, &[&error]).await;
    // Acknowledged as soon as it was written: the queue does not wait for the channel.
    eventually("the delivery to be acknowledged", WAIT, || async {
        (env.queue_depth(&env.topology().alerter.name).await == 0
            && app.metric("frontmon_alerter_events_consumed_total").await >= 1.0)
            .then_some(())
    })
    .await;
    receiver.wait_for("/ops", &[error.event_id]).await;
    let alerts = settled(&app, &env, 1.0).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "sent");
    assert!(alerts[0]["attempts"].as_i64().unwrap() >= 2, "{alerts:#?}");
    let attempts = receiver.attempts("/ops", error.event_id);
    assert!(attempts.len() >= 2);
    assert_eq!(receiver.delivered("/ops").len(), 1, "delivered once");
    let ids: std::collections::HashSet<_> = attempts.iter().map(|a| a.delivery.clone()).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the same delivery id");
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_restart_mid_cooldown_repeats_nothing_and_pending_notifications_survive_it() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    let publisher = publisher(&env).await;

    let app = TestApp::spawn(env.settings.clone()).await;
    let first = notice_message(&created(&js_error("cart is undefined")));
    publish_confirmed(&publisher, std::slice::from_ref(&first)).await;
    settled(&app, &env, 1.0).await;
    // A second issue whose notification cannot be delivered before the restart.
    receiver.answer("/ops", 503);
    let stuck = js_error("coupon expired");
    let second = notice_message(&created(&stuck));
    publish_confirmed(&publisher, std::slice::from_ref(&second)).await;
    eventually("the second notification to be tried", WAIT, || async {
        (!receiver.attempts("/ops", stuck.event_id).is_empty()).then_some(())
    })
    .await;
    app.stop().await;

    receiver.recover("/ops");
    let app = TestApp::spawn(env.settings.clone()).await;
    // The same errors again, and the notices published again (an outbox that crashed
    // before it deleted them), within their cooldowns: nothing new to say.
    publish(
        &publisher,
        &[&js_error("cart is undefined"), &js_error("coupon expired")],
    )
    .await;
    publish_confirmed(&publisher, &[first, second]).await;
    receiver.wait_for("/ops", &[stuck.event_id]).await;
    let alerts = settled(&app, &env, 4.0).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(alerts.iter().all(|a| a["status"] == "sent"));
    assert_eq!(receiver.delivered("/ops").len(), 2);
    publisher.close().await;
    app.stop().await;
}

fn notice(kind: NoticeKind, fingerprint: &str, release: &str) -> IssueNotice {
    let now = Utc::now();
    IssueNotice {
        notice_id: uuid::Uuid::new_v4(),
        kind,
        at: now,
        project_id: shared::event::ProjectId::new(1).unwrap(),
        issue_id: 42,
        grouping_version: 1,
        fingerprint: fingerprint.into(),
        title: "TypeError: cart is undefined".into(),
        culprit: Some("checkout (app.js)".into()),
        level: "error".into(),
        count: 7,
        user_count: 3,
        first_seen: now,
        last_seen: now,
        last_release: Some(release.into()),
        event: None,
    }
}

#[tokio::test]
async fn a_regression_after_a_resolve_is_one_message_and_older_releases_can_be_ignored() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    env.settings.alerter.rules = vec![RuleSettings {
        name: "regressions in newer releases".into(),
        condition: Condition::Regression {
            newer_release_only: true,
        },
        projects: Vec::new(),
        environments: Vec::new(),
        levels: Vec::new(),
        channels: Vec::new(),
        cooldown_secs: None,
    }];
    let app = TestApp::spawn(env.settings.clone()).await;
    let publisher = publisher(&env).await;
    let messages = [
        notice_message(&notice(NoticeKind::Resolved, "fp-a", "shop@1.4.0")),
        notice_message(&notice(NoticeKind::Regressed, "fp-a", "shop@1.5.0")),
        notice_message(&notice(NoticeKind::Resolved, "fp-b", "shop@1.5.0")),
        // Back in the release it was resolved in: the fix is not out yet.
        notice_message(&notice(NoticeKind::Regressed, "fp-b", "shop@1.5.0")),
    ];
    // The resolutions first, as the processor announces them long before a regression (the
    // alerter handles deliveries concurrently, so it does not order them).
    publish_confirmed(&publisher, &[messages[0].clone(), messages[2].clone()]).await;
    settled(&app, &env, 2.0).await;
    publish_confirmed(&publisher, &[messages[1].clone(), messages[3].clone()]).await;
    let alerts = settled(&app, &env, 4.0).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["reason"], "regression");
    assert_eq!(alerts[0]["fingerprint"], "fp-a");
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].json()["issue"]["id"], 42);
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn quiet_hours_hold_notifications_then_send_one_digest() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    // Quiet from an hour ago until the next minute starts.
    let now = Utc::now();
    let start = now - chrono::Duration::hours(1);
    let end = now + chrono::Duration::minutes(1);
    env.settings.alerter.channels[0].quiet_hours = Some(
        QuietHours {
            start: start.format("%H:%M").to_string(),
            end: end.format("%H:%M").to_string(),
            timezone: "UTC".into(),
            fatal_breaks_through: false,
        }
        .try_into()
        .expect("valid quiet hours"),
    );
    env.settings.alerter.channels[0].rate_per_minute = NonZeroU32::new(100);
    let app = TestApp::spawn(env.settings.clone()).await;
    let publisher = publisher(&env).await;
    let first = js_error("search is down");
    let second = js_error("images missing");
    announce(&publisher, &[&first, &second]).await;
    eventually("both to be queued", WAIT, || async {
        (app.alerts().await.len() == 2).then_some(())
    })
    .await;
    assert!(receiver.received().is_empty(), "held during quiet hours");

    let alerts = eventually(
        "the quiet hours to end",
        Duration::from_secs(130),
        || async {
            let alerts = app.alerts().await;
            alerts
                .iter()
                .all(|a| a["status"] != "pending")
                .then_some(alerts)
        },
    )
    .await;
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 1, "one digest");
    let digest = delivered[0].json();
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["digest"]["items"].as_array().map(Vec::len), Some(2));
    assert!(
        alerts
            .iter()
            .filter(|a| a["reason"] == "new_issue")
            .all(|a| a["status"] == "folded")
    );
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_notice_the_database_refuses_is_dead_lettered_not_held() {
    let env = TestEnv::new();
    let app = TestApp::spawn(env.settings.clone()).await;
    app.wait_ready().await;
    let publisher = publisher(&env).await;
    // PostgreSQL refuses a NUL in text (SQLSTATE 22021): however long it is held, this notice
    // can never be written.
    let refused = notice(NoticeKind::Resolved, "fp\u{0}a", "shop@1.4.0");
    let fine = notice(NoticeKind::Resolved, "fp-b", "shop@1.4.0");
    publish_confirmed(
        &publisher,
        &[notice_message(&refused), notice_message(&fine)],
    )
    .await;
    eventually("the refused notice to be dead-lettered", WAIT, || async {
        (env.queue_depth(&env.topology().alerter.dead_letter_queue())
            .await
            == 1)
            .then_some(())
    })
    .await;
    settled(&app, &env, 2.0).await;
    assert_eq!(
        app.metric("frontmon_alerter_deliveries_dead_lettered_total")
            .await,
        1.0
    );
    // The database is up: the refusal is the data's fault, not a reason to look unready.
    app.wait_ready().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn poison_is_dead_lettered_and_the_api_and_channel_test_answer() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    let app = TestApp::spawn(env.settings.clone()).await;
    app.wait_ready().await;
    let publisher = publisher(&env).await;
    let garbage = Outgoing {
        body: b"not an event".to_vec(),
        ..shared::testing::outgoing(&js_error("x"))
    };
    publish_confirmed(&publisher, std::slice::from_ref(&garbage)).await;
    eventually("the poison to be dead-lettered", WAIT, || async {
        (env.queue_depth(&env.topology().alerter.dead_letter_queue())
            .await
            == 1)
            .then_some(())
    })
    .await;

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", app.port);
    let unauthorized = http.get(format!("{base}/api/alerts")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let tested = http
        .post(format!("{base}/api/channels/ops/test"))
        .bearer_auth(shared::testing::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 200);
    assert_eq!(receiver.delivered("/ops")[0].json()["kind"], "test");
    let unknown = http
        .post(format!("{base}/api/channels/nope/test"))
        .bearer_auth(shared::testing::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // A parameter an endpoint does not support is refused by name, on every endpoint.
    for (method, path) in [
        ("GET", "/api/alerts?project=1&url=x"),
        ("POST", "/api/channels/ops/test?url=x"),
        ("GET", "/healthz?url=x"),
        ("GET", "/readyz?url=x"),
        ("GET", "/metrics?url=x"),
    ] {
        let response = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(shared::testing::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(r#"unknown query parameter "url" (supported: "#),
            "{method} {path}: {body}"
        );
    }
    assert_eq!(receiver.delivered("/ops").len(), 1, "only the first test");
    receiver.answer("/ops", 410);
    let refused = http
        .post(format!("{base}/api/channels/ops/test"))
        .bearer_auth(shared::testing::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["permanent"], true, "{body}");
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 200);
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_white_screen_issue_notifies_like_any_new_issue() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), Some("webhook-secret"));
    let app = TestApp::spawn(env.settings.clone()).await;
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    // The event reaches the alerter's queue by its key (`error.*`), and the processor's
    // word that its issue is new follows.
    let blank = white_screen();
    assert_eq!(outgoing(&blank).routing_key.as_str(), "error.white_screen");
    publish(&publisher, &[&blank]).await;
    announce(&publisher, &[&blank]).await;
    let alerts = settled(&app, &env, 2.0).await;

    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["status"], "sent");
    assert_eq!(alerts[0]["reason"], "new_issue");
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].event_id(), blank.event_id);
    let body = delivered[0].json();
    assert_eq!(body["kind"], "new_issue");
    assert_eq!(
        body["issue"]["title"], "White screen on /checkout",
        "{body:#}"
    );
    assert_eq!(body["routing_key"], "error.white_screen", "{body:#}");
    publisher.close().await;
    app.stop().await;
}

/// A channel set to `zh-CN` gets its messages in Chinese, labels, sentences and link alike,
/// while an English channel beside it gets the same notification in English; its test
/// message is Chinese too.
#[tokio::test]
async fn a_chinese_channel_receives_chinese() {
    let chinese = ChatFake::dingtalk(Robot::new("ding-zh"));
    let english = ChatFake::dingtalk(Robot::new("ding-en"));
    let mut env = TestEnv::new();
    env.settings.processor.public_url = Some("https://frontmon.example".parse().expect("URL"));
    let mut zh = channel("zh", ChannelKind::Dingtalk, &chinese.url(), None);
    zh.language = shared::config::Language::ZhCn;
    env.settings.alerter.channels.push(zh);
    env.settings
        .alerter
        .channels
        .push(channel("en", ChannelKind::Dingtalk, &english.url(), None));
    let app = TestApp::spawn(env.settings.clone()).await;
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    let error = js_error("cart is undefined");
    publish(&publisher, &[&error]).await;
    announce(&publisher, &[&error]).await;
    chinese.wait_for(1).await;
    english.wait_for(1).await;

    let markdown = |fake: &ChatFake| markdown_of(&fake.delivered()[0]);
    let text = markdown(&chinese);
    for expected in [
        "test 出现新问题",
        "该问题的第一个事件。",
        "**环境:** production",
        "**版本:** 1.4.2",
        "**页面:** https://shop.example/cart",
        "[在 frontmon 中查看](https://frontmon.example/",
        // The event's own words are quoted, not translated.
        "cart is undefined",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    for english in ["New issue", "Environment", "Open in frontmon"] {
        assert!(!text.contains(english), "{english:?} in:\n{text}");
    }
    let text = markdown(&english);
    assert!(text.contains("New issue in test"), "{text}");
    assert!(text.contains("**Environment:** production"), "{text}");

    let tested = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/channels/zh/test",
            app.port
        ))
        .bearer_auth(shared::testing::ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(tested.status(), 200);
    chinese.wait_for(2).await;
    let test = markdown_of(&chinese.delivered()[1]);
    assert!(test.contains("frontmon 测试消息"), "{test}");

    publisher.close().await;
    app.stop().await;
    chinese.stop().await;
    english.stop().await;
}

fn markdown_of(request: &crate::fakes::Request) -> String {
    request.json()["markdown"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn messages_name_a_project_as_the_database_does() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    // The processor's tables, seeded from [[projects]], then the project renamed there.
    let url = env.settings.database.url.expose();
    sqlx::Postgres::create_database(url).await.unwrap();
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::migrate!("../processor/migrations")
        .run(&pool)
        .await
        .unwrap();
    shared::db::projects::seed(&pool, &env.settings.projects)
        .await
        .unwrap();
    sqlx::query("UPDATE projects SET name = 'storefront' WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let app = TestApp::spawn(env.settings.clone()).await;
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    let error = js_error("basket is undefined");
    publish(&publisher, &[&error]).await;
    announce(&publisher, &[&error]).await;
    let delivered = eventually("the webhook's delivery", WAIT, || async {
        receiver.delivered("/ops").into_iter().next()
    })
    .await;
    // The configuration still says "test".
    assert_eq!(delivered.json()["project"], "storefront");
    publisher.close().await;
    app.stop().await;
}
