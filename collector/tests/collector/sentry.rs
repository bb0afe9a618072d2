//! The Sentry endpoints against the real RabbitMQ: envelopes and `/store/`, the ways SDKs
//! authenticate, item routing, CORS on every answer, the rate limit, and bad envelopes.

use std::io::Write;
use std::num::NonZeroU32;

use serde_json::{Value, json};
use shared::testing::{OTHER_KEY, TEST_KEY, TestEnv};

use crate::support::{Running, http, json_body, take_messages};

const EVENT_ID: &str = "9ec79c33ec9942ab8353589fcb2e04dc";

fn envelope_url(app: &Running, project: u32) -> String {
    format!("{}/api/{project}/envelope/", app.base)
}

/// An envelope of `items`, each `(item header, payload)`.
fn envelope(header: &Value, items: &[(Value, String)]) -> Vec<u8> {
    let mut body = format!("{header}\n");
    for (item, payload) in items {
        body.push_str(&format!("{item}\n{payload}\n"));
    }
    body.into_bytes()
}

fn error_event(id: &str) -> String {
    json!({
        "event_id": id,
        "timestamp": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        "platform": "javascript",
        "level": "error",
        "release": "shop@1.2.3",
        "environment": "staging",
        "exception": {"values": [{
            "type": "TypeError",
            "value": "cart is undefined",
            "mechanism": {"type": "onerror", "handled": false},
            "stacktrace": {"frames": [
                {"filename": "https://shop.example/app.js", "function": "main", "lineno": 1, "colno": 10, "in_app": true},
                {"filename": "https://shop.example/app.js", "function": "checkout", "lineno": 5, "colno": 3, "in_app": true}
            ]}
        }]},
        "user": {"id": "u-1", "email": "u1@example.com", "ip_address": "{{auto}}"},
        "tags": {"checkout": "v2"},
        "breadcrumbs": {"values": [{"category": "ui", "message": "clicked pay", "timestamp": 1.7e9}]},
        "request": {"url": "https://shop.example/checkout", "headers": {"User-Agent": "Mozilla/5.0"}},
        "sdk": {"name": "sentry.javascript.browser", "version": "8.55.0"}
    })
    .to_string()
}

fn by_key<'a>(messages: &'a [Value], routing_key_type: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["type"] == routing_key_type)
        .collect()
}

