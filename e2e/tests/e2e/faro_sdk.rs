//! The real `@grafana/faro-web-sdk` (pinned in `e2e/browser/package-lock.json`) in headless
//! Chromium, pointed at the collector by nothing but its `url` and `apiKey`: its error, its
//! web vitals, its page load and its session are stored with their fields, the error is an
//! issue, and a batch the SDK sends again after a lost answer is stored once.
//!
//! `e2e/browser/faro.mjs` runs the page; `scripts/test` installs Chromium and the npm
//! packages first (`scripts/lib/browser.sh`).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::testing::{TEST_KEY, TestEnv, eventually};

use crate::support::*;

const TITLE: &str = "TypeError: Cannot read properties of undefined (reading 'items')";

/// Runs `faro.mjs` against `collector` (project 1) and returns its report.
async fn drive(collector: &Service, extra: &[&str]) -> Value {
    let mut args = vec![
        browser_script("faro.mjs"),
        "--url".into(),
        format!("{}/collect/1", collector.base),
        "--key".into(),
        TEST_KEY.into(),
        "--release".into(),
        "shop@1.4.2".into(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    node_report(args).await
}

async fn events(processor: &Service, kind: &str) -> Option<Vec<Value>> {
    project_get(processor, &format!("events?kind={kind}&limit=100")).await?["events"]
        .as_array()
        .cloned()
}

#[tokio::test]
async fn faro_errors_vitals_page_views_and_sessions_are_stored_and_grouped() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    let report = drive(&collector, &[]).await;
    let origin = report["page_origin"].as_str().expect("the page's origin");
    let requests = report["requests"].as_array().expect("requests");
    assert!(requests.len() >= 3, "{report:#}");
    for request in requests {
        // Alloy's answer, readable by the page on its other origin.
        assert_eq!(request["status"], 202, "{request:#}");
        assert_eq!(request["response_body"], "ok", "{request:#}");
        assert_eq!(
            request["headers"]["access-control-allow-origin"], origin,
            "{request:#}"
        );
        assert!(request["idempotency_key"].is_string(), "{request:#}");
    }

    let issue = eventually("the error to be an issue", WAIT, || async {
        let body = project_get(&processor, "issues?limit=100").await?;
        body["issues"]
            .as_array()?
            .iter()
            .find(|issue| issue["title"] == TITLE)
            .cloned()
    })
    .await;
    assert_eq!(issue["count"], 1, "{issue:#}");
    assert_eq!(issue["level"], "error", "{issue:#}");
    assert_eq!(issue["last_release"], "shop@1.4.2", "{issue:#}");
    assert_eq!(issue["user_count"], 1, "{issue:#}");
    assert!(
        issue["culprit"]
            .as_str()
            .is_some_and(|culprit| culprit.contains("renderCart")),
        "{issue:#}"
    );
    let id = issue["id"].as_i64().expect("an id");
    let events_of_issue = project_get(&processor, &format!("issues/{id}/events"))
        .await
        .expect("the issue's events");
    let error = &events_of_issue["events"][0];
    assert_eq!(error["routing_key"], "error.js");
    assert_eq!(error["release"], "shop@1.4.2");
    assert_eq!(error["environment"], "test");
    assert_eq!(error["user"]["email"], "u1@example.com");
    assert_eq!(error["url"], format!("{origin}/checkout/done"));
    let session = error["session_id"].as_str().expect("the SDK's session");
    let frames = error["exceptions"][0]["frames"].as_array().expect("frames");
    let innermost = frames.last().expect("a frame");
    assert_eq!(innermost["function"], "renderCart", "{frames:#?}");
    assert_eq!(innermost["abs_path"], format!("{origin}/app.js"));
    assert!(
        error["contexts"]["browser"]["name"]
            .as_str()
            .is_some_and(|name| name.contains("Chrome")),
        "{:#}",
        error["contexts"]
    );

    // The vitals the SDK measured, each with its rating and page.
    let vitals = eventually("the vitals to be stored", WAIT, || async {
        let vitals = events(&processor, "perf.vital").await?;
        let names: BTreeSet<&str> = vitals.iter().filter_map(|v| v["name"].as_str()).collect();
        names
            .is_superset(&BTreeSet::from(["CLS", "FCP", "LCP", "TTFB"]))
            .then_some(vitals)
    })
    .await;
    for vital in &vitals {
        assert_eq!(vital["release"], "shop@1.4.2", "{vital:#}");
        assert_eq!(vital["session_id"], session, "{vital:#}");
        assert!(vital["rating"].is_string(), "{vital:#}");
        assert!(vital["value"].as_f64().is_some(), "{vital:#}");
        assert!(
            vital["url"]
                .as_str()
                .is_some_and(|url| url.starts_with(origin)),
            "{vital:#}"
        );
    }

    // The page load, the session's start, the app's log.
    let views = events(&processor, "behavior.pageview")
        .await
        .expect("page views");
    assert_eq!(views.len(), 1, "{views:#?}");
    assert_eq!(views[0]["url"], format!("{origin}/"));
    assert_eq!(views[0]["session_id"], session);
    let sessions = events(&processor, "behavior.session")
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["sid"], session);
    assert_eq!(sessions[0]["init"], true);
    let logs = events(&processor, "log.message").await.expect("logs");
    assert_eq!(logs[0]["message"], "cache warmed");

    collector.stop().await;
    processor.stop().await;
}

