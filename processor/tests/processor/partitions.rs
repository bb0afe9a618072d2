//! `processor.partitions = N`: events spread over N queues by their partition key, what must
//! stay together (an error's group, a session) in one queue, every event stored once, and each
//! partition consumed by one processor at a time, the other standing by.

use shared::config::Partitions;
use shared::event::Event;
use shared::testing::TestEnv;

use crate::support::*;

fn partitioned(partitions: u16) -> TestEnv {
    let mut env = TestEnv::new();
    env.settings.processor.partitions = Partitions::new(partitions).expect("in range");
    env
}

async fn depths(env: &TestEnv) -> Vec<u32> {
    let mut depths = Vec::new();
    for queue in env.topology().processor_queues() {
        depths.push(env.queue_depth(&queue).await);
    }
    depths
}

/// Publishes `events` and returns how much each partition grew.
async fn publish_and_measure(
    env: &TestEnv,
    publisher: &shared::publisher::Publisher,
    events: &[Event],
) -> Vec<u32> {
    let before = depths(env).await;
    publish(publisher, events).await;
    let after = depths(env).await;
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

fn in_session(mut event: Event, session: &str) -> Event {
    event.session_id = Some(session.into());
    event
}

#[tokio::test]
async fn a_group_and_a_session_stay_in_one_partition_and_everything_is_stored_once() {
    let env = partitioned(3);
    // The publisher declares the topology: the partitions exist before any processor runs.
    let publisher = publisher(&env).await;
    assert_eq!(env.topology().processor_queues().len(), 3);

    let group: Vec<Event> = (0..40)
        .map(|_| js_error("cart total is NaN", now()))
        .collect();
    let grown = publish_and_measure(&env, &publisher, &group).await;
    assert_eq!(grown.iter().filter(|&&n| n > 0).count(), 1, "{grown:?}");
    assert_eq!(grown.iter().sum::<u32>(), 40, "{grown:?}");

    let mut everything = group;
    for session in ["s-a", "s-b", "s-c"] {
        let visit: Vec<Event> = (0..15)
            .map(|_| in_session(pageview(now()), session))
            .collect();
        let grown = publish_and_measure(&env, &publisher, &visit).await;
        assert_eq!(grown.iter().filter(|&&n| n > 0).count(), 1, "{grown:?}");
        assert_eq!(grown.iter().sum::<u32>(), 15, "{grown:?}");
        everything.extend(visit);
    }

    // Without a session, each event is its own key: 300 of them reach every partition (the
    // chance that one of three gets none is 3 · (2/3)^300).
    let lone = pageviews(300, now());
    let grown = publish_and_measure(&env, &publisher, &lone).await;
    assert!(grown.iter().all(|&n| n > 0), "{grown:?}");
    assert_eq!(grown.iter().sum::<u32>(), 300, "{grown:?}");
    everything.extend(lone);

    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    wait_stored_exactly(&env, &db, &ids(&everything), LONG_WAIT).await;
    let issues: i64 = sqlx::query_scalar("SELECT count(*) FROM issues")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(issues, 1);

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_standby_processor_takes_over_the_partitions_of_one_that_stops() {
    let env = partitioned(2);
    let first = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    // Subscribed second to both partitions: with single active consumer it only waits.
    let standby = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;

    let before = pageviews(400, now());
    publish_many(&publisher, &before).await;
    wait_stored_exactly(&env, &db, &ids(&before), LONG_WAIT).await;
    first
        .wait_for_metric("frontmon_processor_events_stored_total", 400.0)
        .await;
    assert_eq!(
        standby
            .metric("frontmon_processor_events_consumed_total")
            .await,
        0.0,
        "the standby consumed while the first was active"
    );

    first.stop().await;
    let after = pageviews(400, now());
    publish_many(&publisher, &after).await;
    let all: Vec<_> = before.iter().chain(&after).cloned().collect();
    wait_stored_exactly(&env, &db, &ids(&all), LONG_WAIT).await;
    standby
        .wait_for_metric("frontmon_processor_events_stored_total", 400.0)
        .await;

    db.close().await;
    publisher.close().await;
    standby.stop().await;
}
