use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer};
use url::Url;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: PostgresUrl,
    pub max_connections: NonZeroU32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: PostgresUrl(Secret::new("postgres://postgres@127.0.0.1:5432/frontmon")),
            max_connections: NonZeroU32::new(8).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The database's address, a `postgres://` (or `postgresql://`) URL; a [`Secret`] because
/// it may hold the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresUrl(Secret);

impl PostgresUrl {
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        match Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {
                Ok(Self(Secret::new(url)))
            }
            _ => Err("not a postgres:// URL"),
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl<'de> Deserialize<'de> for PostgresUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let url = String::deserialize(deserializer)?;
        Self::parse(&url).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_parse_and_stay_secret() {
        for good in [
            "postgres://frontmon:hunter2@db:5432/frontmon",
            "postgresql://frontmon:hunter2@db/frontmon",
        ] {
            let url: PostgresUrl = serde_json::from_value(good.into()).expect(good);
            assert_eq!(url.expose(), good);
            assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
        }
        for bad in ["mysql://db/frontmon", "db:5432", ""] {
            let err = serde_json::from_value::<PostgresUrl>(bad.into()).expect_err(bad);
            assert!(err.to_string().contains("not a postgres:// URL"), "{err}");
        }
    }
}
