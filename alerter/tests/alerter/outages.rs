//! Webhook outages and crashes: a failing channel is retried in-process while its delivery
//! stays unacknowledged, without holding up the healthy channels; `Retry-After` is honoured;
//! the retry budget dead-letters; shutdown and SIGKILL hand the delivery back, and the
//! redelivery carries the same `X-Frontmon-Delivery` id.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use alerter::retry::RetryPolicy;
use shared::testing::{TestEnv, eventually};

use crate::support::{
    Received, Receiver, TestApp, WAIT, js_error, publish, publisher, quick_retries,
};

/// "Promptly": well under any retry pause of a blocked design, with room for a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(3);

/// The one `X-Frontmon-Delivery` id that every one of `requests` carries.
fn one_delivery_id(requests: &[Received]) -> String {
    let ids: HashSet<String> = requests
        .iter()
        .map(|r| {
            r.delivery
                .clone()
                .unwrap_or_else(|| panic!("no X-Frontmon-Delivery"))
        })
        .collect();
    assert_eq!(ids.len(), 1, "one delivery id across attempts: {ids:?}");
    ids.into_iter().next().unwrap_or_default()
}

/// Gaps between consecutive requests, in seconds.
fn gaps(requests: &[Received]) -> Vec<f64> {
    requests
        .windows(2)
        .map(|pair| (pair[1].at - pair[0].at).as_secs_f64())
        .collect()
}

