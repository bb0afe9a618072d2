//! Real `@sentry/browser` SDKs (8.x and the newest major, pinned in
//! `e2e/browser/package-lock.json`) in headless Chromium, pointed at the collector by nothing
//! but a DSN: what they send is stored with its fields, grouped into issues, and every answer
//! is readable by the page; page loads and route changes are page views, and every vital
//! keeps its page; bundled into the site's own script, its errors still group by where they
//! happened; over the rate limit, the SDK backs off.
//!
//! `e2e/browser/drive.mjs` runs the page; `scripts/test` installs Chromium and the npm
//! packages first (`scripts/lib/browser.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use serde_json::Value;
use shared::testing::{TEST_KEY, TestEnv, eventually};

use crate::support::*;

/// Runs one scenario of `drive.mjs` against `collector` and returns its report.
async fn drive(sdk: &str, scenario: &str, collector: &Service) -> Value {
    let dsn = format!(
        "http://{TEST_KEY}@{}/1",
        collector.base.trim_start_matches("http://")
    );
    let args = [
        browser_script("drive.mjs"),
        "--sdk".into(),
        sdk.into(),
        "--scenario".into(),
        scenario.into(),
        "--release".into(),
        "shop@1.4.2".into(),
        "--dsn".into(),
        dsn,
    ];
    node_report(args.into()).await
}

async fn everything_is_stored_and_grouped(sdk: &str) {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    let report = drive(sdk, "all", &collector).await;
    let requests = report["requests"].as_array().expect("requests");
    assert!(requests.len() >= 6, "{report:#}");
    for request in requests {
        assert_eq!(request["status"], 200, "{request:#}");
        // CORS: the page could read every answer.
        assert!(
            request["headers"]["access-control-allow-origin"].is_string(),
            "{request:#}"
        );
    }

    // The issues, as the API shows them once the processor has caught up.
    let expected: BTreeMap<&str, i64> = BTreeMap::from([
        ("TypeError: cart is undefined", 1),
        ("Error: payment failed 402", 1),
        ("Error: checkout failed", 1),
        ("quota exceeded", 1),
        ("Error: coupon expired", 2),
    ]);
    let issues: BTreeMap<String, Value> = eventually("the issues to be counted", WAIT, || async {
        let body = project_get(&processor, "issues?limit=100").await?;
        let issues: BTreeMap<String, Value> = body["issues"]
            .as_array()?
            .iter()
            .map(|issue| {
                (
                    issue["title"].as_str().unwrap_or("").to_owned(),
                    issue.clone(),
                )
            })
            .collect();
        let counts: BTreeMap<&str, i64> = issues
            .iter()
            .map(|(title, issue)| (title.as_str(), issue["count"].as_i64().unwrap_or(0)))
            .collect();
        (counts == expected).then_some(issues)
    })
    .await;
    let coupon = &issues["Error: coupon expired"];
    assert_eq!(coupon["level"], "error");
    assert_eq!(coupon["last_release"], "shop@1.4.2");
    assert_eq!(coupon["user_count"], 1);

    // One stored error, with what the SDK sent and what the processor added.
    let uncaught = issues["TypeError: cart is undefined"]["id"]
        .as_i64()
        .expect("an id");
    let events = project_get(&processor, &format!("issues/{uncaught}/events"))
        .await
        .expect("the issue's events");
    let event = &events["events"][0];
    assert_eq!(event["routing_key"], "error.js");
    assert_eq!(event["release"], "shop@1.4.2");
    assert_eq!(event["environment"], "test");
    assert_eq!(event["user"]["email"], "u1@example.com");
    assert_eq!(event["tags"]["checkout"], "v2");
    let crumbs = event["sentry"]["breadcrumbs"].to_string();
    assert!(crumbs.contains("clicked pay"), "{crumbs}");
    assert_eq!(event["exceptions"][0]["type"], "TypeError");
    assert!(
        event["contexts"]["browser"]["name"]
            .as_str()
            .is_some_and(|name| name.contains("Chrome")),
        "{:#}",
        event["contexts"]
    );
    assert_eq!(event["contexts"]["os"]["name"], "Linux");

    // The info message is kept, but it is not an issue.
    let messages = project_get(&processor, "events?kind=log.message")
        .await
        .expect("messages");
    assert_eq!(messages["events"][0]["message"], "cache warmed");
    let sessions = project_get(&processor, "events?kind=behavior.session")
        .await
        .expect("sessions");
    assert!(
        !sessions["events"].as_array().expect("a list").is_empty(),
        "the SDK's sessions are stored"
    );

    collector.stop().await;
    processor.stop().await;
}

