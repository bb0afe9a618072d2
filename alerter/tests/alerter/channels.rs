//! Each channel against its vendor's stand-in (`fakes`): what arrives, signed as the vendor
//! checks it, and how the vendor's answers (error codes, rate limits, refusals) become a
//! retry, with or without a wait, or a permanent failure.

use std::time::Duration;

use alerter::channels::{
    Channel, Digest, DigestItem, EventFacts, IssueFacts, Message, MessageKind, SendError,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::config::{ChannelKind, ChannelSettings, Secret};
use shared::event::ProjectId;
use shared::testing::receiver::Receiver;

use crate::fakes::{ChatFake, Robot, SmtpSink, Stage};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A new issue in shop-web, with delivery id `delivery`.
fn new_issue(delivery: &str) -> Message {
    Message {
        kind: MessageKind::NewIssue,
        language: Default::default(),
        delivery_id: delivery.to_owned(),
        headline: "New issue in shop-web".into(),
        project_id: ProjectId::new(2),
        project: Some("shop-web".into()),
        environment: Some("production".into()),
        release: Some("1.4.2".into()),
        issue: Some(IssueFacts {
            id: Some(42),
            fingerprint: Some("3f2a9c".into()),
            title: "TypeError: cart.items is undefined".into(),
            culprit: Some("checkout (app.js)".into()),
            level: Some("error".into()),
            count: 1204,
            user_count: 37,
            first_seen: Some(at("2024-05-01T14:02:03Z")),
            last_seen: Some(at("2024-05-01T14:07:09Z")),
        }),
        event: Some(EventFacts {
            event_id: "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            routing_key: Some("error.js".into()),
            message: Some("cart.items is undefined".into()),
            url: Some("https://shop.example/cart".into()),
            timestamp: Some(at("2024-05-01T14:07:09.123Z")),
        }),
        reason: None,
        escalation: None,
        link: Some("https://frontmon.example/projects/2/issues/42".into()),
        digest: None,
    }
}

fn digest(n: usize) -> Message {
    Message {
        kind: MessageKind::Digest,
        language: Default::default(),
        delivery_id: "digest-1".into(),
        headline: format!("{n} new issues in shop-web"),
        project_id: ProjectId::new(2),
        project: Some("shop-web".into()),
        environment: None,
        release: None,
        issue: None,
        event: None,
        reason: None,
        escalation: None,
        link: Some("https://frontmon.example/projects/2/issues".into()),
        digest: Some(Digest {
            summary: format!("{n} new issues in shop-web in the last minute"),
            items: (0..n)
                .map(|i| DigestItem {
                    text: format!("New issue: 错误 {i}: {}", "x".repeat(120)),
                    link: Some(format!("https://frontmon.example/projects/2/issues/{i}")),
                })
                .collect(),
        }),
    }
}

fn settings(kind: ChannelKind, url: &str, secret: Option<&str>) -> ChannelSettings {
    ChannelSettings {
        name: format!("{}-test", kind.as_str()),
        kind,
        url: url.parse().unwrap_or_else(|e| panic!("{url}: {e}")),
        secret: secret.map(Secret::new),
        rate_per_minute: None,
        quiet_hours: None,
        username: None,
        from: None,
        to: Vec::new(),
        language: Default::default(),
    }
}

fn channel(settings: &ChannelSettings) -> Channel {
    Channel::from_settings(settings).unwrap_or_else(|e| panic!("{e}"))
}

/// The alerter's kind of client: a timeout, no redirects.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn send(channel: &Channel, message: &Message) -> Result<(), SendError> {
    channel.send(&http(), message).await
}

fn failure(result: Result<(), SendError>) -> SendError {
    match result {
        Ok(()) => panic!("sent, but a failure was expected"),
        Err(error) => error,
    }
}

// ---- webhook ----