/// The first batch reaches the collector, but the page is told 503 (the answer was lost):
/// the SDK sends the same batch again, with the same `Idempotency-Key`, and its events are
/// stored once.
#[tokio::test]
async fn a_batch_the_faro_sdk_sends_again_is_stored_once() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    let report = drive(&collector, &["--fail-first"]).await;
    let requests = report["requests"].as_array().expect("requests");
    assert_eq!(requests[0]["status"], 503, "{report:#}");
    let retry = requests
        .iter()
        .skip(1)
        .find(|request| request["idempotency_key"] == requests[0]["idempotency_key"])
        .unwrap_or_else(|| panic!("the SDK retried the batch: {report:#}"));
    assert_eq!(retry["status"], 202, "{retry:#}");
    assert_eq!(retry["signals"], requests[0]["signals"], "the same batch");
    let first_events = requests[0]["signals"]["events"].clone();
    assert!(
        first_events
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e == "session_start")),
        "{report:#}"
    );

    // Everything the SDK sent is in the queue before this marker (each 2xx came after the
    // broker's confirm), so once the marker is stored, so is every copy of the batch.
    let marker = http()
        .post(format!("{}/api/1/events?key={TEST_KEY}", collector.base))
        .body(json!({"type": "custom", "name": "faro-marker"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(marker.status(), 200);
    eventually("the marker to be stored", WAIT, || async {
        let custom = events(&processor, "custom.event").await?;
        custom
            .iter()
            .any(|event| event["name"] == "faro-marker")
            .then_some(())
    })
    .await;
    let sessions = events(&processor, "behavior.session")
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1, "stored once: {sessions:#?}");
    let views = events(&processor, "behavior.pageview")
        .await
        .expect("views");
    assert_eq!(views.len(), 1, "stored once: {views:#?}");

    collector.stop().await;
    processor.stop().await;
}

/// An SPA on Faro: the router names the first view (`home`), then three clicks change the
/// address (pushState), the view (`faro.api.setView`) and the DOM. Stored: four page views of
/// one session, the load and one per route change, each with its address and its view as the
/// route (the load's is `home`); the first view is no page view of its own (the load is).
#[tokio::test]
async fn faro_route_changes_are_page_views_of_one_session() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    let report = drive(&collector, &["--spa"]).await;
    let origin = report["page_origin"].as_str().expect("the page's origin");
    for request in report["requests"].as_array().expect("requests") {
        assert_eq!(request["status"], 202, "{request:#}");
    }
    // Everything the SDK sent was confirmed before its 202: once this marker is stored, so is
    // every page view.
    let marker = http()
        .post(format!("{}/api/1/events?key={TEST_KEY}", collector.base))
        .body(json!({"type": "custom", "name": "faro-marker"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(marker.status(), 200);
    let custom = eventually("the marker to be stored", WAIT, || async {
        let custom = events(&processor, "custom.event").await?;
        custom
            .iter()
            .any(|event| event["name"] == "faro-marker")
            .then_some(custom)
    })
    .await;
    let views = events(&processor, "behavior.pageview")
        .await
        .expect("page views");
    let mut pages: Vec<(String, Value)> = views
        .iter()
        .map(|v| {
            (
                v["url"].as_str().unwrap_or("").to_owned(),
                v["route"].clone(),
            )
        })
        .collect();
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        pages,
        [
            (format!("{origin}/"), json!("home")),
            (format!("{origin}/spa/address"), json!("address")),
            (format!("{origin}/spa/cart"), json!("cart")),
            (format!("{origin}/spa/done"), json!("done")),
        ],
        "{views:#?}"
    );
    let sessions: BTreeSet<&str> = views
        .iter()
        .filter_map(|v| v["session_id"].as_str())
        .collect();
    assert_eq!(sessions.len(), 1, "{views:#?}");
    // The page's first view, named by the router at load: a custom event, not a page view.
    assert!(
        custom
            .iter()
            .any(|e| e["name"] == "view_changed" && e["data"]["attributes"]["toView"] == "home"),
        "{custom:#?}"
    );

    collector.stop().await;
    processor.stop().await;
}
