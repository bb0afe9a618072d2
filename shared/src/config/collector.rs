use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::millis;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorSettings {
    pub listen: SocketAddr,
    /// Largest request body, in bytes, before and after decompression.
    pub max_body_bytes: usize,
    /// Most events in one request.
    pub max_batch: usize,
    /// Proxies whose `X-Forwarded-For` is believed (CIDR blocks or addresses).
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// How long a request waits for the broker's confirms before answering 503.
    #[serde(rename = "publish_timeout_ms", deserialize_with = "millis")]
    pub publish_timeout: Duration,
    /// AMQP channels the shared publisher spreads requests over.
    pub publish_channels: NonZeroUsize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 1024 * 1024,
            max_batch: 100,
            trusted_proxies: Vec::new(),
            publish_timeout: Duration::from_secs(5),
            publish_channels: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
            workers: 0,
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
