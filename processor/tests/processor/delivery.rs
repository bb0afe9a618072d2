//! One disposition per delivery: a redelivery is acked without a second row, poison and rows
//! the database refuses are dead-lettered, and the events around them are stored.

use std::time::Duration;

use shared::event::Event;
use shared::testing::TestEnv;

use crate::support::{
    TestApp, database, garbage, id_of, ids, js_error, now, outgoing, pageview, pageviews, publish,
    publish_many, publish_raw, publisher, row_counts, take_dead_letters, vital, wait_queue_depth,
    wait_stored_exactly,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_is_stored_once() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let event = js_error("published three times", now());
    let marker = pageview(now() + chrono::Duration::seconds(1));

    // Twice in one batch, once in a batch of its own.
    publish(&publisher, &[event.clone(), event.clone()]).await;
    publish(&publisher, std::slice::from_ref(&event)).await;
    publish(&publisher, std::slice::from_ref(&marker)).await;
    app.wait_for_events(&[marker.event_id]).await;

    let (events, next) = app.list("").await;
    let listed: Vec<_> = events.iter().map(id_of).collect();
    assert_eq!(listed, vec![marker.event_id, event.event_id]);
    assert_eq!(next, None);
    let db = database(&env).await;
    let (copies,): (i64,) = sqlx::query_as("SELECT count(*) FROM events WHERE event_id = $1")
        .bind(event.event_id.as_uuid())
        .fetch_one(&db)
        .await
        .expect("counted");
    assert_eq!(copies, 1);
    assert_eq!(row_counts(&db).await, (2, 2));

    // Three copies and the marker, and the issue's `issue.created` notice, which comes back
    // through the processor's own queue (bound to everything) and is acked there.
    app.wait_for_metric("frontmon_processor_events_consumed_total", 5.0)
        .await;
    app.wait_for_metric("frontmon_processor_events_duplicate_total", 2.0)
        .await;
    assert_eq!(
        app.metric("frontmon_processor_events_stored_total").await,
        2.0
    );
    wait_queue_depth(&env, &env.topology().processor.name, 0).await;
    assert_eq!(
        env.queue_depth(&env.topology().processor.dead_letter_queue())
            .await,
        0
    );

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_an_event_is_dead_lettered() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let poison = garbage(b"\xff\xfe{ not json at all");
    let valid = vital(now());

    publish_raw(&publisher, std::slice::from_ref(&poison)).await;
    publish(&publisher, std::slice::from_ref(&valid)).await;
    app.wait_for_events(&[valid.event_id]).await;

    let topology = env.topology();
    wait_queue_depth(&env, &topology.processor.dead_letter_queue(), 1).await;
    wait_queue_depth(&env, &topology.processor.name, 0).await;
    app.wait_for_metric(
        r#"frontmon_processor_events_dead_lettered_total{reason="invalid_event"}"#,
        1.0,
    )
    .await;
    assert_eq!(
        app.metric("frontmon_processor_events_stored_total").await,
        1.0
    );
    let (events, _) = app.list("").await;
    assert_eq!(events.len(), 1);

    // What waits there is the poison itself, with the id it was published under.
    let dead = take_dead_letters(&env).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, poison.body);
    assert_eq!(dead[0].message_id, Some(poison.event_id.to_string()));

    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_the_database_refuses_are_dead_lettered_and_the_rest_of_the_batch_stored() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let t = now();
    let ms = |n: i64| t + chrono::Duration::milliseconds(n);
    // Valid JSON, but PostgreSQL stores no NUL: not in a text column…
    let nul_in_text = js_error("bad \u{0000} byte", ms(1));
    // …and not in jsonb, where only the payload carries it.
    let nul_in_json = Event {
        tags: [("bad".to_owned(), "\u{0000}".to_owned())].into(),
        ..pageview(ms(3))
    };
    let good = [js_error("fine", ms(0)), vital(ms(2)), pageview(ms(4))];
    let batch = [
        good[0].clone(),
        nul_in_text.clone(),
        good[1].clone(),
        nul_in_json.clone(),
        good[2].clone(),
    ];
    // One call: the five travel, and are consumed, together.
    publish(&publisher, &batch).await;

    let topology = env.topology();
    app.wait_for_events(&good.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .await;
    wait_queue_depth(&env, &topology.processor.dead_letter_queue(), 2).await;
    wait_queue_depth(&env, &topology.processor.name, 0).await;
    assert_eq!(app.event(nul_in_text.event_id).await, None);
    assert_eq!(app.event(nul_in_json.event_id).await, None);
    app.wait_for_metric(
        r#"frontmon_processor_events_dead_lettered_total{reason="rejected_by_database"}"#,
        2.0,
    )
    .await;
    assert_eq!(
        app.metric("frontmon_processor_events_stored_total").await,
        3.0
    );
    let db = database(&env).await;
    assert_eq!(row_counts(&db).await, (3, 3));
    db.close().await;

    let mut dead: Vec<_> = take_dead_letters(&env)
        .await
        .into_iter()
        .map(|letter| (letter.message_id, letter.body))
        .collect();
    dead.sort();
    let mut expected: Vec<_> = [&nul_in_text, &nul_in_json]
        .into_iter()
        .map(|event| {
            let message = outgoing(event);
            (Some(message.event_id.to_string()), message.body)
        })
        .collect();
    expected.sort();
    assert_eq!(dead, expected);

    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_runs_the_batch_again_without_going_unready() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    // The next two batches are rolled back as PostgreSQL rolls back a deadlock victim
    // (SQLSTATE 40P01). A sequence counts them: it is not undone with the transaction.
    for statement in [
        "CREATE SEQUENCE conflicts_made",
        "CREATE FUNCTION deadlock_twice() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('conflicts_made') <= 2 THEN
                 RAISE EXCEPTION 'deadlock made by the test' USING ERRCODE = '40P01';
             END IF;
             RETURN NULL;
         END $$",
        "CREATE TRIGGER deadlock_twice BEFORE INSERT ON events
         FOR EACH STATEMENT EXECUTE FUNCTION deadlock_twice()",
    ] {
        sqlx::query(statement).execute(&db).await.expect(statement);
    }
    // Readiness, sampled all along: a conflict says nothing about the database's health.
    let watching = tokio_util::sync::CancellationToken::new();
    let unready = tokio::spawn({
        let (url, watching) = (app.url("/readyz"), watching.clone());
        async move {
            let client = reqwest::Client::new();
            let mut unready = 0;
            while !watching.is_cancelled() {
                if let Ok(response) = client.get(&url).send().await
                    && response.status() != 200
                {
                    unready += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            unready
        }
    });

    let publisher = publisher(&env).await;
    let event = js_error("stored after two deadlocks", now());
    publish(&publisher, std::slice::from_ref(&event)).await;
    app.wait_for_events(&[event.event_id]).await;
    app.wait_for_metric("frontmon_processor_transaction_conflicts_total", 2.0)
        .await;
    watching.cancel();
    assert_eq!(unready.await.expect("joined"), 0, "/readyz answered 503");
    assert_eq!(row_counts(&db).await, (1, 1));
    assert!(take_dead_letters(&env).await.is_empty());

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_one_statement_is_stored_whole_and_once() {
    let mut env = TestEnv::new();
    // Queued before the processor starts, so one batch takes them all: over 250 rows, the
    // batch is written in several statements inside its transaction.
    env.settings.processor.prefetch = 2000.try_into().expect("not zero");
    env.settings.processor.batch_size = 1000.try_into().expect("not zero");
    let publisher = publisher(&env).await;
    let events = pageviews(700, now());
    // Copies, spread over the batch: stored once, counted as duplicates.
    let copies: Vec<Event> = events.iter().step_by(9).cloned().collect();
    let mut all = events.clone();
    all.extend(copies.iter().cloned());
    publish_many(&publisher, &all).await;
    wait_queue_depth(&env, &env.topology().processor.name, all.len() as u32).await;

    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    wait_stored_exactly(&env, &db, &ids(&events), Duration::from_secs(30)).await;
    app.wait_for_metric(
        "frontmon_processor_events_duplicate_total",
        copies.len() as f64,
    )
    .await;
    assert_eq!(
        app.metric("frontmon_processor_events_stored_total").await,
        events.len() as f64
    );
    assert!(take_dead_letters(&env).await.is_empty());

    db.close().await;
    publisher.close().await;
    app.stop().await;
}
