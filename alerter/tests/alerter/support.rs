//! What the alerter's tests share: a running alerter, a webhook receiver, events to publish.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use alerter::Application;
use alerter::retry::RetryPolicy;
use chrono::Utc;
use shared::config::Settings;
use shared::event::{Client, Detail, Event, EventId, ProjectId, Rating, VitalName};
use shared::publisher::{Outgoing, Publisher, PublisherOptions};
use shared::testing::{TestEnv, eventually};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(30);

/// An alerter built from `settings`, running in this process.
pub struct TestApp {
    pub port: u16,
    pub shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    http: reqwest::Client,
}

impl Drop for TestApp {
    /// A test that panicked did not stop its alerter: stop it now, before the `TestEnv`
    /// deletes the queues it would otherwise declare again.
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Retries as the alerter does, with pauses short enough for a test.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
        ..RetryPolicy::default()
    }
}

impl TestApp {
    /// An alerter with [`quick_retries`].
    pub fn spawn(settings: Settings) -> Self {
        Self::spawn_with_retry(settings, quick_retries())
    }

    pub fn spawn_with_retry(settings: Settings, retry: RetryPolicy) -> Self {
        if std::env::var_os("RUST_LOG").is_some() {
            shared::telemetry::init(&settings.log);
        }
        let shutdown = CancellationToken::new();
        let app = Application::build_with_retry(settings, retry, shutdown.clone())
            .unwrap_or_else(|e| panic!("cannot build the alerter: {e:#}"));
        let port = app.port();
        Self {
            port,
            shutdown,
            task: Some(tokio::spawn(app.run_until_stopped())),
            http: reqwest::Client::new(),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The value of one sample in `/metrics`, `name{labels}` spelled as exported.
    pub async fn metric(&self, sample: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(name, _)| *name == sample)
            .map(|(_, value)| value.parse().unwrap_or_else(|e| panic!("{sample}: {e}")))
            .unwrap_or(0.0)
    }

    pub async fn wait_ready(&self) {
        shared::testing::eventually("the alerter to be ready", WAIT, || async {
            (self.get("/readyz").await.0 == 200).then_some(())
        })
        .await;
    }

    /// Cancels the token and waits for a clean exit.
    pub async fn stop(self) {
        self.stop_within(WAIT).await;
    }

    /// Cancels the token and waits at most `limit` for a clean exit.
    pub async fn stop_within(mut self, limit: Duration) {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return;
        };
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => panic!("the alerter failed: {error:#}"),
            Ok(Err(error)) => panic!("the alerter panicked: {error}"),
            Err(_) => panic!("the alerter did not stop within {limit:?}"),
        }
    }
}

pub async fn publisher(env: &TestEnv) -> Publisher {
    Publisher::connect(PublisherOptions {
        url: env.settings.amqp.url.expose().into(),
        topology: env.topology(),
        channels: 1,
        timeout: Duration::from_secs(5),
        connection_name: format!("{}.test", env.settings.amqp.exchange),
    })
    .await
    .unwrap_or_else(|e| panic!("cannot connect the test publisher: {e}"))
}

pub fn outgoing(event: &Event) -> Outgoing {
    Outgoing {
        event_id: event.event_id,
        project_id: event.project_id,
        routing_key: event.routing_key(),
        received_at: event.received_at,
        body: serde_json::to_vec(event).unwrap_or_else(|e| panic!("{e}")),
    }
}

pub async fn publish(publisher: &Publisher, events: &[&Event]) {
    let messages: Vec<Outgoing> = events.iter().map(|event| outgoing(event)).collect();
    publisher
        .publish(&messages)
        .await
        .unwrap_or_else(|e| panic!("cannot publish: {e}"));
}

fn event(detail: Detail, message: Option<&str>) -> Event {
    let now = Utc::now();
    Event {
        event_id: EventId::new_random(),
        project_id: ProjectId::new(1).unwrap_or_else(|| panic!("zero")),
        timestamp: now,
        received_at: now,
        detail,
        url: Some("https://shop.example/cart".into()),
        message: message.map(Into::into),
        // The frame is named after the message: each message its own problem (issue), as
        // the cooldown tests need, and copies of one message the same problem.
        stack: message.map(|m| {
            let frame: String = m
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("Error: {m}\n    at {frame} (https://shop.example/app.js:10:5)\n    at main")
        }),
        release: Some("1.4.2".into()),
        environment: Some("production".into()),
        user: None,
        tags: BTreeMap::new(),
        session_id: None,
        client: Client::default(),
    }
}

/// A JavaScript error with this message, thrown at the same place every time.
pub fn js_error(message: &str) -> Event {
    event(Detail::Error {}, Some(message))
}

pub fn resource_error() -> Event {
    event(
        Detail::ResourceError {
            target: "https://cdn.example/app.js".into(),
            tag_name: Some("script".into()),
        },
        None,
    )
}

pub fn api_error() -> Event {
    event(
        Detail::ApiError {
            target: "https://shop.example/api/cart".into(),
            method: Some("POST".into()),
            status: Some(502),
            duration_ms: Some(120.0),
        },
        Some("POST /api/cart answered 502"),
    )
}

