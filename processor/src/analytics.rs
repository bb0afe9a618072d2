//! The analytics' rollups: what each event stored for the first time adds to the tables the
//! vitals and traffic endpoints read, decided here and written by [`crate::db::rollups`] in
//! the batch's transaction (so a redelivery never counts twice).
//!
//! An event adds, at an hourly and a daily grain (UTC), to the total and to one row per
//! dimension it has (page, browser, OS, device class, referrer host), each beside its
//! environment and release:
//!
//! - a page view: a page view count, its visitor to a HyperLogLog sketch ([`hll`]), and its
//!   session's row (start, last seen, entry page, page views);
//! - a web vital: its value, with its rating (web.dev's thresholds), to a log-bucketed
//!   histogram of that vital ([`histogram`]);
//! - a page view, web vital, click or session update with a session id: that session's
//!   start and last seen (so its length runs to the last thing the visitor did).
//!
//! Errors, failed calls and blank pages add less, at the hourly grain only, because errors
//! arrive in floods ([`Analytics::add_problem`]): a JavaScript error its count under the
//! total and under its issue on its page ([`ISSUE`]), its user to a sketch, and, unhandled,
//! marks its session crashed; a failed API call its count and duration under its endpoint;
//! a failed resource its count under its URL; a white screen its count under its page.
//!
//! Pages are normalised routes ([`page`]). A batch's additions are summed here first, into
//! maps ordered like the tables' keys, stored pending in the batch's transaction, and added
//! to the tables by a [`fold`] for many batches at once.

pub mod fold;
pub mod histogram;
pub mod hll;
pub mod page;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::config::{AnalyticsSettings, Project};
use shared::event::{Detail, Event, ProjectId, RoutingKey, VitalName};
use tokio::sync::Notify;

use page::Routes;

/// The grains: hours (`at` on the UTC hour) and days (at UTC midnight).
pub const HOUR: i16 = 0;
pub const DAY: i16 = 1;

/// Dimensions of a rollup row; `TOTAL` rows have the value `''`.
pub const TOTAL: i16 = 0;
pub const PAGE: i16 = 1;
pub const BROWSER: i16 = 2;
pub const OS: i16 = 3;
pub const DEVICE: i16 = 4;
pub const REFERRER: i16 = 5;
/// An API call's method and normalised path (`GET /api/order/:id`).
pub const ENDPOINT: i16 = 6;
/// A failed resource's URL, without its query.
pub const RESOURCE: i16 = 7;
/// An error's issue and page: `<issue id> <page>` (issue 0 when it has none), so errors per
/// page and issues per page are both read from one row per error.
pub const ISSUE: i16 = 8;

/// `rollup_counts.measure`: page views. (A vital's rating is in its histogram bucket:
/// [`histogram::rated`].)
pub const PAGEVIEWS: i16 = 1;
/// JavaScript errors (`error.js`), failed API calls, failed resources, white screens.
pub const ERRORS: i16 = 2;
pub const API_FAILURES: i16 = 3;
pub const RESOURCE_FAILURES: i16 = 4;
pub const WHITE_SCREENS: i16 = 5;
/// `rollup_distinct.measure`: visitors of page views, and users affected by errors.
pub const VISITORS: i16 = 1;
pub const AFFECTED_USERS: i16 = 2;
/// `rollup_histograms.metric` of failed API calls' durations (milliseconds); the vitals'
/// are 1 to 5.
pub const API_DURATION: i16 = 10;

/// The longest browser, OS or referrer host kept; longer ones are cut.
const MAX_NAME: usize = 64;
/// The longest session id kept.
const MAX_SESSION_ID: usize = 64;

/// The vitals, with their `metric` number in the rollups and whether they are unitless.
pub const VITALS: [(VitalName, i16, &str); 5] = [
    (VitalName::Lcp, 1, "LCP"),
    (VitalName::Inp, 2, "INP"),
    (VitalName::Cls, 3, "CLS"),
    (VitalName::Fcp, 4, "FCP"),
    (VitalName::Ttfb, 5, "TTFB"),
];