#[tokio::test]
async fn an_envelope_s_items_are_routed_by_type_and_the_rest_counted() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let topology = env.topology();
    let session = json!({"sid": "7c0e8b3a5d2f4e6a9b1c3d5e7f9a0b2c", "init": true, "started": "2026-11-25T10:00:00Z",
        "timestamp": "2026-11-25T10:00:00Z", "status": "ok", "errors": 0, "did": "u-1",
        "attrs": {"release": "shop@1.2.3", "environment": "staging"}});
    let body = envelope(
        &json!({"event_id": EVENT_ID, "sent_at": chrono::Utc::now().to_rfc3339(), "sdk": {"name": "sentry.javascript.browser"}}),
        &[
            (json!({"type": "event"}), error_event(EVENT_ID)),
            (json!({"type": "session"}), session.to_string()),
            (
                json!({"type": "client_report"}),
                json!({"timestamp": 1.7e9, "discarded_events": [{"reason": "ratelimit_backoff", "category": "error", "quantity": 3}]}).to_string(),
            ),
            (json!({"type": "attachment", "length": 5, "filename": "a.txt"}), "hello".into()),
            (json!({"type": "a_type_from_the_future"}), "{\"x\":1}".into()),
        ],
    );
    let response = http()
        .post(format!(
            "{}?sentry_key={TEST_KEY}&sentry_version=7",
            envelope_url(&app, 1)
        ))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", "https://shop.example")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(
        headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-sentry-rate-limits")
    );
    assert_eq!(json_body(response).await, json!({"id": EVENT_ID}));

    let stored = take_messages(&env, &topology.processor.name).await;
    assert_eq!(stored.len(), 2, "the event and the session: {stored:#?}");
    let errors = by_key(&stored, "error");
    let error = errors.first().expect("the error");
    assert_eq!(error["event_id"], "9ec79c33-ec99-42ab-8353-589fcb2e04dc");
    assert_eq!(error["level"], "error");
    assert_eq!(error["message"], "TypeError: cart is undefined");
    assert_eq!(error["release"], "shop@1.2.3");
    assert_eq!(error["environment"], "staging");
    assert_eq!(error["url"], "https://shop.example/checkout");
    assert_eq!(error["tags"]["checkout"], "v2");
    assert_eq!(error["user"]["email"], "u1@example.com");
    assert_eq!(error["exceptions"][0]["frames"][1]["function"], "checkout");
    assert_eq!(
        error["sentry"]["breadcrumbs"]["values"][0]["message"],
        "clicked pay"
    );
    assert_eq!(error["sentry"]["sdk"]["version"], "8.55.0");
    let sessions = by_key(&stored, "session");
    assert_eq!(sessions[0]["status"], "ok");
    assert_eq!(sessions[0]["init"], true);
    assert_eq!(sessions[0]["release"], "shop@1.2.3");
    assert_eq!(env.queue_depth(&topology.alerter.name).await, 1);

    let metrics = app.metrics().await;
    for line in [
        r#"frontmon_collector_envelope_items_total{item_type="attachment",outcome="dropped"} 1"#,
        r#"frontmon_collector_envelope_items_total{item_type="other",outcome="dropped"} 1"#,
        r#"frontmon_collector_envelope_items_total{item_type="client_report",outcome="counted"} 1"#,
        r#"frontmon_collector_sdk_discarded_events_total{reason="ratelimit_backoff",category="error"} 3"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test]
async fn messages_transactions_and_their_vitals_get_their_own_routing_keys() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let body = envelope(
        &json!({}),
        &[
            (
                json!({"type": "event"}),
                json!({"message": "cache warmed", "level": "info"}).to_string(),
            ),
            (
                json!({"type": "event"}),
                json!({"logentry": {"message": "quota %s exceeded", "params": ["7"], "formatted": "quota 7 exceeded"}, "level": "error"}).to_string(),
            ),
            (
                json!({"type": "transaction"}),
                json!({"event_id": "0123456789abcdef0123456789abcdef", "type": "transaction", "transaction": "/checkout",
                    "transaction_info": {"source": "route"},
                    "start_timestamp": now - 1.5, "timestamp": now,
                    "request": {"url": "https://shop.example/checkout?step=2", "headers": {"Referer": "https://shop.example/cart"}},
                    "release": "shop@1.2.3", "user": {"id": "u-1"},
                    "contexts": {"trace": {"op": "pageload", "trace_id": "a".repeat(32), "span_id": "b".repeat(16)}},
                    "measurements": {"lcp": {"value": 3100.0, "unit": "millisecond"}, "cls": {"value": 0.02, "unit": ""}, "fp": {"value": 10.0}},
                    "spans": []}).to_string(),
            ),
        ],
    );
    let response = http()
        .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let stored = take_messages(&env, &env.topology().processor.name).await;
    let kinds: Vec<&str> = stored.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message",
            "error",
            "transaction",
            "pageview",
            "vital",
            "vital"
        ]
    );
    assert_eq!(stored[0]["level"], "info");
    assert_eq!(stored[1]["message"], "quota 7 exceeded");
    assert_eq!(
        stored[1]["sentry"]["logentry"]["message"],
        "quota %s exceeded"
    );
    assert_eq!(stored[2]["name"], "/checkout");
    assert_eq!(stored[2]["op"], "pageload");
    let duration = stored[2]["duration_ms"].as_f64().unwrap();
    assert!((duration - 1500.0).abs() < 1.0, "{duration}");
    assert_eq!(stored[2]["route"], "/checkout");
    // The page load is a page view, from its start, on its page and route.
    let view = &stored[3];
    assert_eq!(view["url"], "https://shop.example/checkout?step=2");
    assert_eq!(view["route"], "/checkout");
    assert_eq!(view["referrer"], "https://shop.example/cart");
    assert_eq!(view["release"], "shop@1.2.3");
    assert_eq!(view["user"]["id"], "u-1");
    let started = (now - 1.5) * 1000.0;
    assert!(
        (view["timestamp"].as_f64().unwrap() - started).abs() < 2.0,
        "{view}"
    );
    assert_eq!(stored[4]["name"], "LCP");
    assert_eq!(stored[4]["rating"], "needs-improvement");
    assert_eq!(stored[5]["name"], "CLS");
    for vital in &stored[4..] {
        assert_eq!(vital["url"], "https://shop.example/checkout?step=2");
        assert_eq!(vital["route"], "/checkout");
    }
    // Only the error went to the alerter.
    assert_eq!(env.queue_depth(&env.topology().alerter.name).await, 1);

    // The same envelope again (an SDK's retry): the items with ids keep them, and the ones
    // derived (the page view, the vitals) are derived alike, so the processor stores each
    // once. Only the messages without an event id get new ones.
    let response = http()
        .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let resent = take_messages(&env, &env.topology().processor.name).await;
    assert_eq!(ids(&stored[2..]), ids(&resent[2..]));
    app.stop().await;
}

