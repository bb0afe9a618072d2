//! Wires the processor top to bottom: database, consumer, read API, dashboard.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use prometheus_client::registry::Registry;
use shared::config::{Service, Settings};
use shared::consumer::{self, ConsumeOptions};
use shared::health::{Health, ReadyFlag};
use shared::publisher::{Publisher, PublisherOptions};
use shared::topology::{Topology, dead_letter_queue};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use dashboard::{Accounts, Dashboard, ProjectInfo};

use crate::analytics::{Analytics, fold};
use crate::api;
use crate::artifacts::ArtifactStore;
use crate::consume::Processor;
use crate::db::Store;
use crate::enrich::Enricher;
use crate::issues::Issues;
use crate::lifecycle::{Lifecycle, Policy};
use crate::metrics::Metrics;
use crate::outbox;
use crate::projects;
use crate::symbolicate::Symbolicator;
use crate::user_agent::UserAgents;

/// How long the broker may take to confirm issue notices before the relay retries.
const NOTICE_PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Application {
    port: u16,
    server: Server,
    consumers: Vec<JoinHandle<()>>,
    relay: JoinHandle<()>,
    lifecycle: JoinHandle<()>,
    folds: JoinHandle<()>,
    store: Store,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(
        mut settings: Settings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        settings.refuse_default_secrets(Service::Processor)?;
        let store = Store::connect(&settings.database).await?;
        // From here on the projects are the database's, which the configuration only seeds.
        settings.projects = projects::seed_and_read(store.pool(), &settings.projects).await?;
        let analytics = Arc::new(Analytics::new(&settings.analytics, &settings.projects));
        let store = store.with_analytics(analytics.clone());
        let database_ready = ReadyFlag::default();
        database_ready.set(true);

        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::register(&mut registry));
        let topology = Topology::from_settings(&settings);
        tokio::spawn(consumer::watch_depths(
            settings.amqp.url.expose().to_owned(),
            format!("{}.processor.depths", settings.amqp.exchange),
            topology.clone(),
            vec![
                (
                    topology
                        .processor_queues()
                        .iter()
                        .map(|queue| dead_letter_queue(queue))
                        .collect(),
                    metrics.dead_letters_waiting.clone(),
                ),
                (
                    vec![topology.unroutable()],
                    metrics.unroutable_waiting.clone(),
                ),
            ],
            shutdown.clone(),
        ));
        let artifacts = ArtifactStore::new(store.pool().clone());
        // Today's partitions before the first batch; then a round at once and on a schedule.
        let lifecycle = Lifecycle {
            pool: store.pool().clone(),
            policy: Policy::from_settings(&settings),
            projects: settings
                .projects
                .iter()
                .map(|project| i64::from(project.id.get()))
                .collect(),
            artifacts: artifacts.clone(),
            metrics: metrics.clone(),
        };
        lifecycle.prepare().await;
        let lifecycle = tokio::spawn(lifecycle.run(shutdown.clone()));
        let folds = tokio::spawn(fold::run(store.pool().clone(), analytics, shutdown.clone()));
        let processor = Arc::new(Processor {
            store: store.clone(),
            symbolicator: Symbolicator::new(
                store.pool().clone(),
                Box::new({
                    let artifacts = artifacts.clone();
                    move || artifacts.generation()
                }),
                settings.processor.sourcemap_cache_bytes,
            ),
            enricher: Enricher::new(Arc::new(UserAgents::new()), &settings.projects),
            metrics,
            batch_size: settings.processor.batch_size.get(),
            batch_wait: settings.processor.batch_wait,
            database_ready: database_ready.clone(),
            shutdown: shutdown.clone(),
        });
        let queues = topology.processor_queues();
        let options = ConsumeOptions {
            url: settings.amqp.url.expose().to_owned(),
            topology,
            queue: settings.processor.queue.to_string(),
            prefetch: settings.processor.prefetch.get(),
            connection_name: format!("{}.processor", settings.amqp.exchange),
        };
        // Issue notices go out on their own connection: the consumer's may be down while a
        // resolved issue is announced from the API, and vice versa.
        let notices = Publisher::start(PublisherOptions {
            url: settings.amqp.url.expose().to_owned(),
            topology: Topology::from_settings(&settings),
            channels: 1,
            timeout: NOTICE_PUBLISH_TIMEOUT,
            connection_name: format!("{}.processor.notices", settings.amqp.exchange),
        })
        .await;
        let relay = tokio::spawn(outbox::relay(
            store.pool().clone(),
            Arc::new(notices),
            store.outbox(),
            shutdown.clone(),
        ));
        // Several sessions, so that PostgreSQL writes one batch while another is parsed and
        // grouped: one session alternates between the two and leaves both half idle. With
        // one queue, `consumers` sessions share it; with partitions, one session per
        // partition, active while no other instance's session holds it (docs/scaling.md).
        let sessions: Vec<(u16, String)> = if queues.len() > 1 {
            (1..).zip(queues).collect()
        } else {
            (1..=settings.processor.consumers.get())
                .map(|number| (number, options.queue.clone()))
                .collect()
        };
        let mut consumers = Vec::with_capacity(sessions.len());
        let mut sessions_ready = Vec::with_capacity(sessions.len());
        for (number, queue) in sessions {
            let ready = ReadyFlag::default();
            sessions_ready.push(ready.clone());
            let processor = processor.clone();
            let options = ConsumeOptions {
                connection_name: format!("{}.{number}", options.connection_name),
                queue,
                ..options.clone()
            };
            consumers.push(tokio::spawn(consumer::run(
                options,
                shutdown.clone(),
                ready,
                move |subscription| processor.clone().session(subscription, number),
            )));
        }

        let dashboard = web::Data::new(Dashboard {
            accounts: Accounts::connect(&settings.database).await?,
            projects: settings
                .projects
                .iter()
                .map(|p| ProjectInfo {
                    id: p.id,
                    name: p.name.clone(),
                    public_key: p
                        .newest_key()
                        .map(|key| key.as_str().to_owned())
                        .unwrap_or_default(),
                })
                .collect(),
            secure_cookies: settings
                .processor
                .public_url
                .as_ref()
                .is_some_and(|url| url.scheme() == "https"),
            alerts: dashboard::AlertSetup::from_settings(&settings),
            collector_url: settings.processor.collector_url.clone(),
        });
        let pages = web::Data::new(api::Pages {
            store: store.clone(),
            issues: Issues::new(store.pool().clone(), store.outbox()),
        });
        let api_state = web::Data::new(api::State {
            store: store.clone(),
            issues: Issues::new(store.pool().clone(), store.outbox()),
            admin_token: settings.processor.admin_token.clone().into(),
            projects: settings.projects.iter().map(|p| p.id).collect(),
            artifacts,
            sourcemap_max_bytes: settings.processor.sourcemap_max_bytes.get(),
            dashboard: dashboard.clone(),
        });
        let health = Health::new(shutdown.clone(), Arc::new(registry))
            .check("broker", move || sessions_ready.iter().all(ReadyFlag::get))
            .flag("database", database_ready);
        let listener = TcpListener::bind(settings.processor.listen)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(api_state.clone())
                .app_data(dashboard.clone())
                .app_data(pages.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(4096)
                        .error_handler(api::body_error),
                )
                .configure(|cfg| health.clone().routes(cfg))
                .configure(api::routes)
                .configure(dashboard::routes::<api::Pages>)
                .default_service(web::to(not_found))
        })
        .disable_signals()
        .workers(2)
        .listen(listener)?
        .run();
        tracing::info!(port, "Processor listening.");
        Ok(Self {
            port,
            server,
            consumers,
            relay,
            lifecycle,
            folds,
            store,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until the shutdown token is cancelled: then the consumer stops taking
    /// deliveries, stores and acks what it holds, and closes its connection.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        self.shutdown.cancelled().await;
        for consumer in self.consumers {
            if let Err(error) = consumer.await {
                tracing::error!(error = %error, "Consumer task failed.");
            }
        }
        if let Err(error) = self.relay.await {
            tracing::error!(error = %error, "Outbox relay failed.");
        }
        if let Err(error) = self.lifecycle.await {
            tracing::error!(error = %error, "Lifecycle task failed.");
        }
        if let Err(error) = self.folds.await {
            tracing::error!(error = %error, "Rollup fold task failed.");
        }
        // The consumers' last batches, folded now rather than by the next start's reads.
        if let Err(error) = crate::db::rollups::fold(self.store.pool()).await {
            tracing::warn!(error = %error, "Rollups not folded at shutdown; the next fold takes them.");
        }
        handle.stop(true).await;
        let served = server.await;
        self.store.pool().close().await;
        tracing::info!("Processor stopped.");
        served??;
        Ok(())
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({ "error": "no such endpoint" }))
}