pub fn metric_of(name: VitalName) -> i16 {
    VITALS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(0, |(_, m, _)| *m)
}

/// The smallest bucketed value of a metric (`histogram::min_for`).
pub fn metric_min(metric: i16) -> f64 {
    histogram::min_for(metric == metric_of(VitalName::Cls))
}

/// Whether the processor keeps rollups, each project's route patterns, and the signal a
/// committed batch gives the [`fold`]s.
#[derive(Debug, Clone, Default)]
pub struct Analytics {
    enabled: bool,
    routes: HashMap<ProjectId, Routes>,
    stored: Arc<Notify>,
}

/// A rollup row's key, ordered like the tables' primary keys (less the shard).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub project: i64,
    pub grain: i16,
    /// The measure, or a histogram's metric.
    pub measure: i16,
    pub dim: i16,
    pub at: DateTime<Utc>,
    pub value: String,
    pub environment: String,
    pub release: String,
}

/// A session as one batch saw it, merged into its row.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub started_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub environment: String,
    pub release: String,
    pub entry_page: String,
    pub entry_at: Option<DateTime<Utc>>,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub pageviews: i32,
    /// An unhandled error happened in it (or a Sentry SDK said it crashed).
    pub crashed: bool,
}

/// What a batch adds to the rollups.
#[derive(Debug, Default)]
pub struct Rollup {
    pub counts: BTreeMap<Key, i64>,
    /// Keyed with the bucket.
    pub histograms: BTreeMap<(Key, i16), i64>,
    /// Keyed with the register; the greatest rank.
    pub distinct: BTreeMap<(Key, i16), i16>,
    pub sessions: BTreeMap<(i64, String), Session>,
}

impl Rollup {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
            && self.histograms.is_empty()
            && self.distinct.is_empty()
            && self.sessions.is_empty()
    }
}

/// What an event is counted under.
struct Dims {
    project: i64,
    hour: DateTime<Utc>,
    day: DateTime<Utc>,
    environment: String,
    release: String,
    page: Option<String>,
    browser: Option<String>,
    os: Option<String>,
    device: Option<&'static str>,
}

impl Dims {
    /// The keys of `measure` this event adds to: both grains, the total and each dimension
    /// known (the referrer when given).
    fn keys(&self, measure: i16, referrer: Option<&str>) -> Vec<Key> {
        let dims = [
            (TOTAL, Some("")),
            (PAGE, self.page.as_deref()),
            (BROWSER, self.browser.as_deref()),
            (OS, self.os.as_deref()),
            (DEVICE, self.device),
            (REFERRER, referrer),
        ];
        let mut keys = Vec::with_capacity(12);
        for (grain, at) in [(HOUR, self.hour), (DAY, self.day)] {
            for (dim, value) in dims {
                if let Some(value) = value {
                    keys.push(Key {
                        project: self.project,
                        grain,
                        measure,
                        dim,
                        at,
                        value: value.to_owned(),
                        environment: self.environment.clone(),
                        release: self.release.clone(),
                    });
                }
            }
        }
        keys
    }

    /// The hourly key of `measure` under the total, and under `dim` = `value` when given.
    fn hourly(&self, measure: i16, dim: Option<(i16, String)>) -> Vec<Key> {
        let key = |dim: i16, value: String| Key {
            project: self.project,
            grain: HOUR,
            measure,
            dim,
            at: self.hour,
            value,
            environment: self.environment.clone(),
            release: self.release.clone(),
        };
        let mut keys = vec![key(TOTAL, String::new())];
        keys.extend(dim.map(|(dim, value)| key(dim, value)));
        keys
    }
}