#[tokio::test]
async fn a_webhook_down_for_20_seconds_gets_the_event_exactly_once_after_it_recovers() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    let app = TestApp::spawn(env.settings.clone());
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    // A real outage, by the wall clock: 500 until then.
    let outage = Duration::from_secs(20);
    let back = Instant::now() + outage;
    receiver.answer_until("/hook", 500, back);
    let event = js_error("TypeError: during the outage");
    publish(&publisher, &[&event]).await;

    receiver
        .wait_for_within("/hook", &[event.event_id], outage + WAIT)
        .await;
    let marker = js_error("marker");
    publish(&publisher, &[&marker]).await;
    receiver.wait_for("/hook", &[marker.event_id]).await;

    let attempts = receiver.attempts("/hook", event.event_id);
    let delivered = attempts.iter().filter(|r| r.ok()).count();
    assert_eq!(delivered, 1, "exactly one 2xx");
    assert!(
        attempts.last().is_some_and(Received::ok),
        "a call after the 2xx"
    );
    assert!(attempts.last().is_some_and(|r| r.at >= back));
    let failed = attempts.len() - 1;
    // Backoff capped at 0.5 s here: retried all along the 20 s, never given up.
    assert!(failed >= 10, "only {failed} attempts during the outage");
    one_delivery_id(&attempts);

    assert_eq!(
        app.metric(r#"frontmon_alerter_notifications_total{channel="hook",outcome="rejected"}"#)
            .await,
        failed as f64
    );
    assert_eq!(
        app.metric(r#"frontmon_alerter_notifications_total{channel="hook",outcome="sent"}"#)
            .await,
        2.0,
        "the event and the marker"
    );
    assert_eq!(
        app.metric(r#"frontmon_alerter_deliveries_retrying{channel="hook"}"#)
            .await,
        0.0
    );
    assert_eq!(
        app.metric(r#"frontmon_alerter_deliveries_dead_lettered_total{reason="retry_budget"}"#)
            .await,
        0.0
    );
    assert_eq!(
        app.metric("frontmon_alerter_deliveries_requeued_total")
            .await,
        0.0
    );

    publisher.close().await;
    app.stop().await;
    // Acknowledged: nothing comes back to the queue once the alerter let go of it.
    assert_eq!(env.queue_depth(&env.settings.alerter.queue).await, 0);
    let dead = env.topology().alerter.dead_letter_queue();
    assert_eq!(env.queue_depth(&dead).await, 0);
    receiver.stop().await;
}

#[tokio::test]
async fn a_healthy_channel_is_notified_promptly_while_another_retries() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("down", &receiver.url("/down"), None);
    env.add_webhook("up", &receiver.url("/up"), None);
    receiver.answer("/down", 500);
    let app = TestApp::spawn(env.settings.clone());
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    let first = js_error("TypeError: first");
    publish(&publisher, &[&first]).await;
    receiver
        .wait_for_within("/up", &[first.event_id], PROMPTLY)
        .await;
    eventually("the down channel to be retried", WAIT, || async {
        (receiver.attempts("/down", first.event_id).len() >= 3).then_some(())
    })
    .await;

    // The first delivery is still retrying: the next one is not stuck behind it.
    let second = js_error("TypeError: second");
    publish(&publisher, &[&second]).await;
    receiver
        .wait_for_within("/up", &[second.event_id], PROMPTLY)
        .await;
    eventually("two deliveries retrying the down channel", WAIT, || async {
        let retrying = app
            .metric(r#"frontmon_alerter_deliveries_retrying{channel="down"}"#)
            .await;
        (retrying == 2.0).then_some(())
    })
    .await;

    receiver.recover("/down");
    receiver
        .wait_for("/down", &[first.event_id, second.event_id])
        .await;
    let marker = js_error("marker");
    publish(&publisher, &[&marker]).await;
    receiver.wait_for("/up", &[marker.event_id]).await;
    receiver.wait_for("/down", &[marker.event_id]).await;

    for event in [&first, &second] {
        // The healthy channel was not called again while the other one was retried.
        let up = receiver.attempts("/up", event.event_id);
        assert_eq!(up.len(), 1, "{} calls to the healthy channel", up.len());
        let down = receiver.attempts("/down", event.event_id);
        assert_eq!(down.iter().filter(|r| r.ok()).count(), 1);
        assert!(down.last().is_some_and(Received::ok));
        assert_ne!(one_delivery_id(&up), one_delivery_id(&down));
    }
    assert!(receiver.attempts("/down", first.event_id).len() >= 4);
    assert_eq!(
        app.metric(r#"frontmon_alerter_deliveries_retrying{channel="down"}"#)
            .await,
        0.0
    );

    publisher.close().await;
    app.stop().await;
    assert_eq!(env.queue_depth(&env.settings.alerter.queue).await, 0);
    receiver.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    // Without the header the next attempt would come within 0.5 s.
    let app = TestApp::spawn(env.settings.clone());
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    receiver.answer_retry_after_until("/hook", 503, "2", Instant::now() + Duration::from_secs(3));
    let event = js_error("TypeError: rate limited");
    publish(&publisher, &[&event]).await;
    receiver.wait_for("/hook", &[event.event_id]).await;

    let attempts = receiver.attempts("/hook", event.event_id);
    assert!(attempts.len() >= 2, "{attempts:?}");
    assert_eq!(attempts[0].status, 503);
    let gaps = gaps(&attempts);
    assert!(
        gaps.iter().all(|gap| *gap >= 2.0 - 0.05),
        "an attempt came before Retry-After: {gaps:?}"
    );

    publisher.close().await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn a_channel_failing_past_the_retry_budget_is_dead_lettered_and_counted() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("gone", &receiver.url("/gone"), None);
    env.add_webhook("ok", &receiver.url("/ok"), None);
    // A 4xx: retried like any failure, until the budget runs out.
    receiver.answer("/gone", 404);
    let retry = RetryPolicy {
        budget: Duration::from_secs(3),
        ..quick_retries()
    };
    let app = TestApp::spawn_with_retry(env.settings.clone(), retry);
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    let event = js_error("TypeError: nobody listens");
    publish(&publisher, &[&event]).await;
    receiver.wait_for("/ok", &[event.event_id]).await;
    let dead = env.topology().alerter.dead_letter_queue();
    eventually("the event in the dead-letter queue", WAIT, || async {
        (env.queue_depth(&dead).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        app.metric(r#"frontmon_alerter_deliveries_dead_lettered_total{reason="retry_budget"}"#)
            .await,
        1.0
    );

    let gone = receiver.attempts("/gone", event.event_id);
    assert!(gone.len() >= 3, "a 4xx was not retried: {gone:?}");
    let span = gone
        .last()
        .zip(gone.first())
        .map(|(last, first)| (last.at - first.at).as_secs_f64())
        .unwrap_or_default();
    // Retried for the whole budget: the last attempt is at most one pause before its end.
    assert!(
        (retry.budget - retry.max_delay).as_secs_f64() - 0.1 <= span
            && span <= retry.budget.as_secs_f64() + 0.5,
        "attempts spanned {span} s"
    );
    assert_eq!(receiver.attempts("/ok", event.event_id).len(), 1);

    publisher.close().await;
    app.stop().await;
    assert_eq!(env.queue_depth(&env.settings.alerter.queue).await, 0);
    assert_eq!(env.queue_depth(&dead).await, 1, "parked, not dropped");
    receiver.stop().await;
}

#[tokio::test]
async fn shutdown_hands_back_a_retrying_delivery_without_waiting_for_the_budget() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    receiver.answer("/hook", 500);
    // The default budget: an hour.
    let app = TestApp::spawn(env.settings.clone());
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    let event = js_error("TypeError: at shutdown");
    publish(&publisher, &[&event]).await;
    eventually("the delivery to be retrying", WAIT, || async {
        (receiver.attempts("/hook", event.event_id).len() >= 2).then_some(())
    })
    .await;
    app.stop_within(Duration::from_secs(5)).await;
    eventually("the delivery back in the queue", WAIT, || async {
        (env.queue_depth(&env.settings.alerter.queue).await == 1).then_some(())
    })
    .await;
    let dead = env.topology().alerter.dead_letter_queue();
    assert_eq!(env.queue_depth(&dead).await, 0);

    // The next alerter delivers it, under the same delivery id.
    receiver.recover("/hook");
    let again = TestApp::spawn(env.settings.clone());
    receiver.wait_for("/hook", &[event.event_id]).await;
    let attempts = receiver.attempts("/hook", event.event_id);
    one_delivery_id(&attempts);
    assert_eq!(attempts.iter().filter(|r| r.ok()).count(), 1);

    publisher.close().await;
    again.stop().await;
    assert_eq!(env.queue_depth(&env.settings.alerter.queue).await, 0);
    receiver.stop().await;
}

/// The alerter binary, killed with SIGKILL when dropped unless it was stopped.
struct Binary(Option<Child>);

impl Binary {
    fn start(config: &Path, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = Command::new(env!("CARGO_BIN_EXE_alerter"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("the alerter binary does not start: {e}"));
        Self(Some(child))
    }

    /// Sends `signal` (a `kill` name: KILL, TERM) and waits for the exit.
    async fn signal(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.0.take().unwrap_or_else(|| panic!("already stopped"));
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(sent.success(), "kill -{signal} failed");
        let waited =
            tokio::time::timeout(WAIT, tokio::task::spawn_blocking(move || child.wait())).await;
        match waited {
            Ok(Ok(Ok(status))) => status,
            other => panic!("the alerter did not exit after SIG{signal}: {other:?}"),
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn a_killed_alerter_notifies_after_restart_with_the_same_delivery_id() {
    use std::os::unix::process::ExitStatusExt;

    let env = TestEnv::new();
    let receiver = Receiver::start();
    receiver.answer("/hook", 500);
    let dir: PathBuf = std::env::temp_dir().join(format!("frontmon-{}", env.prefix));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let config = dir.join("frontmon.toml");
    let log = dir.join("alerter.log");
    let settings = &env.settings;
    std::fs::write(
        &config,
        format!(
            "[amqp]\nurl = \"{}\"\nexchange = \"{}\"\n[processor]\nqueue = \"{}\"\n\
             [alerter]\nlisten = \"127.0.0.1:0\"\nqueue = \"{}\"\n\
             [[alerter.channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n",
            settings.amqp.url.expose(),
            settings.amqp.exchange,
            settings.processor.queue,
            settings.alerter.queue,
            receiver.url("/hook"),
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let publisher = publisher(&env).await;
    let event = js_error("TypeError: before the crash");
    publish(&publisher, &[&event]).await;

    let mut first = Binary::start(&config, &log);
    eventually("the first alerter to be retrying", WAIT, || async {
        (receiver.attempts("/hook", event.event_id).len() >= 2).then_some(())
    })
    .await;
    let killed = first.signal("KILL").await;
    assert_eq!(killed.signal(), Some(9), "{killed:?}");

    receiver.recover("/hook");
    let mut second = Binary::start(&config, &log);
    receiver.wait_for("/hook", &[event.event_id]).await;
    let attempts = receiver.attempts("/hook", event.event_id);
    assert!(
        attempts.iter().any(|r| r.ok()),
        "notified after the restart"
    );
    // The first attempt, before the crash, and the one that succeeded after it.
    one_delivery_id(&attempts);

    let stopped = second.signal("TERM").await;
    assert!(stopped.success(), "{stopped:?}; logs in {}", log.display());
    assert_eq!(env.queue_depth(&settings.alerter.queue).await, 0);
    publisher.close().await;
    receiver.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
