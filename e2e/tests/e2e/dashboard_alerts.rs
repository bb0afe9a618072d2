//! The dashboard's Alerts screen against a real alerter sending to a local webhook receiver:
//! before the alerter first starts the screen says so; then an error in each project is
//! notified twice (as a new issue, which names the issue's id, and by a `frequency` rule,
//! which names only its fingerprint), and the admin sees the four rows (each linked to its
//! issue, with channel, outcome and attempts) in English and 简体中文 and has the alerter send
//! a channel a test message from the screen; the member sees only their project's row, no test button, and a 404 for the
//! other project's alerts; a test without the CSRF token, or from a member, is refused.
//! axe-core finds no serious or critical violation; screenshots go to
//! `target/dashboard-screens/` (`alerts-en.png`, `alerts-zh.png`, phone and member ones).
//!
//! `e2e/browser/dashboard-alerts.mjs` drives the browser.

use std::num::NonZeroU64;

use serde_json::{Value, json};
use shared::config::{Condition, RuleSettings};
use shared::testing::receiver::Receiver;
use shared::testing::{ADMIN_TOKEN, OTHER_KEY, TestEnv, eventually};

use crate::dashboard::{
    ADMIN, MEMBER, PASSWORD, csrf, get, issue_id, no_redirects, nothing_left_the_page, sign_in,
};
use crate::support::*;

