//! PostgreSQL for the services that keep state (the processor, the alerter): opening a
//! service's database ([`connect`]) and what a failed statement means for the work that ran
//! it ([`DbError`]); and the one table every service reads, [`projects`] (the collector only
//! reads it, through [`connect_lazy`]).
//!
//! Behind the `db` feature, so that a crate that needs no database does not build `sqlx`.
//!
//! Start at [`connect`], then [`DbError`].

mod error;
pub mod projects;

use std::time::Duration;

use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{Connection, PgConnection, Postgres};

pub use error::DbError;

use crate::config::DatabaseSettings;

/// How long a statement waits for a pooled connection before the database counts as
/// unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a service's tables live in the shared database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// The database's default schema.
    Public,
    /// A schema of the service's own (created if missing), holding its tables and its own
    /// migration history, apart from the other services'.
    Own(&'static str),
}

/// Creates the database if it does not exist (and the schema, if the service has its own),
/// connects a pool of `database.max_connections`, and runs the service's migrations.
pub async fn connect(
    settings: &DatabaseSettings,
    schema: Schema,
    migrator: &Migrator,
) -> Result<PgPool, DbError> {
    let url = settings.url.expose();
    if !Postgres::database_exists(url).await? {
        // Several services starting at once may all try; the losers' errors are harmless.
        if let Err(error) = Postgres::create_database(url).await
            && !Postgres::database_exists(url).await?
        {
            return Err(error.into());
        }
    }
    let mut options: PgConnectOptions = url.parse()?;
    if let Schema::Own(name) = schema {
        let mut connection = PgConnection::connect_with(&options).await?;
        // The name is the service's constant, never input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {name}"
        )))
        .execute(&mut connection)
        .await
        .or_else(ignore_concurrent_create)?;
        connection.close().await?;
        // Every connection works in the service's schema.
        options = options.options([("search_path", name)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections.get())
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// A pool that connects only when a statement needs a connection, and takes at most
/// `max_connections`: for a service that must start and serve while the database is down
/// (the collector), and only reads tables another service migrates.
pub fn connect_lazy(settings: &DatabaseSettings, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = settings.url.expose().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Two services creating the same schema at once: the loser's unique violation is the
/// conflict expected, and harmless.
fn ignore_concurrent_create(error: sqlx::Error) -> Result<PgQueryResult, sqlx::Error> {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Ok(PgQueryResult::default())
        }
        _ => Err(error),
    }
}