#[tokio::test]
async fn webhook_gets_signed_json_with_delivery_and_event_ids() {
    let receiver = Receiver::start();
    let secret = "whsec_channels";
    let channel = channel(&settings(
        ChannelKind::Webhook,
        &receiver.url("/hook"),
        Some(secret),
    ));
    send(&channel, &new_issue("d-webhook-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.delivery.as_deref(), Some("d-webhook-1"));
    assert_eq!(
        request.event_id_header.as_deref(),
        Some("2f1c0d3e8b7a4c5d9e6f0a1b2c3d4e5f")
    );
    // The signature, recomputed here over the raw body.
    let timestamp = request
        .timestamp
        .clone()
        .unwrap_or_else(|| panic!("no timestamp"));
    let sent: i64 = timestamp.parse().unwrap_or_else(|e| panic!("{e}"));
    assert!((Utc::now().timestamp() - sent).abs() < 60);
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.signature.as_deref(), Some(expected.as_str()));

    let json = request.json();
    assert_eq!(json["kind"], "new_issue");
    assert_eq!(json["project_id"], 2);
    assert_eq!(json["project"], "shop-web");
    assert_eq!(json["routing_key"], "error.js");
    assert_eq!(json["url"], "https://shop.example/cart");
    assert_eq!(json["event_id"], "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f");
    assert_eq!(json["issue"]["title"], "TypeError: cart.items is undefined");
    assert_eq!(json["issue"]["user_count"], 37);
    assert_eq!(
        json["link"],
        "https://frontmon.example/projects/2/issues/42"
    );
    receiver.stop().await;
}

#[tokio::test]
async fn webhook_answers_become_retries_or_permanent_failures() {
    let receiver = Receiver::start();
    let channel = channel(&settings(
        ChannelKind::Webhook,
        &receiver.url("/hook"),
        None,
    ));
    let message = new_issue("d-webhook-2");
    let later = std::time::Instant::now() + Duration::from_secs(3600);

    receiver.answer_retry_after_until("/hook", 503, "120", later);
    let error = failure(send(&channel, &message).await);
    assert!(!error.is_permanent());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(error.code(), Some("503"));

    receiver.answer_retry_after_until("/hook", 429, "7", later);
    assert_eq!(
        failure(send(&channel, &message).await).retry_after(),
        Some(Duration::from_secs(7))
    );

    receiver.answer("/hook", 500);
    let error = failure(send(&channel, &message).await);
    assert!(!error.is_permanent() && error.retry_after().is_none());

    receiver.answer("/hook", 404);
    let error = failure(send(&channel, &message).await);
    assert!(error.is_permanent(), "{error}");
    assert_eq!(error.code(), Some("404"));

    receiver.recover("/hook");
    send(&channel, &message)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Every attempt carried the same delivery id.
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.delivery.as_deref() == Some("d-webhook-2"))
    );
    receiver.stop().await;
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    drop(listener);
    for (kind, url) in [
        (
            ChannelKind::Webhook,
            format!("http://127.0.0.1:{port}/hook"),
        ),
        (
            ChannelKind::Dingtalk,
            format!("http://127.0.0.1:{port}/robot/send?access_token=t"),
        ),
        (ChannelKind::Email, format!("smtp+plain://127.0.0.1:{port}")),
    ] {
        let mut settings = settings(kind, &url, None);
        settings.from = Some("alerts@example.com".into());
        settings.to = vec!["ops@example.com".into()];
        let error = failure(send(&channel(&settings), &new_issue("d-down")).await);
        assert!(!error.is_permanent(), "{kind:?}: {error}");
        assert!(error.retry_after().is_none(), "{kind:?}: {error}");
        // The robot's token stays out of the error.
        assert!(!error.to_string().contains("access_token"), "{error}");
    }
}

// ---- DingTalk ----

const DINGTALK_SECRET: &str = "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc";

