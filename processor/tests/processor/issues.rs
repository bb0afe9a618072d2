//! Errors grouped into issues: counted once per event, whatever the redeliveries; resolved,
//! and back as a regression when the error returns.

use std::collections::HashMap;

use serde_json::{Value, json};
use shared::config::Consumers;
use shared::event::{Client, User};
use shared::testing::{ADMIN_TOKEN, TestEnv, eventually};

use crate::support::{
    NoticeTap, TestApp, WAIT, database, http, ids, js_error, now, pageview, publish, publisher,
    take_dead_letters, wait_outbox_empty, wait_queue_depth,
};

/// The project's issues (all statuses), once `expected_events` errors have been counted.
async fn issues_when_counted(app: &TestApp, expected_events: i64) -> Vec<Value> {
    eventually(
        &format!("{expected_events} errors counted into issues"),
        WAIT,
        || async {
            let (status, body) = app.get("/api/projects/1/issues?status=all&limit=100").await;
            assert_eq!(status, 200, "{body}");
            let issues = body["issues"].as_array()?.clone();
            let counted: i64 = issues
                .iter()
                .map(|i| i["count"].as_i64().unwrap_or(0))
                .sum();
            (counted >= expected_events).then_some(issues)
        },
    )
    .await
}

async fn patch(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = http()
        .patch(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_same_error_is_one_issue_counted_once_per_event() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;

    let t = now();
    let mut first = js_error("cart is undefined", t);
    first.user = Some(User {
        id: Some("ann".into()),
        ..User::default()
    });
    let mut second = js_error("cart is undefined", t + chrono::Duration::seconds(1));
    second.user = Some(User {
        id: Some("bob".into()),
        ..User::default()
    });
    second.release = Some("1.5.0".into());
    let mut third = js_error("cart is undefined", t + chrono::Duration::seconds(2));
    third.user = Some(User {
        id: Some("ann".into()),
        ..User::default()
    });
    let mut anonymous = js_error("cart is undefined", t + chrono::Duration::seconds(3));
    anonymous.client = Client {
        ip: Some("203.0.113.7".parse().unwrap()),
        user_agent: None,
    };
    let mut other = js_error("payment declined", t);
    other.stack =
        Some("Error: payment declined\n    at pay (https://shop.example/pay.js:3:1)".into());
    // Copies of `first` in the same batch and in a later one, and a page view: none may count.
    publish(
        &publisher,
        &[
            first.clone(),
            first.clone(),
            second.clone(),
            other.clone(),
            pageview(t),
        ],
    )
    .await;
    publish(
        &publisher,
        &[first.clone(), third.clone(), anonymous.clone()],
    )
    .await;

    let issues = issues_when_counted(&app, 5).await;
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let cart = issues
        .iter()
        .find(|i| i["title"] == "Error: cart is undefined")
        .expect("cart issue");
    assert_eq!(
        cart["count"], 4,
        "four events, the redelivery not counted: {cart}"
    );
    assert_eq!(cart["user_count"], 3, "ann, bob and an address: {cart}");
    assert_eq!(cart["status"], "unresolved");
    assert_eq!(cart["level"], "error");
    assert_eq!(cart["first_release"], "1.4.2");
    assert_eq!(
        cart["last_release"], "1.4.2",
        "the latest event's release: {cart}"
    );
    assert_eq!(cart["grouping_version"], 2);
    assert_eq!(cart["fingerprint"].as_str().map(str::len), Some(32));
    assert_eq!(
        cart["culprit"],
        Value::Null,
        "no in-app frame in the test stack: {cart}"
    );

    // The issue's events are exactly its four.
    let id = cart["id"].as_i64().unwrap();
    let (status, body) = app
        .get(&format!("/api/projects/1/issues/{id}/events"))
        .await;
    assert_eq!(status, 200);
    let mut listed: Vec<String> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().replace('-', ""))
        .collect();
    listed.sort();
    let mut expected: Vec<String> = ids(&[first, second, third, anonymous])
        .iter()
        .map(ToString::to_string)
        .collect();
    expected.sort();
    assert_eq!(listed, expected);

    let other_issue = issues
        .iter()
        .find(|i| i["title"] == "Error: payment declined")
        .expect("other issue");
    assert_eq!(other_issue["count"], 1);
    assert_eq!(other_issue["culprit"], "pay (pay.js)");

    // Sorted by count, searched by title.
    let (_, body) = app.get("/api/projects/1/issues?sort=count").await;
    assert_eq!(body["issues"][0]["id"], id);
    let (_, body) = app.get("/api/projects/1/issues?query=PAYMENT").await;
    assert_eq!(body["issues"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["issues"][0]["title"], "Error: payment declined");
    let (_, page) = app.get("/api/projects/1/issues?limit=1").await;
    assert_eq!(page["issues"].as_array().map(Vec::len), Some(1));
    let next = page["next"].as_str().expect("a second page");
    let (_, page) = app
        .get(&format!("/api/projects/1/issues?limit=1&cursor={next}"))
        .await;
    assert_eq!(page["issues"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next"], Value::Null);

    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_resolved_issue_comes_back_as_a_regression() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let notices = NoticeTap::bind(&env).await;
    let publisher = publisher(&env).await;
    let first = js_error("boom", now());
    publish(&publisher, std::slice::from_ref(&first)).await;
    let issues = issues_when_counted(&app, 1).await;
    let id = issues[0]["id"].as_i64().unwrap();
    let path = format!("/api/projects/1/issues/{id}");
    // Its creation is announced, with the event that created it, for `new_issue` alerts.
    let (key, notice) = notices.next().await;
    assert_eq!(key, "issue.created");
    assert_eq!(notice["kind"], "created");
    assert_eq!(notice["issue_id"], id);
    assert_eq!(notice["fingerprint"], issues[0]["fingerprint"]);
    assert_eq!(notice["title"], issues[0]["title"]);
    assert_eq!(notice["count"], 1);
    assert_eq!(
        notice["event"]["event_id"],
        serde_json::to_value(first.event_id).unwrap()
    );
    assert_eq!(notice["event"]["routing_key"], "error.js");

    let (status, resolved) = patch(&app, &path, &json!({"status": "resolved"})).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string());
    // Announced on the exchange, for the alerter.
    let (key, notice) = notices.next().await;
    assert_eq!(key, "issue.resolved");
    assert_eq!(notice["kind"], "resolved");
    assert_eq!(notice["issue_id"], id);
    assert_eq!(notice["fingerprint"], issues[0]["fingerprint"]);
    // Resolving it again changes nothing and announces nothing (checked below: the next
    // notice is the regression).
    let (status, _) = patch(&app, &path, &json!({"status": "resolved"})).await;
    assert_eq!(status, 200);
    let (_, unresolved) = app.get("/api/projects/1/issues").await;
    assert_eq!(
        unresolved["issues"].as_array().map(Vec::len),
        Some(0),
        "the default lists unresolved issues"
    );

    let comeback = js_error("boom", now());
    publish(&publisher, std::slice::from_ref(&comeback)).await;
    issues_when_counted(&app, 2).await;
    let (_, issue) = app.get(&path).await;
    assert_eq!(issue["status"], "unresolved");
    assert!(issue["regressed_at"].is_string(), "{issue}");
    assert_eq!(issue["count"], 2);
    let (key, notice) = notices.next().await;
    assert_eq!(key, "issue.regressed");
    assert_eq!(notice["issue_id"], id);
    assert_eq!(notice["count"], 2);
    assert_eq!(
        notice["event"]["event_id"],
        serde_json::to_value(comeback.event_id).unwrap()
    );
    // The notices came back through the processor's own queue (bound to everything) and
    // were acked there, not dead-lettered.
    wait_queue_depth(&env, &env.topology().processor.name, 0).await;
    assert!(take_dead_letters(&env).await.is_empty());
    notices.close().await;

    let (status, ignored) = patch(&app, &path, &json!({"status": "ignored"})).await;
    assert_eq!((status, ignored["status"].as_str()), (200, Some("ignored")));
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_issue_api_says_what_is_wrong() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    for (path, status, mentions) in [
        ("/api/projects/1/issues?status=open", 400, "status"),
        ("/api/projects/1/issues?sort=newest", 400, "sort"),
        ("/api/projects/1/issues?cursor=-3", 400, "cursor"),
        ("/api/projects/1/issues/abc", 400, "issue_id"),
        ("/api/projects/1/issues/999999", 404, "no issue 999999"),
        (
            "/api/projects/1/issues/999999/events",
            404,
            "no issue 999999",
        ),
        ("/api/projects/99/issues", 404, "unknown project 99"),
    ] {
        let (got, body) = app.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains(mentions),
            "{path}: {body}"
        );
    }
    let (status, body) = patch(&app, "/api/projects/1/issues/1", &json!({"status": "done"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown variant"),
        "{body}"
    );
    let unauthenticated = http()
        .patch(app.url("/api/projects/1/issues/1"))
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn sentry_errors_keep_their_level_and_users_and_addresses_follow_the_project() {
    let mut env = TestEnv::new();
    env.settings.projects[1].store_ip = false;
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let sentry_error = |project: u32, email: &str| {
        let mut event = js_error("TypeError: cart is undefined", now());
        event.project_id = crate::support::project(project);
        event.level = Some(shared::event::Level::Fatal);
        event.user = Some(User {
            email: Some(email.into()),
            ip_address: Some(shared::event::AUTO_IP.into()),
            ..User::default()
        });
        event.client = Client {
            ip: Some("198.51.100.4".parse().unwrap()),
            user_agent: None,
        };
        event
    };
    let kept = [
        sentry_error(1, "ann@example.com"),
        sentry_error(1, "bob@example.com"),
    ];
    let private = sentry_error(2, "cy@example.com");
    publish(&publisher, &kept).await;
    publish(&publisher, std::slice::from_ref(&private)).await;
    app.wait_for_events(&ids(&kept)).await;

    let issues = issues_when_counted(&app, 2).await;
    assert_eq!(issues[0]["level"], "fatal");
    assert_eq!(issues[0]["user_count"], 2, "users told apart by e-mail");

    // `{{auto}}`: the sender's address, where the project keeps addresses...
    let stored = app.event(kept[0].event_id).await.expect("stored");
    assert_eq!(stored["user"]["ip_address"], "198.51.100.4");
    // ... and no address at all where it does not.
    let path = format!("/api/projects/2/events/{}", private.event_id);
    let hidden = eventually("project 2's event to be stored", WAIT, || async {
        let (status, body) = app.get(&path).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(hidden["user"]["email"], "cy@example.com");
    assert!(hidden["user"].get("ip_address").is_none(), "{hidden}");
    assert!(!hidden.to_string().contains("198.51.100.4"), "{hidden}");
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn concurrent_sessions_count_issues_exactly_whatever_the_commit_order() {
    let mut env = TestEnv::new();
    // Many small batches over four sessions: batches of the same issues, new ones included,
    // are written side by side, and commit in no particular order.
    env.settings.processor.consumers = Consumers::new(4).expect("in range");
    env.settings.processor.prefetch = 10.try_into().expect("not zero");
    env.settings.processor.batch_size = 7.try_into().expect("not zero");
    let app = TestApp::ready(&env.settings).await;
    let notices = NoticeTap::bind(&env).await;
    let publisher = publisher(&env).await;

    const ISSUES: usize = 20;
    const PER_ISSUE: usize = 25;
    let t = now();
    let mut events = Vec::with_capacity(ISSUES * PER_ISSUE);
    // The latest events are published first, so arrival order is the reverse of time
    // order: releases and titles must follow the receive time, not the commit order.
    for j in (0..PER_ISSUE).rev() {
        for i in 0..ISSUES {
            let mut error = js_error(
                &format!("failure {i} at step {j}"),
                t + chrono::Duration::seconds(j as i64),
            );
            error.stack = Some(format!(
                "Error: failure {i}\n    at step{i} (https://shop.example/app.js:{j}:1)"
            ));
            error.release = Some(format!("1.0.{j}"));
            error.user = Some(User {
                id: Some(format!("user-{}", j % 5)),
                ..User::default()
            });
            events.push(error);
        }
    }
    // Copies, as an SDK's retry sends them: stored and counted once.
    let copies: Vec<_> = events.iter().step_by(7).cloned().collect();
    let mut all = events.clone();
    all.extend(copies.iter().cloned());
    for chunk in all.chunks(50) {
        publish(&publisher, chunk).await;
    }

    app.wait_for_metric(
        "frontmon_processor_events_stored_total",
        events.len() as f64,
    )
    .await;
    app.wait_for_metric(
        "frontmon_processor_events_duplicate_total",
        copies.len() as f64,
    )
    .await;
    let issues = issues_when_counted(&app, events.len() as i64).await;
    assert_eq!(issues.len(), ISSUES, "one issue per stack: {issues:#?}");
    for issue in &issues {
        assert_eq!(issue["count"], PER_ISSUE as i64, "{issue}");
        assert_eq!(issue["user_count"], 5, "{issue}");
        assert_eq!(
            issue["first_release"], "1.0.0",
            "the earliest event's: {issue}"
        );
        let last = format!("1.0.{}", PER_ISSUE - 1);
        assert_eq!(
            issue["last_release"],
            last.as_str(),
            "the latest event's: {issue}"
        );
        let title = issue["title"].as_str().unwrap_or_default();
        assert!(
            title.ends_with(&format!("at step {}", PER_ISSUE - 1)),
            "the latest event's title: {issue}"
        );
    }
    assert!(
        take_dead_letters(&env).await.is_empty(),
        "nothing dead-lettered"
    );

    // Each issue announced as created once, though batches raced to create it.
    wait_outbox_empty(&database(&env).await).await;
    let mut created: HashMap<i64, Value> = HashMap::new();
    while let Some((key, notice)) = notices.try_next().await {
        assert_eq!(key, "issue.created", "{notice}");
        let id = notice["issue_id"].as_i64().expect("an issue id");
        assert!(
            created.insert(id, notice).is_none(),
            "issue {id} announced twice"
        );
    }
    assert_eq!(created.len(), ISSUES);
    for issue in &issues {
        let notice = &created[&issue["id"].as_i64().expect("an id")];
        assert_eq!(notice["fingerprint"], issue["fingerprint"]);
        assert!(notice["event"]["event_id"].is_string(), "{notice}");
    }
    notices.close().await;

    publisher.close().await;
    app.stop().await;
}

/// A failed API call from the page at `page`.
fn api_error(method: &str, target: &str, status: u16, page: &str) -> shared::event::Event {
    let mut event = crate::support::event(
        shared::event::Detail::ApiError {
            target: target.into(),
            method: Some(method.into()),
            status: Some(status),
            duration_ms: Some(120.0),
        },
        now(),
    );
    event.url = Some(page.into());
    event.message = Some(format!("{method} {target} {status}"));
    event
}

/// The issue each event was counted into, by event id, once all are stored.
async fn issue_of(app: &TestApp, events: &[shared::event::Event]) -> Vec<i64> {
    app.wait_for_events(&ids(events)).await;
    let mut issues = Vec::with_capacity(events.len());
    for event in events {
        let stored = app.event(event.event_id).await.expect("stored");
        issues.push(stored["issue_id"].as_i64().expect("an issue"));
    }
    issues
}

#[tokio::test]
async fn failed_api_calls_are_one_issue_per_method_host_path_and_status_class() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let notices = NoticeTap::bind(&env).await;
    let publisher = publisher(&env).await;

    // As reproduced from a page on another origin, in one batch: absolute URLs were all one
    // `<url>` issue.
    let page = "https://www.shop.example/checkout";
    let batch = [
        api_error("GET", "https://api.other.example/v2/search", 500, page),
        api_error("GET", "https://shop.example/api/cart", 504, page),
        api_error("GET", "/api/cart", 500, page),
        api_error("GET", "/v2/search", 500, page),
    ];
    publish(&publisher, &batch).await;
    let issues = issue_of(&app, &batch).await;
    let distinct: std::collections::HashSet<i64> = issues.iter().copied().collect();
    assert_eq!(distinct.len(), 4, "four endpoints, four issues: {issues:?}");

    // On the page's own origin, a relative URL is the absolute one's endpoint.
    let same_origin = [api_error(
        "GET",
        "/api/cart?page=2",
        502,
        "https://shop.example/cart",
    )];
    publish(&publisher, &same_origin).await;
    assert_eq!(issue_of(&app, &same_origin).await, [issues[1]]);

    // A newly failing endpoint is a new issue, announced as such; the older one keeps its
    // title.
    let orders = [api_error(
        "POST",
        "https://shop.example/api/orders/12",
        502,
        "https://shop.example/cart",
    )];
    publish(&publisher, &orders).await;
    let orders_issue = issue_of(&app, &orders).await[0];
    let pay = [api_error(
        "POST",
        "https://shop.example/api/pay",
        502,
        "https://shop.example/cart",
    )];
    publish(&publisher, &pay).await;
    let pay_issue = issue_of(&app, &pay).await[0];
    assert_ne!(pay_issue, orders_issue);
    let (_, orders_now) = app
        .get(&format!("/api/projects/1/issues/{orders_issue}"))
        .await;
    assert_eq!(
        orders_now["title"], "POST https://shop.example/api/orders/12 502",
        "{orders_now}"
    );
    assert_eq!(orders_now["grouping_version"], 2);
    wait_outbox_empty(&database(&env).await).await;
    let mut created = Vec::new();
    while let Some((key, notice)) = notices.try_next().await {
        if key == "issue.created" {
            created.push(notice["issue_id"].as_i64().expect("an id"));
        }
    }
    assert!(
        created.contains(&pay_issue) && created.contains(&orders_issue),
        "{created:?}"
    );
    assert_eq!(created.len(), 6, "{created:?}");
    notices.close().await;

    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn issues_of_the_previous_grouping_version_carry_on_where_the_grouping_is_the_same() {
    let mut env = TestEnv::new();
    // Small batches over several sessions: several of them carry the old issue over at once.
    env.settings.processor.consumers = Consumers::new(4).expect("in range");
    env.settings.processor.prefetch = 10.try_into().expect("not zero");
    env.settings.processor.batch_size = 3.try_into().expect("not zero");
    let app = TestApp::ready(&env.settings).await;
    let notices = NoticeTap::bind(&env).await;
    let publisher = publisher(&env).await;
    let db = database(&env).await;

    let error = |n: i64| {
        let mut error = js_error("cart is undefined", now() + chrono::Duration::seconds(n));
        error.stack = Some(
            "TypeError: cart is undefined\n    at renderCart (https://shop.example/app.js:10:5)"
                .into(),
        );
        error
    };
    // What a processor of the previous version stored: an issue the team chose to ignore.
    let grouping = shared::grouping::group_event(&error(0)).expect("an error");
    let previous = grouping.previous().expect("a previous fingerprint");
    let old_id: i64 = sqlx::query_scalar(
        "INSERT INTO issues (project_id, grouping_version, fingerprint, title, level, status,
                             first_seen, last_seen, event_count)
         VALUES (1, 1, $1, 'TypeError: cart is undefined', 'error', 'ignored', now(), now(), 5)
         RETURNING id",
    )
    .bind(&previous)
    .fetch_one(&db)
    .await
    .expect("an issue of version 1");

    let events: Vec<_> = (1..=12).map(error).collect();
    for chunk in events.chunks(3) {
        publish(&publisher, chunk).await;
    }
    let issues = issue_of(&app, &events).await;
    assert!(
        issues.iter().all(|id| *id == old_id),
        "all counted into the old issue {old_id}: {issues:?}"
    );
    let (_, issue) = app.get(&format!("/api/projects/1/issues/{old_id}")).await;
    assert_eq!(issue["count"], 5 + 12, "{issue}");
    assert_eq!(issue["status"], "ignored", "{issue}");
    assert_eq!(issue["grouping_version"], 2, "{issue}");
    assert_eq!(
        issue["fingerprint"],
        grouping.fingerprint.as_str(),
        "{issue}"
    );

    // Not announced as new: the first notice is the one of the error published next.
    let mut marker = js_error("payment declined", now());
    marker.stack =
        Some("Error: payment declined\n    at pay (https://shop.example/pay.js:3:1)".into());
    publish(&publisher, std::slice::from_ref(&marker)).await;
    let marker_issue = issue_of(&app, std::slice::from_ref(&marker)).await[0];
    let (key, notice) = notices.next().await;
    assert_eq!(
        (key.as_str(), notice["issue_id"].as_i64()),
        ("issue.created", Some(marker_issue)),
        "{notice}"
    );
    let (_, all) = app.get("/api/projects/1/issues?status=all").await;
    assert_eq!(all["issues"].as_array().map(Vec::len), Some(2), "{all}");
    notices.close().await;

    publisher.close().await;
    app.stop().await;
}
