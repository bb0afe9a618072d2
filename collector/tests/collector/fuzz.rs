//! Fuzzing the request parsing, CI-sized: proptest drives `payload::parse` (and the Sentry
//! envelope splitter) with arbitrary bytes, arbitrary JSON and event-shaped JSON. Nothing may
//! panic, and every accepted event must hold the invariants the rest of frontmon relies on.
//!
//! The checked-in corpus (`tests/corpus/*`) holds the interesting inputs found or written so
//! far; every run replays it, through the parser and through a running collector. Add a file
//! there for every input that ever broke something. Longer runs: `PROPTEST_CASES=100000
//! cargo test -p collector fuzz`.

use std::path::PathBuf;

use chrono::DateTime;
use collector::payload::{
    self, Context, MAX_BREADCRUMB_MESSAGE, MAX_BREADCRUMBS, MAX_EXTRA, MAX_MESSAGE, MAX_REFUSAL,
    MAX_SHORT, MAX_STACK, MAX_TAGS, MAX_URL, MAX_VISITOR_ID,
};
use collector::sentry::{convert, envelope};
use proptest::prelude::*;
use serde_json::{Map, Value};
use shared::event::{Client, Detail, Event, ProjectId};
use shared::testing::{TEST_KEY, TestEnv};

use crate::support::{Running, assert_healthy, http};

fn context() -> Context {
    Context {
        project_id: ProjectId::new(1).expect("non-zero"),
        received_at: DateTime::from_timestamp_millis(1_750_000_000_000).expect("valid"),
        client: Client::default(),
        max_batch: 100,
    }
}

