//! A webhook endpoint for tests: records every request, answers 200 or, when told, 500.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::event::EventId;

const WAIT: Duration = Duration::from_secs(60);

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub status: u16,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub event_id_header: Option<String>,
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

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    failing: AtomicBool,
    /// How long to take before answering, in milliseconds: a slow webhook.
    delay_ms: AtomicU64,
}

/// A webhook endpoint on 127.0.0.1 that records every request; every path is a channel.
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

    /// From now on answer 500 (`true`) or 200 (`false`).
    pub fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// From now on take `delay` before answering.
    pub fn delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(millis, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        super::eventually(&format!("{} events on {path}", ids.len()), WAIT, || async {
            // One pass over what arrived, not one per id: a thousand ids stay cheap to poll.
            let delivered: std::collections::HashSet<EventId> = self
                .delivered(path)
                .iter()
                .map(Received::event_id)
                .collect();
            ids.iter().all(|id| delivered.contains(id)).then_some(())
        })
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
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let status = if state.failing.load(Ordering::SeqCst) {
        500
    } else {
        200
    };
    state
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Received {
            path: request.path().to_owned(),
            status,
            timestamp: header("X-Frontmon-Timestamp"),
            signature: header("X-Frontmon-Signature"),
            event_id_header: header("X-Frontmon-Event-Id"),
            content_type: header("Content-Type"),
            body: body.to_vec(),
        });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if status == 500 {
        HttpResponse::InternalServerError().body("down")
    } else {
        HttpResponse::Ok().body("ok")
    }
}
