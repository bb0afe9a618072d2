//! PostgreSQL: the processor's SQL, by table ([`events`], [`issues`], [`sourcemaps`],
//! [`outbox`], the analytics' [`rollups`], the partitions and expiry of [`partitions`]), the one
//! transaction a batch is written in ([`batch`]), and the one that erases a user's events
//! ([`erasure`]).
//!
//! Each table's module holds its statements and the rows they read, and takes a connection
//! (a transaction's) or the pool; deciding what to write is the domain modules' work
//! ([`crate::issues`], [`crate::artifacts`], [`crate::outbox`]), which call in here. Errors are
//! classified once, into [`StoreError`]: unavailable (hold and retry), rejected
//! (dead-letter), conflict (run again at once).
//!
//! Start at [`batch`] (a batch, from rows to commit), then [`events`].

pub mod batch;
pub mod erasure;
pub mod events;
pub mod issues;
pub mod outbox;
pub mod partitions;
pub mod rollups;
pub mod sourcemaps;

use shared::config::DatabaseSettings;
use shared::db::Schema;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::sync::Arc;

use crate::analytics::Analytics;

use crate::outbox::Outbox;
pub use events::{CountFilter, Cursor, EventFilter, NewEvent, StoredEvent};
/// The one classification of database errors, shared with the alerter.
pub use shared::db::DbError as StoreError;

/// The processor's schema, in the database's default schema.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The processor's database: the pool, and what wakes the outbox relay when a transaction has
/// queued notices.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    outbox: Outbox,
    /// What a batch adds to the rollups (nothing when they are off).
    analytics: Arc<Analytics>,
}

impl Store {
    /// Creates the database if it does not exist, connects, and migrates the schema.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        Ok(Self {
            pool: shared::db::connect(settings, Schema::Public, &MIGRATOR).await?,
            outbox: Outbox::default(),
            analytics: Arc::default(),
        })
    }

    /// The store, keeping the analytics' rollups as `analytics` says.
    pub fn with_analytics(self, analytics: Arc<Analytics>) -> Self {
        Self { analytics, ..self }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What wakes the outbox relay.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }
}
