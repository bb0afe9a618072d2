//! A webhook endpoint for tests: records every request (when it arrived, its headers and
//! body) and answers 200, or, when told, another status for a while, with or without
//! `Retry-After`, or slowly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::event::EventId;

/// How long [`Receiver::wait_for`] waits for one more of the events it waits for.
const STALL: Duration = Duration::from_secs(60);

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

    /// Waits until every one of `ids` was delivered to `path`. It gives up only when none more
    /// of them arrived for [`STALL`]: a test under load may queue thousands of notifications,
    /// and how long they take depends on the machine, but a lost one stops the count for good.
    pub async fn wait_for(&self, path: &str, ids: &[EventId]) {
        let mut best = 0;
        let mut last_progress = tokio::time::Instant::now();
        loop {
            // One pass over what arrived, not one per id: thousands of ids stay cheap to poll.
            let delivered: HashSet<EventId> = self
                .delivered(path)
                .iter()
                .map(Received::event_id)
                .collect();
            let missing: Vec<&EventId> = ids.iter().filter(|id| !delivered.contains(id)).collect();
            if missing.is_empty() {
                return;
            }
            let arrived = ids.len() - missing.len();
            if arrived > best {
                best = arrived;
                last_progress = tokio::time::Instant::now();
            } else if last_progress.elapsed() >= STALL {
                panic!(
                    "{arrived} of {} events delivered on {path}, none more for {STALL:?}; \
                     missing {} such as {:?}",
                    ids.len(),
                    missing.len(),
                    &missing[..missing.len().min(5)],
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
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
