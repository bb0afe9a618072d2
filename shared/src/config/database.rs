use std::num::NonZeroU32;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: NonZeroU32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/frontmon"),
            max_connections: NonZeroU32::new(8).unwrap_or(NonZeroU32::MIN),
        }
    }
}
