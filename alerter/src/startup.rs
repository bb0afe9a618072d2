//! Wires the alerter together, in dependency order: metrics, the notifier, the consumer, the
//! HTTP server for health and metrics.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use anyhow::Context;
use prometheus_client::registry::Registry;
use shared::config::Settings;
use shared::consumer::ConsumeOptions;
use shared::health::{Health, ReadyFlag};
use shared::topology::Topology;
use tokio_util::sync::CancellationToken;

use crate::consumer::Consumer;
use crate::metrics::Metrics;
use crate::notifier::Notifier;
use crate::retry::RetryPolicy;

/// Seconds the HTTP server gives open requests once the consumer has stopped.
const HTTP_SHUTDOWN_SECS: u64 = 5;

pub struct Application {
    port: u16,
    server: Server,
    consumer: Arc<Consumer>,
    options: ConsumeOptions,
    ready: ReadyFlag,
    shutdown: CancellationToken,
}

impl Application {
    /// Builds the alerter and binds its HTTP port; nothing is consumed until
    /// [`Application::run_until_stopped`].
    pub fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let retry = RetryPolicy::from_settings(&settings);
        Self::build_with_retry(settings, retry, shutdown)
    }

    /// [`Application::build`] with another retry policy: tests shorten the pauses.
    pub fn build_with_retry(
        settings: Settings,
        retry: RetryPolicy,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);

        let notifier = Notifier::new(&settings, retry, metrics.clone())
            .context("cannot build the HTTP client")?;
        if notifier.channels() == 0 {
            tracing::warn!(
                "No alert channels are configured; error events will be acknowledged unsent."
            );
        }
        let dead_letters_waiting = metrics.dead_letters_waiting.clone();
        let consumer = Arc::new(Consumer {
            notifier,
            metrics,
            shutdown: shutdown.clone(),
        });
        let topology = Topology::from_settings(&settings);
        tokio::spawn(shared::consumer::watch_depths(
            settings.amqp.url.expose().into(),
            format!("{}.alerter.depths", settings.amqp.exchange),
            topology.clone(),
            vec![(topology.alerter.dead_letter_queue(), dead_letters_waiting)],
            shutdown.clone(),
        ));
        let options = ConsumeOptions {
            url: settings.amqp.url.expose().into(),
            topology,
            queue: settings.alerter.queue.clone(),
            prefetch: settings.alerter.prefetch,
            // Starts with the exchange name, so one deployment's connections are found by it.
            connection_name: format!("{}.alerter", settings.amqp.exchange),
        };

        let ready = ReadyFlag::default();
        let health =
            Health::new(shutdown.clone(), Arc::new(registry)).flag("broker", ready.clone());
        let listener = TcpListener::bind(settings.alerter.listen)
            .with_context(|| format!("cannot listen on {}", settings.alerter.listen))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            let health = health.clone();
            App::new().configure(move |cfg| health.routes(cfg))
        })
        // Health and metrics only: one worker is plenty.
        .workers(1)
        // Shutdown comes from the token, after the consumer has finished.
        .disable_signals()
        .shutdown_timeout(HTTP_SHUTDOWN_SECS)
        .listen(listener)?
        .run();

        Ok(Self {
            port,
            server,
            consumer,
            options,
            ready,
            shutdown,
        })
    }

    /// The HTTP port, useful when the configuration asked for port 0.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Consumes and serves until the shutdown token is cancelled and the deliveries in hand
    /// are settled.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            consumer,
            options,
            ready,
            shutdown,
            ..
        } = self;
        let http = server.handle();
        let mut server = tokio::spawn(server);

        tracing::info!(queue = %options.queue, "Alerter started.");
        let consuming =
            shared::consumer::run(options, shutdown.clone(), ready, move |subscription| {
                let consumer = consumer.clone();
                async move { consumer.session(subscription).await }
            });
        tokio::pin!(consuming);
        tokio::select! {
            () = &mut consuming => {}
            served = &mut server => {
                // The HTTP server stopped on its own: stop consuming too, and say why.
                shutdown.cancel();
                consuming.await;
                served.context("the HTTP server panicked")?.context("the HTTP server failed")?;
                anyhow::bail!("the HTTP server stopped unexpectedly");
            }
        }

        http.stop(true).await;
        server
            .await
            .context("the HTTP server panicked")?
            .context("the HTTP server failed")?;
        tracing::info!("Alerter stopped.");
        Ok(())
    }
}
