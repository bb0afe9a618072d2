//! `/healthz`, `/readyz` and `/metrics`, the same for every service.
//!
//! Liveness says the process answers. Readiness says it can do its job: every dependency
//! check passes and shutdown has not begun (so a load balancer stops sending work first).
//! None takes query parameters; one that is sent anyway is refused ([`crate::query`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::query::{NoParams, Query};

/// A dependency's state, set by whoever watches it (the consume loop, the store).
#[derive(Debug, Clone, Default)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

type Check = Arc<dyn Fn() -> bool + Send + Sync>;

/// What `/readyz` and `/metrics` report for one service.
#[derive(Clone)]
pub struct Health {
    checks: Vec<(&'static str, Check)>,
    shutdown: CancellationToken,
    registry: Arc<Registry>,
}

impl Health {
    pub fn new(shutdown: CancellationToken, registry: Arc<Registry>) -> Self {
        Self {
            checks: Vec::new(),
            shutdown,
            registry,
        }
    }

    pub fn check(
        mut self,
        name: &'static str,
        check: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        self.checks.push((name, Arc::new(check)));
        self
    }

    pub fn flag(self, name: &'static str, flag: ReadyFlag) -> Self {
        self.check(name, move || flag.get())
    }

    /// Mounts the three routes.
    pub fn routes(self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
    }
}

async fn healthz(_: Query<NoParams>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(_: Query<NoParams>, health: web::Data<Health>) -> HttpResponse {
    let mut ready = !health.shutdown.is_cancelled();
    let mut checks = serde_json::Map::new();
    for (name, check) in &health.checks {
        let up = check();
        ready &= up;
        checks.insert((*name).into(), up.into());
    }
    let body = serde_json::json!({
        "ready": ready,
        "shutting_down": health.shutdown.is_cancelled(),
        "checks": checks,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(_: Query<NoParams>, health: web::Data<Health>) -> HttpResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &health.registry) {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(error) => {
            tracing::error!(error = %error, "Cannot encode metrics.");
            HttpResponse::InternalServerError().finish()
        }
    }
}
