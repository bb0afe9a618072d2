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

/// `rollup_counts.measure`: page views. (A vital's rating is in its histogram bucket:
/// [`histogram::rated`].)
pub const PAGEVIEWS: i16 = 1;
/// `rollup_distinct.measure`: visitors of page views.
pub const VISITORS: i16 = 1;

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

    /// What `events` (each stored for the first time) add to the rollups.
    pub fn rollup<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> Rollup {
        let mut rollup = Rollup::default();
        if !self.enabled {
            return rollup;
        }
        for event in events {
            self.add(&mut rollup, event);
        }
        rollup
    }

    fn add(&self, rollup: &mut Rollup, event: &Event) {
        let key = event.routing_key();
        let counted = matches!(key, RoutingKey::BehaviorPageview | RoutingKey::PerfVital);
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
                let visitor = event
                    .visitor_id
                    .as_deref()
                    .or_else(|| event.user.as_ref().and_then(|user| user.key()));
                if let Some(visitor) = visitor {
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
            _ => {}
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
        let rollup = analytics.rollup([&pv, &internal]);
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
        assert!(off.rollup([&pv]).is_empty());
    }
}
