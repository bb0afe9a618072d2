//! Starting on a backlog, stopping under load, and sharing a queue: every event stored once.

use std::sync::{Arc, Mutex};

use shared::config::Consumers;
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

/// The processor binary, configured for `env`'s names, with extra `FRONTMON__…` overrides.
fn spawn_binary(env: &TestEnv, overrides: &[(&str, &str)]) -> std::process::Child {
    let settings = &env.settings;
    let dir = std::env::temp_dir().join(format!("frontmon-{}", env.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("frontmon.toml");
    std::fs::write(
        &config,
        format!(
            "[amqp]\nurl = \"{}\"\nexchange = \"{}\"\n[database]\nurl = \"{}\"\n\
             [processor]\nlisten = \"127.0.0.1:0\"\nqueue = \"{}\"\nadmin_token = \"{}\"\n\
             [alerter]\nqueue = \"{}\"\n[log]\nfilter = \"warn\"\n",
            settings.amqp.url.expose(),
            settings.amqp.exchange,
            settings.database.url.expose(),
            settings.processor.queue,
            settings.processor.admin_token.expose(),
            settings.alerter.queue,
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_processor"));
    command.arg("--config").arg(&config);
    for (key, value) in overrides {
        command.env(key, value);
    }
    command.spawn().expect("the processor binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_killed_mid_drain_loses_and_duplicates_nothing() {
    let env = TestEnv::new();
    let publisher = publisher(&env).await;
    let events = pageviews(2_000, now());
    publish_many(&publisher, &events).await;
    wait_queue_depth(&env, &env.topology().processor.name, 2_000).await;

    // Small batches, so the drain takes long enough to be caught in the middle.
    let mut first = spawn_binary(
        &env,
        &[
            ("FRONTMON__PROCESSOR__BATCH_SIZE", "5"),
            ("FRONTMON__PROCESSOR__PREFETCH", "50"),
        ],
    );
    let db = eventually("the processor to create its database", WAIT, || async {
        let db = sqlx::PgPool::connect(env.settings.database.url.expose())
            .await
            .ok()?;
        sqlx::query("SELECT 1 FROM events LIMIT 1")
            .execute(&db)
            .await
            .ok()?;
        Some(db)
    })
    .await;
    let at_kill = eventually("the drain to be under way", WAIT, || async {
        let (rows, _) = row_counts(&db).await;
        (rows >= 100).then_some(rows)
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || first.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    let (rows_after_kill, _) = row_counts(&db).await;
    assert!(
        rows_after_kill < 2_000,
        "killed mid-drain ({at_kill} rows when the kill was sent)"
    );

    let mut second = spawn_binary(&env, &[]);
    wait_stored_exactly(&env, &db, &ids(&events), LONG_WAIT).await;
    println!("killed with {rows_after_kill} of 2000 stored; after restart 2000 stored, once each");

    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = tokio::task::spawn_blocking(move || second.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    db.close().await;
    publisher.close().await;
    std::fs::remove_dir_all(std::env::temp_dir().join(format!("frontmon-{}", env.prefix))).ok();
}

#[tokio::test]
async fn each_session_has_its_own_connection_with_small_frames() {
    let mut env = TestEnv::new();
    env.settings.processor.consumers = Consumers::new(3).expect("in range");
    let app = TestApp::ready(&env.settings).await;
    // Three sessions, the issue-notice publisher and the queue-depth watcher (which connects
    // in the background, hence the wait).
    let frames = eventually("five broker connections", WAIT, || async {
        let frames = env.broker_connection_frame_sizes().await;
        (frames.len() == 5).then_some(frames)
    })
    .await;
    // lapin keeps 64 frames of buffers per connection: 1 MiB each at 16 KiB, 8 at 128.
    assert!(
        frames.iter().all(|&size| size == shared::amqp::FRAME_MAX),
        "every connection negotiates frames of {} bytes: {frames:?}",
        shared::amqp::FRAME_MAX
    );
    app.stop().await;
}
