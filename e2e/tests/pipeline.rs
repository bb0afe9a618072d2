//! The whole pipeline in one process: collector → RabbitMQ → processor (PostgreSQL) and
//! alerter (a local webhook receiver), against the real broker and database.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::StreamExt;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use shared::config::Settings;
use shared::testing::receiver::Receiver;
use shared::testing::{ADMIN_TOKEN, TEST_KEY, TestEnv, eventually};
use sqlx::Connection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);
const SECRET: &str = "webhook-secret";

/// One running service; dropping it stops it, so a failed test leaves no consumer behind.
struct Service {
    base: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Service {
    fn new(port: u16, shutdown: CancellationToken, task: JoinHandle<anyhow::Result<()>>) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
            shutdown,
            task: Some(task),
        }
    }

    async fn collector(settings: &Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = collector::Application::build(settings.clone(), shutdown.clone())
            .await
            .expect("collector starts");
        let port = app.port();
        Self::new(port, shutdown, tokio::spawn(app.run_until_stopped()))
    }

    async fn processor(settings: &Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = processor::Application::build(settings.clone(), shutdown.clone())
            .await
            .expect("processor starts");
        let port = app.port();
        Self::new(port, shutdown, tokio::spawn(app.run_until_stopped()))
    }

    fn alerter(settings: &Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = alerter::Application::build(settings.clone(), shutdown.clone())
            .expect("alerter starts");
        let port = app.port();
        Self::new(port, shutdown, tokio::spawn(app.run_until_stopped()))
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("stops in time")
                .expect("joined")
                .expect("clean exit");
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Posts a body to project 1 and returns the accepted event ids; panics on anything but 200.
async fn post(client: &reqwest::Client, collector: &Service, body: &Value) -> Vec<String> {
    let response = client
        .post(format!("{}/api/1/events?key={TEST_KEY}", collector.base))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "{body}");
    let answer: Value = response.json().await.expect("JSON");
    answer["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_str().expect("id").to_owned())
        .collect()
}

/// Posts `count` single-event requests, `in_flight` at a time; every one must be a 200.
async fn post_many(
    collector: &Service,
    count: usize,
    in_flight: usize,
    event: impl Fn(usize) -> Value,
) -> Vec<String> {
    let client = http();
    let bodies: Vec<Value> = (0..count).map(event).collect();
    let ids: Vec<Vec<String>> = futures::stream::iter(bodies.iter())
        .map(|body| post(&client, collector, body))
        .buffer_unordered(in_flight)
        .collect()
        .await;
    ids.into_iter().flatten().collect()
}

async fn stored_ids(settings: &Settings) -> (i64, BTreeSet<String>) {
    let mut db = sqlx::PgConnection::connect(settings.database.url.expose())
        .await
        .expect("database");
    let rows: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT event_id FROM events")
        .fetch_all(&mut db)
        .await
        .expect("query");
    let total = rows.len() as i64;
    (
        total,
        rows.into_iter()
            .map(|(id,)| id.simple().to_string())
            .collect(),
    )
}

fn verify_signature(timestamp: &str, body: &[u8], signature: &str) {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        signature,
        expected,
        "signature of {}",
        String::from_utf8_lossy(body)
    );
}

