//! PostgreSQL for the dashboard's accounts, by table ([`users`], [`sessions`],
//! [`login_failures`], [`api_tokens`]), in a schema of its own (`dashboard`) with its own migration history;
//! and the alerter's [`notifications`], read only, in the alerter's schema.

pub mod api_tokens;
pub mod login_failures;
pub mod notifications;
pub mod sessions;
pub mod users;

use shared::config::DatabaseSettings;
use shared::db::{DbError, Schema};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Sign-ins and page loads are few: a small pool beside the processor's.
const MAX_CONNECTIONS: u32 = 4;

/// Opens (creating and migrating, if need be) the `dashboard` schema of the database.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    let mut settings = settings.clone();
    settings.max_connections = settings
        .max_connections
        .min(std::num::NonZeroU32::new(MAX_CONNECTIONS).unwrap_or(std::num::NonZeroU32::MIN));
    shared::db::connect(&settings, Schema::Own("dashboard"), &MIGRATOR).await
}
