//! The envelopes real `@sentry/browser` SDKs sent (8.55 and 11.12, recorded byte for byte by
//! `e2e/browser/drive.mjs --record` into `tests/envelopes/`), through the parser and the
//! conversion, and the events they become: grouped as issues, page views and vitals on their
//! page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use collector::payload::Context;
use collector::sentry::convert::{self, EnvelopeFacts};
use collector::sentry::envelope;
use collector::sentry::pages::Pages;
use shared::event::{Client, Detail, Event, Level, ProjectId, RoutingKey};
use shared::grouping::group_event;

const SDKS: [&str; 2] = ["8.55.2", "11.12.0"];

fn recordings() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/envelopes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/envelopes")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "envelope"))
        .collect();
    files.sort();
    files
}

/// Every event of one recorded envelope, as the collector would publish them, with `pages`
/// the collector's memory of the page loads it has seen.
fn events(path: &Path, pages: &Pages) -> Vec<Event> {
    let body = std::fs::read(path).expect("readable");
    let parsed = envelope::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let context = Context {
        project_id: ProjectId::new(1).expect("non-zero"),
        received_at: Utc::now(),
        client: Client::default(),
        max_batch: 100,
    };
    let facts = EnvelopeFacts::new(
        parsed.header.event_id.as_deref(),
        parsed.header.sent_at.as_deref(),
        context.received_at,
    );
    let mut events = Vec::new();
    for item in &parsed.items {
        let converted = match item.kind.as_str() {
            "event" => convert::event(item.payload, &facts, &context).map(|e| vec![e]),
            "transaction" => convert::transaction(item.payload, &facts, &context, pages),
            "session" => convert::session(item.payload, &facts, &context).map(|e| vec![e]),
            "span" => convert::spans(item.payload, &facts, &context, pages),
            "client_report" => Ok(Vec::new()),
            other => panic!(
                "{}: an item type the SDK was not expected to send: {other}",
                path.display()
            ),
        };
        events.extend(converted.unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    events
}

/// The events of every recording of `scenario` for `sdk`, sent in the order the SDK sent
/// them to one collector.
fn scenario(sdk: &str, scenario: &str) -> Vec<Event> {
    scenario_files(sdk, scenario)
        .iter()
        .scan(Pages::default(), |pages, path| Some(events(path, pages)))
        .flatten()
        .collect()
}

/// The recordings of `scenario` for `sdk`, in the order they were sent.
fn scenario_files(sdk: &str, scenario: &str) -> Vec<PathBuf> {
    let prefix = format!("browser-{sdk}-{scenario}-");
    let files: Vec<PathBuf> = recordings()
        .into_iter()
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&prefix))
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert!(!files.is_empty(), "no recordings of {sdk} {scenario}");
    // By number, not by name: 10 comes after 9.
    let number = |path: &PathBuf| -> u32 {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        name.rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let mut files = files;
    files.sort_by_key(number);
    files
}

fn errors(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.routing_key() == RoutingKey::ErrorJs)
        .collect()
}