#[tokio::test]
async fn a_mixed_batch_is_stored_once_and_only_errors_are_notified_signed() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), Some(SECRET));
    let processor = Service::processor(&env.settings).await;
    let alerter = Service::alerter(&env.settings);
    let collector = Service::collector(&env.settings).await;
    let client = http();

    let batch = json!([
        {"type": "error", "message": "TypeError: cart is undefined", "stack": "TypeError: cart is undefined\n    at checkout (https://shop.example/app.js:10:5)", "url": "https://shop.example/cart", "release": "1.2.3"},
        {"type": "resource_error", "target": "https://cdn.example/app.css", "tag_name": "link"},
        {"type": "api_error", "target": "https://shop.example/api/pay", "method": "POST", "status": 502, "duration_ms": 812.5},
        {"type": "vital", "name": "LCP", "value": 2300, "url": "https://shop.example/"},
        {"type": "pageview", "url": "https://shop.example/", "referrer": "https://search.example/"},
        {"type": "click", "selector": "button#pay", "text": "Pay"},
        {"type": "custom", "name": "checkout_started", "data": {"items": 3}}
    ]);
    let ids = post(&client, &collector, &batch).await;
    assert_eq!(ids.len(), 7);

    // Every event readable by id, with the routing key its type maps to.
    let expected_keys = [
        "error.js",
        "error.resource",
        "error.api",
        "perf.vital",
        "behavior.pageview",
        "behavior.click",
        "custom.event",
    ];
    for (id, key) in ids.iter().zip(expected_keys) {
        let event: Value = eventually(&format!("event {id} stored"), WAIT, || async {
            let response = client
                .get(format!("{}/api/projects/1/events/{id}", processor.base))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(response.json().await.ok()?)
        })
        .await;
        assert_eq!(event["routing_key"], key);
    }
    // ... exactly once.
    let (total, distinct) = stored_ids(&env.settings).await;
    assert_eq!((total, distinct.len()), (7, 7));

    // The three errors were notified, signed; then a marker error proves nothing else came.
    let errors: Vec<shared::event::EventId> =
        ids[..3].iter().map(|id| id.parse().unwrap()).collect();
    receiver.wait_for("/ops", &errors).await;
    let marker = post(
        &client,
        &collector,
        &json!({"type": "error", "message": "marker"}),
    )
    .await;
    receiver
        .wait_for("/ops", &[marker[0].parse().unwrap()])
        .await;
    let delivered = receiver.delivered("/ops");
    let notified: Vec<String> = delivered.iter().map(|r| r.event_id().to_string()).collect();
    let mut expected: Vec<String> = ids[..3].to_vec();
    expected.push(marker[0].clone());
    assert_eq!(
        notified.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>(),
        "only the errors are notified"
    );
    assert_eq!(notified.len(), 4, "each error notified once");
    for request in &delivered {
        verify_signature(
            request.timestamp.as_deref().expect("timestamp header"),
            &request.body,
            request.signature.as_deref().expect("signature header"),
        );
    }
    let first = delivered
        .iter()
        .find(|r| r.event_id().to_string() == ids[0])
        .expect("first error");
    let notification = first.json();
    assert_eq!(notification["message"], "TypeError: cart is undefined");
    assert_eq!(notification["routing_key"], "error.js");
    assert_eq!(notification["release"], "1.2.3");
    assert_eq!(notification["project_id"], 1);

    collector.stop().await;
    alerter.stop().await;
    processor.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn with_the_processor_down_the_collector_accepts_and_the_backlog_is_stored_once() {
    let env = TestEnv::new();
    let collector = Service::collector(&env.settings).await;

    let posted = post_many(
        &collector,
        1000,
        8,
        |i| json!({"type": "pageview", "url": format!("https://shop.example/p/{i}")}),
    )
    .await;
    assert_eq!(
        posted.len(),
        1000,
        "all 1,000 accepted with the processor down"
    );
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 1000);

    let processor = Service::processor(&env.settings).await;
    let stored = eventually("the backlog to be stored", WAIT, || async {
        let (total, ids) = stored_ids(&env.settings).await;
        (total >= 1000).then_some((total, ids))
    })
    .await;
    assert_eq!(stored.0, 1000, "no event stored twice");
    assert_eq!(
        stored.1,
        posted.iter().cloned().collect::<BTreeSet<_>>(),
        "every accepted event stored"
    );
    eventually("the queue to be empty", WAIT, || async {
        (env.queue_depth(&env.topology().processor.name).await == 0).then_some(())
    })
    .await;

    collector.stop().await;
    processor.stop().await;
}

#[tokio::test]
async fn with_the_alerter_down_errors_wait_and_each_is_notified_once() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    // Every event notified, so the count is exact.
    env.settings.alerter.cooldown = Duration::ZERO;
    let collector = Service::collector(&env.settings).await;

    let posted = post_many(
        &collector,
        1000,
        8,
        |i| json!({"type": "error", "message": format!("error {i}")}),
    )
    .await;
    assert_eq!(posted.len(), 1000);
    assert_eq!(env.queue_depth(&env.topology().alerter.name).await, 1000);
    assert!(receiver.received().is_empty());

    let alerter = Service::alerter(&env.settings);
    let ids: Vec<shared::event::EventId> = posted.iter().map(|id| id.parse().unwrap()).collect();
    receiver.wait_for("/ops", &ids).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for request in receiver.delivered("/ops") {
        *counts.entry(request.event_id().to_string()).or_default() += 1;
    }
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|&n| n == 1), "no error notified twice");

    collector.stop().await;
    alerter.stop().await;
    receiver.stop().await;
}
