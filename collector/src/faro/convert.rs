//! Faro items as our events.
//!
//! | Faro item | event |
//! |---|---|
//! | an exception | `error.js`, its frames outermost first as `exceptions[0].frames` |
//! | a log | `log.message` at its level (`warn` → warning, `log` → info, `trace` → debug) |
//! | a `web-vitals` measurement | `perf.vital` (LCP, INP, CLS, FCP, TTFB) |
//! | another measurement | `custom.event` named after its type, the values as data |
//! | event `faro.performance.navigation` (a page load) | `behavior.pageview` |
//! | event `faro.navigation` (a route change in the page), when the app names no views | `behavior.pageview` of the new address |
//! | event `view_changed` but the page's first (the app's `setView`: a route change) | `behavior.pageview` of the page, the new view as its route |
//! | event `session_start`, `session_extend`, `session_resume` | `behavior.session` |
//! | event `faro.performance.resource` | dropped (one per file the page loads), counted |
//! | any other event (the first `view_changed`, `faro.navigation` when the app names views, `faro.user.action`, the app's own) | `custom.event` |
//!
//! The batch's `meta` gives every event its common fields: `app.release` (else
//! `app.version`) the release, `app.environment`, `session.id`, `user`, `page.url`, and
//! `view.name` as the route unless it is the SDK's `default`; what else the SDK says (its
//! name and version, the app's name, trace ids, attribution of a vital) is kept in the
//! event's `contexts.faro`. Every string is bounded and without NUL characters.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use shared::event::{
    Detail, Event, EventId, Exception, Level, Rating, StackFrame, User, VitalName,
};

use super::wire::{self, Attributes, Body, TraceContext};
use crate::payload::{
    Context, MAX_CLOCK_AHEAD_MS, MAX_MESSAGE, MAX_SHORT, MAX_TAG_KEY, MAX_TAGS, MAX_URL, short,
    text,
};

/// Frames kept per exception: the innermost ones, where the error was thrown.
const MAX_FRAMES: usize = 250;
/// Attributes kept per map (an event's, a context's) in `contexts.faro`.
const MAX_ATTRIBUTES: usize = 64;
/// The longest attribute value kept in `contexts.faro`.
const MAX_ATTRIBUTE: usize = 2048;
/// What the SDK names the view before the app sets one: not a route.
const DEFAULT_VIEW: &str = "default";
/// What the SDK writes for a value it does not know (`unknownString`).
const UNKNOWN: &str = "?";
/// The `fromView` of the first view the SDK reports on a page.
const UNKNOWN_VIEW: &str = "unknown";