/// Parses `body` and checks every accepted event: it serializes, round-trips through the
/// shared `Event` type unchanged (floats to the last few bits: serde_json's default float
/// parsing is not exact), carries no NUL, and its text fits the documented bounds.
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let Ok(parsed) = payload::parse(body, &context()) else {
        return Ok(());
    };
    let events = parsed.events;
    prop_assert!(!events.is_empty() && events.len() + parsed.refused.len() <= 100);
    // Refusals name distinct events, in order, each within its bound.
    prop_assert!(parsed.refused.windows(2).all(|w| w[0].index < w[1].index));
    for refused in &parsed.refused {
        prop_assert!(refused.index < events.len() + parsed.refused.len());
        let prefix = format!("[{}]", refused.index);
        prop_assert!(refused.error.starts_with(&prefix), "{}", refused.error);
        prop_assert!(refused.error.len() <= MAX_REFUSAL);
    }
    for event in events {
        let json = serde_json::to_vec(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Event =
            serde_json::from_slice(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (sent, received) = (
            serde_json::to_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?,
            serde_json::to_value(&back).map_err(|e| TestCaseError::fail(e.to_string()))?,
        );
        prop_assert!(same(&sent, &received), "{sent} came back as {received}");
        prop_assert!(
            !json.windows(6).any(|w| w == b"\\u0000"),
            "NUL kept: {}",
            String::from_utf8_lossy(&json)
        );
        let within =
            |text: &Option<String>, max: usize| text.as_ref().is_none_or(|t| t.len() <= max);
        prop_assert!(within(&event.message, MAX_MESSAGE));
        prop_assert!(within(&event.stack, MAX_STACK));
        prop_assert!(within(&event.url, MAX_URL));
        prop_assert!(within(&event.release, MAX_SHORT));
        prop_assert!(event.tags.len() <= MAX_TAGS);
        prop_assert!(event.tags.values().all(|v| v.len() <= MAX_SHORT));
        prop_assert!(within(&event.route, MAX_URL));
        prop_assert!(within(&event.visitor_id, MAX_VISITOR_ID));
        prop_assert!(within(&event.mechanism, MAX_SHORT));
        prop_assert!(event.breadcrumbs.len() <= MAX_BREADCRUMBS);
        prop_assert!(
            event
                .breadcrumbs
                .iter()
                .all(|b| within(&b.message, MAX_BREADCRUMB_MESSAGE)
                    && within(&b.category, MAX_SHORT))
        );
        prop_assert!(serde_json::to_vec(&event.extra).map_or(0, |j| j.len()) <= MAX_EXTRA);
        if let Detail::WhiteScreen { empty_ratio, .. } = event.detail {
            prop_assert!((0.0..=1.0).contains(&empty_ratio));
        }
        prop_assert!(event.timestamp.timestamp_millis() > 0);
        prop_assert!(event.timestamp <= context().received_at + chrono::Duration::seconds(60));
        if let Detail::Vital { value, .. } = event.detail {
            prop_assert!(value.is_finite() && value >= 0.0);
        }
    }
    Ok(())
}

/// Equal JSON, floats within a few units in the last place.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

/// Strings with what breaks parsers and databases: NUL, escapes, surrogate pairs, combining
/// characters, right-to-left text, long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,8}",
        any::<String>(),
        Just("\u{0}".to_owned()),
        Just("a\u{0}b".to_owned()),
        Just("😀\u{301}\u{202e}עברית".to_owned()),
        Just("\u{feff}\u{fffd}\u{ffff}".to_owned()),
        (1usize..20_000).prop_map(|n| "é".repeat(n)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(text(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

const TYPES: [&str; 11] = [
    "error",
    "resource_error",
    "api_error",
    "white_screen",
    "vital",
    "pageview",
    "click",
    "custom",
    "message",
    "session",
    "nope",
];
const FIELDS: [&str; 36] = [
    "event_id",
    "timestamp",
    "url",
    "message",
    "stack",
    "release",
    "environment",
    "user",
    "tags",
    "session_id",
    "name",
    "value",
    "rating",
    "target",
    "tag_name",
    "method",
    "status",
    "duration_ms",
    "referrer",
    "title",
    "selector",
    "text",
    "data",
    "visitor_id",
    "route",
    "level",
    "mechanism",
    "breadcrumbs",
    "extra",
    "empty_ratio",
    "points",
    "pages",
    "errors",
    "navigation_type",
    "attribution",
    "unknown",
];

/// Values a field plausibly gets, and implausible ones.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::from),
        json_value(),
        (0.0f64..2e12).prop_map(Value::from),
        prop_oneof![Just("LCP"), Just("cls"), Just("good"), Just("poor")].prop_map(Value::from),
        Just(Value::from("6f1c0a6e-0b8e-4f6e-9a61-3c2b1a0f9e8d")),
        prop::collection::btree_map(text(), text(), 0..80)
            .prop_map(|map| Value::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect())),
        Just(serde_json::json!({"id": "u1"})),
        (0.0f64..1.5).prop_map(Value::from),
        prop_oneof![Just("ok"), Just("exited"), Just("error"), Just("info")].prop_map(Value::from),
        // A few drawn freely, or past the limit of 100 (small ones: a long run stays fast).
        prop_oneof![
            prop::collection::vec(breadcrumb(), 0..6),
            (95usize..110).prop_map(|n| vec![serde_json::json!({"message": "m"}); n]),
        ]
        .prop_map(Value::from),
    ]
}

/// A breadcrumb, or something in its place.
fn breadcrumb() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (
            prop::option::of(prop_oneof![(0.0f64..2e12).prop_map(Value::from), json_value()]),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(prop_oneof![Just("error"), Just("loud")]),
            prop::option::of(json_value()),
        )
            .prop_map(|(timestamp, category, message, level, data)| {
                let mut crumb = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        crumb.insert(key.to_owned(), value);
                    }
                };
                put("timestamp", timestamp);
                put("category", category.map(Value::from));
                put("message", message.map(Value::from));
                put("level", level.map(Value::from));
                put("data", data);
                Value::Object(crumb)
            }),
        1 => json_value(),
    ]
}

fn event_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(TYPES.to_vec()),
        prop::collection::vec(
            (prop::sample::select(FIELDS.to_vec()), field_value()),
            0..10,
        ),
    )
        .prop_map(|(kind, fields)| {
            let mut event: Map<String, Value> = fields
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
            event.insert("type".into(), kind.into());
            Value::Object(event)
        })
}