/// An error in project 2, which accepts pages of `https://shop.example` only.
async fn post_to_project_2(collector: &Service, body: &Value) {
    let response = http()
        .post(format!("{}/api/2/events?key={OTHER_KEY}", collector.base))
        .header("content-type", "text/plain")
        .header("origin", "https://shop.example")
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

/// A free port of 127.0.0.1 for the alerter, so the processor can be told where it will
/// listen before it starts (the screen is first read while the alerter is not running).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn post_form(processor: &Service, path: &str, cookie: &str, body: &str) -> u16 {
    no_redirects()
        .post(format!("{}{path}", processor.base))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_alerts_screen_shows_what_the_alerter_sent_to_those_who_may_see_it() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), Some(SECRET));
    let port = free_port();
    env.settings.alerter.listen = ([127, 0, 0, 1], port).into();
    env.settings.processor.alerter_url = format!("http://127.0.0.1:{port}/").parse().expect("URL");
    let rule = |name: &str, condition| RuleSettings {
        name: name.into(),
        condition,
        projects: Vec::new(),
        environments: Vec::new(),
        levels: Vec::new(),
        channels: Vec::new(),
        cooldown_secs: None,
    };
    env.settings.alerter.rules = vec![
        rule("new issues", Condition::NewIssue),
        rule(
            "every error",
            Condition::Frequency {
                threshold: NonZeroU64::MIN,
                window_secs: NonZeroU64::new(60).expect("not zero"),
            },
        ),
    ];
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;
    admin::users::create(&env.settings, ADMIN, PASSWORD, true, &[])
        .await
        .expect("the admin");
    admin::users::create(&env.settings, MEMBER, PASSWORD, false, &[1])
        .await
        .expect("the member");

    // The alerter never ran: no records yet, and the screen says why.
    let admin_cookie = sign_in(&processor, ADMIN).await;
    let page = get(&processor, "/alerts?lang=en", &admin_cookie).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");
    assert!(html.contains("id=\"alerts-empty\""), "{html}");
    assert!(html.contains("The alerter has not started yet"), "{html}");
    // ... and its channel is listed with the button that would test it.
    assert!(html.contains("/alerts/channels/ops/test"), "{html}");

    let alerter = Service::alerter(&env.settings).await;
    let stack = |m: &str| format!("{m}\n    at pay (https://shop.example/app.js:20:3)");
    post(
        &http(),
        &collector,
        &json!({"type": "error", "message": "TypeError: alert me", "stack": stack("TypeError: alert me")}),
    )
    .await;
    post_to_project_2(
        &collector,
        &json!({"type": "error", "message": "RangeError: not yours", "stack": stack("RangeError: not yours"), "url": "https://shop.example/"}),
    )
    .await;
    let mine = issue_id(&processor, "alert me").await;
    // Each error notified by both rules, and recorded as sent.
    eventually("four notifications sent", WAIT, || async {
        let answer: Value = http()
            .get(format!("{}/api/alerts", alerter.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let alerts = answer["alerts"].as_array()?;
        (alerts.len() == 4 && alerts.iter().all(|a| a["status"] == "sent")).then_some(())
    })
    .await;
    assert_eq!(receiver.delivered("/ops").len(), 4);

    let shots = format!("{}/../target/dashboard-screens", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![browser_script("dashboard-alerts.mjs")];
    for (name, value) in [
        ("--base", processor.base.as_str()),
        ("--admin", ADMIN),
        ("--member", MEMBER),
        ("--password", PASSWORD),
        ("--project", "1"),
        ("--other-project", "2"),
        ("--channel", "ops"),
        ("--shots", &shots),
    ] {
        args.extend([name.to_owned(), value.to_owned()]);
    }
    let report = node_report(args).await;

    // The admin: both projects' notifications, newest first, each linked to its issue,
    // whether the message named its id (new issue) or only its fingerprint (frequency).
    let issue_link = format!("/projects/1/issues/{mine}");
    for lang in ["en", "zh"] {
        let screen = &report["screens"][format!("alerts-{lang}")];
        let rows = screen["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 4, "{lang}: {screen:#}");
        let rows_of =
            |issue: &str| -> Vec<&Value> { rows.iter().filter(|r| r["issue"] == issue).collect() };
        let own = rows_of("TypeError: alert me");
        assert_eq!(own.len(), 2, "{screen:#}");
        for row in own {
            assert_eq!(row["link"], issue_link.as_str(), "{screen:#}");
            assert_eq!(row["project"], "test");
        }
        let other = rows_of("RangeError: not yours");
        assert_eq!(other.len(), 2, "{screen:#}");
        assert_eq!(other[0]["project"], "shop");
        assert_eq!(other[0]["link"], other[1]["link"], "{screen:#}");
        assert!(
            other[0]["link"]
                .as_str()
                .is_some_and(|l| l.starts_with("/projects/2/issues/")),
            "{screen:#}"
        );
        for row in rows {
            assert_eq!(row["channel"], "ops");
            assert_eq!(row["status"], "sent");
            assert_eq!(row["attempts"], "1");
        }
        assert_eq!(screen["channels"], json!(["ops"]));
        assert_eq!(screen["test_buttons"], 1);
        assert_eq!(screen["rules"], json!(["new issues", "every error"]));
        assert_eq!(screen["axe"], json!([]), "{lang}: {screen:#}");
        assert_eq!(screen["overflow"], 0, "{lang}");
    }
    assert_eq!(report["screens"]["alerts-en"]["h1"], "Alerts");
    assert_eq!(report["screens"]["alerts-en"]["rows"][0]["outcome"], "Sent");
    assert_eq!(report["screens"]["alerts-zh"]["h1"], "告警");
    assert_eq!(report["screens"]["alerts-zh"]["lang"], "zh-CN");
    assert_eq!(
        report["screens"]["alerts-zh"]["rows"][0]["outcome"],
        "已发送"
    );
    for phone in ["phone-alerts-en", "phone-alerts-zh"] {
        assert_eq!(report["screens"][phone]["overflow"], 0, "{phone}");
    }
    // The filter: one project's.
    let filtered = &report["screens"]["alerts-filtered-en"]["rows"];
    assert_eq!(filtered.as_array().map(Vec::len), Some(2), "{report:#}");
    assert_eq!(filtered[0]["issue"], "TypeError: alert me");
    assert_eq!(filtered[1]["issue"], "TypeError: alert me");
    // A row's link opens the issue's page.
    assert!(
        report["followed"]["path"]
            .as_str()
            .is_some_and(|p| p.contains("/issues/")),
        "{report:#}"
    );

    // "Send a test": the alerter sent the channel a test message, and the page said so.
    assert_eq!(report["test"]["sent"], "true", "{report:#}");
    assert_eq!(report["test"]["path"], "/alerts", "{report:#}");
    assert!(
        report["test"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("ops")),
        "{report:#}"
    );
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 5);
    assert_eq!(delivered[4].json()["kind"], "test");
    assert_eq!(
        report["screens"]["alerts-tested-en"]["axe"],
        json!([]),
        "{report:#}"
    );

    // The member: their project's notification only, no test button, 404 for the other.
    let member = &report["member"];
    assert_eq!(member["status"], 200);
    assert_eq!(
        member["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["issue"].clone())
            .collect::<Vec<_>>(),
        [json!("TypeError: alert me"), json!("TypeError: alert me")],
        "{member:#}"
    );
    assert_eq!(member["test_buttons"], 0);
    assert_eq!(member["other_status"], 404);
    nothing_left_the_page(&report);

    // Over HTTP: a member's test, and a test without this session's token, are refused;
    // a channel that does not exist is not found. None of them reached the receiver.
    let member_cookie = sign_in(&processor, MEMBER).await;
    let member_csrf = csrf(&processor, &member_cookie).await;
    let html = get(&processor, "/alerts", &member_cookie)
        .await
        .text()
        .await
        .expect("a page");
    assert!(!html.contains("not yours"), "{html}");
    assert_eq!(
        post_form(
            &processor,
            "/alerts/channels/ops/test",
            &member_cookie,
            &format!("csrf={member_csrf}")
        )
        .await,
        403
    );
    assert_eq!(
        post_form(&processor, "/alerts/channels/ops/test", &admin_cookie, "").await,
        403
    );
    let admin_csrf = csrf(&processor, &admin_cookie).await;
    assert_eq!(
        post_form(
            &processor,
            "/alerts/channels/nope/test",
            &admin_cookie,
            &format!("csrf={admin_csrf}")
        )
        .await,
        404
    );
    assert_eq!(
        get(&processor, "/alerts", "").await.status(),
        303,
        "no session, no screen"
    );
    assert_eq!(receiver.delivered("/ops").len(), 5);

    collector.stop().await;
    alerter.stop().await;
    processor.stop().await;
    receiver.stop().await;
}