pub fn vital() -> Event {
    event(
        Detail::Vital {
            name: VitalName::Lcp,
            value: 5000.0,
            rating: Rating::Poor,
        },
        None,
    )
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub event_id_header: Option<String>,
    pub delivery: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON: {e}"))
    }

    pub fn event_id(&self) -> EventId {
        self.json()["event_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no event_id in {}", self.json()))
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How the receiver answers on one path (or on every path without a rule of its own).
#[derive(Debug, Clone, Default)]
struct Rule {
    /// The status to answer instead of 200, while `until` has not passed.
    status: Option<u16>,
    until: Option<Instant>,
    retry_after: Option<String>,
    /// How long to take before answering: a slow webhook.
    delay: Duration,
}

impl Rule {
    fn answer(&self, now: Instant) -> u16 {
        match (self.status, self.until) {
            (Some(status), Some(until)) if now < until => status,
            (Some(status), None) => status,
            _ => 200,
        }
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    default: Mutex<Rule>,
    paths: Mutex<HashMap<String, Rule>>,
}

impl ReceiverState {
    fn rule(&self, path: &str) -> Rule {
        let paths = self.paths.lock().unwrap_or_else(|e| e.into_inner());
        match paths.get(path) {
            Some(rule) => rule.clone(),
            None => self
                .default
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// A webhook endpoint on 127.0.0.1 that records every request; every path is a channel, and
/// each can be told to fail (for a while, with a `Retry-After`) or to be slow.
///
/// A richer twin of `shared::testing::receiver::Receiver`.
pub struct Receiver {
    port: u16,
    state: Arc<ReceiverState>,
    handle: ServerHandle,
}

impl Receiver {
    pub fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the receiver: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap_or_else(|e| panic!("{e}"))
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            state,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn set_default(&self, change: impl FnOnce(&mut Rule)) {
        change(&mut self.state.default.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn set(&self, path: &str, rule: Rule) {
        self.state
            .paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), rule);
    }

    /// From now on take `delay` before answering, on every path without a rule.
    pub fn delay(&self, delay: Duration) {
        self.set_default(|rule| rule.delay = delay);
    }

    /// Answer `status` on `path` until further notice.
    pub fn answer(&self, path: &str, status: u16) {
        self.set(
            path,
            Rule {
                status: Some(status),
                ..Rule::default()
            },
        );
    }

    /// Answer `status` on `path` until the wall clock reaches `until`, then 200.
    pub fn answer_until(&self, path: &str, status: u16, until: Instant) {
        self.set(
            path,
            Rule {
                status: Some(status),
                until: Some(until),
                ..Rule::default()
            },
        );
    }

    /// Answer `status` with `Retry-After: <retry_after>` on `path` until `until`, then 200.
    pub fn answer_retry_after_until(
        &self,
        path: &str,
        status: u16,
        retry_after: &str,
        until: Instant,
    ) {
        self.set(
            path,
            Rule {
                status: Some(status),
                until: Some(until),
                retry_after: Some(retry_after.to_owned()),
                ..Rule::default()
            },
        );
    }

    /// Answer 200 on `path` again.
    pub fn recover(&self, path: &str) {
        self.set(path, Rule::default());
    }

    pub fn received(&self) -> Vec<Received> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The requests to `path` about the event `id`, in the order they arrived.
    pub fn attempts(&self, path: &str, id: EventId) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path && r.event_id() == id)
            .collect()
    }

    /// The requests to `path` that were answered 2xx.
    pub fn delivered(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path && r.ok())
            .collect()
    }

    /// Whether `path` was delivered the event `id`.
    pub fn has(&self, path: &str, id: EventId) -> bool {
        self.delivered(path).iter().any(|r| r.event_id() == id)
    }

    /// Waits until every one of `ids` was delivered to `path`.
    pub async fn wait_for(&self, path: &str, ids: &[EventId]) {
        self.wait_for_within(path, ids, Duration::from_secs(60))
            .await;
    }

    /// Waits at most `limit` until every one of `ids` was delivered to `path`.
    pub async fn wait_for_within(&self, path: &str, ids: &[EventId], limit: Duration) {
        eventually(
            &format!("{} events on {path}", ids.len()),
            limit,
            || async {
                // One pass over what arrived, not one per id: a thousand ids stay cheap to poll.
                let delivered: HashSet<EventId> = self
                    .delivered(path)
                    .iter()
                    .map(Received::event_id)
                    .collect();
                ids.iter().all(|id| delivered.contains(id)).then_some(())
            },
        )
        .await;
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn record(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let at = Instant::now();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let rule = state.rule(request.path());
    let status = rule.answer(at);
    state
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Received {
            path: request.path().to_owned(),
            status,
            at,
            timestamp: header("X-Frontmon-Timestamp"),
            signature: header("X-Frontmon-Signature"),
            event_id_header: header("X-Frontmon-Event-Id"),
            delivery: header("X-Frontmon-Delivery"),
            content_type: header("Content-Type"),
            body: body.to_vec(),
        });
    if !rule.delay.is_zero() {
        tokio::time::sleep(rule.delay).await;
    }
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if status != 200
        && let Some(retry_after) = &rule.retry_after
    {
        response.insert_header(("Retry-After", retry_after.as_str()));
    }
    response.body(if status == 200 { "ok" } else { "not now" })
}