impl Analytics {
    pub fn new<'a>(
        settings: &AnalyticsSettings,
        projects: impl IntoIterator<Item = &'a Project>,
    ) -> Self {
        Self {
            enabled: settings.rollups,
            routes: projects
                .into_iter()
                .map(|project| (project.id, Routes::new(&project.routes)))
                .collect(),
            stored: Arc::default(),
        }
    }

    /// Called once a batch's additions are committed, pending.
    pub fn stored(&self) {
        self.stored.notify_one();
    }

    /// Until a batch's additions are committed ([`Self::stored`]).
    pub async fn next_stored(&self) {
        self.stored.notified().await;
    }

    /// The page of an event, as the analytics name it.
    pub fn page(&self, event: &Event) -> Option<String> {
        let none = Routes::default();
        let routes = self.routes.get(&event.project_id).unwrap_or(&none);
        page::page(event.route.as_deref(), event.url.as_deref(), routes)
    }

    /// What `events` (each stored for the first time, with its issue) add to the rollups.
    pub fn rollup<'a>(&self, events: impl IntoIterator<Item = (&'a Event, Option<i64>)>) -> Rollup {
        let mut rollup = Rollup::default();
        if !self.enabled {
            return rollup;
        }
        for (event, issue) in events {
            self.add(&mut rollup, event, issue);
        }
        rollup
    }

    fn add(&self, rollup: &mut Rollup, event: &Event, issue: Option<i64>) {
        let key = event.routing_key();
        let counted =
            matches!(key, RoutingKey::BehaviorPageview | RoutingKey::PerfVital) || is_problem(key);
        let session = event.session_id.as_deref().filter(|s| !s.is_empty());
        if !counted && session.is_none() {
            return;
        }
        let secs = event.received_at.timestamp();
        let dims = Dims {
            project: i64::from(event.project_id.get()),
            hour: DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or_default(),
            day: DateTime::from_timestamp(secs - secs.rem_euclid(86_400), 0).unwrap_or_default(),
            environment: bounded(event.environment.as_deref().unwrap_or_default(), MAX_NAME),
            release: bounded(event.release.as_deref().unwrap_or_default(), MAX_NAME * 2),
            page: self.page(event),
            browser: context_name(event, "browser"),
            os: context_name(event, "os"),
            device: device_class(event),
        };
        match &event.detail {
            Detail::Pageview { referrer, .. } => {
                let referrer = referrer.as_deref().and_then(host).filter(|from| {
                    Some(from.as_str()) != event.url.as_deref().and_then(host).as_deref()
                });
                for key in dims.keys(PAGEVIEWS, referrer.as_deref()) {
                    *rollup.counts.entry(key).or_default() += 1;
                }
                if let Some(visitor) = visitor(event) {
                    let (register, rank) = hll::register(visitor);
                    for key in dims.keys(VISITORS, None) {
                        if key.dim == TOTAL || key.dim == PAGE {
                            let slot = rollup.distinct.entry((key, register)).or_default();
                            *slot = (*slot).max(rank);
                        }
                    }
                }
            }
            Detail::Vital { name, value, .. } => {
                let metric = metric_of(*name);
                let rating = match name.rate(*value) {
                    shared::event::Rating::Good => 0,
                    shared::event::Rating::NeedsImprovement => 1,
                    shared::event::Rating::Poor => 2,
                };
                let bucket =
                    histogram::rated(histogram::bucket(*value, metric_min(metric)), rating);
                for key in dims.keys(metric, None) {
                    *rollup.histograms.entry((key, bucket)).or_default() += 1;
                }
            }
            _ => Self::add_problem(rollup, event, issue, &dims),
        }
        if let Some(session) = session {
            let id = bounded(session, MAX_SESSION_ID);
            let at = event.received_at;
            let pageview = key == RoutingKey::BehaviorPageview;
            let this = Session {
                started_at: at,
                last_at: at,
                entry_page: if pageview {
                    dims.page.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                entry_at: pageview.then_some(at),
                environment: dims.environment,
                release: dims.release,
                browser: dims.browser.unwrap_or_default(),
                os: dims.os.unwrap_or_default(),
                device: dims.device.unwrap_or_default().to_owned(),
                pageviews: i32::from(pageview),
                crashed: crashed(event),
            };
            match rollup.sessions.entry((dims.project, id)) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(this);
                }
                std::collections::btree_map::Entry::Occupied(mut slot) => {
                    merge(slot.get_mut(), this);
                }
            }
        }
    }
}

