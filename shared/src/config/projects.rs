use std::fmt;
use std::num::{NonZeroU16, NonZeroU32};
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer};

use super::DEMO_PUBLIC_KEY;
use crate::event::ProjectId;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    /// The keys that authenticate the project's events, oldest first: in the configuration
    /// one (`public_key`); from the database every key not revoked (`project_keys`), so
    /// that a key can be replaced without a moment when neither works. None left: every
    /// event is refused (401).
    #[serde(rename = "public_key", deserialize_with = "one_key")]
    pub public_keys: Vec<PublicKey>,
    /// Origins whose pages may send events (`https://shop.example`), or `*` for any.
    #[serde(default = "any_origin")]
    pub allowed_origins: AllowedOrigins,
    /// Events a minute the project may send, over all endpoints; more are refused with 429
    /// until the minute's budget refills. None: no limit.
    #[serde(default)]
    pub rate_limit_per_minute: Option<NonZeroU32>,
    /// Whether the sender's address is stored when a Sentry SDK asks for it
    /// (`user.ip_address = "{{auto}}"`). With `false` no address is stored at all.
    #[serde(default = "yes")]
    pub store_ip: bool,
    /// Whether the collector replaces what looks like a secret (passwords, tokens, auth
    /// headers, cookies, card numbers, …) with `[Filtered]` before an event is published.
    /// `false` turns off every scrubbing rule, `scrub_emails` and `scrub_fields` included.
    #[serde(default = "yes")]
    pub scrub: bool,
    /// Whether e-mail addresses are scrubbed too, `user.email` included.
    #[serde(default)]
    pub scrub_emails: bool,
    /// More key names whose values are scrubbed: a key containing one of these
    /// (case-insensitively) is, as with the built-in names (`password`, `token`, …).
    #[serde(default)]
    pub scrub_fields: Vec<String>,
    /// The site's route patterns (`/docs/*`, `/u/:name`), tried in order before the
    /// processor's own normalisation names an event's page: a path they match is counted
    /// as the pattern. At most [`MAX_ROUTES`], each a path of at most [`MAX_ROUTE_LEN`]
    /// characters.
    #[serde(default, deserialize_with = "routes")]
    pub routes: Vec<String>,
    /// Days this project's events are kept, instead of `retention.events_days`.
    #[serde(default)]
    pub retention_days: Option<NonZeroU16>,
}

/// Route patterns a project may list.
pub const MAX_ROUTES: usize = 200;
/// The longest route pattern.
pub const MAX_ROUTE_LEN: usize = 200;

fn routes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let routes = Vec::<String>::deserialize(deserializer)?;
    check_routes(&routes).map_err(serde::de::Error::custom)?;
    Ok(routes)
}

/// Whether `routes` may be a project's route patterns; the reason if not. The configuration
/// and the database (`shared::db::projects`) hold projects to the same rules.
pub fn check_routes(routes: &[String]) -> Result<(), String> {
    if routes.len() > MAX_ROUTES {
        return Err(format!("at most {MAX_ROUTES} route patterns"));
    }
    for route in routes {
        if !route.starts_with('/') || route.len() > MAX_ROUTE_LEN || route.contains(['?', '#']) {
            return Err(format!(
                "route pattern {route:?}: a path starting with /, at most {MAX_ROUTE_LEN} \
                 characters, without ? or #"
            ));
        }
        if route.split('/').rev().skip(1).any(|segment| segment == "*") {
            return Err(format!(
                "route pattern {route:?}: * only as the last segment"
            ));
        }
    }
    Ok(())
}

/// The configuration names one key per project.
fn one_key<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PublicKey>, D::Error> {
    PublicKey::deserialize(deserializer).map(|key| vec![key])
}

impl Project {
    /// Whether a browser page served from `origin` may send events to this project.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    }

    /// Whether `presented` is one of the project's keys. Every key is compared, so the time
    /// taken says nothing about which key came close.
    pub fn accepts_key(&self, presented: &str) -> bool {
        self.public_keys
            .iter()
            .fold(false, |found, key| key.matches(presented) | found)
    }

