use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::{NonZeroDuration, nonzero_millis};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorSettings {
    pub listen: SocketAddr,
    /// Largest request body, in bytes, before and after decompression.
    pub max_body_bytes: NonZeroUsize,
    /// Most events in one request.
    pub max_batch: NonZeroUsize,
    /// Proxies whose `X-Forwarded-For` is believed (CIDR blocks or addresses).
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// How long a request waits for the broker's confirms before answering 503.
    #[serde(rename = "publish_timeout_ms", deserialize_with = "nonzero_millis")]
    pub publish_timeout: NonZeroDuration,
    /// AMQP channels the shared publisher spreads requests over.
    pub publish_channels: NonZeroUsize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How often the projects and their keys are read from the database: a key added or
    /// revoked there is in force within this long.
    #[serde(rename = "projects_refresh_ms", deserialize_with = "nonzero_millis")]
    pub projects_refresh: NonZeroDuration,
    /// Where the projects last read from the database are kept, so that a collector started
    /// while the database is down still knows the projects and keys made there (and that a
    /// revoked key stays refused). None: no file; such a start knows the configuration's
    /// `[[projects]]` only.
    pub projects_cache: Option<PathBuf>,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: NonZeroUsize::new(1024 * 1024).unwrap_or(NonZeroUsize::MIN),
            max_batch: NonZeroUsize::new(100).unwrap_or(NonZeroUsize::MIN),
            trusted_proxies: Vec::new(),
            publish_timeout: NonZeroDuration::from_secs(
                NonZeroU64::new(5).unwrap_or(NonZeroU64::MIN),
            ),
            publish_channels: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
            workers: 0,
            projects_refresh: NonZeroDuration::from_secs(
                NonZeroU64::new(5).unwrap_or(NonZeroU64::MIN),
            ),
            projects_cache: None,
        }
    }
}

/// CIDR blocks, or single addresses standing for themselves (`10.0.0.1` is `10.0.0.1/32`).
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{text:?} is neither an address nor a CIDR block"
                    ))
                })
        })
        .collect()
}
