use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroUsize};
use std::time::Duration;

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};
use url::Url;

use super::{AmqpName, DEFAULT_ADMIN_TOKEN, Secret, millis};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    pub listen: SocketAddr,
    pub queue: AmqpName,
    pub admin_token: AdminToken,
    /// Consume sessions, each on its own connection: while one session's batch is written
    /// to PostgreSQL, another parses and groups the next.
    pub consumers: Consumers,
    /// Partition queues (docs/scaling.md): 1 keeps the single processor queue that
    /// `consumers` sessions share; N > 1 spreads events over N queues by a hash of what must
    /// stay in order (an error's group, a visitor's session), each consumed by one session of
    /// one processor instance at a time.
    pub partitions: Partitions,
    /// Unacknowledged deliveries the broker may hand each consume session at once.
    pub prefetch: NonZeroU16,
    /// Events written per transaction at most.
    pub batch_size: NonZeroUsize,
    /// How long a partial batch waits for more events before it is written anyway.
    #[serde(rename = "batch_wait_ms", deserialize_with = "millis")]
    pub batch_wait: Duration,
    /// The largest source map (or minified file) the upload API accepts, in bytes.
    pub sourcemap_max_bytes: NonZeroUsize,
    /// Parsed source maps kept in memory, bounded by the size of the maps as uploaded.
    pub sourcemap_cache_bytes: usize,
    /// Where people reach the read API (`https://frontmon.example`): the links in alerts.
    /// None: alerts carry no links.
    pub public_url: Option<Url>,
    /// Where browsers reach the collector (`https://collect.example`, with a path prefix if
    /// a proxy adds one): the dashboard writes the DSNs and script tags it shows with it.
    /// None: they show a placeholder for the host.
    pub collector_url: Option<Url>,
    /// Where the processor reaches the alerter's API (the dashboard's "send a test" calls
    /// `POST <alerter_url>/api/channels/{name}/test` with `admin_token`).
    pub alerter_url: Url,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            queue: AmqpName("frontmon.processor".into()),
            admin_token: AdminToken(Secret::new(DEFAULT_ADMIN_TOKEN)),
            consumers: Consumers(2),
            partitions: Partitions(1),
            prefetch: NonZeroU16::new(1000).unwrap_or(NonZeroU16::MIN),
            batch_size: NonZeroUsize::new(500).unwrap_or(NonZeroUsize::MIN),
            batch_wait: Duration::from_millis(20),
            sourcemap_max_bytes: NonZeroUsize::new(32 * 1024 * 1024).unwrap_or(NonZeroUsize::MIN),
            sourcemap_cache_bytes: 16 * 1024 * 1024,
            public_url: None,
            collector_url: None,
            alerter_url: default_alerter_url(),
        }
    }
}

/// The alerter on this machine, on its default port.
fn default_alerter_url() -> Url {
    Url::parse("http://127.0.0.1:8082/").unwrap_or_else(|_| unreachable!("a valid literal"))
}

/// How many consume sessions the processor runs: 1 to [`Consumers::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumers(u16);

impl Consumers {
    /// More sessions only add connections: PostgreSQL is the bound long before.
    pub const MAX: u16 = 16;

    /// `None` outside 1 to [`Consumers::MAX`].
    pub fn new(count: u16) -> Option<Self> {
        (1..=Self::MAX).contains(&count).then_some(Self(count))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Consumers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let count = u16::deserialize(deserializer)?;
        Self::new(count).ok_or_else(|| {
            D::Error::invalid_value(Unexpected::Unsigned(count.into()), &"between 1 and 16")
        })
    }
}

/// How many partition queues the processor's events are spread over: 1 to
/// [`Partitions::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitions(u16);

impl Partitions {
    /// Each partition is a quorum queue with its own leader and a consume session (and a
    /// PostgreSQL connection) on the instance that holds it: more than a cluster's cores only
    /// adds queues to watch.
    pub const MAX: u16 = 64;

    /// `None` outside 1 to [`Partitions::MAX`].
    pub fn new(count: u16) -> Option<Self> {
        (1..=Self::MAX).contains(&count).then_some(Self(count))
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// Whether events go through the partitions (N > 1) rather than the one queue.
    pub fn is_partitioned(self) -> bool {
        self.0 > 1
    }
}

impl<'de> Deserialize<'de> for Partitions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let count = u16::deserialize(deserializer)?;
        Self::new(count).ok_or_else(|| {
            D::Error::invalid_value(Unexpected::Unsigned(count.into()), &"between 1 and 64")
        })
    }
}

/// The bearer token of the read APIs (the processor's and the alerter's): at least
/// [`AdminToken::MIN_LEN`] characters, a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken(Secret);

impl AdminToken {
    /// Shorter tokens are guessed too easily.
    pub const MIN_LEN: usize = 8;

    pub fn parse(token: &str) -> Result<Self, &'static str> {
        if token.len() < Self::MIN_LEN {
            Err("must be at least 8 characters")
        } else {
            Ok(Self(Secret::new(token)))
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl From<AdminToken> for Secret {
    fn from(token: AdminToken) -> Self {
        token.0
    }
}

impl<'de> Deserialize<'de> for AdminToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let token = String::deserialize(deserializer)?;
        Self::parse(&token).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_have_8_characters_or_more_and_stay_secret() {
        let token: AdminToken = serde_json::from_value("hunter22".into()).expect("8 characters");
        assert_eq!(token.expose(), "hunter22");
        assert!(!format!("{token:?}").contains("hunter22"), "{token:?}");
        for short in ["", "hunter2"] {
            let err = serde_json::from_value::<AdminToken>(short.into()).expect_err(short);
            assert!(
                err.to_string().contains("must be at least 8 characters"),
                "{err}"
            );
        }
    }

    #[test]
    fn partitions_are_between_1_and_64() {
        for count in [1, 2, Partitions::MAX] {
            let partitions: Partitions = serde_json::from_value(count.into()).expect("in range");
            assert_eq!(partitions.get(), count);
            assert_eq!(partitions.is_partitioned(), count > 1);
        }
        for count in [0, Partitions::MAX + 1] {
            let err = serde_json::from_value::<Partitions>(count.into()).expect_err("out of range");
            assert!(err.to_string().contains("between 1 and 64"), "{err}");
        }
    }

    #[test]
    fn consumers_are_between_1_and_16() {
        for count in [1, 2, 16] {
            let consumers: Consumers = serde_json::from_value(count.into()).expect("in range");
            assert_eq!(consumers.get(), count);
        }
        for count in [0, 17, 65_535] {
            let err = serde_json::from_value::<Consumers>(count.into()).expect_err("out of range");
            assert!(err.to_string().contains("between 1 and 16"), "{err}");
        }
        assert_eq!(Consumers::new(0), None);
        assert_eq!(Consumers::new(Consumers::MAX + 1), None);
    }
}
