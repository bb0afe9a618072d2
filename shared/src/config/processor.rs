use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{DEFAULT_ADMIN_TOKEN, Secret, millis};

/// More consume sessions than this only add connections: PostgreSQL is the bound long before.
pub(super) const MAX_PROCESSOR_CONSUMERS: u16 = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    pub listen: SocketAddr,
    pub queue: String,
    pub admin_token: Secret,
    /// Consume sessions, each on its own connection: while one session's batch is written
    /// to PostgreSQL, another parses and groups the next.
    pub consumers: u16,
    /// Unacknowledged deliveries the broker may hand each consume session at once.
    pub prefetch: u16,
    /// Events written per transaction at most.
    pub batch_size: usize,
    /// How long a partial batch waits for more events before it is written anyway.
    #[serde(rename = "batch_wait_ms", deserialize_with = "millis")]
    pub batch_wait: Duration,
    /// The largest source map (or minified file) the upload API accepts, in bytes.
    pub sourcemap_max_bytes: usize,
    /// Parsed source maps kept in memory, bounded by the size of the maps as uploaded.
    pub sourcemap_cache_bytes: usize,
    /// Where people reach the read API (`https://frontmon.example`): the links in alerts.
    /// None: alerts carry no links.
    pub public_url: Option<Url>,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            queue: "frontmon.processor".into(),
            admin_token: Secret::new(DEFAULT_ADMIN_TOKEN),
            consumers: 2,
            prefetch: 1000,
            batch_size: 500,
            batch_wait: Duration::from_millis(20),
            sourcemap_max_bytes: 32 * 1024 * 1024,
            sourcemap_cache_bytes: 16 * 1024 * 1024,
            public_url: None,
        }
    }
}