/// Two sightings of one session: as the database merges a batch's row into the stored one.
fn merge(into: &mut Session, other: Session) {
    into.started_at = into.started_at.min(other.started_at);
    into.last_at = into.last_at.max(other.last_at);
    if other.entry_at.is_some() && (into.entry_at.is_none() || other.entry_at < into.entry_at) {
        into.entry_at = other.entry_at;
        into.entry_page = other.entry_page;
    }
    into.pageviews += other.pageviews;
    into.crashed |= other.crashed;
}

/// The events [`Analytics::add_problem`] counts.
fn is_problem(key: RoutingKey) -> bool {
    matches!(
        key,
        RoutingKey::ErrorJs
            | RoutingKey::ErrorApi
            | RoutingKey::ErrorResource
            | RoutingKey::ErrorWhiteScreen
    )
}

impl Analytics {
    /// What an error, a failed call or resource, or a white screen adds: two counter rows
    /// (the total and one dimension, hourly), and for an error one sketch register of its
    /// user, for a failed call two histogram rows of its duration. Errors are the hot path.
    fn add_problem(rollup: &mut Rollup, event: &Event, issue: Option<i64>, dims: &Dims) {
        let mut count = |measure: i16, dim: Option<(i16, String)>| {
            for key in dims.hourly(measure, dim) {
                *rollup.counts.entry(key).or_default() += 1;
            }
        };
        match &event.detail {
            Detail::Error {} => {
                let page = dims.page.as_deref().unwrap_or_default();
                count(ERRORS, Some((ISSUE, issue_page(issue, page))));
                if let Some(user) = visitor(event) {
                    let (register, rank) = hll::register(user);
                    if let Some(key) = dims.hourly(AFFECTED_USERS, None).pop() {
                        let slot = rollup.distinct.entry((key, register)).or_default();
                        *slot = (*slot).max(rank);
                    }
                }
            }
            Detail::ApiError {
                target,
                method,
                duration_ms,
                ..
            } => {
                let endpoint = endpoint(method.as_deref(), target);
                if let Some(ms) = duration_ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
                    let bucket = histogram::bucket(ms, metric_min(API_DURATION));
                    for key in dims.hourly(API_DURATION, Some((ENDPOINT, endpoint.clone()))) {
                        *rollup.histograms.entry((key, bucket)).or_default() += 1;
                    }
                }
                count(API_FAILURES, Some((ENDPOINT, endpoint)));
            }
            Detail::ResourceError { target, .. } => {
                let url = target.split(['?', '#']).next().unwrap_or_default();
                count(
                    RESOURCE_FAILURES,
                    Some((RESOURCE, bounded(url, page::MAX_LEN))),
                );
            }
            Detail::WhiteScreen { .. } => {
                count(WHITE_SCREENS, dims.page.clone().map(|page| (PAGE, page)));
            }
            _ => {}
        }
    }
}

/// The [`ISSUE`] dimension's value.
pub fn issue_page(issue: Option<i64>, page: &str) -> String {
    format!("{} {page}", issue.unwrap_or_default())
}

/// An [`ISSUE`] value's issue and page.
pub fn split_issue_page(value: &str) -> (i64, &str) {
    let (issue, page) = value.split_once(' ').unwrap_or((value, ""));
    (issue.parse().unwrap_or_default(), page)
}

/// `GET /api/order/:id`: the method, upper-cased (GET when not sent), and the call's path
/// normalised as pages are (without its host, query and ids).
fn endpoint(method: Option<&str>, target: &str) -> String {
    let method = bounded(&method.unwrap_or("GET").to_ascii_uppercase(), 16);
    let path = page::page(None, Some(target), &Routes::default()).unwrap_or_default();
    format!("{method} {path}")
}

