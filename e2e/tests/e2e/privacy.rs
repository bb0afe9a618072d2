//! Scrubbing end to end: realistic leaks sent to the collector are stored by the processor
//! without the secrets, in any table, and what is not a secret is stored as sent.

use serde_json::{Value, json};
use shared::testing::{TEST_KEY, TestEnv, eventually};
use sqlx::Connection;

use crate::support::*;

const JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTQyIn0.Zm9vYmFyYmF6c2lnbmF0dXJlMTIzNDU2";
const SECRETS: &[&str] = &[
    JWT,
    "hunter2-e2e",
    "5555555555554444",
    "sk_live_e2e_77",
    "sessioncookie-e2e",
    "bearer-e2e-0a1b2c3d",
];

/// Every text of every row of the processor's tables that may hold what an event carried.
async fn everything_stored(env: &TestEnv) -> String {
    let mut db = sqlx::PgConnection::connect(env.settings.database.url.expose())
        .await
        .expect("database");
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT concat_ws(' ', message, url, payload::text) FROM events
         UNION ALL SELECT concat_ws(' ', title, culprit) FROM issues
         UNION ALL SELECT user_key FROM issue_users",
    )
    .fetch_all(&mut db)
    .await
    .expect("query");
    rows.into_iter()
        .map(|(text,)| text)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn leaked_secrets_are_not_stored() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;
    let client = http();

    let batch = json!([
        {
            "type": "error",
            "message": "Payment failed for 5555 5555 5555 4444",
            "url": format!("https://shop.example/account?jwt={JWT}"),
            "user": {"id": "u-42"},
            "breadcrumbs": [
                {"category": "form", "message": "POST /login user=bob&password=hunter2-e2e"},
                {"category": "fetch", "data": {"url": "https://api.shop.example/orders?page=2",
                    "headers": {"Authorization": "Bearer bearer-e2e-0a1b2c3d"}}}
            ],
            "extra": {"api_key": "sk_live_e2e_77", "order": "4111111111111112"}
        },
        {"type": "pageview", "url": "https://shop.example/search?q=shoes"}
    ]);
    let mut ids = post(&client, &collector, &batch).await;
    let sentry_id = "c0ffee00c0ffee00c0ffee00c0ffee02";
    let event = json!({
        "event_id": sentry_id,
        "timestamp": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        "platform": "javascript",
        "level": "error",
        "exception": {"values": [{"type": "Error", "value": "login failed"}]},
        "request": {
            "url": "https://shop.example/login",
            "cookies": "sessionid=sessioncookie-e2e; theme=dark",
            "headers": {"Authorization": format!("Bearer {JWT}")}
        }
    });
    let envelope = format!(
        "{}\n{}\n{}\n",
        json!({"event_id": sentry_id}),
        json!({"type": "event"}),
        event
    );
    let response = client
        .post(format!(
            "{}/api/1/envelope/?sentry_key={TEST_KEY}",
            collector.base
        ))
        .body(envelope)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    ids.push(sentry_id.to_owned());

    for id in &ids {
        let _: Value = eventually(&format!("event {id} stored"), WAIT, || async {
            project_get(&processor, &format!("events/{id}")).await
        })
        .await;
    }
    let stored = everything_stored(&env).await;
    for secret in SECRETS {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
    for kept in [
        "https://shop.example/search?q=shoes",
        "https://api.shop.example/orders?page=2",
        "4111111111111112",
        "u-42",
        "[Filtered]",
    ] {
        assert!(stored.contains(kept), "{kept} not stored: {stored}");
    }
    collector.stop().await;
    processor.stop().await;
}
