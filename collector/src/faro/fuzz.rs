//! Fuzzing the Faro parsing and conversion, CI-sized, from what the real SDK sent: bytes
//! flipped, and any field of a recorded batch replaced by arbitrary JSON (a wrong type, a huge
//! string, NUL characters, deep nesting). Nothing may panic; what is accepted holds the
//! bounds every stored event holds. `PROPTEST_CASES=100000 cargo test -p collector --lib
//! faro::fuzz` runs longer.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::Value;
use shared::event::{Client, Event, ProjectId};

use super::{RequestIds, convert, parse};
use crate::payload::{Context, MAX_MESSAGE, MAX_SHORT, MAX_TAGS, MAX_URL};

const RECORDED: [&str; 4] = [
    include_str!("../../tests/faro/faro-2.12.1-1.json"),
    include_str!("../../tests/faro/faro-2.12.1-2.json"),
    include_str!("../../tests/faro/faro-2.12.1-3.json"),
    include_str!("../../tests/faro/faro-2.12.1-4.json"),
];

fn context() -> Context {
    Context {
        project_id: ProjectId::new(1).expect("non-zero"),
        received_at: DateTime::<Utc>::from_timestamp_millis(1_796_651_160_000).expect("valid"),
        client: Client::default(),
        max_batch: 100,
    }
}

/// Parses and converts `body`; every event it gives must serialize without NUL and fit the
/// documented bounds.
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let Ok(batch) = parse(body) else {
        return Ok(());
    };
    let ids = RequestIds::new(context().project_id, Some("fuzz"));
    for event in convert::convert(&batch, &ids, &context()).events {
        let json = serde_json::to_vec(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!json.windows(6).any(|w| w == b"\\u0000"), "NUL kept");
        let back: Result<Event, _> = serde_json::from_slice(&json);
        prop_assert!(back.is_ok(), "does not read back: {back:?}");
        let within =
            |text: &Option<String>, max: usize| text.as_ref().is_none_or(|t| t.len() <= max);
        prop_assert!(within(&event.message, MAX_MESSAGE));
        prop_assert!(within(&event.url, MAX_URL));
        prop_assert!(within(&event.release, MAX_SHORT));
        prop_assert!(within(&event.environment, MAX_SHORT));
        prop_assert!(within(&event.session_id, MAX_SHORT));
        prop_assert!(event.tags.len() <= MAX_TAGS);
        prop_assert!(event.timestamp <= context().received_at + chrono::Duration::seconds(60));
    }
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z?]{0,8}",
        any::<String>(),
        Just("a\u{0}b".to_owned()),
        Just("web-vitals".to_owned()),
        Just("faro.performance.navigation".to_owned()),
        Just("session_start".to_owned()),
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

/// Every place in `value` a replacement can go: its own and its descendants' JSON pointers.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(
                    child,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn flipped_bytes_of_recorded_batches_never_panic(
        which in 0..RECORDED.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = RECORDED[which].as_bytes().to_vec();
        for (at, byte) in flips {
            let index = at.index(body.len());
            body[index] = byte;
        }
        check(&body)?;
    }

    #[test]
    fn any_field_of_a_recorded_batch_may_hold_anything(
        which in 0..RECORDED.len(),
        places in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 1..4),
    ) {
        let mut batch: Value = serde_json::from_str(RECORDED[which]).expect("recorded JSON");
        for (at, replacement) in places {
            let mut all = Vec::new();
            pointers(&batch, String::new(), &mut all);
            let pointer = &all[at.index(all.len())];
            if pointer.is_empty() {
                batch = replacement;
            } else if let Some(slot) = batch.pointer_mut(pointer) {
                *slot = replacement;
            }
        }
        check(batch.to_string().as_bytes())?;
    }
}
