//! A month of a shop's front-end traffic, made up but shaped like the real thing, for the
//! analytics query benchmark ([`crate::queries`]): deterministic for a seed, so two runs (and
//! the dashboard's benchmark, later) measure the same data.
//!
//! Visitors come back across days on the same device; each visit is a session of a few page
//! views (a long tail of 200 pages, the first ones far more visited), each with its web
//! vitals (slower on phones and on some pages), clicks, now and then a JavaScript error (one
//! of 500, so ~500 issues), a failed API call, a blank page; and one session update at the
//! end. Three releases ship during the month, each adopted over a few days. Traffic follows
//! the hour of the day and the day of the week, and grows a little over the month.
//!
//! [`Traffic::next_chunk`] hands the events out a chunk of whole sessions at a time, oldest
//! day first; each event is complete as the processor would store it, its `browser`, `os`
//! and `device` contexts parsed from its User-Agent by the processor's own parser.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeDelta, Utc};
use processor::user_agent::UserAgents;
use serde_json::{Map, Value};
use shared::event::{Client, Detail, Event, EventId, ProjectId, User, VitalName};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub seed: u64,
    /// At least this many events (the last session is finished whole).
    pub events: usize,
    pub days: u32,
    /// The end of the last day; every event is received before it.
    pub end: DateTime<Utc>,
    pub project: ProjectId,
}

/// The pages: the first, hand-named ones are the most visited (a Zipf law: the `k`th page
/// gets 1/k of the first's views); the rest of the 200 are a long tail.
const HEAD_PAGES: [&str; 24] = [
    "/",
    "/product/:id",
    "/search",
    "/category/:slug",
    "/cart",
    "/checkout",
    "/checkout/payment",
    "/account",
    "/account/orders",
    "/order/:id",
    "/login",
    "/signup",
    "/deals",
    "/wishlist",
    "/blog",
    "/blog/:slug",
    "/help",
    "/help/:topic",
    "/stores",
    "/stores/:city",
    "/brands",
    "/brand/:slug",
    "/gift-cards",
    "/about",
];
pub const PAGES: usize = 200;

/// The releases, in the order they ship; a release ships on the day of its index times
/// [`RELEASE_EVERY`] and takes [`ADOPTION_DAYS`] to reach every visitor.
pub const RELEASES: [&str; 3] = ["shop-web@4.10.0", "shop-web@4.11.0", "shop-web@4.12.0"];
const RELEASE_EVERY: f64 = 11.0;
const ADOPTION_DAYS: f64 = 3.0;

/// Distinct JavaScript errors (so, issues).
pub const ERRORS: usize = 500;

/// User-Agents with their share of visitors: desktop Chrome first, iPhones, Android phones,
/// Macs, Firefox, Edge, Samsung Internet, iPads, an Android tablet, a crawler.
const AGENTS: [(&str, f64); 11] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        33.0,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        20.0,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
        15.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        8.0,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
        6.0,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
        6.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        4.0,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        3.0,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        2.5,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        1.5,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        1.0,
    ),
];

/// Where a session's first page view comes from, when it comes from another site.
const REFERRERS: [(&str, f64); 6] = [
    ("https://www.google.com/", 50.0),
    ("https://www.bing.com/", 8.0),
    ("https://duckduckgo.com/", 5.0),
    ("https://news.example/deals-of-the-week", 10.0),
    ("https://t.co/x1y2z3", 6.0),
    ("https://www.facebook.com/", 6.0),
];

/// Back-end calls that fail now and then.
const API_CALLS: [(&str, &str); 6] = [
    ("GET", "https://api.shop.example/v1/cart"),
    ("POST", "https://api.shop.example/v1/cart/items"),
    ("GET", "https://api.shop.example/v1/products"),
    ("POST", "https://api.shop.example/v1/checkout"),
    ("GET", "https://api.shop.example/v1/recommendations"),
    ("GET", "https://api.shop.example/v1/stock"),
];

/// Each vital's median on a fast page on a desktop, and the spread of its log.
const VITAL_SHAPES: [(VitalName, f64, f64, f64); 5] = [
    // (name, median, sigma, share of page views that report it)
    (VitalName::Ttfb, 320.0, 0.6, 0.95),
    (VitalName::Fcp, 1150.0, 0.45, 0.95),
    (VitalName::Lcp, 1900.0, 0.5, 0.9),
    (VitalName::Cls, 0.035, 1.1, 0.8),
    (VitalName::Inp, 110.0, 0.7, 0.55),
];

