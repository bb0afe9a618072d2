//! The read API over stored events, and the service endpoints.

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::{Value, json};
use shared::event::{Client, Detail, Event, EventId, User};
use shared::testing::{ADMIN_TOKEN, TestEnv};

use crate::support::{
    TestApp, api_time, at, event, expected_json, id_of, ids, js_error, json, now, pageview,
    publish, publisher, vital,
};

/// One event of every kind, each received a second after the one before.
fn one_of_each() -> Vec<Event> {
    let base = now() - Duration::hours(1);
    let t = |seconds: i64| base + Duration::seconds(seconds);
    vec![
        Event {
            user: Some(User {
                id: Some("u-42".into()),
                ..User::default()
            }),
            tags: BTreeMap::from([("plan".into(), "pro".into())]),
            session_id: Some("s-1".into()),
            client: Client {
                ip: Some("203.0.113.7".parse().expect("an address")),
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
            },
            ..js_error("TypeError: x is undefined", t(1))
        },
        vital(t(2)),
        event(
            Detail::Pageview {
                referrer: Some("https://search.example/?q=shoes".into()),
                title: Some("Cart".into()),
            },
            t(3),
        ),
        event(
            Detail::Click {
                selector: Some("button#pay".into()),
                text: Some("Pay now".into()),
            },
            t(4),
        ),
        event(
            Detail::Custom {
                name: "checkout_step".into(),
                data: Some(json!({
                    "step": 2,
                    "items": ["sku-1", "sku-2"],
                    "coupon": null,
                    "total": 42.5,
                    "nested": { "ok": true },
                })),
            },
            t(5),
        ),
        Event {
            message: Some("POST /api/cart answered 502".into()),
            ..event(
                Detail::ApiError {
                    target: "https://shop.example/api/cart".into(),
                    method: Some("POST".into()),
                    status: Some(502),
                    duration_ms: Some(120.5),
                },
                t(6),
            )
        },
        event(
            Detail::ResourceError {
                target: "https://cdn.example/app.js".into(),
                tag_name: Some("script".into()),
                selector: None,
            },
            t(7),
        ),
    ]
}