#[test]
fn every_recorded_envelope_parses_and_converts() {
    let files = recordings();
    assert!(files.len() >= 60, "only {} recordings", files.len());
    for path in files {
        // What the processor reads back from the queue is what was published (times are
        // kept to the millisecond).
        for event in events(&path, &Pages::default()) {
            let json = serde_json::to_vec(&event).expect("serializes");
            let back: Event = serde_json::from_slice(&json).expect("deserializes");
            assert_eq!(
                serde_json::to_vec(&back).expect("serializes"),
                json,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn uncaught_errors_keep_what_the_sdk_sent() {
    for sdk in SDKS {
        let events = scenario(sdk, "uncaught");
        let errors = errors(&events);
        assert_eq!(errors.len(), 1, "{sdk}");
        let error = errors[0];
        assert_eq!(error.level, Some(Level::Error));
        assert_eq!(
            error.message.as_deref(),
            Some("TypeError: cart is undefined")
        );
        assert_eq!(error.release.as_deref(), Some("shop@1.4.2"));
        assert_eq!(error.environment.as_deref(), Some("test"));
        assert_eq!(error.tags.get("checkout").map(String::as_str), Some("v2"));
        let user = error.user.as_ref().expect("a user");
        assert_eq!(user.id.as_deref(), Some("user-1"));
        assert_eq!(user.email.as_deref(), Some("u1@example.com"));
        let exception = error.exceptions.last().expect("an exception");
        assert_eq!(exception.kind.as_deref(), Some("TypeError"));
        let innermost = exception.frames.last().expect("frames");
        assert_eq!(innermost.function.as_deref(), Some("renderCart"));
        assert!(innermost.lineno.is_some() && innermost.colno.is_some());
        assert!(error.sentry.contains_key("breadcrumbs"), "{sdk}");
        assert!(
            error
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://127.0.0.1"))
        );
        let grouping = group_event(error).expect("grouped");
        assert_eq!(grouping.title, "TypeError: cart is undefined");
        assert_eq!(grouping.culprit.as_deref(), Some("renderCart (app.js)"));
        // Sessions came along: one at start, one when the error ended it.
        let sessions = events
            .iter()
            .filter(|e| matches!(e.detail, Detail::Session { .. }))
            .count();
        assert!(sessions >= 1, "{sdk}");
    }
    // SDK 11 asks for the sender's address in `sdk.settings`; SDK 8 does not.
    let latest = scenario("11.12.0", "uncaught");
    assert_eq!(
        errors(&latest)[0]
            .user
            .as_ref()
            .and_then(|u| u.ip_address.as_deref()),
        Some(shared::event::AUTO_IP)
    );
}

#[test]
fn messages_route_by_level_even_with_a_synthetic_exception() {
    for sdk in SDKS {
        let events = scenario(sdk, "capture-message");
        let by_message: BTreeMap<&str, &Event> = events
            .iter()
            .filter(|e| !matches!(e.detail, Detail::Session { .. }))
            .map(|e| (e.message.as_deref().unwrap_or_default(), e))
            .collect();
        let info = by_message["cache warmed"];
        assert_eq!(info.routing_key(), RoutingKey::LogMessage, "{sdk}");
        assert_eq!(info.level, Some(Level::Info));
        let error = by_message["quota exceeded"];
        assert_eq!(error.routing_key(), RoutingKey::ErrorJs, "{sdk}");
        assert_eq!(
            group_event(error).expect("grouped").title,
            "quota exceeded",
            "{sdk}"
        );
    }
}

#[test]
fn the_same_error_twice_is_one_issue_and_different_errors_are_not() {
    for sdk in SDKS {
        let twice = scenario(sdk, "same-error-twice");
        let fingerprints: Vec<String> = errors(&twice)
            .iter()
            .map(|e| group_event(e).expect("grouped").fingerprint)
            .collect();
        assert_eq!(fingerprints.len(), 2, "{sdk}");
        assert_eq!(fingerprints[0], fingerprints[1], "{sdk}");

        let all = scenario(sdk, "all");
        let mut distinct: Vec<String> = errors(&all)
            .iter()
            .map(|e| group_event(e).expect("grouped").fingerprint)
            .collect();
        distinct.sort();
        distinct.dedup();
        // uncaught, rejection, captureException, the error message, the coupon error.
        assert_eq!(distinct.len(), 5, "{sdk}");
    }
}

#[test]
fn transactions_and_span_streams_feed_the_vitals() {
    let vitals = |events: &[Event]| {
        events
            .iter()
            .filter_map(|e| match &e.detail {
                Detail::Vital { name, .. } => Some(format!("{name:?}")),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let old = scenario("8.55.2", "tracing");
    assert!(old.iter().any(
        |e| matches!(&e.detail, Detail::Transaction { op: Some(op), .. } if op == "pageload")
    ));
    let old_vitals = vitals(&old);
    assert!(old_vitals.contains(&"Lcp".to_owned()), "{old_vitals:?}");
    assert!(old_vitals.contains(&"Inp".to_owned()), "{old_vitals:?}");

    let streamed = scenario("11.12.0", "tracing");
    assert!(
        !streamed
            .iter()
            .any(|e| matches!(e.detail, Detail::Transaction { .. }))
    );
    let streamed_vitals = vitals(&streamed);
    assert!(
        streamed_vitals.contains(&"Lcp".to_owned()),
        "{streamed_vitals:?}"
    );

    let static_lifecycle = scenario("11.12.0", "tracing-static");
    assert!(
        static_lifecycle
            .iter()
            .any(|e| matches!(e.detail, Detail::Transaction { .. }))
    );
}

fn page_views(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.routing_key() == RoutingKey::BehaviorPageview)
        .collect()
}

fn vitals_by_name(events: &[Event]) -> BTreeMap<String, &Event> {
    events
        .iter()
        .filter_map(|e| match &e.detail {
            Detail::Vital { name, .. } => Some((format!("{name:?}"), e)),
            _ => None,
        })
        .collect()
}

/// The page the recordings were made on (the driver serves it on a port of its own).
fn page_path(event: &Event) -> Option<&str> {
    let url = event.url.as_deref()?;
    let rest = url.strip_prefix("http://127.0.0.1:")?;
    rest.find('/').map(|slash| &rest[slash..])
}

#[test]
fn every_page_load_and_navigation_is_one_page_view_on_its_page() {
    // SDK 8's and SDK 11's transactions (`traceLifecycle: 'static'`), SDK 11's streamed root
    // spans: the page load of `/`, then the navigation to `/checkout/done`.
    for (sdk, name) in [
        ("8.55.2", "tracing"),
        ("11.12.0", "tracing"),
        ("11.12.0", "tracing-static"),
    ] {
        let events = scenario(sdk, name);
        let views = page_views(&events);
        let paths: Vec<Option<&str>> = views.iter().map(|v| page_path(v)).collect();
        assert_eq!(
            paths,
            [Some("/"), Some("/checkout/done")],
            "{sdk} {name}: {views:#?}"
        );
        for view in &views {
            assert_eq!(view.release.as_deref(), Some("shop@1.4.2"), "{sdk} {name}");
            assert_eq!(view.environment.as_deref(), Some("test"), "{sdk} {name}");
            let user = view.user.as_ref().expect("a user");
            assert_eq!(user.id.as_deref(), Some("user-1"), "{sdk} {name}");
            // Named by its address only (no router): no route, and not SDK 11's placeholder.
            assert_eq!(view.route, None, "{sdk} {name}");
            assert!(view.timestamp <= view.received_at);
        }
        // Derived from what the SDK sent: the same recordings give the same ids.
        let again: Vec<_> = page_views(&scenario(sdk, name))
            .iter()
            .map(|v| v.event_id)
            .collect();
        let ids: Vec<_> = views.iter().map(|v| v.event_id).collect();
        assert_eq!(ids, again, "{sdk} {name}");
    }
}

#[test]
fn vitals_keep_the_page_they_were_measured_on() {
    for (sdk, name) in [
        ("8.55.2", "tracing"),
        ("11.12.0", "tracing"),
        ("11.12.0", "tracing-static"),
    ] {
        let events = scenario(sdk, name);
        let vitals = vitals_by_name(&events);
        let names: Vec<&str> = vitals.keys().map(String::as_str).collect();
        assert_eq!(names, ["Cls", "Fcp", "Inp", "Lcp", "Ttfb"], "{sdk} {name}");
        for (vital_name, vital) in &vitals {
            assert_eq!(vital.release.as_deref(), Some("shop@1.4.2"), "{sdk} {name}");
            if sdk == "8.55.2" && vital_name == "Inp" {
                // SDK 8's INP span names its page (`transaction`) but not its address.
                assert_eq!(vital.url, None);
                assert_eq!(vital.route.as_deref(), Some("/"));
                continue;
            }
            // CLS and INP: SDK 11 sends them when the page is hidden, in an envelope naming
            // only the page load's span, after the navigation; they are still the page load's.
            assert_eq!(
                page_path(vital),
                Some("/"),
                "{sdk} {name} {vital_name}: {vital:#?}"
            );
        }
    }
}

#[test]
fn a_vital_sent_without_its_page_load_keeps_what_it_names() {
    // SDK 11's CLS and INP envelope on a collector that never saw the page load (another
    // instance, a restart): no address, and "Pageload" is no route.
    let files = scenario_files("11.12.0", "tracing");
    let last = files.last().expect("recordings");
    let events = events(last, &Pages::default());
    let vitals = vitals_by_name(&events);
    assert_eq!(vitals.len(), 2, "{events:#?}");
    for vital in vitals.values() {
        assert_eq!(vital.url, None);
        assert_eq!(vital.route, None);
        assert_eq!(vital.release.as_deref(), Some("shop@1.4.2"));
    }
}