/// Who to count: the browser's anonymous id, else the user's key.
fn visitor(event: &Event) -> Option<&str> {
    event
        .visitor_id
        .as_deref()
        .or_else(|| event.user.as_ref().and_then(|user| user.key()))
}

/// Whether the event says its session crashed: an error nothing caught (the browser's
/// `onerror` or `onunhandledrejection`, or a Sentry exception marked `handled: false`),
/// or a Sentry session update with status `crashed`.
fn crashed(event: &Event) -> bool {
    match &event.detail {
        Detail::Error {} => {
            matches!(
                event.mechanism.as_deref(),
                Some("onerror" | "onunhandledrejection")
            ) || event.exceptions.iter().any(|exception| {
                exception
                    .mechanism
                    .as_ref()
                    .and_then(|mechanism| mechanism.get("handled"))
                    .and_then(Value::as_bool)
                    == Some(false)
            })
        }
        Detail::Session { status, .. } => status == "crashed",
        _ => false,
    }
}

/// `text`, cut to at most `max` bytes at a character boundary.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// `contexts.<name>.name`, the processor's User-Agent parse (or the SDK's).
fn context_name(event: &Event, name: &str) -> Option<String> {
    match event.contexts.get(name)?.get("name")? {
        Value::String(text) if !text.is_empty() => Some(bounded(text, MAX_NAME)),
        _ => None,
    }
}

/// `mobile`, `tablet`, `desktop` or `bot`, from the User-Agent (as Plausible and PostHog read
/// it; screen sizes are not sent); `None` without one.
pub fn device_class(event: &Event) -> Option<&'static str> {
    let ua = event
        .client
        .user_agent
        .as_deref()
        .filter(|ua| !ua.is_empty())?;
    let spider = event
        .contexts
        .get("device")
        .and_then(|device| device.get("family"))
        .is_some_and(|family| family == "Spider");
    Some(if spider || ua.contains("bot") || ua.contains("Bot") {
        "bot"
    } else if ua.contains("iPad")
        || ua.contains("Tablet")
        || (ua.contains("Android") && !ua.contains("Mobile"))
    {
        "tablet"
    } else if ua.contains("Mobi") || ua.contains("iPhone") || ua.contains("Android") {
        "mobile"
    } else {
        "desktop"
    })
}