/// One streamed span of SDK 10+ (`{"value": …, "type": …}` attributes), of `segment`.
fn streamed_span(span_id: &str, segment: &str, op: &str, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let mut attributes = json!({
        "sentry.op": {"value": op, "type": "string"},
        "sentry.segment.id": {"value": segment, "type": "string"},
        "sentry.release": {"value": "shop@1.2.3", "type": "string"},
        "sentry.environment": {"value": "staging", "type": "string"},
        "user.id": {"value": "u-1", "type": "string"},
    });
    for (key, value) in extra.as_object().expect("attributes") {
        attributes[key] = value.clone();
    }
    json!({"span_id": span_id, "trace_id": "c".repeat(32), "name": op,
        "start_timestamp": now - 2.0, "end_timestamp": now - 1.0,
        "is_segment": span_id == segment, "status": "ok", "attributes": attributes})
}

fn span_envelope(spans: &[Value]) -> Vec<u8> {
    envelope(
        &json!({"sent_at": chrono::Utc::now().to_rfc3339()}),
        &[(
            json!({"type": "span", "item_count": spans.len(),
                "content_type": "application/vnd.sentry.items.span.v2+json"}),
            json!({"items": spans}).to_string(),
        )],
    )
}

#[tokio::test]
async fn streamed_spans_give_page_views_and_vitals_on_their_page() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let queue = env.topology().processor.name;
    let post = |body: Vec<u8>| {
        http()
            .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
            .body(body)
            .send()
    };
    let root = "8007174fa8a03173";
    // SDK 10+ streams the page load's spans once it ends: its LCP span, then the root, which
    // alone has the address, named here by a router (`sentry.segment.name.source: route`).
    let page_load = span_envelope(&[
        streamed_span(
            "a82fa16cfedfa141",
            root,
            "ui.webvital.lcp",
            json!({"browser.web_vital.lcp.value": {"value": 1840, "type": "integer"},
                "sentry.segment.name": {"value": "/product/:id", "type": "string"}}),
        ),
        streamed_span(
            root,
            root,
            "pageload",
            json!({"url.full": {"value": "https://shop.example/product/42", "type": "string"},
                "sentry.segment.name": {"value": "/product/:id", "type": "string"},
                "sentry.segment.name.source": {"value": "route", "type": "string"},
                "browser.web_vital.ttfb.value": {"value": 90.5, "type": "double"}}),
        ),
    ]);
    // ...and when the page is hidden, its CLS and INP, naming only the page load's span.
    let hidden = span_envelope(&[
        streamed_span(
            "a03459f3d037a63a",
            root,
            "ui.webvital.cls",
            json!({"browser.web_vital.cls.value": {"value": 0.31, "type": "double"},
                "sentry.segment.name": {"value": "Pageload", "type": "string"}}),
        ),
        streamed_span(
            "9cfc8488eb127f4e",
            root,
            "ui.interaction.click",
            json!({"browser.web_vital.inp.value": {"value": 16, "type": "integer"},
                "sentry.pageload.span_id": {"value": root, "type": "string"}}),
        ),
    ]);
    for body in [page_load.clone(), hidden.clone()] {
        let response = post(body).await.expect("sent");
        assert_eq!(response.status(), 200);
    }
    let stored = take_messages(&env, &queue).await;
    let kinds: Vec<&str> = stored.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pageview", "vital", "vital", "vital", "vital"]);
    let names: Vec<&str> = stored[1..]
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["LCP", "TTFB", "CLS", "INP"]);
    for event in &stored {
        assert_eq!(event["url"], "https://shop.example/product/42", "{event}");
        assert_eq!(event["route"], "/product/:id", "{event}");
        assert_eq!(event["release"], "shop@1.2.3", "{event}");
        assert_eq!(event["environment"], "staging", "{event}");
        assert_eq!(event["user"]["id"], "u-1", "{event}");
    }
    assert_eq!(stored[3]["rating"], "poor");

    // The SDK retries both envelopes: the same ids, so each is stored once.
    for body in [page_load, hidden] {
        let response = post(body).await.expect("sent");
        assert_eq!(response.status(), 200);
    }
    let resent = take_messages(&env, &queue).await;
    assert_eq!(ids(&stored), ids(&resent));
    assert_eq!(resent.len(), stored.len());
    app.stop().await;
}