#[tokio::test]
async fn sentry_browser_8_is_stored_and_grouped() {
    everything_is_stored_and_grouped("8").await;
}

#[tokio::test]
async fn sentry_browser_latest_is_stored_and_grouped() {
    everything_is_stored_and_grouped("latest").await;
}

/// A site with nothing but the Sentry SDK and its tracing: its page load and its route change
/// are page views, and every web vital is stored on the page it was measured on.
async fn page_views_and_vitals_have_their_page(sdk: &str) {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    let report = drive(sdk, "tracing", &collector).await;
    for request in report["requests"].as_array().expect("requests") {
        assert_eq!(request["status"], 200, "{request:#}");
    }
    let origin = report["page_origin"].as_str().expect("the page's origin");
    let list = |body: Option<Value>| -> Option<Vec<Value>> { body?["events"].as_array().cloned() };
    let (views, vitals) = eventually("the page views and vitals to be stored", WAIT, || async {
        let views = list(project_get(&processor, "events?kind=behavior.pageview&limit=100").await)?;
        let vitals = list(project_get(&processor, "events?kind=perf.vital&limit=100").await)?;
        let names: BTreeSet<&str> = vitals.iter().filter_map(|v| v["name"].as_str()).collect();
        let all = BTreeSet::from(["CLS", "FCP", "INP", "LCP", "TTFB"]);
        (views.len() >= 2 && names == all).then_some((views, vitals))
    })
    .await;

    // The page load of `/`, then the client-side route change to `/checkout/done`: one
    // page view each, with what the other events of the page get.
    let mut pages: Vec<&str> = views.iter().filter_map(|v| v["url"].as_str()).collect();
    pages.sort_unstable();
    assert_eq!(
        pages,
        [format!("{origin}/"), format!("{origin}/checkout/done")],
        "{views:#?}"
    );
    for view in &views {
        assert_eq!(view["release"], "shop@1.4.2", "{view:#}");
        assert_eq!(view["environment"], "test", "{view:#}");
        assert_eq!(view["user"]["id"], "user-1", "{view:#}");
        assert!(
            view["contexts"]["browser"]["name"]
                .as_str()
                .is_some_and(|name| name.contains("Chrome")),
            "{view:#}"
        );
    }

    // Every vital was measured on `/`: CLS and INP too, which SDK 11 sends only when the
    // page is hidden, after the route change, naming nothing but the page load's span.
    for vital in &vitals {
        assert_eq!(vital["release"], "shop@1.4.2", "{vital:#}");
        if sdk == "8" && vital["name"] == "INP" {
            // SDK 8's INP span names its page (`transaction`) but sends no address.
            assert_eq!(vital["route"], "/", "{vital:#}");
            assert!(vital["url"].is_null(), "{vital:#}");
            continue;
        }
        assert_eq!(vital["url"], format!("{origin}/"), "{vital:#}");
    }

    collector.stop().await;
    processor.stop().await;
}

#[tokio::test]
async fn sentry_browser_8_page_views_and_vitals_have_their_page() {
    page_views_and_vitals_have_their_page("8").await;
}

#[tokio::test]
async fn sentry_browser_latest_page_views_and_vitals_have_their_page() {
    page_views_and_vitals_have_their_page("latest").await;
}

/// The four errors of the `bundled-sdk` scenario, as the SDK sent them: each title
/// (`Type: value`) and the line of its innermost frame in the bundle, if the SDK gave one.
fn bundled_sdk_errors(report: &Value) -> BTreeMap<String, Option<i64>> {
    for request in report["requests"].as_array().expect("requests") {
        assert_eq!(request["status"], 200, "{request:#}");
    }
    let errors: BTreeMap<String, Option<i64>> = report["errors"]
        .as_array()
        .expect("the errors the SDK sent")
        .iter()
        .map(|error| {
            let title = format!(
                "{}: {}",
                error["type"].as_str().expect("a type"),
                error["value"].as_str().expect("a value")
            );
            (title, error["innermost"]["lineno"].as_i64())
        })
        .collect();
    assert_eq!(errors.len(), 4, "four errors, four titles: {report:#}");
    errors
}

/// The project's issues by title, once they count `events` events between them.
async fn issues_once_counted(processor: &Service, events: i64) -> BTreeMap<String, Value> {
    eventually(&format!("{events} events to be counted"), WAIT, || async {
        let body = project_get(processor, "issues?status=all&limit=100").await?;
        let issues = body["issues"].as_array()?;
        let counted: i64 = issues.iter().filter_map(|i| i["count"].as_i64()).sum();
        (counted == events).then(|| {
            issues
                .iter()
                .map(|issue| {
                    (
                        issue["title"].as_str().unwrap_or("").to_owned(),
                        issue.clone(),
                    )
                })
                .collect()
        })
    })
    .await
}