/// A session's odds of going on to another page after each one (so ~28% bounce and 3.6 page
/// views on average), of a click after a page view or another click, and per page view of
/// an error, a failed API call, a blank page.
const NEXT_PAGE: f64 = 0.72;
const MAX_PAGES: usize = 25;
const CLICK: f64 = 0.45;
const ERROR: f64 = 0.03;
const API_FAILURE: f64 = 0.01;
const WHITE_SCREEN: f64 = 0.002;

/// The share of page views by hour of day (UTC), lowest at night.
const HOURS: [f64; 24] = [
    2.0, 1.5, 1.0, 1.0, 1.0, 1.5, 2.5, 4.0, 5.5, 6.0, 6.0, 6.0, 6.5, 6.0, 5.5, 5.5, 5.5, 6.0, 6.5,
    7.0, 7.5, 6.5, 4.5, 3.0,
];

/// Events per session on average, for sizing the visitor population.
const EVENTS_PER_SESSION: usize = 20;

/// SplitMix64: small, fast and good enough for made-up traffic; its sequence is fixed for a
/// seed on every platform, which is what the determinism needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Log-normal around `median`: `median · e^(sigma · N(0, 1))` (Box–Muller).
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        let (u, v) = (1.0 - self.unit(), self.unit());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        median * (sigma * normal).exp()
    }
}

/// SplitMix64's finaliser: a well-spread hash of one number.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Picks an index with the given weights.
#[derive(Debug, Clone)]
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        for c in &mut cumulative {
            *c /= total;
        }
        Self(cumulative)
    }

    /// Zipf's law over `n` items: the `k`th (from 1) weighs `1/k`.
    fn zipf(n: usize) -> Self {
        Self::new((1..=n).map(|k| 1.0 / k as f64))
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0
            .partition_point(|&c| c <= u)
            .min(self.0.len().saturating_sub(1))
    }
}

/// A page: its route, and how slow it is (a factor on its vitals).
#[derive(Debug, Clone)]
struct Page {
    route: String,
    slowness: f64,
}

/// A User-Agent with the contexts the processor parses from it, and how slow its device is.
#[derive(Debug, Clone)]
struct Agent {
    user_agent: &'static str,
    contexts: Arc<Map<String, Value>>,
    slowness: f64,
}

/// The contexts the processor parses from each of [`AGENTS`], parsed once per process:
/// a parse takes a fifth of a second unoptimised (the tests).
fn agent_contexts() -> &'static [Arc<Map<String, Value>>] {
    static CONTEXTS: OnceLock<Vec<Arc<Map<String, Value>>>> = OnceLock::new();
    CONTEXTS.get_or_init(|| {
        let user_agents = UserAgents::new();
        AGENTS
            .iter()
            .map(|(user_agent, _)| user_agents.contexts(user_agent))
            .collect()
    })
}

/// The generator: [`Traffic::next_chunk`] until it returns `None`.
pub struct Traffic {
    plan: Plan,
    rng: Rng,
    pages: Vec<Page>,
    page_weights: Weighted,
    agents: Vec<Agent>,
    agent_weights: Weighted,
    referrers: Weighted,
    errors: Weighted,
    hours: Weighted,
    /// Visitors, numbered; the low numbers come back most.
    visitors: usize,
    /// Events per day, by the day's weight.
    quotas: Vec<usize>,
    day: usize,
    /// Events of the current day so far.
    today: usize,
    produced: usize,
}

