//! The event model: what travels from the collector, through the broker, to the processor
//! and the alerter.
//!
//! An [`Event`] is only ever built from checked input (the collector parses the wire format
//! into it), so everything downstream can rely on its invariants: the ids are well formed, a
//! vital has a known name and a finite value, and the routing key follows from the type.
//! On the queue it is JSON, in the same shape as the native wire format plus what the
//! collector adds (`project_id`, `received_at`, `client`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A project, as configured in `[[projects]]`. Never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectId(NonZeroU32);

impl ProjectId {
    pub fn new(id: u32) -> Option<Self> {
        NonZeroU32::new(id).map(Self)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ProjectId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<NonZeroU32>().map(Self)
    }
}

/// The id of one event: a UUID, chosen by the SDK (so a retried request is recognised as the
/// same event) or by the collector when the SDK sent none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The simple form (32 hex digits) is what Sentry SDKs use, and it is what we show.
        self.0.as_simple().fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Where an event is published: `<category>.<kind>`. Queues bind to these patterns
/// (`#` for everything, `error.*` for errors), so the set is closed and spelled in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoutingKey {
    ErrorJs,
    ErrorResource,
    ErrorApi,
    /// A page that stayed blank (its app did not render).
    ErrorWhiteScreen,
    PerfVital,
    BehaviorPageview,
    BehaviorClick,
    CustomEvent,
    /// A Sentry message event below level error (`captureMessage('…', 'info')`).
    LogMessage,
    /// A Sentry performance transaction (page load, navigation).
    PerfTransaction,
    /// A Sentry release-health session update.
    BehaviorSession,
    /// Not an event: the processor announcing an issue's first event.
    IssueCreated,
    /// Not an event: the processor announcing that a resolved issue has a new event.
    IssueRegressed,
    /// Not an event: the processor announcing that someone resolved an issue.
    IssueResolved,
}

impl RoutingKey {
    /// The routing keys of events.
    pub const ALL: [RoutingKey; 11] = [
        RoutingKey::ErrorJs,
        RoutingKey::ErrorResource,
        RoutingKey::ErrorApi,
        RoutingKey::ErrorWhiteScreen,
        RoutingKey::PerfVital,
        RoutingKey::BehaviorPageview,
        RoutingKey::BehaviorClick,
        RoutingKey::CustomEvent,
        RoutingKey::LogMessage,
        RoutingKey::PerfTransaction,
        RoutingKey::BehaviorSession,
    ];
    /// The routing keys of issue notices ([`crate::notice::IssueNotice`]), which the
    /// processor publishes on the same exchange.
    pub const NOTICES: [RoutingKey; 3] = [
        RoutingKey::IssueCreated,
        RoutingKey::IssueRegressed,
        RoutingKey::IssueResolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoutingKey::ErrorJs => "error.js",
            RoutingKey::ErrorResource => "error.resource",
            RoutingKey::ErrorApi => "error.api",
            RoutingKey::ErrorWhiteScreen => "error.white_screen",
            RoutingKey::PerfVital => "perf.vital",
            RoutingKey::BehaviorPageview => "behavior.pageview",
            RoutingKey::BehaviorClick => "behavior.click",
            RoutingKey::CustomEvent => "custom.event",
            RoutingKey::LogMessage => "log.message",
            RoutingKey::PerfTransaction => "perf.transaction",
            RoutingKey::BehaviorSession => "behavior.session",
            RoutingKey::IssueCreated => "issue.created",
            RoutingKey::IssueRegressed => "issue.regressed",
            RoutingKey::IssueResolved => "issue.resolved",
        }
    }

    /// The part before the dot: `error`, `perf`, `behavior`, `custom` or `log`.
    pub fn category(self) -> &'static str {
        let key = self.as_str();
        key.split_once('.').map_or(key, |(category, _)| category)
    }

    pub fn is_error(self) -> bool {
        self.category() == "error"
    }

    pub fn is_notice(self) -> bool {
        RoutingKey::NOTICES.contains(&self)
    }

    /// Whether `key`, as the broker delivered it, is in the notices' category (`issue.*`),
    /// known to this version or not: a newer processor may publish a notice an older
    /// consumer does not know, and it is still not an event.
    pub fn is_notice_category(key: &str) -> bool {
        key.split_once('.')
            .is_some_and(|(category, _)| category == RoutingKey::IssueCreated.category())
    }
}