fn ids(messages: &[Value]) -> std::collections::HashSet<String> {
    messages
        .iter()
        .map(|m| m["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sdks_authenticate_by_query_header_or_dsn_on_every_path_form() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let one = |id: &str| {
        envelope(
            &json!({"event_id": id}),
            &[(json!({"type": "event"}), error_event(id))],
        )
    };
    let ids: Vec<String> = (0..6)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let client = http();
    let sends = [
        // What @sentry/browser sends, a sentry_ parameter of the future, and what
        // @sentry/nextjs's tunnel forwards: the Sentry endpoints refuse none of it.
        client
            .post(format!(
                "{}/api/1/envelope/?sentry_version=7&sentry_key={TEST_KEY}\
                 &sentry_client=sentry.javascript.browser%2F8.55.0&sentry_future=1\
                 &hsts=0&o=1&p=1",
                app.base
            ))
            .body(one(&ids[0])),
        client
            .post(format!("{}/api/1/envelope?sentry_key={TEST_KEY}", app.base))
            .body(one(&ids[1])),
        client
            .post(format!("{}/some/prefix/api/1/envelope/", app.base))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_version=7, sentry_key={TEST_KEY}, sentry_client=test/1"),
            )
            .body(one(&ids[2])),
        client
            .post(format!("{}/api/1/envelope/", app.base))
            .header("authorization", format!("Sentry sentry_key={TEST_KEY}"))
            .body(one(&ids[3])),
        client
            .post(format!("{}/api/1/envelope/", app.base))
            .body(envelope(
                &json!({"event_id": ids[4], "dsn": format!("http://{TEST_KEY}@127.0.0.1/1")}),
                &[(json!({"type": "event"}), error_event(&ids[4]))],
            )),
        client
            .post(format!("{}/api/1/store/?sentry_key={TEST_KEY}", app.base))
            .body(error_event(&ids[5])),
    ];
    for (index, send) in sends.into_iter().enumerate() {
        let response = send.send().await.expect("sent");
        assert_eq!(response.status(), 200, "request {index}");
        assert_eq!(json_body(response).await["id"], ids[index].as_str());
    }
    assert_eq!(
        env.queue_depth(&env.topology().processor.name).await,
        6,
        "each accepted event is queued"
    );

    let refusals = [
        (
            client
                .post(format!(
                    "{}/api/1/envelope/?sentry_key={OTHER_KEY}",
                    app.base
                ))
                .body(one(&ids[0])),
            403,
        ),
        (
            client
                .post(format!("{}/api/1/envelope/", app.base))
                .body(one(&ids[0])),
            401,
        ),
        (
            client
                .post(format!("{}/api/1/store/", app.base))
                .body(error_event(&ids[0])),
            401,
        ),
        (
            client
                .post(format!(
                    "{}/api/99/envelope/?sentry_key={TEST_KEY}",
                    app.base
                ))
                .body(one(&ids[0])),
            404,
        ),
        (
            client
                .post(format!(
                    "{}/api/2/envelope/?sentry_key={OTHER_KEY}",
                    app.base
                ))
                .header("origin", "https://evil.example")
                .body(one(&ids[0])),
            403,
        ),
        (
            client.get(format!(
                "{}/api/1/envelope/?sentry_key={TEST_KEY}",
                app.base
            )),
            405,
        ),
    ];
    for (index, (send, status)) in refusals.into_iter().enumerate() {
        let response = send
            .header("origin", "https://evil.example")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), status, "refusal {index}");
        // Readable by the page: the SDK sees why.
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "https://evil.example"
        );
        assert!(
            response.headers().contains_key("x-sentry-error"),
            "refusal {index}"
        );
        let body = json_body(response).await;
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }

    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/1/envelope/", app.base),
        )
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("sent");
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("X-Sentry-Auth")
    );
    app.stop().await;
}

