//! Starting on a backlog, stopping under load, and sharing a queue: every event stored once.

use std::sync::{Arc, Mutex};

use shared::event::EventId;
use shared::testing::{TestEnv, eventually};
use tokio_util::sync::CancellationToken;

use crate::support::{
    LONG_WAIT, TestApp, WAIT, database, ids, now, outgoing, pageviews, publish_many, publisher,
    row_counts, wait_queue_depth, wait_stored_exactly,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_is_stored_exactly_once() {
    let env = TestEnv::new();
    let publisher = publisher(&env).await;
    let events = pageviews(2_000, now());
    publish_many(&publisher, &events).await;
    wait_queue_depth(&env, &env.topology().processor.name, 2_000).await;

    let app = TestApp::start(&env.settings).await;
    let db = database(&env).await;
    wait_stored_exactly(&env, &db, &ids(&events), LONG_WAIT).await;
    app.wait_for_metric("frontmon_processor_events_stored_total", 2_000.0)
        .await;
    assert_eq!(
        app.metric("frontmon_processor_events_duplicate_total")
            .await,
        0.0
    );

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_stop_under_load_loses_nothing() {
    let env = TestEnv::new();
    let first = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    let publisher = Arc::new(publisher(&env).await);

    // Publish ten at a time until told to stop, keeping the ids the broker confirmed.
    let confirmed: Arc<Mutex<Vec<EventId>>> = Arc::default();
    let stop_publishing = CancellationToken::new();
    // Should the test fail, the feeder stops too, rather than declare the topology again
    // after the `TestEnv` deleted it.
    let _feeder_stops = stop_publishing.clone().drop_guard();
    let feeder = tokio::spawn({
        let publisher = publisher.clone();
        let confirmed = confirmed.clone();
        let stop = stop_publishing.clone();
        async move {
            let mut failed = 0;
            while !stop.is_cancelled() {
                let batch = pageviews(10, now());
                let messages: Vec<_> = batch.iter().map(outgoing).collect();
                match publisher.publish(&messages).await {
                    Ok(()) => confirmed.lock().expect("lock").extend(ids(&batch)),
                    Err(_) => failed += 1,
                }
            }
            failed
        }
    });
    let confirmed_count = || confirmed.lock().expect("lock").len();

    // Stop the processor while it is busy storing.
    eventually("the processor to store some events", LONG_WAIT, || async {
        (row_counts(&db).await.0 >= 300).then_some(())
    })
    .await;
    first.stop().await;
    let stored_at_stop = row_counts(&db).await;

    // Keep publishing while no processor runs.
    let at_stop = confirmed_count();
    eventually("more events to be published", LONG_WAIT, || async {
        (confirmed_count() >= at_stop + 300).then_some(())
    })
    .await;
    stop_publishing.cancel();
    let failed = feeder.await.expect("the feeder");
    assert_eq!(failed, 0, "publishes failed with the broker up");
    let confirmed = confirmed.lock().expect("lock").clone();
    // The stopped processor took nothing more: what it did not store waits in the queue.
    assert_eq!(row_counts(&db).await, stored_at_stop);
    assert!(env.queue_depth(&env.topology().processor.name).await >= 300);

    let second = TestApp::start(&env.settings).await;
    wait_stored_exactly(&env, &db, &confirmed, LONG_WAIT).await;

    db.close().await;
    publisher.close().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processors_share_one_queue() {
    let env = TestEnv::new();
    let apps = [
        TestApp::ready(&env.settings).await,
        TestApp::ready(&env.settings).await,
    ];
    let db = database(&env).await;
    let publisher = publisher(&env).await;
    let events = pageviews(2_000, now());
    publish_many(&publisher, &events).await;

    wait_stored_exactly(&env, &db, &ids(&events), LONG_WAIT).await;
    for app in &apps {
        let consumed = app.metric("frontmon_processor_events_consumed_total").await;
        assert!(consumed > 0.0, "one processor consumed nothing");
    }
    // The counters move just after the commit the table shows.
    eventually("the two to have stored 2000 between them", WAIT, || async {
        let mut stored = 0.0;
        for app in &apps {
            stored += app.metric("frontmon_processor_events_stored_total").await;
        }
        (stored == 2_000.0).then_some(())
    })
    .await;

    db.close().await;
    publisher.close().await;
    let [first, second] = apps;
    first.stop().await;
    second.stop().await;
}
