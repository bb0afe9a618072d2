use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer};

use super::DEMO_PUBLIC_KEY;
use crate::event::ProjectId;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub public_key: PublicKey,
    /// Origins whose pages may send events (`https://shop.example`), or `*` for any.
    #[serde(default = "any_origin")]
    pub allowed_origins: Vec<String>,
    /// Events a minute the project may send, over all endpoints; more are refused with 429
    /// until the minute's budget refills. None: no limit.
    #[serde(default)]
    pub rate_limit_per_minute: Option<NonZeroU32>,
    /// Whether the sender's address is stored when a Sentry SDK asks for it
    /// (`user.ip_address = "{{auto}}"`). With `false` no address is stored at all.
    #[serde(default = "yes")]
    pub store_ip: bool,
}

impl Project {
    /// Whether a browser page served from `origin` may send events to this project.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    }
}

/// A project's public key: 32 lowercase hex characters, like a Sentry DSN key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(String);

impl PublicKey {
    pub fn parse(key: &str) -> Result<Self, String> {
        if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(key.to_ascii_lowercase()))
        } else {
            Err("a public key is 32 hexadecimal characters".into())
        }
    }

    /// Compares in time independent of where the first difference is, so the key cannot be
    /// guessed a character at a time from response times.
    pub fn matches(&self, presented: &str) -> bool {
        let expected = self.0.as_bytes();
        let presented = presented.as_bytes();
        if expected.len() != presented.len() {
            return false;
        }
        expected
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
            == 0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.0)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        PublicKey::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn yes() -> bool {
    true
}

fn any_origin() -> Vec<String> {
    vec!["*".into()]
}

pub(super) fn demo_projects() -> Vec<Project> {
    vec![Project {
        id: ProjectId::new(1).unwrap_or_else(|| unreachable!("1 is not zero")),
        name: "demo".into(),
        public_key: PublicKey(DEMO_PUBLIC_KEY.into()),
        allowed_origins: any_origin(),
        rate_limit_per_minute: None,
        store_ip: true,
    }]
}