#[tokio::test]
async fn compressed_envelopes_are_accepted() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let plain = envelope(
        &json!({"event_id": id}),
        &[(json!({"type": "event"}), error_event(&id))],
    );
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(&plain).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&plain).unwrap();
    let brotli = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/envelope.br"),
    )
    .expect("fixture");
    for (encoding, body) in [
        ("deflate", deflate.finish().unwrap()),
        ("gzip", gzip.finish().unwrap()),
        ("br", brotli),
    ] {
        let response = http()
            .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
            .header("content-encoding", encoding)
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{encoding}");
    }
    let stored = take_messages(&env, &env.topology().processor.name).await;
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[2]["message"], "Error: compressed with brotli");
    app.stop().await;
}

#[tokio::test]
async fn over_the_rate_limit_sdks_get_429_with_headers_they_obey() {
    let mut env = TestEnv::new();
    env.settings.projects[0].rate_limit_per_minute = NonZeroU32::new(3);
    let app = Running::start(env.settings.clone()).await;
    let send = |body: Vec<u8>| {
        http()
            .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
            .header("origin", "https://shop.example")
            .body(body)
            .send()
    };
    let one = || {
        let id = uuid::Uuid::new_v4().simple().to_string();
        envelope(
            &json!({"event_id": id}),
            &[(json!({"type": "event"}), error_event(&id))],
        )
    };
    for _ in 0..2 {
        assert_eq!(send(one()).await.expect("sent").status(), 200);
    }
    // The native endpoint draws from the same budget.
    let native = http()
        .post(format!("{}/api/1/events?key={TEST_KEY}", app.base))
        .body(json!({"type": "error", "message": "x"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(native.status(), 200);
    let refused = send(one()).await.expect("sent");
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(
        refused.headers()["x-sentry-rate-limits"],
        format!("{retry_after}::project").as_str()
    );
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let native = http()
        .post(format!("{}/api/1/events?key={TEST_KEY}", app.base))
        .body(json!({"type": "error", "message": "x"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(native.status(), 429);
    // Project 2 has no limit.
    let other = http()
        .post(format!("{}/api/2/store/?sentry_key={OTHER_KEY}", app.base))
        .body(error_event(&uuid::Uuid::new_v4().simple().to_string()))
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), 200);
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 4);
    app.stop().await;
}

#[tokio::test]
async fn malformed_envelopes_get_400_saying_what_and_nothing_is_queued() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let cases: [(&[u8], &str); 8] = [
        (b"", "empty envelope"),
        (
            b"not json\n{\"type\":\"event\"}\n{}",
            "invalid envelope header",
        ),
        (
            b"{}\n{\"type\":\"event\",\"length\":99}\n{}",
            "declares 99 bytes",
        ),
        (
            b"{}\n{\"type\":\"event\",\"length\":-1}\n{}",
            "invalid header of item 0",
        ),
        (
            b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\n{}",
            "declares 18446744073709551615 bytes",
        ),
        (
            b"{}\n{\"type\":\"event\"}\n[1,2]",
            "item 0 (event): the payload must be a JSON object",
        ),
        (
            b"{}\n{\"type\":\"event\"}\n{\"event_id\":\"nope\"}",
            "event_id: must be a UUID",
        ),
        (
            b"{}\n{\"type\":\"session\"}\n{oops",
            "item 0 (session): malformed JSON",
        ),
    ];
    for (body, says) in cases {
        let response = http()
            .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
            .body(body.to_vec())
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{says}");
        let error = json_body(response).await["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(error.contains(says), "{error:?} should say {says:?}");
    }
    let many: Vec<u8> = std::iter::once(&b"{}\n"[..])
        .chain(std::iter::repeat_n(
            &b"{\"type\":\"x\",\"length\":0}\n\n"[..],
            101,
        ))
        .flatten()
        .copied()
        .collect();
    let response = http()
        .post(format!("{}?sentry_key={TEST_KEY}", envelope_url(&app, 1)))
        .body(many)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 0);
    let health = http()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
    app.stop().await;
}