/// What became of a batch: the events to publish, and per signal how many items were kept
/// and dropped.
#[derive(Debug, Default)]
pub struct Converted {
    pub events: Vec<Event>,
    /// `(signal, accepted, dropped)`.
    pub outcomes: Vec<(&'static str, usize, usize)>,
}

/// How events of a batch get their ids: derived from the request's `Idempotency-Key`, so
/// the same batch sent again gets the same ids and is stored once, else random.
pub trait Ids {
    fn id(&self, signal: &str, index: usize) -> EventId;
}

/// The events of a batch.
pub fn convert(body: &Body, ids: &dyn Ids, context: &Context) -> Converted {
    let common = Common::new(&body.meta);
    let mut converted = Converted::default();
    let mut accepted = 0;
    for (index, exception) in body.exceptions.items.iter().enumerate() {
        converted
            .events
            .push(common.exception(exception, ids.id("exceptions", index), context));
        accepted += 1;
    }
    converted
        .outcomes
        .push(("exceptions", accepted, body.exceptions.count - accepted));

    accepted = 0;
    for (index, log) in body.logs.items.iter().enumerate() {
        converted
            .events
            .push(common.log(log, ids.id("logs", index), context));
        accepted += 1;
    }
    converted
        .outcomes
        .push(("logs", accepted, body.logs.count - accepted));

    accepted = 0;
    for (index, measurement) in body.measurements.items.iter().enumerate() {
        if let Some(event) = common.measurement(measurement, ids.id("measurements", index), context)
        {
            converted.events.push(event);
            accepted += 1;
        }
    }
    converted
        .outcomes
        .push(("measurements", accepted, body.measurements.count - accepted));

    accepted = 0;
    for (index, event) in body.events.items.iter().enumerate() {
        if let Some(event) = common.faro_event(event, ids.id("events", index), context) {
            converted.events.push(event);
            accepted += 1;
        }
    }
    converted
        .outcomes
        .push(("events", accepted, body.events.count - accepted));

    let spans = body.traces.as_ref().map_or(0, wire::Traces::span_count);
    converted.outcomes.push(("traces", 0, spans));
    converted
}

/// What every event of a batch gets from its `meta`.
struct Common {
    release: Option<String>,
    environment: Option<String>,
    session_id: Option<String>,
    user: Option<User>,
    url: Option<String>,
    route: Option<String>,
    /// The rest of `meta`, for `contexts.faro`.
    faro: Map<String, Value>,
}

impl Common {
    fn new(meta: &wire::Meta) -> Self {
        let app = meta.app.as_ref();
        let field = |value: Option<&String>| {
            value
                .filter(|value| !value.is_empty() && value.as_str() != UNKNOWN)
                .map(|value| short(value.clone()))
        };
        let release = field(app.and_then(|app| app.release.as_ref()))
            .or_else(|| field(app.and_then(|app| app.version.as_ref())));
        let user = meta.user.as_ref().and_then(|user| {
            let mut other = Map::new();
            for (key, value) in [
                ("full_name", &user.full_name),
                ("roles", &user.roles),
                ("hash", &user.hash),
            ] {
                if let Some(value) = field(value.as_ref()) {
                    other.insert(key.to_owned(), Value::String(value));
                }
            }
            if let Some(attributes) = &user.attributes {
                other.insert("attributes".into(), attributes_json(attributes));
            }
            let user = User {
                id: field(user.id.as_ref()),
                email: field(user.email.as_ref()),
                username: field(user.username.as_ref()),
                ip_address: None,
                other,
            };
            (user.id.is_some()
                || user.email.is_some()
                || user.username.is_some()
                || !user.other.is_empty())
            .then_some(user)
        });
        let mut faro = Map::new();
        if let Some(sdk) = &meta.sdk {
            insert_some(&mut faro, "sdk_name", field(sdk.name.as_ref()));
            insert_some(&mut faro, "sdk_version", field(sdk.version.as_ref()));
        }
        if let Some(app) = app {
            insert_some(&mut faro, "app_name", field(app.name.as_ref()));
            insert_some(&mut faro, "app_namespace", field(app.namespace.as_ref()));
            insert_some(&mut faro, "app_version", field(app.version.as_ref()));
        }
        if let Some(page) = &meta.page {
            insert_some(&mut faro, "page_id", field(page.id.as_ref()));
            if let Some(attributes) = &page.attributes {
                faro.insert("page_attributes".into(), attributes_json(attributes));
            }
        }
        if let Some(attributes) = meta.session.as_ref().and_then(|s| s.attributes.as_ref()) {
            faro.insert("session_attributes".into(), attributes_json(attributes));
        }
        let view = field(meta.view.as_ref().and_then(|view| view.name.as_ref()));
        insert_some(&mut faro, "view", view.clone());
        Self {
            release,
            environment: field(app.and_then(|app| app.environment.as_ref())),
            session_id: field(meta.session.as_ref().and_then(|s| s.id.as_ref())),
            user,
            url: meta
                .page
                .as_ref()
                .and_then(|page| page.url.as_ref())
                .filter(|url| !url.is_empty())
                .map(|url| text(url.clone(), MAX_URL)),
            route: view.filter(|view| view != DEFAULT_VIEW),
            faro,
        }
    }

