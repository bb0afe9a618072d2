//! Isolation: the names, configuration file and scratch directory of one benchmark run.
//!
//! Everything the run creates carries a random id (`bench-<id>.events`, `bench-<id>.processor`,
//! `frontmon_bench_<id>`), so it never touches a real deployment or another run, and
//! [`Sandbox::cleanup`] deletes all of it, on success and on error alike.

use std::path::PathBuf;
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use shared::config::Settings;
use shared::topology::Topology;
use sqlx::migrate::MigrateDatabase;

use crate::error::BenchError;
use crate::options::Options;

pub struct Sandbox {
    pub id: String,
    /// The configuration the services run with, as they will read it.
    pub settings: Settings,
    pub public_key: String,
    /// Holds the configuration file and the services' logs.
    pub dir: PathBuf,
    pub config_path: PathBuf,
    /// The run's database: `frontmon_bench_<id>`, or the one named by `--analytics-db`.
    pub database_name: String,
    /// Whether [`Sandbox::cleanup`] leaves the database (`--analytics-db`).
    pub keep_database: bool,
}

impl Sandbox {
    pub fn create(options: &Options) -> Result<Self, BenchError> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let public_key = uuid::Uuid::new_v4().simple().to_string();
        let database_name = options
            .analytics_db
            .clone()
            .unwrap_or_else(|| format!("frontmon_bench_{id}"));
        let database_url = database_url(&options.database_url, &database_name)?;
        let toml = config_toml(&id, options, &database_url, &public_key);
        // Parsed here with the services' own loader, so a mistake stops the bench before any
        // service is started.
        let settings = Settings::from_toml(&toml).map_err(BenchError::Config)?;
        let dir = std::env::temp_dir().join(format!("frontmon-bench-{id}"));
        let io = |context: String| move |source| BenchError::Io { context, source };
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let config_path = dir.join("frontmon.toml");
        std::fs::write(&config_path, toml)
            .map_err(io(format!("writing {}", config_path.display())))?;
        Ok(Self {
            id,
            settings,
            public_key,
            dir,
            config_path,
            database_name,
            keep_database: options.analytics_db.is_some(),
        })
    }

    pub fn topology(&self) -> Topology {
        Topology::from_settings(&self.settings)
    }

    pub fn amqp_url(&self) -> &str {
        self.settings.amqp.url.expose()
    }

    pub fn database_url(&self) -> &str {
        self.settings.database.url.expose()
    }

    /// Creates the run's database; the processor migrates it when it first starts.
    pub async fn create_database(&self) -> Result<(), BenchError> {
        sqlx::Postgres::create_database(self.database_url())
            .await
            .map_err(|source| BenchError::Database {
                context: "creating the bench database",
                source,
            })
    }

    /// Deletes the queues, exchanges and database (best effort, each step bounded in time),
    /// and the scratch directory unless the logs are worth keeping.
    pub async fn cleanup(&self, keep_logs: bool) {
        let topology = self.topology();
        let amqp = async {
            let connection = Connection::connect(self.amqp_url(), ConnectionProperties::default())
                .await
                .ok()?;
            let channel = connection.create_channel().await.ok()?;
            for queue in topology.all_queues() {
                if let Err(error) = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await
                {
                    eprintln!("bench: could not delete queue {queue}: {error}");
                }
            }
            for exchange in topology.all_exchanges() {
                if let Err(error) = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await
                {
                    eprintln!("bench: could not delete exchange {exchange}: {error}");
                }
            }
            let _ = connection.close(200, "bench cleanup".into()).await;
            Some(())
        };
        if tokio::time::timeout(Duration::from_secs(30), amqp)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            eprintln!(
                "bench: could not clean up the broker: delete the queues and exchanges named {}* by hand",
                topology.exchange.trim_end_matches("events")
            );
        }
        let url = self.database_url();
        if self.keep_database {
            eprintln!("bench: database {} kept", self.database_name);
        }
        let database = async {
            if self.keep_database {
                return Ok(());
            }
            if sqlx::Postgres::database_exists(url).await? {
                sqlx::Postgres::force_drop_database(url).await?;
            }
            Ok::<_, sqlx::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(30), database).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!(
                "bench: could not drop database {}: {error}",
                self.database_name
            ),
            Err(_) => eprintln!("bench: dropping database {} timed out", self.database_name),
        }
        if keep_logs {
            eprintln!("bench: the services' logs are in {}", self.dir.display());
        } else if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("bench: could not remove {}: {error}", self.dir.display());
        }
    }
}

/// The server URL with the run's database as its path.
fn database_url(server: &str, name: &str) -> Result<String, BenchError> {
    let mut url = url::Url::parse(server).map_err(|error| {
        BenchError::Usage(format!("the database URL {server:?} is invalid: {error}"))
    })?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

/// The one configuration file all three services read. Listen addresses are not in it: each
/// service gets a free port through `FRONTMON__<SERVICE>__LISTEN` when it starts.
fn config_toml(id: &str, options: &Options, database_url: &str, public_key: &str) -> String {
    format!(
        r#"# Written by the frontmon benchmark for one run; deleted at its end.
[amqp]
url = "{amqp}"
exchange = "bench-{id}.events"
# Every scenario's queues are purged before the next, so only one scenario's messages are
# ever queued; this limit is only a backstop far above any scenario's count.
max_queue_length = 5000000

[database]
url = "{database_url}"

[processor]
queue = "bench-{id}.processor"
admin_token = "bench-{id}"
# Throughput over latency: big batches, and enough prefetch that the next batch is already
# here while one is written.
batch_size = {batch}
prefetch = {prefetch}

[alerter]
queue = "bench-{id}.alerter"

[log]
format = "pretty"
filter = "warn"

[[projects]]
id = 1
name = "bench"
public_key = "{public_key}"
"#,
        amqp = options.amqp_url,
        batch = options.processor_batch_size,
        prefetch = options.processor_prefetch,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_valid_and_isolated() {
        let options = Options::default();
        let url = database_url(&options.database_url, "frontmon_bench_abc").expect("valid");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/frontmon_bench_abc");
        let toml = config_toml("abc", &options, &url, "0123456789abcdef0123456789abcdef");
        let settings = Settings::from_toml(&toml).expect("valid configuration");
        let topology = Topology::from_settings(&settings);
        assert_eq!(topology.exchange, "bench-abc.events");
        assert!(
            topology
                .all_queues()
                .iter()
                .all(|q| q.starts_with("bench-abc."))
        );
        assert_eq!(
            settings.processor.batch_size.get(),
            options.processor_batch_size
        );
        assert_eq!(settings.log.filter, "warn");
    }
}