fn listed_ids(events: &[Value]) -> Vec<EventId> {
    events.iter().map(id_of).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_event_is_stored_and_read_back() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let all = one_of_each();
    let [
        error,
        vital,
        pageview,
        click,
        custom,
        api_error,
        resource_error,
    ] = &all[..]
    else {
        unreachable!()
    };
    publish(&publisher, &all[..3]).await;
    publish(&publisher, &all[3..]).await;
    app.wait_for_events(&ids(&all)).await;

    // Each comes back as published, with its routing key, and with the contexts the
    // processor derives from the User-Agent when there is one; a native error with the
    // frames of its stack as its exception.
    for event in &all {
        let mut event = event.clone();
        processor::symbolicate::parse_native(&mut event);
        let event = &event;
        let mut stored = app.event(event.event_id).await.expect("stored");
        let object = stored.as_object_mut().expect("an object");
        let contexts = object.remove("contexts");
        // Errors link to the issue they were grouped into.
        let issue = object.remove("issue_id");
        assert_eq!(
            issue.is_some_and(|id| id.is_i64()),
            event.routing_key().is_error(),
            "{}",
            event.routing_key()
        );
        assert_eq!(
            contexts.is_some(),
            event.client.user_agent.is_some(),
            "{}",
            event.routing_key()
        );
        assert_eq!(stored, expected_json(event), "{}", event.routing_key());
    }
    let stored = app.event(error.event_id).await.expect("stored");
    assert_eq!(stored["contexts"]["os"]["name"], "Linux");
    let stored = app.event(error.event_id).await.expect("stored");
    assert_eq!(stored["routing_key"], "error.js");
    assert_eq!(stored["type"], "error");
    assert_eq!(stored["message"], "TypeError: x is undefined");
    assert!(
        stored["stack"]
            .as_str()
            .is_some_and(|stack| stack.contains("at checkout (app.js:10:5)"))
    );
    // One time format across the API, and ids without dashes, as the collector answers them.
    assert_eq!(stored["received_at"], api_time(error.received_at));
    assert_eq!(stored["timestamp"], api_time(error.timestamp));
    assert!(
        stored["received_at"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{stored}"
    );
    assert_eq!(
        stored["event_id"],
        error.event_id.as_uuid().simple().to_string()
    );
    assert_eq!(stored["client"]["ip"], "203.0.113.7");
    assert_eq!(stored["tags"]["plan"], "pro");
    let stored = app.event(vital.event_id).await.expect("stored");
    assert_eq!(stored["routing_key"], "perf.vital");
    assert_eq!(
        (stored["name"].clone(), stored["value"].clone()),
        (json!("LCP"), json!(5000.0))
    );
    let stored = app.event(custom.event_id).await.expect("stored");
    assert_eq!(stored["routing_key"], "custom.event");
    assert_eq!(stored["data"]["items"], json!(["sku-1", "sku-2"]));
    assert_eq!(stored["data"]["coupon"], Value::Null);
    assert_eq!(stored["data"]["total"], 42.5);
    let stored = app.event(api_error.event_id).await.expect("stored");
    assert_eq!(stored["routing_key"], "error.api");
    assert_eq!(stored["status"], 502);
    let stored = app.event(resource_error.event_id).await.expect("stored");
    assert_eq!(stored["routing_key"], "error.resource");
    assert_eq!(stored["tag_name"], "script");
    for (event, key) in [(pageview, "behavior.pageview"), (click, "behavior.click")] {
        let stored = app.event(event.event_id).await.expect("stored");
        assert_eq!(stored["routing_key"], key);
    }
    // The hyphenated form of the id names the same event, in either case, and the answer
    // writes the id as always.
    let hyphenated = click.event_id.as_uuid().hyphenated().to_string();
    for asked in [hyphenated.clone(), hyphenated.to_uppercase()] {
        let (status, stored) = app.get(&format!("/api/projects/1/events/{asked}")).await;
        assert_eq!(status, 200, "{asked}: {stored}");
        assert_eq!(
            stored["event_id"],
            click.event_id.as_uuid().simple().to_string()
        );
    }
    // Another project sees none of it.
    let (status, _) = app
        .get(&format!("/api/projects/2/events/{}", error.event_id))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.get("/api/projects/2/events").await;
    assert_eq!((status, body), (200, json!({ "events": [], "next": null })));

    // A category lists its routing keys, newest first by received_at.
    let (errors, next) = app.list("kind=error").await;
    assert_eq!(
        listed_ids(&errors),
        vec![resource_error.event_id, api_error.event_id, error.event_id]
    );
    assert_eq!(next, None);
    let mut listed = errors[0].clone();
    assert!(listed["issue_id"].is_i64(), "{listed}");
    listed
        .as_object_mut()
        .expect("an object")
        .remove("issue_id");
    assert_eq!(listed, expected_json(resource_error));
    let (vitals, next) = app.list("kind=perf.vital").await;
    assert_eq!((listed_ids(&vitals), next), (vec![vital.event_id], None));
    let (api_errors, _) = app.list("kind=error.api").await;
    assert_eq!(listed_ids(&api_errors), vec![api_error.event_id]);
    let (behavior, _) = app.list("kind=behavior").await;
    assert_eq!(
        listed_ids(&behavior),
        vec![click.event_id, pageview.event_id]
    );

    // Pages of two walk every event once, newest first, and the last has no next.
    let mut newest_first = all.clone();
    newest_first.sort_by_key(|event| std::cmp::Reverse(event.received_at));
    let mut walked = Vec::new();
    let mut pages = 0;
    let mut before: Option<String> = None;
    loop {
        let query = match &before {
            None => "limit=2".to_owned(),
            Some(cursor) => format!("limit=2&before={cursor}"),
        };
        let (events, next) = app.list(&query).await;
        pages += 1;
        assert!(events.len() <= 2, "page {pages} has {}", events.len());
        walked.extend(listed_ids(&events));
        match next {
            Some(next) => before = Some(next),
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(walked, ids(&newest_first));
    assert_eq!(pages, 4);

    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_per_routing_key_and_bucket() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    // 2026-01-01T00:00:00Z, on the hour.
    let t = at(1_767_225_600_000);
    let minutes = |m: i64| t + Duration::minutes(m);
    let counted = vec![
        js_error("a", t),
        js_error("b", minutes(30)),
        js_error("c", minutes(60) - Duration::milliseconds(1)),
        vital(minutes(60)),
        vital(minutes(119)),
    ];
    // Just outside the range: since is inclusive, until exclusive.
    let outside = vec![
        js_error("too early", t - Duration::milliseconds(1)),
        pageview(minutes(120)),
    ];
    // Of another environment and release.
    let staged = Event {
        environment: Some("staging".into()),
        release: Some("1.5.0".into()),
        ..vital(minutes(90))
    };
    publish(&publisher, &counted).await;
    publish(&publisher, &outside).await;
    publish(&publisher, std::slice::from_ref(&staged)).await;
    app.wait_for_events(&ids(&counted)).await;
    app.wait_for_events(&ids(&outside)).await;
    app.wait_for_events(&[staged.event_id]).await;

    let since = t.timestamp_millis();
    let until = minutes(120).timestamp_millis();
    let hourly = |since: i64, until: i64, more: &str| {
        format!("/api/projects/1/stats?since={since}&until={until}&interval=1h{more}")
    };
    let (status, body) = app.get(&hourly(since, until, "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "since": "2026-01-01T00:00:00.000Z",
            "until": "2026-01-01T02:00:00.000Z",
            "interval_secs": 3600,
            "tz": "UTC",
            "buckets": [
                { "start": "2026-01-01T00:00:00.000Z", "counts": { "error.js": 3 } },
                { "start": "2026-01-01T01:00:00.000Z", "counts": { "perf.vital": 3 } },
            ],
        })
    );
    // Buckets start on the hour whatever the range: since is rounded down to its bucket's
    // start, until up to its bucket's end.
    let (status, unaligned) = app
        .get(&hourly(
            minutes(25).timestamp_millis(),
            minutes(95).timestamp_millis(),
            "",
        ))
        .await;
    assert_eq!(status, 200, "{unaligned}");
    assert_eq!(unaligned, body);

    // Of one environment, or one release.
    let vitals_of = |body: &Value| body["buckets"][1]["counts"]["perf.vital"].clone();
    let (_, production) = app
        .get(&hourly(since, until, "&environment=production"))
        .await;
    assert_eq!(vitals_of(&production), json!(2), "{production}");
    let (_, staging) = app.get(&hourly(since, until, "&environment=staging")).await;
    assert_eq!(vitals_of(&staging), json!(1), "{staging}");
    assert_eq!(staging["buckets"][0]["counts"], json!({}), "{staging}");
    let (_, release) = app.get(&hourly(since, until, "&release=1.5.0")).await;
    assert_eq!(release, staging);

    // RFC 3339 bounds and smaller buckets, empty ones included.
    let (status, body) = app
        .get(&format!(
            "/api/projects/1/stats?since={}&until={}&interval=30m",
            "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let counts: Vec<Value> = body["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|bucket| bucket["counts"].clone())
        .collect();
    assert_eq!(
        counts,
        vec![
            json!({ "error.js": 1 }),
            json!({ "error.js": 2 }),
            json!({ "perf.vital": 1 }),
            json!({ "perf.vital": 2 }),
        ]
    );

    // Days start at midnight UTC, or at the reader's midnight with tz: in New York, the
    // first hour's events and the one just before it are all of 2025-12-31.
    let (status, utc_days) = app
        .get(&format!(
            "/api/projects/1/stats?since={since}&until={until}&interval=1d"
        ))
        .await;
    assert_eq!(status, 200, "{utc_days}");
    assert_eq!(
        utc_days["buckets"],
        json!([{ "start": "2026-01-01T00:00:00.000Z",
                 "counts": { "behavior.pageview": 1, "error.js": 3, "perf.vital": 3 } }])
    );
    let (status, new_york) = app
        .get(&format!(
            "/api/projects/1/stats?since={since}&until={until}&interval=1d&tz=America/New_York"
        ))
        .await;
    assert_eq!(status, 200, "{new_york}");
    assert_eq!(new_york["tz"], "America/New_York");
    assert_eq!(new_york["until"], "2026-01-01T05:00:00.000Z");
    assert_eq!(
        new_york["buckets"],
        json!([{ "start": "2025-12-31T05:00:00.000Z",
                 "counts": { "behavior.pageview": 1, "error.js": 4, "perf.vital": 3 } }])
    );

    for interval in ["5w", "0", "-1h", "1s"] {
        let (status, body) = app
            .get(&format!(
                "/api/projects/1/stats?since={since}&until={until}&interval={interval}"
            ))
            .await;
        assert_eq!(status, 400, "interval={interval}: {body}");
        assert_error_names(&body, "interval");
    }
    for tz in ["Mars/Olympus_Mons", "+02:00"] {
        let (status, body) = app.get(&format!("/api/projects/1/stats?tz={tz}")).await;
        assert_eq!(status, 400, "tz={tz}: {body}");
        assert_error_names(&body, "tz");
    }
    let (status, body) = app
        .get("/api/projects/1/stats?interval=7h&tz=Europe/Berlin")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error_names(&body, "tz");
    let (status, body) = app
        .get(&format!(
            "/api/projects/1/stats?since={until}&until={since}"
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error_names(&body, "since");
    let (status, body) = app.get("/api/projects/1/stats?since=yesterday").await;
    assert_eq!(status, 400, "{body}");
    assert_error_names(&body, "since");

    publisher.close().await;
    app.stop().await;
}

/// An error body: `{"error": "..."}` and nothing else, mentioning `name`.
fn assert_error_names(body: &Value, name: &str) {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(object.len(), 1, "{body}");
    let error = object["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error string: {body}"));
    assert!(error.contains(name), "{error:?} does not name {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_api_rejects_what_it_cannot_answer() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let stored = js_error("present", now());
    publish(&publisher, std::slice::from_ref(&stored)).await;
    app.wait_for_events(&[stored.event_id]).await;
    let event_path = format!("/api/projects/1/events/{}", stored.event_id);

    for path in [
        "/api/projects/1/events",
        event_path.as_str(),
        "/api/projects/1/stats",
    ] {
        let response = app.get_with(path, None).await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|value| value.to_str().ok()),
            Some("Bearer"),
            "{path}"
        );
        let (_, body) = json(response).await;
        assert_error_names(&body, "Authorization");

        let (status, body) = json(app.get_with(path, Some("not-the-token")).await).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_error_names(&body, "token");
    }
    // A token is not a prefix match, and the scheme must be Bearer.
    let (status, _) = json(
        app.get_with("/api/projects/1/events", Some(&ADMIN_TOKEN[..4]))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    let response = get_with_basic_auth(&app).await;
    assert_eq!(response.status(), 401);

    let (status, body) = app.get("/api/projects/99/events").await;
    assert_eq!(status, 404, "{body}");
    assert_error_names(&body, "99");
    let (status, body) = app
        .get(&format!("/api/projects/99/events/{}", stored.event_id))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error_names(&body, "99");
    let (status, body) = app.get("/api/projects/nope/stats").await;
    assert_eq!(status, 404, "{body}");
    assert_error_names(&body, "project");

    let unknown = EventId::new_random();
    let (status, body) = app.get(&format!("/api/projects/1/events/{unknown}")).await;
    assert_eq!(status, 404, "{body}");
    assert_error_names(&body, &unknown.to_string());
    let (status, body) = app.get("/api/projects/1/events/not-a-uuid").await;
    assert_eq!(status, 400, "{body}");
    assert_error_names(&body, "event_id");

    for (query, parameter) in [
        ("kind=nope", "kind"),
        ("kind=error.", "kind"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("before=garbage", "before"),
        ("before=123_notauuid", "before"),
        // Not a number: the query string does not even parse.
        ("limit=abc", "query"),
    ] {
        let (status, body) = app.get(&format!("/api/projects/1/events?{query}")).await;
        assert_eq!(status, 400, "?{query}: {body}");
        assert_error_names(&body, parameter);
    }
    let (status, body) = app.get("/api/projects/1/stats?interval=1x").await;
    assert_eq!(status, 400, "{body}");
    assert_error_names(&body, "interval");

    // A parameter an endpoint does not support is refused by name, on every endpoint,
    // rather than answered as if it were not there.
    for (path, supported) in [
        (
            "/api/projects/1/events?url=https://shop.example/",
            "kind, since, until, release, environment, limit, before",
        ),
        ("/api/projects/1/events?kind=error&url=x", "kind, since"),
        (event_path.as_str(), "none"),
        ("/api/projects/1/stats?url=x", "since, until, interval, tz"),
        (
            "/api/projects/1/issues?url=x",
            "status, sort, query, release",
        ),
        ("/api/projects/1/issues/1?url=x", "none"),
        (
            "/api/projects/1/issues/1/events?url=x",
            "since, until, release",
        ),
        ("/api/projects/1/releases/1.0/sourcemaps?url=x", "none"),
        ("/api/projects/1/sourcemaps?url=x", "debug_id"),
        ("/healthz?url=x", "none"),
        ("/readyz?url=x", "none"),
        ("/metrics?url=x", "none"),
    ] {
        let path = if path.contains('?') {
            path.to_owned()
        } else {
            format!("{path}?url=x")
        };
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_error_names(&body, r#"unknown query parameter "url""#);
        assert_error_names(&body, &format!("(supported: {supported}"));
    }

    let (status, body) = app.get("/api/nowhere").await;
    assert_eq!(status, 404, "{body}");
    assert_error_names(&body, "endpoint");

    // None of it touched the stored event.
    let (events, _) = app.list("").await;
    assert_eq!(listed_ids(&events), vec![stored.event_id]);

    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_issues_filter_by_time_release_and_environment() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let base = now() - Duration::hours(1);
    let t = |seconds: i64| base + Duration::seconds(seconds);
    let of = |release: &str, environment: &str, event: Event| Event {
        release: Some(release.into()),
        environment: Some(environment.into()),
        ..event
    };
    // Two problems: "old" only in 1.0 production, "new" in 1.0 and 2.0 staging.
    let old = Event {
        stack: Some("Error: old\n    at pay (https://shop.example/pay.js:3:1)".into()),
        ..of("1.0", "production", js_error("old", t(1)))
    };
    let new_1 = of("1.0", "production", js_error("new", t(2)));
    let new_2 = of("2.0", "staging", js_error("new", t(3)));
    let view = of("2.0", "production", pageview(t(4)));
    let all = [old.clone(), new_1.clone(), new_2.clone(), view.clone()];
    publish(&publisher, &all).await;
    app.wait_for_events(&ids(&all)).await;

    let listed = |query: String| {
        let app = &app;
        async move { listed_ids(&app.list(&query).await.0) }
    };
    let millis = |seconds: i64| t(seconds).timestamp_millis();
    // since inclusive, until exclusive, as milliseconds or RFC 3339.
    assert_eq!(
        listed(format!("since={}&until={}", millis(2), millis(4))).await,
        vec![new_2.event_id, new_1.event_id]
    );
    assert_eq!(
        listed(format!(
            "since={}",
            t(3).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ))
        .await,
        vec![view.event_id, new_2.event_id]
    );
    assert_eq!(
        listed("release=2.0".into()).await,
        vec![view.event_id, new_2.event_id]
    );
    assert_eq!(
        listed("environment=production&kind=error".into()).await,
        vec![new_1.event_id, old.event_id]
    );
    assert_eq!(
        listed("release=2.0&environment=production".into()).await,
        vec![view.event_id]
    );
    assert_eq!(listed("release=3.0".into()).await, vec![]);
    // Paging keeps the filter.
    let (page, next) = app.list("release=1.0&limit=1").await;
    assert_eq!(listed_ids(&page), vec![new_1.event_id]);
    let (page, next) = app
        .list(&format!(
            "release=1.0&limit=1&before={}",
            next.expect("a next page")
        ))
        .await;
    assert_eq!((listed_ids(&page), next), (vec![old.event_id], None));
    let (status, body) = app
        .get(&format!(
            "/api/projects/1/events?since={}&until={}",
            millis(3),
            millis(2)
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error_names(&body, "since");

    // Issues with an event of that release or environment.
    let titles = |query: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/api/projects/1/issues?{query}")).await;
            assert_eq!(status, 200, "?{query}: {body}");
            let mut titles: Vec<String> = body["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .map(|issue| issue["title"].as_str().expect("a title").to_owned())
                .collect();
            titles.sort();
            titles
        }
    };
    let both = vec!["Error: new".to_owned(), "Error: old".to_owned()];
    assert_eq!(titles("").await, both);
    assert_eq!(titles("release=1.0").await, both);
    assert_eq!(titles("release=2.0").await, vec!["Error: new".to_owned()]);
    assert_eq!(
        titles("environment=staging").await,
        vec!["Error: new".to_owned()]
    );
    // Both: one event of both.
    assert!(titles("release=1.0&environment=staging").await.is_empty());
    assert!(titles("release=3.0").await.is_empty());

    // An issue's times are written as every time of the API.
    let issue = app.event(new_1.event_id).await.expect("stored")["issue_id"].clone();
    let (status, body) = app.get(&format!("/api/projects/1/issues/{issue}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["first_seen"], api_time(new_1.received_at), "{body}");
    assert_eq!(body["last_seen"], api_time(new_2.received_at), "{body}");

    // An issue's events, filtered the same way.
    let issue_events = |query: String| {
        let app = &app;
        let issue = issue.clone();
        async move {
            let (status, body) = app
                .get(&format!("/api/projects/1/issues/{issue}/events?{query}"))
                .await;
            assert_eq!(status, 200, "?{query}: {body}");
            listed_ids(body["events"].as_array().expect("events"))
        }
    };
    assert_eq!(
        issue_events(String::new()).await,
        vec![new_2.event_id, new_1.event_id]
    );
    assert_eq!(
        issue_events(format!("until={}", millis(3))).await,
        vec![new_1.event_id]
    );
    assert_eq!(
        issue_events("environment=staging".into()).await,
        vec![new_2.event_id]
    );

    publisher.close().await;
    app.stop().await;
}

async fn get_with_basic_auth(app: &TestApp) -> reqwest::Response {
    crate::support::http()
        .get(app.url("/api/projects/1/events"))
        .basic_auth("admin", Some(ADMIN_TOKEN))
        .send()
        .await
        .expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;

    let response = app.get_with("/healthz", None).await;
    assert_eq!(response.status(), 200);
    let body = shared::testing::eventually(
        "broker and database ready",
        crate::support::WAIT,
        || async {
            let (status, body) = json(app.get_with("/readyz", None).await).await;
            (status == 200).then_some(body)
        },
    )
    .await;
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["shutting_down"], false, "{body}");
    assert_eq!(body["checks"], json!({ "broker": true, "database": true }));

    let response = app.get_with("/metrics", None).await;
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("a body");
    for line in [
        "# HELP frontmon_processor_events_consumed ",
        "# TYPE frontmon_processor_events_consumed counter",
        "# TYPE frontmon_processor_events_stored counter",
        "# TYPE frontmon_processor_events_duplicate counter",
        "# TYPE frontmon_processor_batch_seconds histogram",
        "# TYPE frontmon_processor_dead_letters_waiting gauge",
        "frontmon_processor_events_consumed_total 0",
        "# EOF",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }

    app.stop().await;
}

/// What frontmon's browser SDK sends beyond the older types: stored as sent, read back with
/// their fields, and white screens grouped into one issue per page.
#[tokio::test]
async fn the_sdk_kinds_are_stored_with_their_fields_and_white_screens_are_issues() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let t = now() - Duration::minutes(5);
    let as_event = |sent: Value| -> Event {
        let mut event: Event = serde_json::from_value(sent).expect("an event");
        event.event_id = EventId::new_random();
        event.project_id = crate::support::project(1);
        event.received_at = t;
        event.timestamp = t;
        event
    };
    let common = json!({"event_id": "00000000000000000000000000000000", "project_id": 1,
                        "timestamp": 1, "received_at": 1, "visitor_id": "v-1",
                        "session_id": "s-1", "route": "/checkout/:step"});
    let with = |fields: Value| {
        let mut sent = common.clone();
        let (Some(sent_map), Some(fields)) = (sent.as_object_mut(), fields.as_object()) else {
            unreachable!("objects")
        };
        sent_map.extend(fields.clone());
        as_event(sent)
    };
    let blank = |url: &str| {
        let mut event = with(
            json!({"type": "white_screen", "empty_ratio": 0.94, "points": 18,
                                    "url": url, "message": format!("White screen on {url}")}),
        );
        event.route = None;
        event
    };
    let events = vec![
        blank("https://shop.example/orders/12"),
        blank("https://shop.example/orders/13?x=1"),
        with(
            json!({"type": "session", "status": "exited", "sid": "s-1", "duration_ms": 61000.0,
                    "pages": 6, "errors": 1}),
        ),
        with(json!({"type": "message", "message": "cache warmed", "level": "warning"})),
        with(
            json!({"type": "error", "message": "TypeError: x", "mechanism": "onerror",
                    "breadcrumbs": [{"timestamp": 1_765_000_000_000_i64, "category": "click",
                                     "message": "button#pay", "data": {"text": "Pay"}}],
                    "extra": {"componentStack": "at Cart"}}),
        ),
        with(
            json!({"type": "vital", "name": "INP", "value": 320.0, "rating": "needs-improvement",
                    "navigation_type": "navigate", "attribution": {"target": "button#pay"}}),
        ),
        with(
            json!({"type": "resource_error", "target": "https://cdn/app.js", "tag_name": "script",
                    "selector": "head > script#app"}),
        ),
    ];
    publish(&publisher, &events).await;
    app.wait_for_events(&ids(&events)).await;

    let read = |i: usize| {
        let app = &app;
        let id = events[i].event_id;
        async move { app.event(id).await.expect("stored") }
    };
    let white = read(0).await;
    assert_eq!(white["routing_key"], "error.white_screen");
    assert_eq!(white["empty_ratio"], 0.94);
    assert_eq!(white["points"], 18);
    assert_eq!(white["visitor_id"], "v-1");
    assert!(white["issue_id"].is_i64(), "{white}");
    let session = read(2).await;
    assert_eq!(session["routing_key"], "behavior.session");
    assert_eq!(
        (
            &session["status"],
            &session["duration_ms"],
            &session["pages"],
            &session["errors"]
        ),
        (&json!("exited"), &json!(61000.0), &json!(6), &json!(1))
    );
    let message = read(3).await;
    assert_eq!(message["routing_key"], "log.message");
    assert_eq!(message["level"], "warning");
    assert!(message["issue_id"].is_null(), "a log line is no issue");
    let error = read(4).await;
    assert_eq!(error["mechanism"], "onerror");
    assert_eq!(error["breadcrumbs"][0]["data"]["text"], "Pay");
    assert_eq!(error["extra"]["componentStack"], "at Cart");
    assert_eq!(error["route"], "/checkout/:step");
    let vital = read(5).await;
    assert_eq!(vital["navigation_type"], "navigate");
    assert_eq!(vital["attribution"]["target"], "button#pay");
    assert_eq!(read(6).await["selector"], "head > script#app");

    // Both blank order pages are one issue, titled by the page.
    let (status, body) = app.get("/api/projects/1/issues?status=all").await;
    assert_eq!(status, 200, "{body}");
    let issue = body["issues"]
        .as_array()
        .and_then(|issues| {
            issues
                .iter()
                .find(|i| i["title"] == "White screen on /orders/<int>")
        })
        .unwrap_or_else(|| panic!("{body:#}"))
        .clone();
    assert_eq!(issue["count"], 2, "{issue:#}");
    assert_eq!(read(1).await["issue_id"], white["issue_id"]);
    // The read API filters by the new key and by its category.
    let (listed, _) = app.list("kind=error.white_screen").await;
    assert_eq!(listed.len(), 2);
    let (errors, _) = app.list("kind=error&limit=100").await;
    assert_eq!(
        errors.len(),
        4,
        "two white screens, the error, the resource"
    );
    app.stop().await;
}