/// `@sentry/browser` bundled and minified with the site's own code into one script, as many
/// sites ship it: its wrappers around timers and listeners get one- or two-letter names and
/// are the outermost frame of every error from an anonymous callback, and `JSON.parse` is an
/// in-app frame as the SDK sends it. Four errors from four places are still four issues, each
/// titled after its own error and blamed on the site's code; a second page load counts into
/// the same four.
async fn a_bundled_sdk_s_errors_are_their_own_issues(sdk: &str) {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    let report = drive(sdk, "bundled-sdk", &collector).await;
    let sent = bundled_sdk_errors(&report);
    let title = |needle: &str| -> String {
        sent.keys()
            .find(|title| title.contains(needle))
            .unwrap_or_else(|| panic!("no error with {needle:?} was sent: {report:#}"))
            .clone()
    };
    let uncaught = title("Error: bundled uncaught: the cart timer failed");
    let rejection = title("Error: bundled rejection: the payment was declined");
    let handler = title("Error: bundled click handler: the pay button failed");
    let parse = title("SyntaxError: ");

    let issues = issues_once_counted(&processor, 4).await;
    let titles: BTreeSet<&String> = issues.keys().collect();
    assert_eq!(
        titles,
        sent.keys().collect(),
        "one issue per error, titled after it: {issues:#?}"
    );
    for issue in issues.values() {
        assert_eq!(issue["count"], 1, "{issue:#}");
    }

    // Thrown by anonymous functions: blamed on the bundle's line, where the SDK saw them.
    for anonymous in [&uncaught, &rejection, &handler] {
        let line = sent[anonymous].expect("the SDK sent the line");
        assert_eq!(
            issues[anonymous]["culprit"],
            format!("app.min.js:{line}"),
            "{:#}",
            issues[anonymous]
        );
    }
    // Thrown by the engine's `JSON.parse`, called by the site's `loadSettings`.
    assert_eq!(
        issues[&parse]["culprit"], "loadSettings (app.min.js)",
        "{:#}",
        issues[&parse]
    );

    // A second page load, another browser: the same four issues, counting two each.
    let again = drive(sdk, "bundled-sdk", &collector).await;
    assert_eq!(
        bundled_sdk_errors(&again).keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>()
    );
    let counted = issues_once_counted(&processor, 8).await;
    for (title, issue) in &issues {
        let after = counted
            .get(title)
            .unwrap_or_else(|| panic!("{title} is gone: {counted:#?}"));
        assert_eq!(after["id"], issue["id"], "{after:#}");
        assert_eq!(after["count"], 2, "{after:#}");
    }
    assert_eq!(counted.len(), 4, "no new issues: {counted:#?}");

    collector.stop().await;
    processor.stop().await;
}

#[tokio::test]
async fn sentry_browser_8_bundled_errors_are_their_own_issues() {
    a_bundled_sdk_s_errors_are_their_own_issues("8").await;
}

#[tokio::test]
async fn sentry_browser_latest_bundled_errors_are_their_own_issues() {
    a_bundled_sdk_s_errors_are_their_own_issues("latest").await;
}

#[tokio::test]
async fn over_the_rate_limit_the_sdk_backs_off() {
    let mut env = TestEnv::new();
    env.settings.projects[0].rate_limit_per_minute = NonZeroU32::new(10);
    let collector = Service::collector(&env.settings).await;

    let report = drive("8", "flood", &collector).await;
    let statuses = &report["status_counts"];
    let refused = statuses["429"].as_u64().unwrap_or(0);
    assert!(refused >= 1, "{report:#}");
    // It read our headers (CORS exposes them) and stopped sending: fewer requests than
    // events captured, and it says why in its client report.
    let sent = report["requests"].as_array().expect("requests").len() as u64;
    let captured = report["captured"].as_u64().expect("captured");
    assert!(
        sent < captured,
        "sent {sent} for {captured} captured: {report:#}"
    );
    let dropped = report["dropped"]["ratelimit_backoff:error"]
        .as_u64()
        .unwrap_or(0);
    assert!(dropped > 0, "{report:#}");
    let refusal = report["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["status"] == 429)
        .expect("a 429");
    assert!(refusal["headers"]["x-sentry-rate-limits"].is_string());
    collector.stop().await;
}
