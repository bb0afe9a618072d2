//! Raising `processor.partitions` on a running system, by the procedure docs/scaling.md gives,
//! under steady load: every event answered 2xx is stored exactly once.

use std::collections::BTreeSet;

use lapin::options::QueueDeleteOptions;
use shared::config::Partitions;
use shared::testing::{TestEnv, eventually};

use crate::faults::{Load, Report, wait_ready};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_the_partitions_of_a_running_system_loses_nothing() {
    let mut env = TestEnv::new();
    let before = env.settings.clone();
    let mut after = env.settings.clone();
    after.processor.partitions = Partitions::new(3).expect("in range");
    let old_queue = env.topology().processor.name.clone();

    // Running unpartitioned, under load.
    let old_processor = Service::processor(&before).await;
    let old_collector = Service::collector(&before).await;
    wait_ready(&old_processor).await;
    wait_ready(&old_collector).await;
    let old_load = Load::start(&old_collector.base);
    old_load
        .wait_for_more(100, "load on the unpartitioned system")
        .await;

    // 1. A processor with the new count: it declares the partitions, and from then on every
    // event is routed both to the old queue and to a partition.
    let new_processor = Service::processor(&after).await;
    wait_ready(&new_processor).await;
    // 2. Collectors with the new count, which set the partition key; the old ones go.
    let new_collector = Service::collector(&after).await;
    wait_ready(&new_collector).await;
    let new_load = Load::start(&new_collector.base);
    new_load
        .wait_for_more(100, "load on the new collector")
        .await;
    let mut report = old_load.finish().await;
    old_collector.stop().await;
    // 3. The old queue holds nothing published before step 1 once it has been empty after it:
    // whatever it holds from then on is a copy of an event in a partition.
    eventually("the old queue to be empty once", WAIT, || async {
        (env.queue_depth(&old_queue).await == 0).then_some(())
    })
    .await;
    // 4. The old processor stops (finishing what it holds), then the old queue is deleted
    // (`rabbitmqctl delete_queue`), so nothing fills it any more, and its dead-letter queue
    // once it is empty (replay what it holds first; quorum queues take no `if-empty`).
    old_processor.stop().await;
    let old_dead = format!("{old_queue}.dead");
    assert_eq!(
        env.queue_depth(&old_dead).await,
        0,
        "no dead letters to replay"
    );
    let connection = shared::amqp::connect(env.settings.amqp.url.expose(), "repartition")
        .await
        .expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    for queue in [&old_queue, &old_dead] {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{queue} deleted: {e}"));
    }
    let _ = connection.close(200, "done".into()).await;
    // What the test cleans up at the end is the new topology.
    env.settings = after.clone();
    new_load
        .wait_for_more(100, "load after the old queue is gone")
        .await;
    let new_report = new_load.finish().await;

    merge(&mut report, new_report);
    assert!(report.other.is_empty(), "{:?}", &report.other);
    let accepted: BTreeSet<String> = report.accepted.iter().map(|(id, _)| id.clone()).collect();
    let (rows, stored) = eventually("every accepted event stored", WAIT, || async {
        let (rows, stored) = stored_ids(&env.settings).await;
        accepted.is_subset(&stored).then_some((rows, stored))
    })
    .await;
    assert_eq!(rows as usize, stored.len(), "no event stored twice");
    // The 503s, if any, answered the few publishes in flight to the old queue as it was
    // deleted (the broker nacks them); their clients retry.
    println!(
        "partitions 1 -> 3 under load: accepted {}, 503 {}, stored {rows}",
        accepted.len(),
        report.unavailable
    );
    new_collector.stop().await;
    new_processor.stop().await;
}

fn merge(into: &mut Report, from: Report) {
    into.accepted.extend(from.accepted);
    into.unavailable += from.unavailable;
    into.other.extend(from.other);
}
