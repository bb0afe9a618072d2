//! `frontmon-admin erase` against a processor running in this process.

use std::time::Duration;

use chrono::Utc;
use shared::event::{Detail, Event, EventId, ProjectId, User};
use shared::testing::{ADMIN_TOKEN, TestEnv, eventually};

use crate::park;
use crate::sourcemaps::{Processor, admin, stdout};

fn error_of(user: &str) -> Event {
    let mut event = Event::new(
        EventId::new_random(),
        ProjectId::new(1).unwrap(),
        Utc::now(),
        Utc::now(),
        Detail::Error {},
    );
    event.message = Some(format!("{user}'s cart is undefined"));
    event.user = Some(User {
        id: Some(user.into()),
        ..User::default()
    });
    event
}

/// Whether the processor's API finds `event` (it is stored), as the admin sees it.
async fn stored(processor: &Processor, event: &Event) -> bool {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/projects/1/events/{}",
            processor.api(),
            event.event_id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    response.status() == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_erased_through_the_api_and_a_wrong_token_is_refused() {
    let env = TestEnv::new();
    let processor = Processor::start(&env).await;
    let exchange = env.topology().exchange;
    let (alice, bob) = (error_of("alice"), error_of("bob"));
    for event in [&alice, &bob] {
        park(
            &env,
            &exchange,
            "error.js",
            &serde_json::to_vec(event).unwrap(),
        )
        .await;
    }
    eventually("both events stored", Duration::from_secs(30), || async {
        (stored(&processor, &alice).await && stored(&processor, &bob).await).then_some(())
    })
    .await;
    let api = processor.api();
    let erase = |token: &'static str| {
        let api = api.clone();
        async move {
            admin(
                None,
                &[
                    "erase",
                    "--user",
                    "alice",
                    "--project",
                    "1",
                    "--api",
                    &api,
                    "--token",
                    token,
                ],
            )
            .await
        }
    };

    let refused = erase("not-the-token").await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("403"), "{stderr}");
    assert!(stored(&processor, &alice).await);

    let output = erase(ADMIN_TOKEN).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout(&output),
        "erased 1 event(s) and 1 issue user key(s); issue counts are kept\n"
    );
    assert!(!stored(&processor, &alice).await);
    assert!(stored(&processor, &bob).await);
    processor.stop().await;
}
