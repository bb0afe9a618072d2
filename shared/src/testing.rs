//! Helpers for the integration tests of every service (feature `testing`).
//!
//! A [`TestEnv`] gives one test its own exchange, queues and database on the real RabbitMQ
//! and PostgreSQL, so tests run in parallel and twice in a row; dropping it deletes them,
//! even when the test panicked.

use std::time::Duration;

use lapin::Connection;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use sqlx::migrate::MigrateDatabase;

pub mod logs;
pub mod receiver;
pub mod spawned;

use crate::config::{ChannelKind, ChannelSettings, Project, PublicKey, Secret, Settings};
use crate::event::{Event, EventId, ProjectId};
use crate::notice::{IssueNotice, NoticeEvent, NoticeKind};
use crate::publisher::{Outgoing, PublishError, Publisher, PublisherOptions};
use crate::topology::Topology;

/// The key of project 1 in a [`TestEnv`].
pub const TEST_KEY: &str = "0123456789abcdef0123456789abcdef";
/// The key of project 2, which only accepts pages from `https://shop.example`.
pub const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210";
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestEnv {
    pub settings: Settings,
    pub prefix: String,
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

impl TestEnv {
    pub fn new() -> Self {
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let amqp = env_or(
            "FRONTMON_TEST_AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        );
        let postgres = env_or(
            "FRONTMON_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432",
        );
        let toml = format!(
            r#"
            [amqp]
            url = "{amqp}"
            exchange = "{prefix}.events"
            [database]
            url = "{postgres}/frontmon_{prefix}"
            max_connections = 4
            [collector]
            listen = "127.0.0.1:0"
            workers = 2
            [processor]
            listen = "127.0.0.1:0"
            queue = "{prefix}.processor"
            admin_token = "{ADMIN_TOKEN}"
            batch_wait_ms = 10
            [alerter]
            listen = "127.0.0.1:0"
            queue = "{prefix}.alerter"
            [[projects]]
            id = 1
            name = "test"
            public_key = "{TEST_KEY}"
            [[projects]]
            id = 2
            name = "shop"
            public_key = "{OTHER_KEY}"
            allowed_origins = ["https://shop.example"]
            "#
        );
        let settings = match Settings::from_toml(&toml) {
            Ok(settings) => settings,
            Err(error) => panic!("test settings are invalid: {error}"),
        };
        Self { settings, prefix }
    }

    pub fn topology(&self) -> Topology {
        Topology::from_settings(&self.settings)
    }

    /// A confirming publisher on this test's exchange, as the collector would publish.
    pub async fn publisher(&self) -> Publisher {
        Publisher::connect(PublisherOptions {
            url: self.settings.amqp.url.expose().into(),
            topology: self.topology(),
            channels: 1,
            timeout: Duration::from_secs(5),
            connection_name: format!("{}.test", self.settings.amqp.exchange),
        })
        .await
        .unwrap_or_else(|e| panic!("cannot connect the test publisher: {e}"))
    }

    /// Adds a webhook channel to the alerter's settings.
    pub fn add_webhook(&mut self, name: &str, url: &str, secret: Option<&str>) {
        self.settings.alerter.channels.push(ChannelSettings {
            name: name.into(),
            kind: ChannelKind::Webhook,
            url: url
                .parse()
                .unwrap_or_else(|e| panic!("bad webhook url {url}: {e}")),
            secret: secret.map(Secret::new),
            rate_per_minute: None,
            quiet_hours: None,
            username: None,
            from: None,
            to: Vec::new(),
            language: Default::default(),
        });
    }

    pub fn project(&self, id: u32) -> &Project {
        let id = ProjectId::new(id).unwrap_or_else(|| panic!("project id 0"));
        self.settings
            .project(id)
            .unwrap_or_else(|| panic!("no test project {id}"))
    }

    /// How many messages wait in `queue` (ready, not unacknowledged).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let connection = connect(self.settings.amqp.url.expose()).await;
        let channel = connection
            .create_channel()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let depth = crate::topology::queue_depth(&channel, queue)
            .await
            .unwrap_or_else(|e| panic!("queue {queue}: {e}"));
        let _ = connection.close(200, "done".into()).await;
        depth
    }

    /// Closes every broker connection whose name starts with this test's prefix, the way a
    /// network fault or a broker-side kill would.
    pub fn close_broker_connections(&self) -> usize {
        close_connections_named(&self.prefix)
    }

    /// The largest frame negotiated by each broker connection whose name starts with this
    /// test's prefix, one entry per connection, as RabbitMQ lists them.
    pub async fn broker_connection_frame_sizes(&self) -> Vec<u32> {
        let prefix = self.prefix.clone();
        tokio::task::spawn_blocking(move || {
            list_connections("frame_max")
                .into_iter()
                .filter(|(_, properties)| properties.contains(&format!("\"{prefix}")))
                .map(|(frame_max, _)| {
                    frame_max
                        .parse()
                        .unwrap_or_else(|e| panic!("frame_max {frame_max:?}: {e}"))
                })
                .collect()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TestEnv::close_broker_connections`] off the async runtime: `rabbitmqctl` takes a
    /// second or two, and the services under test must keep running meanwhile.
    pub async fn close_broker_connections_async(&self) -> usize {
        let prefix = self.prefix.clone();
        tokio::task::spawn_blocking(move || close_connections_named(&prefix))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn cleanup(settings: Settings) {
        let topology = Topology::from_settings(&settings);
        if let Ok(connection) =
            crate::amqp::connect(settings.amqp.url.expose(), "frontmon.test.cleanup").await
            && let Ok(channel) = connection.create_channel().await
        {
            for queue in topology.all_queues() {
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for exchange in topology.all_exchanges() {
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            let _ = connection.close(200, "cleanup".into()).await;
        }
        let url = settings.database.url.expose();
        if sqlx::Postgres::database_exists(url).await.unwrap_or(false) {
            let _ = sqlx::Postgres::force_drop_database(url).await;
        }
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Async clean-up from a synchronous drop, possibly inside a runtime: run it on a
        // thread of its own with a runtime of its own.
        let settings = self.settings.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(30), Self::cleanup(settings))
                        .await;
                });
            }
        })
        .join();
    }
}

/// Closes every broker connection whose name starts with `prefix`.
fn close_connections_named(prefix: &str) -> usize {
    let mut closed = 0;
    for (pid, properties) in list_connections("pid") {
        if !properties.contains(&format!("\"{prefix}")) {
            continue;
        }
        let status = std::process::Command::new("rabbitmqctl")
            .args(["close_connection", &pid, "closed by test"])
            .status()
            .unwrap_or_else(|e| panic!("rabbitmqctl: {e}"));
        assert!(
            status.success(),
            "rabbitmqctl close_connection {pid} failed"
        );
        closed += 1;
    }
    closed
}

/// `rabbitmqctl list_connections <item> client_properties`: each connection's item, and its
/// client properties (where the connection name is) as text.
fn list_connections(item: &str) -> Vec<(String, String)> {
    let output = std::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "-q",
            "--no-table-headers",
            item,
            "client_properties",
        ])
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl: {e}"));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (value, properties) = line.split_once(char::is_whitespace)?;
            Some((value.to_owned(), properties.to_owned()))
        })
        .collect()
}

/// A connection to the test's broker: any node of it when `url` lists several.
async fn connect(url: &str) -> Connection {
    crate::amqp::connect(url, "frontmon.test")
        .await
        .unwrap_or_else(|e| panic!("cannot connect to RabbitMQ: {e}"))
}

/// Waits until `probe` returns `Some`, polling; panics with `what` after `limit`.
/// This is synchronisation on an observable outcome, not a sleep standing in for one.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Publishes and waits for the broker's confirms, retrying a nack a few times, as the
/// collector's clients retry its 503. A nack means the broker did not take the messages: under
/// the suite's parallel load RabbitMQ 3.10 nacked a single-event test publish once in four
/// runs of the whole suite (nothing in its log said why), which failed a test that was not
/// about publishing. Anything else fails the test at once.
pub async fn publish_confirmed(publisher: &Publisher, messages: &[Outgoing]) {
    const ATTEMPTS: u64 = 5;
    for attempt in 1..=ATTEMPTS {
        match publisher.publish(messages).await {
            Ok(()) => return,
            Err(PublishError::Nacked) if attempt < ATTEMPTS => {
                // A backoff before retrying, not a wait for something to happen.
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(error) => panic!("cannot publish: {error}"),
        }
    }
}

/// `event` as the collector publishes it.
pub fn outgoing(event: &Event) -> Outgoing {
    Outgoing {
        event_id: event.event_id,
        project_id: event.project_id,
        routing_key: event.routing_key(),
        received_at: event.received_at,
        body: serde_json::to_vec(event).unwrap_or_else(|e| panic!("{e}")),
        partition_key: Some(crate::partition::key(event)),
    }
}

/// The `issue.created` the processor announces once it stored `event`, the first of the issue
/// `grouping` names (its title and culprit too).
pub fn created_notice(event: &Event, grouping: &crate::grouping::Grouping) -> IssueNotice {
    IssueNotice {
        notice_id: uuid::Uuid::new_v4(),
        kind: NoticeKind::Created,
        at: event.received_at,
        project_id: event.project_id,
        issue_id: 42,
        grouping_version: grouping.version,
        fingerprint: grouping.fingerprint.clone(),
        title: grouping.title.clone(),
        culprit: grouping.culprit.clone(),
        level: event.level.map_or("error", |level| level.as_str()).into(),
        count: 1,
        user_count: 0,
        first_seen: event.received_at,
        last_seen: event.received_at,
        last_release: event.release.clone(),
        event: Some(NoticeEvent::of(event)),
    }
}

/// `notice` as the processor's outbox publishes it.
pub fn notice_message(notice: &IssueNotice) -> Outgoing {
    Outgoing {
        event_id: EventId::from_uuid(notice.notice_id),
        project_id: notice.project_id,
        routing_key: notice.routing_key(),
        received_at: notice.at,
        body: serde_json::to_vec(notice).unwrap_or_else(|e| panic!("{e}")),
        partition_key: None,
    }
}

/// A public key for tests that need one outside a [`TestEnv`].
pub fn public_key(key: &str) -> PublicKey {
    PublicKey::parse(key).unwrap_or_else(|e| panic!("{e}"))
}