impl Traffic {
    pub fn new(plan: Plan) -> Self {
        let mut rng = Rng::new(plan.seed);
        let pages = (0..PAGES)
            .map(|k| Page {
                route: match HEAD_PAGES.get(k) {
                    Some(route) => (*route).to_owned(),
                    None => format!("/guides/topic-{k}"),
                },
                slowness: rng.log_normal(1.0, 0.35),
            })
            .collect();
        let agents = AGENTS
            .iter()
            .zip(agent_contexts())
            .map(|((user_agent, _), contexts)| Agent {
                user_agent,
                contexts: contexts.clone(),
                slowness: if user_agent.contains("Mobile") {
                    1.6
                } else if user_agent.contains("iPad") || user_agent.contains("SM-X700") {
                    1.3
                } else {
                    1.0
                },
            })
            .collect();
        let days = plan.days.max(1) as usize;
        // Weekends a fifth quieter, and 1% more traffic each day than the one before.
        let weights: Vec<f64> = (0..days)
            .map(|d| {
                let weekend = matches!(
                    (plan.end - TimeDelta::days((days - d) as i64))
                        .format("%u")
                        .to_string()
                        .as_str(),
                    "6" | "7"
                );
                (if weekend { 0.8 } else { 1.0 }) * 1.01f64.powi(d as i32)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let quotas = weights
            .iter()
            .map(|w| ((plan.events as f64) * w / total).ceil() as usize)
            .collect();
        Self {
            visitors: (plan.events / EVENTS_PER_SESSION / 3).max(100),
            rng,
            pages,
            page_weights: Weighted::zipf(PAGES),
            agents,
            agent_weights: Weighted::new(AGENTS.iter().map(|(_, w)| *w)),
            referrers: Weighted::new(REFERRERS.iter().map(|(_, w)| *w)),
            errors: Weighted::zipf(ERRORS),
            hours: Weighted::new(HOURS),
            quotas,
            day: 0,
            today: 0,
            produced: 0,
            plan,
        }
    }

    /// The next whole sessions, at least `min` events of them unless the plan runs out first;
    /// `None` once it has.
    pub fn next_chunk(&mut self, min: usize) -> Option<Vec<Event>> {
        let mut chunk = Vec::with_capacity(min + 128);
        while chunk.len() < min && self.produced < self.plan.events {
            if self.day >= self.quotas.len() {
                break;
            }
            if self.today >= self.quotas[self.day] {
                self.day += 1;
                self.today = 0;
                continue;
            }
            let before = chunk.len();
            self.session(&mut chunk);
            let added = chunk.len() - before;
            self.today += added;
            self.produced += added;
        }
        (!chunk.is_empty()).then_some(chunk)
    }

    /// The first instant of day `d` of the plan.
    fn day_start(&self, d: usize) -> DateTime<Utc> {
        self.plan.end - TimeDelta::days(self.quotas.len() as i64 - d as i64)
    }

    /// The releases' shares of sessions at `days` into the month: the newest shipped one
    /// takes over linearly over [`ADOPTION_DAYS`].
    fn release_at(&mut self, days: f64) -> &'static str {
        let u = self.rng.unit();
        for (index, release) in RELEASES.iter().enumerate().rev() {
            let share = ((days - index as f64 * RELEASE_EVERY) / ADOPTION_DAYS).clamp(0.0, 1.0);
            if index == 0 || u < share {
                return release;
            }
        }
        RELEASES[0]
    }

    fn event_id(&mut self) -> EventId {
        let bytes = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        EventId::from_uuid(uuid::Builder::from_random_bytes(bytes.to_be_bytes()).into_uuid())
    }

    /// One session, appended to `out`.
    fn session(&mut self, out: &mut Vec<Event>) {
        let rng = &mut self.rng;
        // Low-numbered visitors are the loyal ones: u² puts most visits on a few of them.
        let visitor = (rng.unit().powi(2) * self.visitors as f64) as u64;
        let visitor_hash = mix(self.plan.seed ^ visitor.wrapping_mul(0x2545_F491_4F6C_DD1D));
        // A visitor keeps their device: the agent follows from the visitor, not the visit.
        let agent = {
            let mut own = Rng::new(visitor_hash);
            self.agent_weights.pick(&mut own)
        };
        let logged_in = visitor_hash % 10 < 3;
        let hour = self.hours.pick(rng) as i64;
        // Sessions start before the day's last half hour, so they all end within the day.
        let second = rng.below(3600) as i64;
        let start = self.day_start(self.day)
            + TimeDelta::seconds((hour * 3600 + second).min(86_400 - 1800));
        let days_in = self.day as f64 + (hour as f64) / 24.0;
        let release = self.release_at(days_in);
        let rng = &mut self.rng;
        let environment = if rng.chance(0.97) {
            "production"
        } else {
            "staging"
        };
        let session_id = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        let referrer = rng
            .chance(0.55)
            .then(|| REFERRERS[self.referrers.pick(rng)].0);
        let mut pages = 1;
        while pages < MAX_PAGES && rng.chance(NEXT_PAGE) {
            pages += 1;
        }
        let base = Event {
            release: Some(release.to_owned()),
            environment: Some(environment.to_owned()),
            session_id: Some(session_id),
            visitor_id: Some(format!("v{visitor_hash:016x}")),
            user: logged_in.then(|| User {
                id: Some(format!("u{visitor}")),
                ..User::default()
            }),
            client: Client {
                ip: None,
                user_agent: Some(self.agents[agent].user_agent.to_owned()),
            },
            contexts: (*self.agents[agent].contexts).clone(),
            ..Event::new(
                EventId::from_uuid(uuid::Uuid::nil()),
                self.plan.project,
                start,
                start,
                Detail::Message {},
            )
        };
        let mut at = start;
        let mut errors = 0;
        for view in 0..pages {
            let page = self.page_weights.pick(&mut self.rng);
            let url = self.url_of(page);
            let event = |this: &mut Self, at: DateTime<Utc>, detail: Detail| {
                let skew = TimeDelta::milliseconds(this.rng.below(1500) as i64);
                Event {
                    event_id: this.event_id(),
                    timestamp: at - skew,
                    received_at: at,
                    detail,
                    url: Some(url.clone()),
                    route: Some(this.pages[page].route.clone()),
                    ..base.clone()
                }
            };
            out.push(event(
                self,
                at,
                Detail::Pageview {
                    referrer: if view == 0 {
                        referrer.map(str::to_owned)
                    } else {
                        None
                    },
                    title: Some(format!("{} · Shop", self.pages[page].route)),
                },
            ));
            let slowness = self.pages[page].slowness * self.agents[agent].slowness;
            // 4.12 made the pages faster, 4.11 slower: a trend for the charts to show.
            let release_factor = match release {
                r if r == RELEASES[1] => 1.12,
                r if r == RELEASES[2] => 0.9,
                _ => 1.0,
            };
            for (name, median, sigma, share) in VITAL_SHAPES {
                if !self.rng.chance(share) {
                    continue;
                }
                let scale = if name == VitalName::Cls {
                    1.0
                } else {
                    slowness * release_factor
                };
                let value = self.rng.log_normal(median * scale, sigma);
                let value = if name == VitalName::Cls {
                    (value * 10_000.0).round() / 10_000.0
                } else {
                    value.round()
                };
                let when = at + TimeDelta::milliseconds(500 + self.rng.below(4000) as i64);
                out.push(event(
                    self,
                    when,
                    Detail::Vital {
                        name,
                        value,
                        rating: name.rate(value),
                        navigation_type: Some("navigate".into()),
                        attribution: None,
                    },
                ));
            }
            let mut click_at = at;
            while self.rng.chance(CLICK) {
                click_at += TimeDelta::milliseconds(1000 + self.rng.below(15_000) as i64);
                let n = self.rng.below(12);
                out.push(event(
                    self,
                    click_at,
                    Detail::Click {
                        selector: Some(format!("main > section:nth-child({n}) > button")),
                        text: Some(format!("Action {n}")),
                    },
                ));
            }
            if self.rng.chance(ERROR) {
                errors += 1;
                let variant = self.errors.pick(&mut self.rng);
                let mut error = event(self, at + TimeDelta::milliseconds(2000), Detail::Error {});
                error.message = Some(format!(
                    "TypeError: Cannot read properties of undefined (reading 'field{variant}')"
                ));
                error.stack = Some(stack(variant));
                error.mechanism = Some("onerror".into());
                out.push(error);
            }
            if self.rng.chance(API_FAILURE) {
                let (method, target) = API_CALLS[self.rng.below(API_CALLS.len())];
                let status = [Some(500), Some(502), Some(503), None][self.rng.below(4)];
                let duration = self.rng.log_normal(800.0, 0.8).round();
                out.push(event(
                    self,
                    at + TimeDelta::milliseconds(1500),
                    Detail::ApiError {
                        target: target.to_owned(),
                        method: Some(method.to_owned()),
                        status,
                        duration_ms: Some(duration),
                    },
                ));
            }
            if self.rng.chance(WHITE_SCREEN) {
                let empty_ratio = 0.9 + self.rng.below(10) as f64 / 100.0;
                out.push(event(
                    self,
                    at + TimeDelta::milliseconds(5000),
                    Detail::WhiteScreen {
                        empty_ratio,
                        points: Some(17),
                    },
                ));
            }
            let dwell = self.rng.log_normal(25_000.0, 0.9).min(300_000.0);
            at = at.max(click_at) + TimeDelta::milliseconds(dwell as i64);
            if view + 1 == pages {
                out.push(event(
                    self,
                    at,
                    Detail::Session {
                        sid: None,
                        status: "exited".into(),
                        errors,
                        init: false,
                        duration_ms: Some((at - start).num_milliseconds() as f64),
                        pages: Some(pages as u64),
                    },
                ));
            }
        }
    }

    /// An address of `page`: its route with its parameters filled in.
    fn url_of(&mut self, page: usize) -> String {
        let route = &self.pages[page].route;
        let path = if route.contains(':') {
            let n = self.rng.below(5000);
            route
                .split('/')
                .map(|segment| {
                    if segment.starts_with(':') {
                        if segment == ":id" {
                            format!("{}", 10_000 + n)
                        } else {
                            format!("item-{n}")
                        }
                    } else {
                        segment.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        } else {
            route.clone()
        };
        let query = if self.rng.chance(0.2) {
            "?utm_source=newsletter"
        } else {
            ""
        };
        format!("https://shop.example{path}{query}")
    }
}

/// The stack of the `variant`th error: its own function, so its own fingerprint.
fn stack(variant: usize) -> String {
    format!(
        "TypeError: Cannot read properties of undefined (reading 'field{variant}')
    at handler{variant} (https://shop.example/static/js/app.4f9c2a.js:1:{line})
    at Array.map (<anonymous>)
    at Component{module} (https://shop.example/static/js/app.4f9c2a.js:1:{caller})
    at renderWithHooks (https://shop.example/static/js/vendor.91be07.js:2:118734)
    at beginWork (https://shop.example/static/js/vendor.91be07.js:2:135402)",
        line = 1000 + variant * 37,
        module = variant % 40,
        caller = 90_000 + (variant % 40) * 101,
    )
}

/// What a generated data set holds, for its description and the tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Census {
    pub events: usize,
    pub by_kind: BTreeMap<&'static str, usize>,
    pub sessions: usize,
    pub releases: BTreeMap<String, usize>,
}

impl Census {
    pub fn merge(&mut self, other: Census) {
        self.events += other.events;
        self.sessions += other.sessions;
        for (kind, n) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
        for (release, n) in other.releases {
            *self.releases.entry(release).or_default() += n;
        }
    }

    pub fn add(&mut self, events: &[Event]) {
        for event in events {
            self.events += 1;
            let key = event.routing_key().as_str();
            *self.by_kind.entry(key).or_default() += 1;
            if matches!(event.detail, Detail::Session { .. }) {
                self.sessions += 1;
            }
            if let Some(release) = &event.release {
                *self.releases.entry(release.clone()).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap, HashSet};

    use processor::analytics::Analytics;
    use shared::config::AnalyticsSettings;
    use shared::event::RoutingKey;

    use super::*;

    fn plan(seed: u64, events: usize) -> Plan {
        Plan {
            seed,
            events,
            days: 30,
            end: DateTime::from_timestamp(1_796_000_400, 0).expect("time"),
            project: ProjectId::new(1).expect("1"),
        }
    }

    fn all(plan: Plan) -> Vec<Event> {
        let mut traffic = Traffic::new(plan);
        let mut events = Vec::new();
        while let Some(chunk) = traffic.next_chunk(10_000) {
            events.extend(chunk);
        }
        events
    }

    #[test]
    fn the_same_seed_gives_the_same_events_and_another_seed_others() {
        let json = |events: &[Event]| -> Vec<String> {
            events
                .iter()
                .map(|e| serde_json::to_string(e).expect("serializable"))
                .collect()
        };
        let first = json(&all(plan(7, 3_000)));
        assert_eq!(first, json(&all(plan(7, 3_000))));
        let other = json(&all(plan(8, 3_000)));
        assert_ne!(first[..100], other[..100]);
    }

    #[test]
    fn a_month_of_sessions_over_200_pages_3_releases_and_mixed_devices() {
        let plan = plan(16, 60_000);
        let (start, end) = (plan.end - TimeDelta::days(30), plan.end);
        let events = all(plan);
        assert!(
            (60_000..60_100).contains(&events.len()),
            "{} events",
            events.len()
        );
        let analytics = Analytics::new(&AnalyticsSettings::default(), []);
        let pages: HashSet<String> = events.iter().filter_map(|e| analytics.page(e)).collect();
        assert_eq!(pages.len(), PAGES, "every page is visited");
        assert!(
            events
                .iter()
                .all(|e| e.received_at >= start && e.received_at < end),
            "within the month"
        );
        let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids.len(), events.len(), "event ids are unique");

        // Sessions of several page views, each with its vitals.
        let mut views: HashMap<&str, usize> = HashMap::new();
        let mut kinds: HashMap<RoutingKey, usize> = HashMap::new();
        for event in &events {
            *kinds.entry(event.routing_key()).or_default() += 1;
            if event.routing_key() == RoutingKey::BehaviorPageview {
                *views
                    .entry(event.session_id.as_deref().expect("session"))
                    .or_default() += 1;
            }
        }
        let per_session = kinds[&RoutingKey::BehaviorPageview] as f64 / views.len() as f64;
        assert!((2.5..5.0).contains(&per_session), "{per_session} views");
        let bounces = views.values().filter(|n| **n == 1).count() as f64 / views.len() as f64;
        assert!((0.15..0.45).contains(&bounces), "bounce rate {bounces}");
        let vitals = kinds[&RoutingKey::PerfVital] as f64 / views.len() as f64;
        assert!(vitals > 10.0, "{vitals} vitals per session");
        for kind in [
            RoutingKey::BehaviorClick,
            RoutingKey::ErrorJs,
            RoutingKey::ErrorApi,
            RoutingKey::BehaviorSession,
        ] {
            assert!(kinds.get(&kind).copied().unwrap_or(0) > 0, "no {kind:?}");
        }

        // Errors fall into at most 500 issues, by the processor's grouping.
        let fingerprints: HashSet<String> = events
            .iter()
            .filter(|e| e.routing_key() == RoutingKey::ErrorJs)
            .filter_map(|e| Some(shared::grouping::group_event(e)?.fingerprint))
            .collect();
        assert!(
            (100..=ERRORS).contains(&fingerprints.len()),
            "{} issues",
            fingerprints.len()
        );

        // Three releases, adopted in turn: only the first on the first day, the last on most
        // sessions of the last day.
        let releases_of = |from: DateTime<Utc>, to: DateTime<Utc>| -> HashMap<String, usize> {
            let mut seen = HashMap::new();
            for e in events
                .iter()
                .filter(|e| e.received_at >= from && e.received_at < to)
            {
                *seen.entry(e.release.clone().expect("release")).or_default() += 1;
            }
            seen
        };
        let first_day = releases_of(start, start + TimeDelta::days(1));
        assert_eq!(first_day.keys().collect::<Vec<_>>(), vec![RELEASES[0]]);
        let last_day = releases_of(end - TimeDelta::days(1), end);
        let total: usize = last_day.values().sum();
        assert!(last_day[RELEASES[2]] * 10 > total * 9, "{last_day:?}");
        assert_eq!(releases_of(start, end).len(), 3);

        // Browsers, OS and device classes mixed, parsed as the processor parses them.
        let names = |context: &str| -> BTreeSet<String> {
            events
                .iter()
                .filter_map(|e| Some(e.contexts.get(context)?.get("name")?.as_str()?.to_owned()))
                .collect()
        };
        assert!(names("browser").len() >= 4, "{:?}", names("browser"));
        assert!(names("os").len() >= 4, "{:?}", names("os"));
        let devices: BTreeSet<&str> = events
            .iter()
            .filter_map(processor::analytics::device_class)
            .collect();
        assert_eq!(
            devices,
            BTreeSet::from(["bot", "desktop", "mobile", "tablet"])
        );

        // Visitors come back on other days.
        let mut days_of: HashMap<&str, HashSet<i64>> = HashMap::new();
        for e in &events {
            days_of
                .entry(e.visitor_id.as_deref().expect("visitor"))
                .or_default()
                .insert(e.received_at.timestamp() / 86_400);
        }
        let returning = days_of.values().filter(|days| days.len() > 1).count();
        assert!(
            returning * 5 > days_of.len(),
            "{returning} of {}",
            days_of.len()
        );
    }
}
