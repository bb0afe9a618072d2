//! Erasing a user (`DELETE /api/projects/{id}/users/{user}`): their events and issue user
//! keys go, everyone else's stay, issues' counts stay, and only the admin may ask.

use serde_json::Value;
use shared::event::{Event, User};
use shared::testing::{ADMIN_TOKEN, TestEnv, eventually};

use crate::support::{
    TestApp, WAIT, database, http, ids, js_error, now, pageview, project, publish, publisher,
    wait_outbox_empty,
};

fn of(user: &str, event: Event) -> Event {
    Event {
        user: Some(User {
            id: Some(user.into()),
            ..User::default()
        }),
        ..event
    }
}

async fn erase(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http().delete(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// (event count, user count) of each issue of project 1, by title.
async fn issue_counts(app: &TestApp) -> Vec<(String, i64, i64)> {
    let (status, body) = app
        .get("/api/projects/1/issues?status=all&sort=count")
        .await;
    assert_eq!(status, 200, "{body}");
    let mut counts: Vec<_> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|issue| {
            (
                issue["title"].as_str().unwrap_or_default().to_owned(),
                issue["count"].as_i64().unwrap_or_default(),
                issue["user_count"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    counts.sort();
    counts
}

#[tokio::test]
async fn erasing_a_user_removes_their_events_and_keys_and_nothing_else() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let db = database(&env).await;

    let t = now();
    let alice = vec![
        of("alice", js_error("cart is undefined", t)),
        of(
            "alice",
            Event {
                // Thrown elsewhere: another issue.
                stack: Some("Error: price is NaN\n    at total (app.js:20:1)".into()),
                ..js_error("price is NaN", t)
            },
        ),
        Event {
            visitor_id: Some("v-alice".into()),
            ..pageview(t)
        },
    ];
    let bob = vec![of("bob", js_error("cart is undefined", t))];
    // Another project's user with the same id.
    let elsewhere = Event {
        project_id: project(2),
        ..of("alice", js_error("cart is undefined", t))
    };
    publish(&publisher, &[alice.clone(), bob.clone()].concat()).await;
    publish(&publisher, std::slice::from_ref(&elsewhere)).await;
    app.wait_for_events(&ids(&[alice.clone(), bob.clone()].concat()))
        .await;
    eventually("project 2's event stored", WAIT, || async {
        let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM events WHERE project_id = 2")
            .fetch_one(&db)
            .await
            .ok()?;
        (stored == 1).then_some(())
    })
    .await;
    wait_outbox_empty(&db).await;
    let before = issue_counts(&app).await;
    assert_eq!(
        before,
        vec![
            ("Error: cart is undefined".to_owned(), 2, 2),
            ("Error: price is NaN".to_owned(), 1, 1),
        ]
    );

    let path = "/api/projects/1/users/alice";
    assert_eq!(erase(&app, path, None).await.0, 401);
    assert_eq!(erase(&app, path, Some("not-the-token")).await.0, 403);
    assert_eq!(
        erase(&app, "/api/projects/9/users/alice", Some(ADMIN_TOKEN))
            .await
            .0,
        404
    );
    assert!(
        app.event(alice[0].event_id).await.is_some(),
        "refused asks erase nothing"
    );

    let (status, body) = erase(&app, path, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"events": 2, "user_keys": 2}));
    // By visitor id.
    let (status, body) = erase(&app, "/api/projects/1/users/v-alice", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], 1);

    for event in &alice {
        assert!(
            app.event(event.event_id).await.is_none(),
            "{}",
            event.event_id
        );
    }
    assert!(app.event(bob[0].event_id).await.is_some());
    assert_eq!(issue_counts(&app).await, before, "counts are totals, kept");
    let keys: Vec<(i64, String)> = sqlx::query_as(
        "SELECT i.project_id, u.user_key FROM issue_users u JOIN issues i ON i.id = u.issue_id
         ORDER BY 1, 2",
    )
    .fetch_all(&db)
    .await
    .expect("keys");
    assert_eq!(
        keys,
        vec![(1, "id:bob".to_owned()), (2, "id:alice".to_owned())]
    );
    let (elsewhere_kept,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM events WHERE project_id = 2")
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(elsewhere_kept, 1);

    // Again: nothing left to erase.
    let (status, body) = erase(&app, path, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"events": 0, "user_keys": 0}));
    app.stop().await;
}
