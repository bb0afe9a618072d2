//! What the end-to-end tests share: the three services running in this process, a client,
//! and ways to look into the database.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use shared::config::Settings;
use shared::testing::spawned::Spawned;
use shared::testing::{ADMIN_TOKEN, TEST_KEY};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(60);
pub const SECRET: &str = "webhook-secret";

/// One running service; dropping it stops it, so a failed test leaves no consumer behind.
pub struct Service {
    pub base: String,
    running: Spawned,
}

impl Service {
    fn new(running: Spawned) -> Self {
        Self {
            base: running.base(),
            running,
        }
    }

    pub async fn collector(settings: &Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = collector::Application::build(settings.clone(), shutdown.clone())
            .await
            .expect("collector starts");
        let port = app.port();
        Self::new(Spawned::spawn(
            "collector",
            port,
            shutdown,
            app.run_until_stopped(),
        ))
    }

    pub async fn processor(settings: &Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = processor::Application::build(settings.clone(), shutdown.clone())
            .await
            .expect("processor starts");
        let port = app.port();
        Self::new(Spawned::spawn(
            "processor",
            port,
            shutdown,
            app.run_until_stopped(),
        ))
    }

    pub async fn alerter(settings: &Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = alerter::Application::build(settings.clone(), shutdown.clone())
            .await
            .expect("alerter starts");
        let port = app.port();
        Self::new(Spawned::spawn(
            "alerter",
            port,
            shutdown,
            app.run_until_stopped(),
        ))
    }

    pub async fn stop(self) {
        self.running.stop_within(WAIT).await;
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Posts a body to project 1 and returns the accepted event ids; panics on anything but 200.
pub async fn post(client: &reqwest::Client, collector: &Service, body: &Value) -> Vec<String> {
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
pub async fn post_many(
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

pub async fn stored_ids(settings: &Settings) -> (i64, BTreeSet<String>) {
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

pub fn verify_signature(timestamp: &str, body: &[u8], signature: &str) {
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

/// Rules under which the alerter notifies every error event, each alone: a `frequency` rule
/// of one event without cooldown, and channels without a rate limit to fold by. What the
/// counting tests need; not what anyone would deploy.
pub fn notify_every_error(settings: &mut Settings) {
    settings.alerter.rules = vec![shared::config::RuleSettings {
        name: "every error".into(),
        condition: shared::config::Condition::Frequency {
            threshold: std::num::NonZeroU64::MIN,
            window_secs: std::num::NonZeroU64::MIN,
        },
        projects: Vec::new(),
        environments: Vec::new(),
        levels: Vec::new(),
        channels: Vec::new(),
        cooldown_secs: Some(0),
    }];
    for channel in &mut settings.alerter.channels {
        channel.rate_per_minute = std::num::NonZeroU32::new(1_000_000);
    }
}

/// A driver of `e2e/browser/` (`drive.mjs`, `faro.mjs`, `own-sdk.mjs`), as the first of
/// [`node_report`]'s arguments.
pub fn browser_script(name: &str) -> String {
    format!("{}/../e2e/browser/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `node` with `args` (a driver and its options) and returns the JSON report on the last
/// line it prints; panics with its output when it fails.
pub async fn node_report(args: Vec<String>) -> Value {
    let shown = args.join(" ");
    let output = tokio::task::spawn_blocking(move || Command::new("node").args(&args).output())
        .await
        .expect("joined")
        .expect("node runs (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {shown} failed ({}); run `source scripts/lib/browser.sh && ensure_browser_deps`?\n\
         stderr: {}\nstdout: {stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().expect("a report line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON report ({e}): {line}"))
}

/// Project 1's `path` in the processor's admin API; `None` until it answers 200 with JSON.
pub async fn project_get(processor: &Service, path: &str) -> Option<Value> {
    let response = http()
        .get(format!("{}/api/projects/1/{path}", processor.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?;
    (response.status() == 200).then_some(response.json().await.ok()?)
}
