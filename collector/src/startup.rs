//! Wires the collector top to bottom: publisher, projects, metrics, HTTP server, and the
//! refresh of the projects from the database.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use prometheus_client::registry::Registry;
use shared::config::{Service, Settings, is_loopback};
use shared::health::Health;
use shared::publisher::{Publisher, PublisherOptions};
use shared::topology::Topology;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::budget::Budget;
use crate::catalog::Catalog;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::refresh::{self, Refresh};
use crate::routes;
use crate::sentry::pages::Pages;
use crate::state::State;

/// A connection must deliver a request's head (request line and headers) within this long of
/// opening, or of its previous answer: a slowloris sending a byte a second is answered 408 and
/// closed. Bodies have their own limit, [`crate::body::BODY_TIMEOUT`].
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle keep-alive connection is closed after this long.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// After an answer given before the body was read (413, 408), unread bytes are discarded for
/// at most this long before the connection is closed, so the client reads our answer instead
/// of a reset; a client that keeps sending is cut off then.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Application {
    port: u16,
    server: Server,
    publisher: Arc<Publisher>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        settings.refuse_default_secrets(Service::Collector)?;
        let publisher = Arc::new(
            Publisher::start(PublisherOptions {
                url: settings.amqp.url.expose().to_owned(),
                topology: Topology::from_settings(&settings),
                channels: settings.collector.publish_channels.get(),
                timeout: settings.collector.publish_timeout.get(),
                connection_name: format!("{}.collector", settings.amqp.exchange),
            })
            .await,
        );
        keep_connected(publisher.clone(), shutdown.clone());

        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let budget = Budget::for_body_limit(
            settings.collector.max_body_bytes.get(),
            metrics.body_bytes_held.clone(),
        );
        // Never waits for the database: the cache file or the configuration until it answers.
        let refuse_demo_key = !is_loopback(settings.collector.listen);
        let projects = refresh::starting_projects(
            &settings.projects,
            settings.collector.projects_cache.as_deref(),
            refuse_demo_key,
        );
        let state = web::Data::new(State {
            rate_limits: RateLimits::new(&projects),
            projects: Catalog::new(projects),
            publisher: publisher.clone(),
            metrics,
            trusted_proxies: settings.collector.trusted_proxies.clone(),
            max_body_bytes: settings.collector.max_body_bytes.get(),
            max_batch: settings.collector.max_batch.get(),
            budget,
            large_parse: Semaphore::new(1),
            pages: Pages::default(),
            partitioned: settings.processor.partitions.is_partitioned(),
        });
        let refresh = Refresh {
            // One connection: a read every few seconds.
            pool: shared::db::connect_lazy(&settings.database, 1)?,
            state: state.clone().into_inner(),
            configured: settings.projects.to_vec(),
            cache: settings.collector.projects_cache.clone(),
            every: settings.collector.projects_refresh.get(),
            refuse_demo_key,
        };
        tokio::spawn(refresh.run(shutdown.clone()));
        let health = {
            let publisher = publisher.clone();
            Health::new(shutdown.clone(), Arc::new(registry))
                .check("broker", move || publisher.is_connected())
        };

        let listener = TcpListener::bind(settings.collector.listen)?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(|cfg| health.clone().routes(cfg))
                .configure(routes::routes)
                .default_service(web::to(not_found))
        })
        .client_request_timeout(HEAD_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        // Signals are ours: the shutdown token decides when to stop.
        .disable_signals()
        .shutdown_timeout(30)
        .listen(listener)?;
        if settings.collector.workers > 0 {
            server = server.workers(settings.collector.workers);
        }
        tracing::info!(port, "Collector listening.");
        Ok(Self {
            port,
            server: server.run(),
            publisher,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, lets in-flight
    /// requests get their confirms and answers, and closes the broker connection.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown.clone();
        let stopper = tokio::spawn(async move {
            shutdown.cancelled().await;
            handle.stop(true).await;
        });
        let served = self.server.await;
        self.shutdown.cancel();
        let _ = stopper.await;
        self.publisher.close().await;
        tracing::info!("Collector stopped.");
        Ok(served?)
    }
}

/// Rebuilds the broker connection in the background while it is down, so readiness comes
/// back without waiting for traffic.
fn keep_connected(publisher: Arc<Publisher>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if !publisher.is_connected() {
                publisher.ensure_connected().await;
            }
        }
    });
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "no such endpoint: events go to POST /api/{project_id}/events, Sentry SDKs \
                  to /api/{project_id}/envelope/"
    }))
}
