//! The envelopes real `@sentry/browser` SDKs sent (8.55 and 11.12, recorded byte for byte by
//! `e2e/browser/drive.mjs --record` into `tests/envelopes/`), through the parser and the
//! conversion, and the events they become grouped as issues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use collector::payload::Context;
use collector::sentry::convert::{self, EnvelopeFacts};
use collector::sentry::envelope;
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

/// Every event of one recorded envelope, as the collector would publish them.
fn events(path: &Path) -> Vec<Event> {
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
            "transaction" => convert::transaction(item.payload, &facts, &context),
            "session" => convert::session(item.payload, &facts, &context).map(|e| vec![e]),
            "span" => convert::span_vitals(item.payload, &facts, &context),
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

/// The events of every recording of `scenario` for `sdk`.
fn scenario(sdk: &str, scenario: &str) -> Vec<Event> {
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
    files.iter().flat_map(|path| events(path)).collect()
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
        for event in events(&path) {
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