/// The lower-cased host of a URL (`https://www.google.com/search?q` → `www.google.com`).
fn host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| bounded(&host.to_ascii_lowercase(), MAX_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::EventId;

    fn event(detail: Detail, ua: &str) -> Event {
        let mut event = Event::new(
            EventId::new_random(),
            ProjectId::new(1).expect("1"),
            DateTime::from_timestamp(1_750_000_123, 0).expect("time"),
            DateTime::from_timestamp(1_750_000_123, 0).expect("time"),
            detail,
        );
        event.client.user_agent = Some(ua.to_owned());
        event.url = Some("https://shop.example/order/77?x=1".into());
        event
    }

    #[test]
    fn device_classes_and_hosts() {
        let pv = || Detail::Pageview {
            referrer: None,
            title: None,
        };
        let class = |ua: &str| device_class(&event(pv(), ua));
        assert_eq!(
            class("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148"),
            Some("mobile")
        );
        assert_eq!(
            class("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120 Mobile Safari/537.36"),
            Some("mobile")
        );
        assert_eq!(
            class("Mozilla/5.0 (Linux; Android 13; SM-X700) Chrome/120 Safari/537.36"),
            Some("tablet")
        );
        assert_eq!(
            class("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X)"),
            Some("tablet")
        );
        assert_eq!(
            class("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120"),
            Some("desktop")
        );
        assert_eq!(
            class("Mozilla/5.0 (compatible; Googlebot/2.1)"),
            Some("bot")
        );
        assert_eq!(class(""), None);
        assert_eq!(
            host("https://User@WWW.Google.com:443/search?q=1").as_deref(),
            Some("www.google.com")
        );
        assert_eq!(host("android-app://com.x"), Some("com.x".into()));
        assert_eq!(host("nonsense"), None);
    }

    #[test]
    fn a_pageview_counts_under_each_dimension_at_both_grains() {
        let analytics = Analytics {
            enabled: true,
            ..Analytics::default()
        };
        let mut pv = event(
            Detail::Pageview {
                referrer: Some("https://news.example/a".into()),
                title: None,
            },
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120",
        );
        pv.visitor_id = Some("v1".into());
        pv.session_id = Some("s1".into());
        // Internal navigation is not a referrer.
        let mut internal = pv.clone();
        internal.detail = Detail::Pageview {
            referrer: Some("https://shop.example/".into()),
            title: None,
        };
        let rollup = analytics.rollup([(&pv, None), (&internal, None)]);
        let dims: Vec<(i16, i16, &str, i64)> = rollup
            .counts
            .iter()
            .map(|(k, n)| (k.grain, k.dim, k.value.as_str(), *n))
            .collect();
        assert_eq!(
            dims,
            [
                (HOUR, TOTAL, "", 2),
                (HOUR, PAGE, "/order/:id", 2),
                (HOUR, DEVICE, "desktop", 2),
                (HOUR, REFERRER, "news.example", 1),
                (DAY, TOTAL, "", 2),
                (DAY, PAGE, "/order/:id", 2),
                (DAY, DEVICE, "desktop", 2),
                (DAY, REFERRER, "news.example", 1),
            ]
        );
        // One visitor: one register per sketch (total and page, at two grains).
        assert_eq!(rollup.distinct.len(), 4);
        let session = &rollup.sessions[&(1, "s1".to_owned())];
        assert_eq!(
            (session.pageviews, session.entry_page.as_str()),
            (2, "/order/:id")
        );
        let off = Analytics::default();
        assert!(off.rollup([(&pv, None)]).is_empty());
    }

    #[test]
    fn an_error_adds_two_counter_rows_a_register_and_crashes_its_session() {
        let analytics = Analytics {
            enabled: true,
            routes: HashMap::new(),
            stored: Arc::default(),
        };
        let mut error = event(Detail::Error {}, "Mozilla/5.0 (Windows NT 10.0) Chrome/120");
        error.visitor_id = Some("v1".into());
        error.session_id = Some("s1".into());
        error.mechanism = Some("onunhandledrejection".into());
        let rollup = analytics.rollup([(&error, Some(42))]);
        let counts: Vec<(i16, i16, i16, &str)> = rollup
            .counts
            .keys()
            .map(|k| (k.grain, k.measure, k.dim, k.value.as_str()))
            .collect();
        assert_eq!(
            counts,
            [
                (HOUR, ERRORS, TOTAL, ""),
                (HOUR, ERRORS, ISSUE, "42 /order/:id")
            ]
        );
        assert_eq!(split_issue_page("42 /order/:id"), (42, "/order/:id"));
        assert_eq!(rollup.distinct.len(), 1);
        assert!(rollup.histograms.is_empty());
        assert!(rollup.sessions[&(1, "s1".to_owned())].crashed);
        // Caught by the page: counted, not a crash.
        error.mechanism = Some("manual".into());
        assert!(!analytics.rollup([(&error, None)]).sessions[&(1, "s1".to_owned())].crashed);

        let call = event(
            Detail::ApiError {
                target: "https://api.example/v1/order/88?x=1".into(),
                method: Some("post".into()),
                status: Some(503),
                duration_ms: Some(120.0),
            },
            "",
        );
        let rollup = analytics.rollup([(&call, None)]);
        let keys: Vec<(i16, &str)> = rollup
            .counts
            .keys()
            .map(|k| (k.dim, k.value.as_str()))
            .collect();
        assert_eq!(keys, [(TOTAL, ""), (ENDPOINT, "POST /v1/order/:id")]);
        assert_eq!(rollup.histograms.len(), 2);
    }
}
