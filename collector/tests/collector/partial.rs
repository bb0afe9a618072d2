//! A batch with invalid events among valid ones: the valid ones are accepted (durable in the
//! broker before the 200, as ever), the invalid ones named by index and reason.

use serde_json::{Value, json};
use shared::testing::{TEST_KEY, TestEnv};

use crate::support::{Running, http, json_body, take_messages};

const IDS: [&str; 4] = [
    "6f1c0a6e0b8e4f6e9a613c2b1a0f9e80",
    "6f1c0a6e0b8e4f6e9a613c2b1a0f9e81",
    "6f1c0a6e0b8e4f6e9a613c2b1a0f9e82",
    "6f1c0a6e0b8e4f6e9a613c2b1a0f9e83",
];

#[tokio::test]
async fn the_valid_events_of_a_batch_are_stored_and_the_invalid_named() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}?key={TEST_KEY}", app.events_url(1));
    let batch = json!([
        {"type": "error", "message": "kept", "event_id": IDS[0]},
        {"type": "vital", "name": "LCP", "value": -1, "event_id": IDS[1]},
        {"type": "white_screen", "empty_ratio": 1, "route": "/checkout", "event_id": IDS[2]},
        {"type": "teleport"},
        {"type": "session", "status": "exited", "pages": 6, "event_id": IDS[3]},
        "not an event"
    ]);
    let response = http()
        .post(&url)
        .header("content-type", "text/plain")
        .body(batch.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let answer = json_body(response).await;
    assert_eq!(answer["ids"], json!([IDS[0], IDS[2], IDS[3]]), "{answer}");
    assert_eq!(
        answer["refused"],
        json!([
            {"index": 1, "error": "[1].value: must be a non-negative number"},
            {"index": 3, "error": answer["refused"][1]["error"]},
            {"index": 5, "error": answer["refused"][2]["error"]},
        ]),
        "{answer}"
    );
    assert!(
        answer["refused"][1]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("[3].type: unknown type \"teleport\"")),
        "{answer}"
    );
    assert!(
        answer["refused"][2]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("[5]: invalid type: string")),
        "{answer}"
    );

    // The 200 came after the broker's confirm: exactly the accepted events are queued, and
    // the white screen (an error) reached the alerter's queue too.
    let topology = env.topology();
    let stored = take_messages(&env, &topology.processor.name).await;
    let ids: Vec<&str> = stored
        .iter()
        .filter_map(|m| m["event_id"].as_str())
        .map(|id| id.trim_matches('"'))
        .collect();
    let simple: Vec<String> = ids.iter().map(|id| id.replace('-', "")).collect();
    assert_eq!(simple, [IDS[0], IDS[2], IDS[3]]);
    let alerter: Vec<Value> = take_messages(&env, &topology.alerter.name).await;
    let types: Vec<&str> = alerter.iter().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(types, ["error", "white_screen"]);
    assert_eq!(alerter[1]["message"], "White screen on /checkout");

    // A batch without a single valid event is refused whole, each named; a valid batch has
    // no `refused`.
    let response = http()
        .post(&url)
        .body(json!([{"type": "vital"}, {"type": "session", "status": "crashed"}]).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let answer = json_body(response).await;
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid events: [0].name: required for vital")),
        "{answer}"
    );
    assert_eq!(answer["refused"][0]["index"], 0);
    assert_eq!(answer["refused"][1]["index"], 1);
    assert!(
        answer["refused"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("[1].status: must be \"ok\" or \"exited\"")),
        "{answer}"
    );
    let response = http()
        .post(&url)
        .body(json!([{"type": "click"}]).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let answer = json_body(response).await;
    assert!(answer.get("refused").is_none(), "{answer}");
    assert_eq!(
        take_messages(&env, &topology.processor.name).await.len(),
        1,
        "only the valid batch's event"
    );

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("frontmon_collector_events_refused_total 3"),
        "{metrics}"
    );
    app.stop().await;
}
