//! PostgreSQL: the processor's SQL, by table ([`events`], [`issues`], [`sourcemaps`],
//! [`outbox`]), and the one transaction a batch is written in ([`batch`]).
//!
//! Each table's module holds its statements and the rows they read, and takes a connection
//! (a transaction's) or the pool; deciding what to write is the domain modules' work
//! ([`crate::issues`], [`crate::artifacts`], [`crate::outbox`]), which call in here. Errors are
//! classified once, into [`StoreError`]: unavailable (hold and retry), rejected
//! (dead-letter), conflict (run again at once).
//!
//! Start at [`batch`] (a batch, from rows to commit), then [`events`].

pub mod batch;
pub mod error;
pub mod events;
pub mod issues;
pub mod outbox;
pub mod sourcemaps;

use shared::config::DatabaseSettings;
use sqlx::Postgres;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::outbox::Outbox;
pub use error::StoreError;
pub use events::{CountFilter, Cursor, EventFilter, NewEvent, StoredEvent};

/// The processor's database: the pool, and what wakes the outbox relay when a transaction has
/// queued notices.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    outbox: Outbox,
}

impl Store {
    /// Creates the database if it does not exist, connects, and migrates the schema.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let url = settings.url.expose();
        if !Postgres::database_exists(url).await? {
            // Two processors starting at once may both try; the loser's error is harmless.
            if let Err(error) = Postgres::create_database(url).await
                && !Postgres::database_exists(url).await?
            {
                return Err(error.into());
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.get())
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|error| StoreError::Unavailable(error.into()))?;
        Ok(Self {
            pool,
            outbox: Outbox::default(),
        })
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What wakes the outbox relay.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }
}