    /// An event of `detail` with the batch's common fields, at the item's time, with `faro`
    /// (the item's own extras) beside the batch's in `contexts.faro`.
    fn stamp(
        &self,
        id: EventId,
        timestamp: Option<&String>,
        detail: Detail,
        faro: Map<String, Value>,
        context: &Context,
    ) -> Event {
        let mut event = Event::new(
            id,
            context.project_id,
            time(timestamp, context),
            context.received_at,
            detail,
        );
        event.client = context.client.clone();
        event.release = self.release.clone();
        event.environment = self.environment.clone();
        event.session_id = self.session_id.clone();
        event.user = self.user.clone();
        event.url = self.url.clone();
        event.route = self.route.clone();
        let mut all = self.faro.clone();
        all.extend(faro);
        if !all.is_empty() {
            event.contexts.insert("faro".into(), Value::Object(all));
        }
        event
    }

    fn exception(&self, exception: &wire::Exception, id: EventId, context: &Context) -> Event {
        let kind = exception
            .kind
            .as_ref()
            .filter(|kind| !kind.is_empty())
            .map(|kind| short(kind.clone()));
        let value = exception
            .value
            .as_ref()
            .filter(|value| !value.is_empty())
            .map(|value| text(value.clone(), MAX_MESSAGE));
        let frames = exception
            .stacktrace
            .as_ref()
            .map(|stacktrace| {
                // Innermost first as sent; ours are outermost first, as Sentry's.
                let mut frames: Vec<StackFrame> = stacktrace
                    .frames
                    .items
                    .iter()
                    .take(MAX_FRAMES)
                    .map(frame)
                    .collect();
                frames.reverse();
                frames
            })
            .unwrap_or_default();
        let message = match (&kind, &value) {
            (Some(kind), Some(value)) => format!("{kind}: {value}"),
            (Some(only), None) | (None, Some(only)) => only.clone(),
            (None, None) => "<unlabeled exception>".to_owned(),
        };
        let mut faro = Map::new();
        insert_some(
            &mut faro,
            "fingerprint",
            exception.fingerprint.clone().map(short),
        );
        insert_trace(&mut faro, exception.trace.as_ref());
        let mut event = self.stamp(
            id,
            exception.timestamp.as_ref(),
            Detail::Error {},
            faro,
            context,
        );
        event.message = Some(text(message, MAX_MESSAGE));
        event.level = Some(if exception.fatal == Some(true) {
            Level::Fatal
        } else {
            Level::Error
        });
        event.tags = tags(exception.context.as_ref());
        event.exceptions = vec![Exception {
            kind,
            value,
            frames,
            ..Exception::default()
        }];
        event
    }

    fn log(&self, log: &wire::Log, id: EventId, context: &Context) -> Event {
        let level = log
            .level
            .as_deref()
            .and_then(Level::parse)
            .unwrap_or(Level::Info);
        let mut faro = Map::new();
        insert_trace(&mut faro, log.trace.as_ref());
        let mut event = self.stamp(
            id,
            log.timestamp.as_ref(),
            Detail::Message {},
            faro,
            context,
        );
        event.level = Some(level);
        event.message = Some(text(log.message.clone().unwrap_or_default(), MAX_MESSAGE));
        event.tags = tags(log.context.as_ref());
        event
    }

