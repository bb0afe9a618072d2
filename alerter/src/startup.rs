//! Wires the alerter together, in dependency order: metrics, the database and the rules'
//! saved state, the channels and their dispatchers, the pipeline and its consumer, the HTTP
//! server (health, metrics, the alerts API).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use prometheus_client::registry::Registry;
use shared::config::{Service, Settings};
use shared::consumer::ConsumeOptions;
use shared::health::{Health, ReadyFlag};
use shared::topology::Topology;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::compose::{ChannelSender, Composer};
use crate::consumer::Consumer;
use crate::dead_letter::DeadLetters;
use crate::dispatch::Dispatcher;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::projects;
use crate::rules::Engine;
use crate::send::Sender;
use crate::store::AlertStore;

/// Seconds the HTTP server gives open requests once the consumer has stopped.
const HTTP_SHUTDOWN_SECS: u64 = 5;
/// How often the rules' counting windows are saved (a crash loses at most this much of them).
const WINDOWS_CHECKPOINT: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    server: Server,
    consumer: Arc<Consumer>,
    dispatchers: Vec<Dispatcher>,
    options: ConsumeOptions,
    ready: ReadyFlag,
    shutdown: CancellationToken,
}

impl Application {
    /// Connects to the database (creating the alerter's schema), restores the rules' state,
    /// and binds the HTTP port; nothing is consumed until [`Application::run_until_stopped`].
    pub async fn build(
        mut settings: Settings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        settings.refuse_default_secrets(Service::Alerter)?;
        // The names in messages: the database's projects, those made there included.
        settings.projects = projects::read(&settings).await;
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let store = AlertStore::connect(&settings.database)
            .await
            .context("cannot open the alerter's database")?;

        let mut engine = Engine::new(&settings.alerter);
        engine.restore_cooldowns(store.load_cooldowns().await?);
        if let Some(windows) = store.load_windows().await? {
            engine.restore_windows(windows);
        }

        let http = reqwest::Client::builder()
            .timeout(settings.alerter.webhook_timeout.get())
            .build()
            .context("cannot build the HTTP client")?;
        let composer = Arc::new(Composer::new(&settings));
        let topology = Topology::from_settings(&settings);
        let dead_letters = DeadLetters::new(
            settings.amqp.url.expose().into(),
            topology.clone(),
            format!("{}.alerter.dead-letters", settings.amqp.exchange),
            metrics.clone(),
        );
        let mut senders: HashMap<String, Arc<dyn Sender>> = HashMap::new();
        let mut wake = HashMap::new();
        let mut dispatchers = Vec::new();
        for channel in &settings.alerter.channels {
            let sender: Arc<dyn Sender> = Arc::new(
                ChannelSender::new(channel, http.clone())
                    .with_context(|| format!("channel {}", channel.name))?,
            );
            let notify = Arc::new(Notify::new());
            metrics.add_channel(&channel.name);
            senders.insert(channel.name.clone(), sender.clone());
            wake.insert(channel.name.clone(), notify.clone());
            dispatchers.push(Dispatcher {
                channel: channel.clone(),
                sender,
                store: store.clone(),
                composer: composer.clone(),
                dead_letters: dead_letters.clone(),
                metrics: metrics.clone(),
                retry_budget: settings.alerter.retry_budget.get(),
                wake: notify,
                shutdown: shutdown.clone(),
            });
        }
        if dispatchers.is_empty() {
            tracing::warn!("No alert channels are configured: rules fire, but nobody is told.");
        }

        let database_ready = ReadyFlag::default();
        database_ready.set(true);
        let consumer = Arc::new(Consumer {
            pipeline: Pipeline::new(&settings, engine, store.clone(), wake, metrics.clone()),
            metrics: metrics.clone(),
            database_ready: database_ready.clone(),
            shutdown: shutdown.clone(),
        });
        tokio::spawn(shared::consumer::watch_depths(
            settings.amqp.url.expose().into(),
            format!("{}.alerter.depths", settings.amqp.exchange),
            topology.clone(),
            vec![(
                vec![topology.alerter.dead_letter_queue()],
                metrics.dead_letters_waiting.clone(),
            )],
            shutdown.clone(),
        ));
        let options = ConsumeOptions {
            url: settings.amqp.url.expose().into(),
            topology,
            queue: settings.alerter.queue.to_string(),
            prefetch: settings.alerter.prefetch.get(),
            // Starts with the exchange name, so one deployment's connections are found by it.
            connection_name: format!("{}.alerter", settings.amqp.exchange),
        };

        let ready = ReadyFlag::default();
        let health = Health::new(shutdown.clone(), Arc::new(registry))
            .flag("broker", ready.clone())
            .flag("database", database_ready);
        let api_state = web::Data::new(ApiState {
            store,
            admin_token: settings.processor.admin_token.clone().into(),
            senders,
            test_messages: settings
                .alerter
                .channels
                .iter()
                .map(|channel| {
                    (
                        channel.name.clone(),
                        composer.test_message(channel.language),
                    )
                })
                .collect(),
        });
        let listener = TcpListener::bind(settings.alerter.listen)
            .with_context(|| format!("cannot listen on {}", settings.alerter.listen))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            let health = health.clone();
            App::new()
                .app_data(api_state.clone())
                .configure(move |cfg| health.routes(cfg))
                .route("/api/alerts", web::get().to(api::alerts))
                .route(
                    "/api/channels/{name}/test",
                    web::post().to(api::test_channel),
                )
        })
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
            dispatchers,
            options,
            ready,
            shutdown,
        })
    }

    /// The HTTP port, useful when the configuration asked for port 0.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Consumes, dispatches and serves until the shutdown token is cancelled and the
    /// deliveries in hand are settled.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            consumer,
            dispatchers,
            options,
            ready,
            shutdown,
            ..
        } = self;
        let http = server.handle();
        let mut server = tokio::spawn(server);
        let dispatching: Vec<JoinHandle<()>> = dispatchers
            .into_iter()
            .map(|dispatcher| tokio::spawn(dispatcher.run()))
            .collect();
        let checkpoints = tokio::spawn(checkpoint_windows(consumer.clone(), shutdown.clone()));

        tracing::info!(queue = %options.queue, "Alerter started.");
        let consuming = {
            let consumer = consumer.clone();
            shared::consumer::run(options, shutdown.clone(), ready, move |subscription| {
                let consumer = consumer.clone();
                async move { consumer.session(subscription).await }
            })
        };
        tokio::pin!(consuming);
        tokio::select! {
            () = &mut consuming => {}
            served = &mut server => {
                shutdown.cancel();
                consuming.await;
                served.context("the HTTP server panicked")?.context("the HTTP server failed")?;
                anyhow::bail!("the HTTP server stopped unexpectedly");
            }
        }
        for dispatcher in dispatching {
            let _ = dispatcher.await;
        }
        let _ = checkpoints.await;
        // The windows as they are now, so a planned restart loses none.
        consumer.pipeline.save_windows().await;

        http.stop(true).await;
        server
            .await
            .context("the HTTP server panicked")?
            .context("the HTTP server failed")?;
        tracing::info!("Alerter stopped.");
        Ok(())
    }
}

async fn checkpoint_windows(consumer: Arc<Consumer>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(WINDOWS_CHECKPOINT) => consumer.pipeline.save_windows().await,
        }
    }
}
