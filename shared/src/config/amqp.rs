use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer};

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    pub url: AmqpUrl,
    /// The topic exchange every event is published to; the other names derive from it.
    pub exchange: AmqpName,
    /// Deliveries of one message before its queue dead-letters it.
    pub delivery_limit: NonZeroU32,
    /// Messages a consumer queue holds before the broker refuses new ones (and the collector
    /// answers 503) rather than running out of memory.
    pub max_queue_length: NonZeroU32,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            url: AmqpUrl(Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f")),
            exchange: AmqpName("frontmon.events".into()),
            delivery_limit: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            max_queue_length: NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The broker's address, `amqp://user:pass@host:port/vhost`, or the addresses of several
/// nodes of one cluster, each known to parse as one; a [`Secret`] because they hold the
/// password.
///
/// Written as one URL, as a list of URLs (a TOML array), or as URLs separated by commas (how
/// an environment variable gives a list). [`AmqpUrl::expose`] gives them comma-separated,
/// the form [`crate::amqp::connect`] takes, so every service's options pass them on as one
/// string; a URL that needs a comma percent-encodes it (`%2C`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpUrl(Secret);

impl AmqpUrl {
    /// One URL, or several separated by commas.
    pub fn parse(urls: &str) -> Result<Self, &'static str> {
        Self::from_list(urls.split(','))
    }

    fn from_list<'a>(urls: impl IntoIterator<Item = &'a str>) -> Result<Self, &'static str> {
        let mut checked = Vec::new();
        for url in urls {
            let url = url.trim();
            if url.contains(',') {
                return Err("a URL must not contain a comma (write it %2C)");
            }
            if url.parse::<lapin::uri::AMQPUri>().is_err() {
                return Err("not an AMQP URL (amqp://user:pass@host:port/vhost)");
            }
            checked.push(url);
        }
        Ok(Self(Secret::new(checked.join(","))))
    }

    /// Every URL, comma-separated.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// How many nodes are listed: at least one.
    pub fn node_count(&self) -> usize {
        self.expose().split(',').count()
    }
}

impl<'de> Deserialize<'de> for AmqpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let parsed = match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(urls) => Self::parse(&urls),
            OneOrMany::Many(urls) if urls.is_empty() => Err("the list of URLs is empty"),
            OneOrMany::Many(urls) => Self::from_list(urls.iter().map(String::as_str)),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// The name of an exchange or a queue, never empty: the broker names an empty queue itself
/// (a new one at each start) and takes an empty exchange for its default exchange, so either
/// would lose events quietly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AmqpName(pub(super) String);

impl AmqpName {
    pub fn parse(name: impl Into<String>) -> Result<Self, &'static str> {
        let name = name.into();
        if name.is_empty() {
            Err("must not be empty")
        } else {
            Ok(Self(name))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AmqpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for AmqpName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AmqpName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<'de> Deserialize<'de> for AmqpName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_urls_parse_and_stay_secret() {
        let url: AmqpUrl =
            serde_json::from_value("amqp://guest:hunter2@broker:5672/%2f".into()).expect("valid");
        assert_eq!(url.expose(), "amqp://guest:hunter2@broker:5672/%2f");
        assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
        for bad in ["http://broker", "amqp://broker:port", ""] {
            let err = serde_json::from_value::<AmqpUrl>(bad.into()).expect_err(bad);
            assert!(err.to_string().contains("not an AMQP URL"), "{err}");
        }
    }

    #[test]
    fn several_nodes_are_a_list_or_comma_separated() {
        let one = "amqp://guest:hunter2@node1:5672/%2f";
        let two = "amqp://guest:hunter2@node2:5672/%2f";
        let both = format!("{one},{two}");
        let from_array: AmqpUrl =
            serde_json::from_value(serde_json::json!([one, two])).expect("list");
        let from_env: AmqpUrl =
            serde_json::from_value(format!("{one}, {two}").into()).expect("commas");
        for url in [&from_array, &from_env] {
            assert_eq!(url.expose(), both);
            assert_eq!(url.node_count(), 2);
            assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
        }
        let single: AmqpUrl = serde_json::from_value(serde_json::json!([one])).expect("one");
        assert_eq!((single.expose(), single.node_count()), (one, 1));
        for bad in [
            serde_json::json!([]),
            serde_json::json!([one, "http://broker"]),
            serde_json::json!(format!("{one},")),
            serde_json::json!(["amqp://a:b,c@node1/%2f"]),
        ] {
            serde_json::from_value::<AmqpUrl>(bad.clone()).expect_err(&bad.to_string());
        }
    }

    #[test]
    fn names_are_not_empty() {
        let name: AmqpName = serde_json::from_value("frontmon.events".into()).expect("valid");
        assert_eq!(name, "frontmon.events");
        assert_eq!(name.to_string(), "frontmon.events");
        let err = serde_json::from_value::<AmqpName>("".into()).expect_err("empty");
        assert!(err.to_string().contains("must not be empty"), "{err}");
    }
}