    fn measurement(
        &self,
        measurement: &wire::Measurement,
        id: EventId,
        context: &Context,
    ) -> Option<Event> {
        let kind = measurement.kind.as_deref().unwrap_or_default();
        let mut faro = Map::new();
        insert_trace(&mut faro, measurement.trace.as_ref());
        if kind != "web-vitals" {
            if kind.is_empty() {
                return None;
            }
            let values: Map<String, Value> = measurement
                .values
                .iter()
                .take(MAX_ATTRIBUTES)
                .map(|(key, value)| (text(key.clone(), MAX_SHORT), json!(value)))
                .collect();
            let mut data = json!({ "values": values });
            if let Some(context) = &measurement.context {
                data["context"] = attributes_json(context);
            }
            let detail = Detail::Custom {
                name: short(kind.to_owned()),
                data: Some(data),
            };
            return Some(self.stamp(id, measurement.timestamp.as_ref(), detail, faro, context));
        }
        let (name, value) = VITALS.into_iter().find_map(|(key, name)| {
            let value = *measurement.values.get(key)?;
            (value.is_finite() && value >= 0.0).then_some((name, value))
        })?;
        let sent = measurement.context.as_ref();
        let rating = sent
            .and_then(|context| context.get("rating"))
            .and_then(|rating| rating_of(rating))
            .unwrap_or_else(|| name.rate(value));
        // The attribution the SDK measured (the LCP element, the INP target, …).
        let attribution: Map<String, Value> = measurement
            .values
            .iter()
            .filter(|(key, _)| !VITALS.iter().any(|(vital, _)| vital == key))
            .take(MAX_ATTRIBUTES)
            .map(|(key, value)| (text(key.clone(), MAX_SHORT), json!(value)))
            .collect();
        if !attribution.is_empty() {
            faro.insert("values".into(), Value::Object(attribution));
        }
        if let Some(sent) = sent {
            faro.insert("context".into(), attributes_json(sent));
        }
        let detail = Detail::Vital {
            name,
            value,
            rating,
            navigation_type: None,
            attribution: None,
        };
        Some(self.stamp(id, measurement.timestamp.as_ref(), detail, faro, context))
    }

    fn faro_event(&self, event: &wire::FaroEvent, id: EventId, context: &Context) -> Option<Event> {
        let name = event.name.as_deref().unwrap_or_default();
        let attributes = event.attributes.as_ref();
        let attribute = |key: &str| {
            attributes
                .and_then(|attributes| attributes.get(key))
                .filter(|value| !value.is_empty() && value.as_str() != UNKNOWN)
        };
        let mut faro = Map::new();
        insert_trace(&mut faro, event.trace.as_ref());
        let with_attributes = |mut faro: Map<String, Value>| {
            if let Some(attributes) = attributes {
                faro.insert("attributes".into(), attributes_json(attributes));
            }
            faro
        };
        let view = |url: Option<&String>| {
            let detail = Detail::Pageview {
                referrer: None,
                title: None,
            };
            (detail, url.map(|url| text(url.clone(), MAX_URL)))
        };
        // A route change is one page view: the app's `view_changed` when it names views (not
        // the page's first, which the page load already counts), else `faro.navigation`.
        let (detail, url) = match name {
            "faro.performance.navigation" => view(attribute("name")),
            "faro.navigation" if self.route.is_none() => view(attribute("toUrl")),
            "view_changed"
                if attribute("fromView").is_some_and(|from| from != UNKNOWN_VIEW)
                    && attribute("toView").is_some() =>
            {
                view(None)
            }
            "session_start" | "session_extend" | "session_resume" => (
                Detail::Session {
                    sid: self.session_id.clone(),
                    status: "ok".into(),
                    errors: 0,
                    init: name != "session_resume",
                    duration_ms: None,
                    pages: None,
                },
                None,
            ),
            "faro.performance.resource" | "" => return None,
            _ => {
                let mut data = Map::new();
                if let Some(domain) = event.domain.as_ref().filter(|d| !d.is_empty()) {
                    data.insert("domain".into(), Value::String(short(domain.clone())));
                }
                if let Some(attributes) = attributes {
                    data.insert("attributes".into(), attributes_json(attributes));
                }
                let detail = Detail::Custom {
                    name: short(name.to_owned()),
                    data: (!data.is_empty()).then_some(Value::Object(data)),
                };
                return Some(self.stamp(id, event.timestamp.as_ref(), detail, faro, context));
            }
        };
        let mut stored = self.stamp(
            id,
            event.timestamp.as_ref(),
            detail,
            with_attributes(faro),
            context,
        );
        if let Some(url) = url {
            stored.url = Some(url);
        }
        if name == "view_changed" {
            stored.route = attribute("toView")
                .filter(|view| view.as_str() != DEFAULT_VIEW)
                .map(|view| short(view.clone()));
        }
        Some(stored)
    }
}

/// The vitals by the keys the SDK gives them in `values`.
const VITALS: [(&str, VitalName); 5] = [
    ("lcp", VitalName::Lcp),
    ("inp", VitalName::Inp),
    ("cls", VitalName::Cls),
    ("fcp", VitalName::Fcp),
    ("ttfb", VitalName::Ttfb),
];

fn rating_of(rating: &str) -> Option<Rating> {
    match rating {
        "good" => Some(Rating::Good),
        "needs-improvement" => Some(Rating::NeedsImprovement),
        "poor" => Some(Rating::Poor),
        _ => None,
    }
}

fn frame(frame: &wire::Frame) -> StackFrame {
    let number = |n: Option<u64>| n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
    StackFrame {
        function: frame
            .function
            .as_ref()
            .filter(|function| !function.is_empty() && function.as_str() != UNKNOWN)
            .map(|function| text(function.clone(), MAX_SHORT)),
        // The address, as native stacks give it: where source maps are looked up.
        abs_path: frame
            .filename
            .as_ref()
            .filter(|filename| !filename.is_empty())
            .map(|filename| text(filename.clone(), MAX_URL)),
        lineno: number(frame.lineno),
        colno: number(frame.colno),
        ..StackFrame::default()
    }
}

/// An item's `context` as tags, bounded as native tags are.
fn tags(context: Option<&Attributes>) -> BTreeMap<String, String> {
    context
        .into_iter()
        .flatten()
        .filter(|(key, _)| !key.is_empty())
        .take(MAX_TAGS)
        .map(|(key, value)| (text(key.clone(), MAX_TAG_KEY), short(value.clone())))
        .collect()
}

fn attributes_json(attributes: &Attributes) -> Value {
    Value::Object(
        attributes
            .iter()
            .take(MAX_ATTRIBUTES)
            .map(|(key, value)| {
                (
                    text(key.clone(), MAX_SHORT),
                    Value::String(text(value.clone(), MAX_ATTRIBUTE)),
                )
            })
            .collect(),
    )
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), Value::String(value));
    }
}