    /// The key to give out (in a DSN, a snippet): the newest.
    pub fn newest_key(&self) -> Option<&PublicKey> {
        self.public_keys.last()
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

    /// A new random key: 122 random bits (a version 4 UUID's, as Sentry makes its keys).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
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

fn any_origin() -> AllowedOrigins {
    AllowedOrigins(vec!["*".into()])
}

pub(super) fn demo_projects() -> Projects {
    Projects(vec![Project {
        id: ProjectId::new(1).unwrap_or_else(|| unreachable!("1 is not zero")),
        name: "demo".into(),
        public_keys: vec![PublicKey(DEMO_PUBLIC_KEY.into())],
        allowed_origins: any_origin(),
        rate_limit_per_minute: None,
        store_ip: true,
        scrub: true,
        scrub_emails: false,
        scrub_fields: Vec::new(),
        routes: Vec::new(),
        retention_days: None,
    }])
}

/// The projects, at least one: a collector without any would refuse every event.
#[derive(Debug, Clone)]
pub struct Projects(Vec<Project>);

impl Projects {
    pub fn parse(projects: Vec<Project>) -> Result<Self, &'static str> {
        if projects.is_empty() {
            Err("at least one project is needed")
        } else {
            Ok(Self(projects))
        }
    }

    pub fn as_slice(&self) -> &[Project] {
        &self.0
    }
}

// A slice cannot be emptied, so handing one out mutably keeps "at least one".
impl Deref for Projects {
    type Target = [Project];

    fn deref(&self) -> &[Project] {
        &self.0
    }
}

impl DerefMut for Projects {
    fn deref_mut(&mut self) -> &mut [Project] {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a Projects {
    type Item = &'a Project;
    type IntoIter = std::slice::Iter<'a, Project>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de> Deserialize<'de> for Projects {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(Vec::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The origins a project's pages are served from (`https://shop.example`), or `*` for any;
/// at least one, since none would refuse every browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    pub fn parse(origins: Vec<String>) -> Result<Self, &'static str> {
        if origins.is_empty() {
            Err("list at least one origin, or \"*\"")
        } else {
            Ok(Self(origins))
        }
    }
}

impl Deref for AllowedOrigins {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AllowedOrigins {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(Vec::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(origins: &str) -> serde_json::Value {
        serde_json::json!({
            "id": 1,
            "name": "shop",
            "public_key": "0123456789abcdef0123456789abcdef",
            "allowed_origins": serde_json::from_str::<serde_json::Value>(origins).expect("json"),
        })
    }

    #[test]
    fn projects_are_at_least_one() {
        let projects: Projects =
            serde_json::from_value(serde_json::json!([shop(r#"["*"]"#)])).expect("one");
        assert_eq!(projects.len(), 1);
        let err = serde_json::from_value::<Projects>(serde_json::json!([])).expect_err("none");
        assert!(
            err.to_string().contains("at least one project is needed"),
            "{err}"
        );
    }

    #[test]
    fn allowed_origins_are_at_least_one() {
        let project: Project =
            serde_json::from_value(shop(r#"["https://shop.example"]"#)).expect("one");
        assert!(project.allows_origin("https://SHOP.example"));
        assert!(!project.allows_origin("https://evil.example"));
        let err = serde_json::from_value::<Project>(shop("[]")).expect_err("none");
        assert!(
            err.to_string()
                .contains(r#"list at least one origin, or "*""#),
            "{err}"
        );
    }

    #[test]
    fn every_key_of_a_project_is_accepted_and_no_other() {
        let mut project: Project = serde_json::from_value(shop(r#"["*"]"#)).expect("one key");
        assert_eq!(project.public_keys.len(), 1);
        let newer = PublicKey::generate();
        project.public_keys.push(newer.clone());
        assert!(project.accepts_key("0123456789ABCDEF0123456789ABCDEF"));
        assert!(project.accepts_key(newer.as_str()));
        assert_eq!(project.newest_key(), Some(&newer));
        assert!(!project.accepts_key("fedcba9876543210fedcba9876543210"));
        project.public_keys.clear();
        assert!(!project.accepts_key(newer.as_str()));
    }

    #[test]
    fn generated_keys_are_keys_and_differ() {
        let (a, b) = (PublicKey::generate(), PublicKey::generate());
        assert_eq!(PublicKey::parse(a.as_str()), Ok(a.clone()));
        assert_ne!(a, b);
    }
}