#[tokio::test]
async fn dingtalk_gets_signed_markdown() {
    let fake = ChatFake::dingtalk(
        Robot::new("dt-token")
            .secret(DINGTALK_SECRET)
            .keywords(&["shop-web"]),
    );
    let channel = channel(&settings(
        ChannelKind::Dingtalk,
        &fake.url(),
        Some(DINGTALK_SECRET),
    ));
    send(&channel, &new_issue("d-dt-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 1, "{:?}", fake.received());
    let request = &delivered[0];
    // The fake checked the signature; the URL has what DingTalk wants, in order.
    assert!(
        request
            .raw_query
            .starts_with("access_token=dt-token&timestamp="),
        "{}",
        request.raw_query
    );
    let millis: i64 = request
        .param("timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no timestamp"));
    assert!((Utc::now().timestamp_millis() - millis).abs() < 60_000);
    assert!(request.param("sign").is_some());
    let json = request.json();
    assert_eq!(json["msgtype"], "markdown");
    assert_eq!(json["markdown"]["title"], "New issue in shop-web");
    let text = json["markdown"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("**TypeError: cart.items is undefined**"),
        "{text}"
    );
    assert!(text.contains("- **Users:** 37"), "{text}");
    assert!(text.contains("[Open in frontmon](https://frontmon.example/projects/2/issues/42)"));
    fake.stop().await;
}

#[tokio::test]
async fn dingtalk_refusals_are_permanent() {
    let fake = ChatFake::dingtalk(
        Robot::new("dt-token")
            .secret(DINGTALK_SECRET)
            .keywords(&["shop-web"]),
    );
    let message = new_issue("d-dt-2");

    let wrong_secret = channel(&settings(
        ChannelKind::Dingtalk,
        &fake.url(),
        Some("SECwrong"),
    ));
    let error = failure(send(&wrong_secret, &message).await);
    assert!(error.is_permanent());
    assert_eq!(error.code(), Some("310000"));
    assert!(error.message().starts_with("sign not match"), "{error}");

    let unsigned = channel(&settings(ChannelKind::Dingtalk, &fake.url(), None));
    assert_eq!(
        failure(send(&unsigned, &message).await).code(),
        Some("310000")
    );

    let wrong_token = channel(&settings(
        ChannelKind::Dingtalk,
        &fake.url_for("nope"),
        Some(DINGTALK_SECRET),
    ));
    let error = failure(send(&wrong_token, &message).await);
    assert!(error.is_permanent());
    assert_eq!(error.code(), Some("300001"));

    // The keyword security setting: a message without one of them is refused.
    let mut other_project = message.clone();
    other_project.project = Some("admin-web".into());
    other_project.headline = "New issue in admin-web".into();
    let signed = channel(&settings(
        ChannelKind::Dingtalk,
        &fake.url(),
        Some(DINGTALK_SECRET),
    ));
    let error = failure(send(&signed, &other_project).await);
    assert!(error.is_permanent());
    assert!(
        error.message().starts_with("keywords not in content"),
        "{error}"
    );
    assert!(fake.delivered().is_empty());
    fake.stop().await;
}

#[tokio::test]
async fn dingtalk_past_20_a_minute_says_wait_ten_minutes() {
    let fake = ChatFake::dingtalk(Robot::new("dt-token"));
    let channel = channel(&settings(ChannelKind::Dingtalk, &fake.url(), None));
    for i in 0..20 {
        send(&channel, &new_issue(&format!("d-dt-rate-{i}")))
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    let error = failure(send(&channel, &new_issue("d-dt-rate-20")).await);
    assert!(!error.is_permanent());
    assert_eq!(error.code(), Some("130101"));
    assert!(
        error.retry_after() >= Some(Duration::from_secs(60)),
        "{:?}",
        error.retry_after()
    );
    // The robot stays blocked: the next one is refused too, whatever the minute's count.
    assert_eq!(
        failure(send(&channel, &new_issue("d-dt-rate-21")).await).code(),
        Some("130101")
    );
    assert_eq!(fake.delivered().len(), 20);
    // Once the block is lifted (ten minutes for the real one), it goes through.
    fake.reset_limits();
    send(&channel, &new_issue("d-dt-rate-21"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    fake.stop().await;
}

#[tokio::test]
async fn dingtalk_system_busy_and_gateway_errors_are_retried() {
    let fake = ChatFake::dingtalk(Robot::new("dt-token"));
    let channel = channel(&settings(ChannelKind::Dingtalk, &fake.url(), None));
    fake.answer_next(200, r#"{"errcode":-1,"errmsg":"系统繁忙"}"#);
    let error = failure(send(&channel, &new_issue("d-dt-3")).await);
    assert!(!error.is_permanent());
    assert_eq!(error.code(), Some("-1"));
    fake.answer_next(502, "<html>Bad Gateway</html>");
    assert!(!failure(send(&channel, &new_issue("d-dt-3")).await).is_permanent());
    send(&channel, &new_issue("d-dt-3"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    fake.stop().await;
}

// ---- Feishu ----

const FEISHU_SECRET: &str = "nIMtb7r3N9pkXyXdtAbx6e";

#[tokio::test]
async fn feishu_gets_a_signed_card() {
    let fake = ChatFake::feishu(Robot::new("fs-hook").secret(FEISHU_SECRET));
    let channel = channel(&settings(
        ChannelKind::Feishu,
        &fake.url(),
        Some(FEISHU_SECRET),
    ));
    send(&channel, &new_issue("d-fs-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 1, "{:?}", fake.received());
    let json = delivered[0].json();
    // The timestamp is a string of seconds, signed (the fake checked the sign).
    let timestamp: i64 = json["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("timestamp: {json}"));
    assert!((Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(json["sign"].as_str().is_some());
    assert_eq!(json["msg_type"], "interactive");
    let card = &json["card"];
    assert_eq!(card["header"]["title"]["content"], "New issue in shop-web");
    let card_text = card.to_string();
    for expected in [
        "TypeError: cart.items is undefined",
        "in checkout (app.js)",
        "**Environment**\\nproduction",
        "**Events**\\n1,204",
        "https://frontmon.example/projects/2/issues/42",
    ] {
        assert!(
            card_text.contains(expected),
            "{expected:?} not in {card_text}"
        );
    }
    fake.stop().await;
}

#[tokio::test]
async fn feishu_codes_become_retries_or_permanent_failures() {
    // Feishu's 5 a second, counted over a minute here so a slow machine cannot spread the
    // six messages over two seconds.
    let fake = ChatFake::feishu(
        Robot::new("fs-hook")
            .secret(FEISHU_SECRET)
            .limits(vec![(Duration::from_secs(60), 5)]),
    );
    let signed = channel(&settings(
        ChannelKind::Feishu,
        &fake.url(),
        Some(FEISHU_SECRET),
    ));

    let wrong = channel(&settings(ChannelKind::Feishu, &fake.url(), Some("wrong")));
    let error = failure(send(&wrong, &new_issue("d-fs-2")).await);
    assert!(error.is_permanent());
    assert_eq!(error.code(), Some("19021"));

    let wrong_token = channel(&settings(
        ChannelKind::Feishu,
        &fake.url_for("nope"),
        Some(FEISHU_SECRET),
    ));
    assert!(failure(send(&wrong_token, &new_issue("d-fs-2")).await).is_permanent());

    // The sixth is frequency limited.
    for i in 0..5 {
        send(&signed, &new_issue(&format!("d-fs-rate-{i}")))
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    let limited = failure(send(&signed, &new_issue("d-fs-rate-5")).await);
    assert!(!limited.is_permanent());
    assert_eq!(limited.code(), Some("11232"));
    assert!(limited.retry_after().is_some());
    fake.stop().await;
}

#[tokio::test]
async fn feishu_takes_a_big_digest_within_its_size_limit() {
    let fake = ChatFake::feishu(Robot::new("fs-hook"));
    let channel = channel(&settings(ChannelKind::Feishu, &fake.url(), None));
    send(&channel, &digest(200))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 1, "{:?}", fake.received());
    assert!(delivered[0].body.len() <= 20 * 1024);
    let text = delivered[0].json().to_string();
    assert!(text.contains("200 new issues in shop-web in the last minute"));
    assert!(text.contains("and 170 more"));
    fake.stop().await;
}

#[tokio::test]
async fn lark_is_feishu() {
    let fake = ChatFake::feishu(Robot::new("lark-hook").secret("lark-secret"));
    // As an operator writes it: `kind = "lark"`.
    let settings: ChannelSettings = serde_json::from_value(serde_json::json!({
        "name": "lark",
        "kind": "lark",
        "url": fake.url(),
        "secret": "lark-secret",
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.kind, ChannelKind::Feishu);
    send(&channel(&settings), &new_issue("d-lark"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fake.delivered().len(), 1);
    fake.stop().await;
}

// ---- WeCom ----

#[tokio::test]
async fn wecom_gets_markdown_within_4096_bytes() {
    let fake = ChatFake::wecom(Robot::new("wc-key"));
    let channel = channel(&settings(ChannelKind::Wecom, &fake.url(), None));
    send(&channel, &new_issue("d-wc-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Thirty items of 130-odd characters, some of three bytes: over 4096 bytes unless cut.
    send(&channel, &digest(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 2, "{:?}", fake.received());
    assert_eq!(delivered[0].param("key"), Some("wc-key"));
    let first = delivered[0].json();
    assert_eq!(first["msgtype"], "markdown");
    let content = first["markdown"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("### New issue in shop-web"), "{content}");
    assert!(
        content.contains("**TypeError: cart.items is undefined**"),
        "{content}"
    );
    let digest = delivered[1].json();
    let content = digest["markdown"]["content"].as_str().unwrap_or_default();
    assert!(content.len() <= 4096, "{}", content.len());
    assert!(content.contains("…(truncated)"));
    assert!(content.ends_with("[Open in frontmon](https://frontmon.example/projects/2/issues)"));
    fake.stop().await;
}

#[tokio::test]
async fn wecom_rate_limit_and_a_removed_robot() {
    let fake = ChatFake::wecom(Robot::new("wc-key"));
    let channel_ok = channel(&settings(ChannelKind::Wecom, &fake.url(), None));
    for i in 0..20 {
        send(&channel_ok, &new_issue(&format!("d-wc-rate-{i}")))
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    let limited = failure(send(&channel_ok, &new_issue("d-wc-rate-20")).await);
    assert!(!limited.is_permanent());
    assert_eq!(limited.code(), Some("45009"));
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(60)));

    let removed = channel(&settings(ChannelKind::Wecom, &fake.url_for("gone"), None));
    let error = failure(send(&removed, &new_issue("d-wc-2")).await);
    assert!(error.is_permanent());
    assert_eq!(error.code(), Some("93000"));
    fake.stop().await;
}

// ---- Slack ----

#[tokio::test]
async fn slack_gets_blocks_with_a_fallback_text() {
    let fake = ChatFake::slack(Robot::new("T000/B000/XXXX"));
    let channel = channel(&settings(ChannelKind::Slack, &fake.url(), None));
    send(&channel, &new_issue("d-sl-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 1, "{:?}", fake.received());
    assert_eq!(delivered[0].answer, "ok");
    let json = delivered[0].json();
    assert_eq!(
        json["text"],
        "New issue in shop-web: TypeError: cart.items is undefined"
    );
    let blocks = json["blocks"].as_array().cloned().unwrap_or_default();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks.iter().any(|b| b["type"] == "actions"
        && b["elements"][0]["url"] == "https://frontmon.example/projects/2/issues/42"));
    let text = json.to_string();
    assert!(text.contains("*Users*\\n37"), "{text}");
    fake.stop().await;
}

#[tokio::test]
async fn slack_rate_limits_and_refusals() {
    // About one a second; counted over a minute here, so timing cannot matter.
    let fake =
        ChatFake::slack(Robot::new("T000/B000/XXXX").limits(vec![(Duration::from_secs(60), 1)]));
    let channel_ok = channel(&settings(ChannelKind::Slack, &fake.url(), None));
    send(&channel_ok, &new_issue("d-sl-2"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A second one, too soon.
    let limited = failure(send(&channel_ok, &new_issue("d-sl-3")).await);
    assert!(!limited.is_permanent());
    assert_eq!(limited.code(), Some("rate_limited"));
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));

    fake.answer_next(400, "invalid_payload");
    let error = failure(send(&channel_ok, &new_issue("d-sl-4")).await);
    assert!(error.is_permanent());
    assert_eq!(error.code(), Some("invalid_payload"));

    fake.answer_next(500, "rollup_error");
    assert!(!failure(send(&channel_ok, &new_issue("d-sl-4")).await).is_permanent());

    let removed = channel(&settings(
        ChannelKind::Slack,
        &fake.url_for("T000/B000/GONE"),
        None,
    ));
    let error = failure(send(&removed, &new_issue("d-sl-5")).await);
    assert!(error.is_permanent());
    assert_eq!(error.code(), Some("no_service"));
    fake.stop().await;
}

#[tokio::test]
async fn slack_takes_a_digest() {
    let fake = ChatFake::slack(Robot::new("T000/B000/XXXX"));
    let channel = channel(&settings(ChannelKind::Slack, &fake.url(), None));
    send(&channel, &digest(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 1, "{:?}", fake.received());
    assert!(delivered[0].json().to_string().contains("more."));
    fake.stop().await;
}

// ---- Email ----

fn email_settings(sink: &SmtpSink, user: Option<(&str, &str)>) -> ChannelSettings {
    let mut settings = settings(ChannelKind::Email, &sink.url(), user.map(|(_, p)| p));
    settings.username = user.map(|(u, _)| u.to_owned());
    settings.from = Some("frontmon <alerts@example.com>".into());
    settings.to = vec!["ops@example.com".into(), "dev@example.com".into()];
    settings
}

#[tokio::test]
async fn email_is_one_authenticated_multipart_message() {
    let sink = SmtpSink::start(Some(("alerts", "s3cret"))).await;
    let channel = channel(&email_settings(&sink, Some(("alerts", "s3cret"))));
    let mut message = new_issue("d-mail-1");
    if let Some(issue) = message.issue.as_mut() {
        issue.title = "TypeError: <b>cart</b> & \"items\" is undefined".into();
    }
    send(&channel, &message)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mails = sink.received();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.user.as_deref(), Some("alerts"));
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, vec!["ops@example.com", "dev@example.com"]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("New issue in shop-web")
    );
    assert_eq!(
        mail.header("Message-ID").as_deref(),
        Some("<d-mail-1@frontmon.alerter>")
    );
    assert!(
        mail.header("Content-Type")
            .is_some_and(|t| t.starts_with("multipart/alternative")),
        "{}",
        mail.data
    );
    let decoded = decode_parts(&mail.data);
    assert!(
        decoded.contains("TypeError: <b>cart</b> & \"items\" is undefined"),
        "{decoded}"
    );
    assert!(
        decoded.contains("TypeError: &lt;b&gt;cart&lt;/b&gt; &amp; &quot;items&quot; is undefined"),
        "{decoded}"
    );
    assert!(decoded.contains("Users: 37"), "{decoded}");
    assert!(decoded.contains("<a href=\"https://frontmon.example/projects/2/issues/42\">"));
    sink.stop();
}

#[tokio::test]
async fn smtp_replies_become_retries_or_permanent_failures() {
    let sink = SmtpSink::start(Some(("alerts", "s3cret"))).await;
    let channel_ok = channel(&email_settings(&sink, Some(("alerts", "s3cret"))));
    let message = new_issue("d-mail-2");

    sink.refuse_next(Stage::Mail, "451 4.7.1 Greylisted, try again later");
    let error = failure(send(&channel_ok, &message).await);
    assert!(!error.is_permanent(), "{error}");
    assert_eq!(error.code(), Some("SMTP 451"));

    sink.refuse_next(Stage::Rcpt, "550 5.1.1 No such user");
    let error = failure(send(&channel_ok, &message).await);
    assert!(error.is_permanent(), "{error}");
    assert_eq!(error.code(), Some("SMTP 550"));

    sink.refuse_next(Stage::Data, "452 4.3.1 Insufficient system storage");
    assert!(!failure(send(&channel_ok, &message).await).is_permanent());

    let wrong_password = channel(&email_settings(&sink, Some(("alerts", "wrong"))));
    let error = failure(send(&wrong_password, &message).await);
    assert!(error.is_permanent(), "{error}");
    assert_eq!(error.code(), Some("SMTP 535"));

    // Without credentials the server wants: refused for good.
    let anonymous = channel(&email_settings(&sink, None));
    assert!(failure(send(&anonymous, &message).await).is_permanent());

    assert!(sink.received().is_empty());
    send(&channel_ok, &message)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sink.received().len(), 1);
    sink.stop();
}

#[tokio::test]
async fn email_needs_starttls_when_the_url_says_smtp() {
    // The sink offers no STARTTLS: an smtp:// channel must not send in the clear.
    let sink = SmtpSink::start(None).await;
    let mut settings = email_settings(&sink, None);
    settings.url = sink
        .url()
        .replace("smtp+plain://", "smtp://")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let error = failure(send(&channel(&settings), &new_issue("d-mail-3")).await);
    assert!(error.is_permanent(), "{error}");
    assert!(sink.received().is_empty());
    sink.stop();
}

/// The text of every part of a MIME message, transfer encodings undone.
fn decode_parts(data: &str) -> String {
    let mut out = String::new();
    for part in data.split("\r\n--") {
        let Some((head, body)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let head = head.to_ascii_lowercase();
        if head.contains("content-transfer-encoding: base64") {
            let joined: String = body
                .split("\r\n")
                .take_while(|l| !l.starts_with("--"))
                .collect();
            use base64::Engine;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(joined.trim()) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        } else if head.contains("content-transfer-encoding: quoted-printable") {
            out.push_str(&quoted_printable(body));
        } else {
            out.push_str(body);
        }
        out.push('\n');
    }
    out
}

fn quoted_printable(text: &str) -> String {
    let mut bytes = Vec::new();
    let soft = text.replace("=\r\n", "");
    let raw = soft.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'='
            && i + 2 < raw.len()
            && let Ok(byte) = u8::from_str_radix(&soft[i + 1..i + 3], 16)
        {
            bytes.push(byte);
            i += 3;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