fn insert_trace(map: &mut Map<String, Value>, trace: Option<&TraceContext>) {
    let Some(trace) = trace else {
        return;
    };
    insert_some(map, "trace_id", trace.trace_id.clone().map(short));
    insert_some(map, "span_id", trace.span_id.clone().map(short));
}

/// An item's RFC 3339 time; our receive time when it has none, or one ahead of our clock.
fn time(timestamp: Option<&String>, context: &Context) -> DateTime<Utc> {
    timestamp
        .and_then(|sent| DateTime::parse_from_rfc3339(sent).ok())
        .map(|sent| sent.with_timezone(&Utc))
        .filter(|sent| *sent <= context.received_at + Duration::milliseconds(MAX_CLOCK_AHEAD_MS))
        .unwrap_or(context.received_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::{ProjectId, RoutingKey};

    /// What `@grafana/faro-web-sdk` 2.12.1 sent from `e2e/browser/faro-page` in Chromium
    /// (`node e2e/browser/faro.mjs --record`), batch by batch.
    const LOAD: &str = include_str!("../../tests/faro/faro-2.12.1-1.json");
    const CLICK: &str = include_str!("../../tests/faro/faro-2.12.1-2.json");
    const ERROR: &str = include_str!("../../tests/faro/faro-2.12.1-3.json");
    const HIDDEN: &str = include_str!("../../tests/faro/faro-2.12.1-4.json");

    struct Counting;

    impl Ids for Counting {
        fn id(&self, signal: &str, index: usize) -> EventId {
            EventId::from_uuid(Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("{signal}|{index}").as_bytes(),
            ))
        }
    }

    use uuid::Uuid;

    fn context() -> Context {
        Context {
            project_id: ProjectId::new(1).expect("non-zero"),
            received_at: DateTime::parse_from_rfc3339("2026-12-07T13:46:00Z")
                .expect("valid")
                .with_timezone(&Utc),
            client: shared::event::Client::default(),
            max_batch: 100,
        }
    }

    fn convert_str(body: &str) -> Converted {
        let body: Body = serde_json::from_str(body).expect("a Faro batch");
        convert(&body, &Counting, &context())
    }

    fn keys(events: &[Event]) -> Vec<RoutingKey> {
        events.iter().map(Event::routing_key).collect()
    }

    #[test]
    fn a_page_load_is_a_session_a_page_view_and_its_vitals() {
        let converted = convert_str(LOAD);
        let events = &converted.events;
        assert_eq!(
            keys(events),
            [
                RoutingKey::PerfVital,
                RoutingKey::PerfVital,
                RoutingKey::BehaviorSession,
                RoutingKey::BehaviorPageview
            ]
        );
        for event in events {
            assert_eq!(event.release.as_deref(), Some("shop@1.4.2"));
            assert_eq!(event.environment.as_deref(), Some("test"));
            let user = event.user.as_ref().expect("the user");
            assert_eq!(user.id.as_deref(), Some("user-1"));
            assert_eq!(user.email.as_deref(), Some("u1@example.com"));
            assert_eq!(event.route, None, "the SDK's `default` view is not a route");
            assert_eq!(event.contexts["faro"]["sdk_version"], "2.12.1");
        }
        let session_id = events[0].session_id.clone().expect("a session id");
        assert!(
            events
                .iter()
                .all(|e| e.session_id.as_ref() == Some(&session_id))
        );
        assert!(matches!(
            &events[0].detail,
            Detail::Vital { name: VitalName::Ttfb, value, rating: Rating::Good, .. } if *value == 109.0
        ));
        assert!(matches!(
            &events[1].detail,
            Detail::Vital { name: VitalName::Fcp, value, rating: Rating::Good, .. } if *value == 544.0
        ));
        assert_eq!(
            events[1].contexts["faro"]["values"]["first_byte_to_fcp"],
            435.0
        );
        assert_eq!(
            events[2].detail,
            Detail::Session {
                sid: Some(session_id),
                status: "ok".into(),
                errors: 0,
                init: true,
                duration_ms: None,
                pages: None,
            }
        );
        assert_eq!(events[3].url.as_deref(), Some("http://127.0.0.1:43043/"));
        assert_eq!(
            events[3].contexts["faro"]["attributes"]["pageLoadTime"],
            "497"
        );
        assert_eq!(
            events[3].timestamp,
            DateTime::parse_from_rfc3339("2026-12-07T13:45:57.085Z").expect("valid")
        );
        assert_eq!(
            converted.outcomes,
            [
                ("exceptions", 0, 0),
                ("logs", 0, 0),
                ("measurements", 2, 0),
                ("events", 2, 0),
                ("traces", 0, 0)
            ]
        );
    }

    #[test]
    fn an_uncaught_error_keeps_its_frames_outermost_first_and_groups() {
        let events = convert_str(ERROR).events;
        assert_eq!(keys(&events), [RoutingKey::ErrorJs, RoutingKey::PerfVital]);
        let error = &events[0];
        assert_eq!(
            error.message.as_deref(),
            Some("TypeError: Cannot read properties of undefined (reading 'items')")
        );
        assert_eq!(error.level, Some(Level::Error));
        assert_eq!(
            error.url.as_deref(),
            Some("http://127.0.0.1:43043/checkout/done")
        );
        let exception = &error.exceptions[0];
        assert_eq!(exception.kind.as_deref(), Some("TypeError"));
        let functions: Vec<_> = exception
            .frames
            .iter()
            .map(|frame| frame.function.as_deref())
            .collect();
        assert_eq!(functions, [Some("onCartTimer"), Some("renderCart")]);
        let thrown = exception.frames.last().expect("a frame");
        assert_eq!(
            thrown.abs_path.as_deref(),
            Some("http://127.0.0.1:43043/app.js")
        );
        assert_eq!((thrown.lineno, thrown.colno), (Some(17), Some(17)));
        let grouping = shared::grouping::group_event(error).expect("an error groups");
        assert_eq!(
            grouping.title,
            "TypeError: Cannot read properties of undefined (reading 'items')"
        );
        assert!(
            grouping
                .culprit
                .as_deref()
                .is_some_and(|c| c.contains("renderCart")),
            "{grouping:?}"
        );
        assert!(matches!(
            events[1].detail,
            Detail::Vital {
                name: VitalName::Lcp,
                ..
            }
        ));
    }

    #[test]
    fn logs_custom_measurements_and_events_are_kept() {
        let events = convert_str(CLICK).events;
        assert_eq!(
            keys(&events),
            [
                RoutingKey::LogMessage,
                RoutingKey::CustomEvent,
                RoutingKey::CustomEvent
            ]
        );
        assert_eq!(events[0].message.as_deref(), Some("cache warmed"));
        assert_eq!(events[0].level, Some(Level::Info));
        let Detail::Custom { name, data } = &events[1].detail else {
            panic!("a custom event: {:?}", events[1].detail);
        };
        assert_eq!(name, "cart");
        assert_eq!(data.as_ref().expect("data")["values"]["total"], 42.5);
        let Detail::Custom { name, data } = &events[2].detail else {
            panic!("a custom event: {:?}", events[2].detail);
        };
        assert_eq!(name, "checkout_started");
        assert_eq!(
            data.as_ref().expect("data")["attributes"]["step"],
            "payment"
        );
        let hidden = convert_str(HIDDEN).events;
        assert!(matches!(
            hidden[0].detail,
            Detail::Vital {
                name: VitalName::Cls,
                ..
            }
        ));
    }

    #[test]
    fn a_view_change_is_a_page_view_and_a_url_change_only_without_views() {
        // The app names its views: its setView on a route change is the page view; the
        // page's first view (fromView unknown) is not, the page load counted it.
        let body = r#"{
            "meta": {"view": {"name": "cart"}, "page": {"url": "https://x/spa/cart"},
                     "session": {"id": "s1"}},
            "events": [
                {"name": "view_changed", "attributes": {"fromView": "unknown", "toView": "home"}},
                {"name": "view_changed", "attributes": {"fromView": "home", "toView": "cart"}},
                {"name": "view_changed", "attributes": {"fromView": "home"}},
                {"name": "faro.navigation", "attributes": {"fromUrl": "https://x/", "toUrl": "https://x/spa/cart"}}
            ]
        }"#;
        let events = convert_str(body).events;
        assert_eq!(
            keys(&events),
            [
                RoutingKey::CustomEvent,
                RoutingKey::BehaviorPageview,
                RoutingKey::CustomEvent,
                RoutingKey::CustomEvent
            ]
        );
        assert_eq!(events[1].url.as_deref(), Some("https://x/spa/cart"));
        assert_eq!(events[1].route.as_deref(), Some("cart"));
        // No views named (Faro's `default`): the URL change is the page view.
        let body = r#"{
            "meta": {"view": {"name": "default"}, "page": {"url": "https://x/done"}},
            "events": [
                {"name": "faro.navigation", "attributes": {"fromUrl": "https://x/", "toUrl": "https://x/done"}}
            ]
        }"#;
        let events = convert_str(body).events;
        assert_eq!(keys(&events), [RoutingKey::BehaviorPageview]);
        assert_eq!(events[0].url.as_deref(), Some("https://x/done"));
        assert_eq!(events[0].route, None);
    }

    #[test]
    fn route_changes_sessions_resources_and_spans_map_as_documented() {
        let body = r#"{
            "meta": {"app": {"name": "shop", "release": "r-7", "version": "1.0"},
                     "view": {"name": "checkout"}, "session": {"id": "s1"}},
            "events": [
                {"name": "faro.navigation", "attributes": {"fromUrl": "https://x/", "toUrl": "https://x/done"}},
                {"name": "session_resume", "timestamp": "2026-12-07T13:45:00Z"},
                {"name": "faro.performance.resource", "attributes": {"name": "https://x/app.js"}},
                {"name": "", "attributes": {}}
            ],
            "measurements": [
                {"type": "web-vitals", "values": {"inp": 650, "delta": 650}},
                {"type": "web-vitals", "values": {"delta": 3}},
                {"type": "", "values": {"x": 1}}
            ],
            "exceptions": [{"type": "Error", "value": "boom", "fatal": true,
                            "stacktrace": {"frames": [{"filename": "", "function": "?"}]},
                            "context": {"component": "cart"}}],
            "logs": [{"message": "slow", "level": "warn"}, {"message": "t", "level": "trace"}],
            "traces": {"resourceSpans": [{"scopeSpans": [{"spans": [{}, {}, {}]}, {"spans": [{}]}]}]}
        }"#;
        let converted = convert_str(body);
        let events = &converted.events;
        assert_eq!(
            keys(events),
            [
                RoutingKey::ErrorJs,
                RoutingKey::LogMessage,
                RoutingKey::LogMessage,
                RoutingKey::PerfVital,
                RoutingKey::CustomEvent,
                RoutingKey::BehaviorSession
            ]
        );
        let error = &events[0];
        assert_eq!(error.level, Some(Level::Fatal));
        assert_eq!(
            error.release.as_deref(),
            Some("r-7"),
            "release before version"
        );
        assert_eq!(error.route.as_deref(), Some("checkout"));
        assert_eq!(error.tags["component"], "cart");
        assert_eq!(
            error.exceptions[0].frames,
            [StackFrame::default()],
            "`?` and empty names are not kept"
        );
        assert_eq!(events[1].level, Some(Level::Warning));
        assert_eq!(events[2].level, Some(Level::Debug));
        assert!(
            matches!(
                events[3].detail,
                Detail::Vital {
                    name: VitalName::Inp,
                    rating: Rating::Poor,
                    ..
                }
            ),
            "rated as the native path does without the SDK's rating"
        );
        assert!(
            matches!(&events[4].detail, Detail::Custom { name, .. } if name == "faro.navigation"),
            "the app names views: its view_changed is the page view, not faro.navigation"
        );
        assert!(matches!(
            &events[5].detail,
            Detail::Session { sid: Some(sid), init: false, .. } if sid == "s1"
        ));
        assert_eq!(
            converted.outcomes,
            [
                ("exceptions", 1, 0),
                ("logs", 2, 0),
                ("measurements", 1, 2),
                ("events", 2, 2),
                ("traces", 0, 4)
            ]
        );
    }

    #[test]
    fn every_string_is_bounded_and_clean() {
        let long = "x".repeat(100_000);
        let body = serde_json::json!({
            "meta": {"app": {"release": long, "environment": "a\u{0}b"},
                     "page": {"url": long, "attributes": {"k": long}},
                     "user": {"id": long, "attributes": {"a": "b"}}},
            "exceptions": [{"type": long, "value": long,
                            "stacktrace": {"frames": (0..400).map(|i| serde_json::json!({
                                "filename": long, "function": format!("f{i}"), "lineno": u64::MAX
                            })).collect::<Vec<_>>()}}],
            "events": [{"name": long, "attributes": {long.clone(): long}}]
        });
        let events = convert_str(&body.to_string()).events;
        for event in &events {
            assert!(event.release.as_ref().is_some_and(|r| r.len() <= MAX_SHORT));
            assert_eq!(event.environment.as_deref(), Some("ab"));
            assert!(event.url.as_ref().is_some_and(|u| u.len() <= MAX_URL));
            let json = serde_json::to_string(event).expect("serializes");
            // 250 frames of a 2 KiB address at most, as a Sentry exception.
            assert!(json.len() < MAX_FRAMES * 2200, "{} bytes", json.len());
        }
        let frames = &events[0].exceptions[0].frames;
        assert_eq!(frames.len(), MAX_FRAMES);
        assert_eq!(
            frames.last().and_then(|f| f.function.as_deref()),
            Some("f0"),
            "the innermost frames are the ones kept"
        );
        assert_eq!(frames[0].lineno, None, "a line past u32 is not a line");
    }
}
