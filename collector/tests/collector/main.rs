//! The collector against the real RabbitMQ: what it accepts, what it refuses, and that a 2xx
//! means the events are in the queues.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod faro;
mod fuzz;
mod hostile;
mod memory;
mod partial;
mod projects;
mod raw;
mod recorded;
mod scrub;
mod sdk_script;
mod sentry;
mod support;

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use shared::testing::{OTHER_KEY, TEST_KEY, TestEnv, eventually};
use support::{Binary, Running, http, json_body};

#[tokio::test]
async fn accepted_events_are_in_both_queues_or_only_the_processors() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let topology = env.topology();

    let response = http()
        .post(format!("{}?key={TEST_KEY}", app.events_url(1)))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(
            json!([
                {"type": "error", "message": "boom", "stack": "Error: boom\n at f (a.js:1:2)"},
                {"type": "vital", "name": "LCP", "value": 1234.5},
                {"type": "click", "selector": "#buy"}
            ])
            .to_string(),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["ids"].as_array().map(Vec::len), Some(3));

    // The 2xx came after the broker's confirm: the messages are already queued.
    assert_eq!(env.queue_depth(&topology.processor.name).await, 3);
    assert_eq!(env.queue_depth(&topology.alerter.name).await, 1);
    assert_eq!(env.queue_depth(&env.topology().unroutable()).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_key_may_come_in_a_header_and_gzip_is_accepted() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(
        json!({"type": "pageview", "url": "https://x/"})
            .to_string()
            .as_bytes(),
    )
    .expect("gzip");
    let response = http()
        .post(app.events_url(1))
        .header("x-frontmon-key", TEST_KEY)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip.finish().expect("gzip"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_service_stays_healthy() {
    let mut env = TestEnv::new();
    env.settings.collector.max_body_bytes = 4096.try_into().expect("not zero");
    let app = Running::start(env.settings.clone()).await;
    let event = json!({"type": "error", "message": "x"}).to_string();
    let post = |url: String| http().post(url).header("content-type", "application/json");

    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            post(app.events_url(1)).body(event.clone()),
            401,
            "missing project key",
        ),
        (
            post(format!("{}?key={OTHER_KEY}", app.events_url(1))).body(event.clone()),
            403,
            "wrong project key",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(99))).body(event.clone()),
            404,
            "unknown project 99",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(0))).body(event.clone()),
            404,
            "unknown project 0",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1))).body("{\"type\":"),
            400,
            "malformed JSON",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .body(r#"{"type":"vital","name":"LCP","value":-1}"#),
            400,
            "value: must be a non-negative number",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .body(r#"[{"type":"vital"},{"type":"teleport"}]"#),
            400,
            "[1].type: unknown type \"teleport\"",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .body(serde_json::to_string(&vec![json!({"type": "click"}); 101]).unwrap()),
            413,
            "batch of 101 events is over the limit of 100",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1))).body("x".repeat(5000)),
            413,
            "larger than 4096 bytes",
        ),
        (
            http()
                .post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .header("content-type", "application/xml")
                .body(event.clone()),
            415,
            "Content-Type",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .header("content-encoding", "gzip")
                .body("not gzip at all"),
            400,
            "invalid gzip",
        ),
        (
            post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .header("content-encoding", "zstd")
                .body(event.clone()),
            415,
            "Content-Encoding",
        ),
        (
            post(format!("{}?key={OTHER_KEY}", app.events_url(2)))
                .header("origin", "https://evil.example")
                .body(event.clone()),
            403,
            "origin https://evil.example is not allowed",
        ),
    ];
    for (request, status, message) in cases {
        let response = request.send().await.expect("sent");
        assert_eq!(
            response.status().as_u16(),
            status,
            "expected {status} for {message:?}"
        );
        let body = json_body(response).await;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{error:?} should mention {message:?}"
        );
    }

    // A gzip bomb: small on the wire, far over the limit once inflated.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&vec![b' '; 2 * 1024 * 1024]).expect("gzip");
    let bomb = gzip.finish().expect("gzip");
    assert!(bomb.len() < 4096, "{}", bomb.len());
    let response = post(format!("{}?key={TEST_KEY}", app.events_url(1)))
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);

    let health = http()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
    // Nothing of the above reached the queue.
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 0);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("# HELP frontmon_collector_requests_rejected"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE frontmon_collector_requests_rejected counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"frontmon_collector_requests_rejected_total{reason="wrong_key"} 1"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;

    let preflight = |origin: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, app.events_url(2))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://shop.example").await.expect("sent");
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    let refused = preflight("https://evil.example").await.expect("sent");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A simple request from an allowed page: accepted and readable by the page.
    let response = http()
        .post(format!("{}?key={OTHER_KEY}", app.events_url(2)))
        .header("origin", "https://shop.example")
        .header("content-type", "text/plain")
        .body(json!({"type": "pageview"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_broker_the_answer_is_503_with_retry_after_never_2xx() {
    let mut env = TestEnv::new();
    // Nothing listens on port 1.
    env.settings.amqp.url =
        shared::config::AmqpUrl::parse("amqp://guest:guest@127.0.0.1:1/%2f").unwrap();
    let app = Running::start(env.settings.clone()).await;

    let ready = http()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), 503);
    let response = http()
        .post(format!("{}?key={TEST_KEY}", app.events_url(1)))
        .body(json!({"type": "error", "message": "lost?"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body = json_body(response).await;
    assert_eq!(body["error"], "events could not be stored; retry later");
    app.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_broker_connection() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let readyz = format!("{}/readyz", app.base);
    let ready = http().get(&readyz).send().await.expect("sent");
    assert_eq!(ready.status(), 200);

    assert!(
        env.close_broker_connections() >= 1,
        "the collector's connection is listed"
    );
    // Closed by the broker: not ready until the publisher has reconnected, then ready again
    // and accepting, without a restart.
    eventually(
        "the collector to reconnect",
        Duration::from_secs(30),
        || async {
            let response = http()
                .post(format!("{}?key={TEST_KEY}", app.events_url(1)))
                .body(json!({"type": "click"}).to_string())
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    let ready = http().get(&readyz).send().await.expect("sent");
    assert_eq!(ready.status(), 200);
    app.stop().await;
}

/// The binary as deployed: config file from `--config`, one key overridden by the
/// environment, ready on the overridden port, and a clean exit on SIGTERM.
#[tokio::test]
async fn the_binary_reads_its_config_file_and_environment_overrides() {
    let env = TestEnv::new();
    // `Binary::start` writes the file with an unusable `listen` and overrides it in the
    // environment; it returns once `/readyz` answers 200 on the overridden port.
    let binary = Binary::start(&env, &[]).await;
    let response = http()
        .post(format!(
            "{}/api/1/events?key={}",
            binary.base(),
            shared::config::DEMO_PUBLIC_KEY
        ))
        .body(json!({"type": "pageview"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "the file's demo project is served");
    let status = binary.terminate().await;
    assert!(status.success(), "exit status {status:?}");
}