fn config() -> ProptestConfig {
    // 256 cases by default, PROPTEST_CASES for more; failures are shrunk, then belong in the
    // corpus.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&body)?;
        convert_all(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check(value.to_string().as_bytes())?;
    }

    #[test]
    fn event_shaped_json_is_accepted_or_refused_cleanly(
        events in prop::collection::vec(event_like(), 1..8),
        batch in any::<bool>(),
    ) {
        let body = if batch || events.len() > 1 {
            Value::Array(events)
        } else {
            events.into_iter().next().unwrap_or_default()
        };
        check(body.to_string().as_bytes())?;
    }

    #[test]
    fn mutated_valid_bodies_never_panic(
        cut in 0usize..400,
        flips in prop::collection::vec((0usize..400, any::<u8>()), 0..6),
    ) {
        let mut body = br#"[{"type":"error","message":"TypeError: x","stack":"at f (a.js:1:1)","tags":{"a":"b"},"timestamp":1749999999000},{"type":"custom","name":"n","data":{"k":[1,2.5,"\u0000"]}}]"#.to_vec();
        for (at, byte) in flips {
            let at = at % body.len();
            body[at] = byte;
        }
        body.truncate(cut.max(1).min(body.len()));
        check(&body)?;
    }

    #[test]
    fn mutated_recorded_envelopes_never_panic(
        pick in any::<usize>(),
        cut in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    ) {
        let recorded = recorded_envelopes();
        let mut body = recorded[pick % recorded.len()].clone();
        for (at, byte) in flips {
            let at = at % body.len();
            body[at] = byte;
        }
        body.truncate(cut % (body.len() + 1));
        convert_all(&body);
    }

    #[test]
    fn envelope_items_are_slices_of_the_body(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        if let Ok(parsed) = envelope::parse(&body) {
            for item in parsed.items {
                let start = item.payload.as_ptr() as usize - body.as_ptr() as usize;
                prop_assert!(start + item.payload.len() <= body.len());
            }
        }
    }
}

/// The envelopes real SDKs sent (`tests/envelopes/`), read once.
fn recorded_envelopes() -> &'static [Vec<u8>] {
    static RECORDED: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    RECORDED.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/envelopes");
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "envelope"))
            .map(|path| std::fs::read(path).expect("readable"))
            .collect()
    })
}

/// Every conversion on every item of `body`, whatever the item's type: none may panic.
fn convert_all(body: &[u8]) {
    let Ok(parsed) = envelope::parse(body) else {
        return;
    };
    let context = context();
    let facts = convert::EnvelopeFacts::new(
        parsed.header.event_id.as_deref(),
        parsed.header.sent_at.as_deref(),
        context.received_at,
    );
    let pages = collector::sentry::pages::Pages::default();
    for item in parsed.items {
        let _ = convert::event(item.payload, &facts, &context);
        let _ = convert::transaction(item.payload, &facts, &context, &pages);
        let _ = convert::session(item.payload, &facts, &context);
        let _ = convert::sessions(item.payload, &context);
        let _ = convert::spans(item.payload, &facts, &context, &pages);
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus is there");
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("readable"))
        })
        .collect()
}

#[test]
fn the_corpus_replays_through_the_parser() {
    for (name, body) in corpus() {
        if let Err(error) = check(&body) {
            panic!("{name}: {error}");
        }
    }
}

/// The corpus through a running collector: every input is answered 200 or a 4xx in JSON.
#[tokio::test]
async fn the_corpus_replays_through_the_collector() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}?key={TEST_KEY}", app.events_url(1));
    for (name, body) in corpus() {
        let response = http().post(&url).body(body).send().await.expect("sent");
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match status {
            200 => assert!(body["ids"].is_array(), "{name}: {body}"),
            400..=499 => assert!(body["error"].is_string(), "{name}: {body}"),
            _ => panic!("{name}: {status} {body}"),
        }
    }
    assert_healthy(&app.base, TEST_KEY).await;
    app.stop().await;
}