impl fmt::Display for RoutingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoutingKey {
    type Err = UnknownRoutingKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoutingKey::ALL
            .into_iter()
            .chain(RoutingKey::NOTICES)
            .find(|key| key.as_str() == s)
            .ok_or_else(|| UnknownRoutingKey(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown routing key {0:?}")]
pub struct UnknownRoutingKey(pub String);

/// The Core Web Vitals and the other loading metrics we chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VitalName {
    Lcp,
    Inp,
    Cls,
    Fcp,
    Ttfb,
}

impl VitalName {
    /// The `good` and `poor` thresholds published by web.dev (milliseconds, CLS unitless):
    /// a value at or below the first is good, above the second is poor.
    fn thresholds(self) -> (f64, f64) {
        match self {
            VitalName::Lcp => (2500.0, 4000.0),
            VitalName::Inp => (200.0, 500.0),
            VitalName::Cls => (0.1, 0.25),
            VitalName::Fcp => (1800.0, 3000.0),
            VitalName::Ttfb => (800.0, 1800.0),
        }
    }

    /// The rating the `web-vitals` library would give this value.
    pub fn rate(self, value: f64) -> Rating {
        let (good, poor) = self.thresholds();
        if value <= good {
            Rating::Good
        } else if value <= poor {
            Rating::NeedsImprovement
        } else {
            Rating::Poor
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rating {
    Good,
    NeedsImprovement,
    Poor,
}

/// What kind of event this is, with the fields only that kind has. Serialized with the
/// native `type` tag, flattened beside the common fields of [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Detail {
    /// A JavaScript runtime error or an unhandled promise rejection.
    Error {},
    /// A script, stylesheet or image that failed to load.
    ResourceError {
        /// The URL that failed to load.
        target: String,
        /// The element that asked for it (`script`, `link`, `img`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag_name: Option<String>,
        /// Where that element is in the page (`div#app > img.logo`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selector: Option<String>,
    },
    /// A fetch/XHR call that failed or answered with a server error.
    ApiError {
        /// The requested URL.
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// The HTTP status; absent when the request failed without a response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<f64>,
    },
    Vital {
        name: VitalName,
        value: f64,
        rating: Rating,
        /// How the page was reached (`navigate`, `reload`, `back-forward`, …), as `web-vitals`
        /// says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        navigation_type: Option<String>,
        /// What caused the value (the LCP element, the INP target, the largest layout shift),
        /// as a few short strings and numbers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attribution: Option<serde_json::Map<String, serde_json::Value>>,
    },
    Pageview {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        referrer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    Click {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selector: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Custom {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// A message below level error (`captureMessage('…', 'info')`), the level in
    /// [`Event::level`].
    Message {},
    /// A page that stayed blank: most points sampled across the viewport showed only the
    /// page's wrappers (`html`, `body`, the app's root), after the SDK's retries.
    WhiteScreen {
        /// The share of sampled points that were empty, 0 to 1.
        empty_ratio: f64,
        /// How many points were sampled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        points: Option<u32>,
    },
    /// A performance transaction from a Sentry SDK: a page load or navigation and its spans
    /// (kept in [`Event::sentry`]).
    Transaction {
        /// The transaction's name, usually the route (`/checkout`).
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        op: Option<String>,
        duration_ms: f64,
    },
    /// A session update: from a Sentry SDK one per page session start and end, the same
    /// `sid` in each; from frontmon's SDK one per page load and when the page is hidden or
    /// left, with the session's duration and pages so far.
    Session {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sid: Option<String>,
        /// `ok`, `exited`, `crashed`, `abnormal` or `errored`.
        status: String,
        #[serde(default)]
        errors: u64,
        #[serde(default)]
        init: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<f64>,
        /// Page views in the session so far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pages: Option<u64>,
    },
}

impl Detail {
    pub fn routing_key(&self) -> RoutingKey {
        match self {
            Detail::Error {} => RoutingKey::ErrorJs,
            Detail::ResourceError { .. } => RoutingKey::ErrorResource,
            Detail::ApiError { .. } => RoutingKey::ErrorApi,
            Detail::Vital { .. } => RoutingKey::PerfVital,
            Detail::Pageview { .. } => RoutingKey::BehaviorPageview,
            Detail::Click { .. } => RoutingKey::BehaviorClick,
            Detail::Custom { .. } => RoutingKey::CustomEvent,
            Detail::Message {} => RoutingKey::LogMessage,
            Detail::WhiteScreen { .. } => RoutingKey::ErrorWhiteScreen,
            Detail::Transaction { .. } => RoutingKey::PerfTransaction,
            Detail::Session { .. } => RoutingKey::BehaviorSession,
        }
    }
}

/// Who was affected. Native events send only `id`; Sentry SDKs may send the others, and
/// anything else they send about the user is kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// An address, or `{{auto}}`: the SDK asks for the sender's address, which the processor
    /// fills in (or removes, for projects with `store_ip = false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl User {
    /// What tells two users apart when counting them: the id, else the e-mail, the user
    /// name, the address.
    pub fn key(&self) -> Option<&str> {
        [&self.id, &self.email, &self.username, &self.ip_address]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|key| !key.is_empty() && *key != AUTO_IP)
    }
}

/// What a Sentry SDK sends as `user.ip_address` to ask the server to record the sender's
/// address.
pub const AUTO_IP: &str = "{{auto}}";

/// Sentry's event levels. `warn`, `critical` and `log` as sent by some SDKs are read as
/// `warning`, `fatal` and `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Fatal,
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    pub fn parse(level: &str) -> Option<Self> {
        Some(match level.trim().to_ascii_lowercase().as_str() {
            "fatal" | "critical" => Level::Fatal,
            "error" => Level::Error,
            "warning" | "warn" => Level::Warning,
            "info" | "log" => Level::Info,
            "debug" | "trace" => Level::Debug,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Fatal => "fatal",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    pub fn is_error(self) -> bool {
        matches!(self, Level::Fatal | Level::Error)
    }
}

/// One exception of a Sentry event (a chain has several: the cause first, the one thrown
/// last). Native errors carry a `stack` string instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// How it was caught (`onerror`, `onunhandledrejection`, `generic`) and whether handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<serde_json::Value>,
    /// Outermost call first, innermost (where it was thrown) last, as Sentry sends them;
    /// resolved to the original sources when a source map applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<StackFrame>,
    /// The frames as sent (minified), when `frames` were resolved through source maps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_frames: Vec<StackFrame>,
}

impl Exception {
    /// Made up by the SDK to carry a stack (`captureMessage` in SDK 9 and later), not thrown.
    pub fn is_synthetic(&self) -> bool {
        self.mechanism
            .as_ref()
            .and_then(|mechanism| mechanism.get("synthetic"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

/// One stack frame of a Sentry exception.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colno: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
    /// The source line of the frame, and a few around it, when a source map carried the
    /// original sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
}

/// What the collector learned about the sender, not from the body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Client {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One accepted event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: EventId,
    pub project_id: ProjectId,
    /// When it happened, by the browser's clock.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub timestamp: DateTime<Utc>,
    /// When the collector received it, by ours.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub received_at: DateTime<Utc>,
    #[serde(flatten)]
    pub detail: Detail,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The page's route as the site's router names it (`/product/:id`), when the SDK sent
    /// one: the same for every address it matches, so pages can be compared by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// An anonymous id of the browser (random, kept in its storage), so visitors can be
    /// counted without a user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// How a native error was caught (`onerror`, `onunhandledrejection`, `manual`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    /// What happened before a native error, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breadcrumbs: Vec<Breadcrumb>,
    /// What the page attached to a native error (`captureException(e, {extra})`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub client: Client,
    /// Set by Sentry SDKs; native events are errors or not by their type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// A Sentry event's exceptions (native errors have `stack`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
    /// The SDK's own grouping, overriding ours (`{{ default }}` stands for ours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint: Vec<String>,
    /// `browser`, `os`, `device` (filled by the processor from the User-Agent), and what a
    /// Sentry SDK sends (`trace`, `culture`, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub contexts: serde_json::Map<String, serde_json::Value>,
    /// Everything else a Sentry SDK sent (breadcrumbs, request, sdk, extra, spans, …), kept
    /// as sent, within size limits.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub sentry: serde_json::Map<String, serde_json::Value>,
    /// What went wrong processing the event (a source map that could not be read), recorded
    /// rather than failing it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processing_errors: Vec<ProcessingError>,
}

/// One thing that happened before an error: a click, a navigation, a request, a console
/// message, or what the page recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Breadcrumb {
    /// Milliseconds since the epoch, by the browser's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// `click`, `navigation`, `fetch`, `xhr`, `console`, `custom`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A problem met while processing an event, kept on the event for the people reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingError {
    /// `sourcemap_invalid`, `sourcemap_no_mapping`, …
    pub kind: String,
    /// Which file or frame it concerns, and why.
    pub detail: String,
}

impl Event {
    /// An event of `detail` with nothing else known yet.
    pub fn new(
        event_id: EventId,
        project_id: ProjectId,
        timestamp: DateTime<Utc>,
        received_at: DateTime<Utc>,
        detail: Detail,
    ) -> Self {
        Self {
            event_id,
            project_id,
            timestamp,
            received_at,
            detail,
            url: None,
            route: None,
            message: None,
            stack: None,
            release: None,
            environment: None,
            user: None,
            tags: BTreeMap::new(),
            session_id: None,
            visitor_id: None,
            mechanism: None,
            breadcrumbs: Vec::new(),
            extra: serde_json::Map::new(),
            client: Client::default(),
            level: None,
            exceptions: Vec::new(),
            fingerprint: Vec::new(),
            contexts: serde_json::Map::new(),
            sentry: serde_json::Map::new(),
            processing_errors: Vec::new(),
        }
    }

    pub fn routing_key(&self) -> RoutingKey {
        self.detail.routing_key()
    }

    /// Which page of the site this is: its route when the SDK named one, else the path of
    /// its URL (without query or fragment); `None` when neither is known.
    pub fn page(&self) -> Option<&str> {
        if let Some(route) = self.route.as_deref().filter(|r| !r.trim().is_empty()) {
            return Some(route);
        }
        let url = self.url.as_deref()?;
        let url = url.split(['?', '#']).next().unwrap_or(url);
        // `https://host/path`: the path starts at the first `/` after the authority.
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
            None => url,
        };
        Some(if path.is_empty() { "/" } else { path })
    }

    /// The first line of the stack that names a frame, which is what distinguishes two
    /// errors with the same message thrown from different places.
    pub fn top_frame(&self) -> Option<&str> {
        let stack = self.stack.as_deref()?;
        stack
            .lines()
            .map(str::trim)
            // V8 puts the message first ("TypeError: x is undefined"), then "at …" frames;
            // Firefox and Safari start with "fn@url:line:col" frames.
            .find(|line| line.starts_with("at ") || line.contains('@'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_round_trip_and_have_categories() {
        for key in RoutingKey::ALL.into_iter().chain(RoutingKey::NOTICES) {
            assert_eq!(key.as_str().parse::<RoutingKey>().ok(), Some(key));
            assert!(key.as_str().starts_with(key.category()));
        }
        assert!(RoutingKey::ErrorApi.is_error());
        assert!(!RoutingKey::PerfVital.is_error());
        assert!("error".parse::<RoutingKey>().is_err());
    }

    #[test]
    fn notices_are_told_by_category_even_when_unknown() {
        for key in RoutingKey::NOTICES {
            assert!(RoutingKey::is_notice_category(key.as_str()), "{key}");
        }
        for key in RoutingKey::ALL {
            assert!(!RoutingKey::is_notice_category(key.as_str()), "{key}");
        }
        assert!(RoutingKey::is_notice_category("issue.assigned"));
        assert!(!RoutingKey::is_notice_category("issue"));
        assert!(!RoutingKey::is_notice_category("issues.created"));
    }

    #[test]
    fn vitals_are_rated_like_web_vitals() {
        assert_eq!(VitalName::Lcp.rate(2500.0), Rating::Good);
        assert_eq!(VitalName::Lcp.rate(2501.0), Rating::NeedsImprovement);
        assert_eq!(VitalName::Cls.rate(0.3), Rating::Poor);
    }

    fn sample(detail: Detail) -> Event {
        let mut event = Event::new(
            EventId::new_random(),
            ProjectId::new(7).expect("non-zero"),
            DateTime::from_timestamp_millis(1_700_000_000_123).expect("valid"),
            DateTime::from_timestamp_millis(1_700_000_000_456).expect("valid"),
            detail,
        );
        event.url = Some("https://shop.example/".into());
        event
    }

    #[test]
    fn event_json_round_trips_with_flat_type() {
        let mut event = sample(Detail::Vital {
            name: VitalName::Inp,
            value: 120.0,
            rating: Rating::Good,
            navigation_type: Some("navigate".into()),
            attribution: serde_json::json!({"target": "button#pay"})
                .as_object()
                .cloned(),
        });
        event.visitor_id = Some("v1".into());
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], "vital");
        assert_eq!(json["name"], "INP");
        assert_eq!(json["attribution"]["target"], "button#pay");
        assert_eq!(json["timestamp"], 1_700_000_000_123_i64);
        let back: Event = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, event);

        let mut event = sample(Detail::WhiteScreen {
            empty_ratio: 0.95,
            points: Some(18),
        });
        event.breadcrumbs = vec![Breadcrumb {
            timestamp: Some(1_700_000_000_000),
            category: Some("click".into()),
            message: Some("button#pay".into()),
            level: Some(Level::Info),
            data: None,
        }];
        event.extra = serde_json::json!({"cart": 3})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], "white_screen");
        assert_eq!(json["breadcrumbs"][0]["category"], "click");
        let back: Event = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, event);
        assert_eq!(back.routing_key(), RoutingKey::ErrorWhiteScreen);
        assert!(back.routing_key().is_error());
    }

    #[test]
    fn the_page_is_the_route_else_the_path() {
        let mut event = sample(Detail::Error {});
        event.url = Some("https://shop.example/checkout/pay?step=2#top".into());
        assert_eq!(event.page(), Some("/checkout/pay"));
        event.url = Some("https://shop.example".into());
        assert_eq!(event.page(), Some("/"));
        event.route = Some("/checkout/:step".into());
        assert_eq!(event.page(), Some("/checkout/:step"));
        event.route = Some(" ".into());
        event.url = None;
        assert_eq!(event.page(), None);
    }

    #[test]
    fn top_frame_skips_the_message_line() {
        let mut event = sample(Detail::Error {});
        event.stack =
            Some("TypeError: x is undefined\n    at render (app.js:10:5)\n    at main".into());
        assert_eq!(event.top_frame(), Some("at render (app.js:10:5)"));
        event.stack = Some("render@https://x/app.js:10:5\nmain@https://x/app.js:1:1".into());
        assert_eq!(event.top_frame(), Some("render@https://x/app.js:10:5"));
        event.stack = None;
        assert_eq!(event.top_frame(), None);
    }
}
