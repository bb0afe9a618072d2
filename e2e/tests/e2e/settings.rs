//! A project's Settings screen: an admin adds a key and revokes the old one on the page, and
//! the real collector accepts the new key and refuses the old one within its refresh
//! interval, without a restart; the last active key cannot be revoked; a member neither sees
//! the page nor changes anything.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::config::NonZeroDuration;
use shared::testing::{TEST_KEY, TestEnv, eventually};

use crate::dashboard::{ADMIN, MEMBER, PASSWORD, csrf, no_redirects, sign_in};
use crate::support::*;

/// The collectors' refresh in this test: short, so the waits are short.
const REFRESH: Duration = Duration::from_millis(250);
/// Long enough for a loaded machine; each wait ends as soon as what it waits for is seen.
const WITHIN: Duration = Duration::from_secs(20);

async fn get(processor: &Service, cookie: &str, path: &str) -> (u16, String) {
    let response = no_redirects()
        .get(format!("{}{path}", processor.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a page"))
}

/// Posts a form to project 1's Settings from the processor's own origin.
async fn post_form(processor: &Service, cookie: &str, body: &str) -> (u16, String) {
    let response = no_redirects()
        .post(format!("{}/projects/1/settings", processor.base))
        .header("cookie", cookie)
        .header("origin", processor.base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// The keys the page offers to revoke: the active ones.
fn active_keys(html: &str) -> Vec<String> {
    html.match_indices("name=\"revoke\" value=\"")
        .map(|(at, found)| {
            let rest = &html[at + found.len()..];
            rest[..rest.find('"').expect("a closed value")].to_owned()
        })
        .collect()
}

/// The collector's answer to one event posted to project 1 with `key`.
async fn status(collector: &Service, key: &str) -> u16 {
    http()
        .post(format!("{}/api/1/events?key={key}", collector.base))
        .header("content-type", "text/plain")
        .body(json!({"type": "pageview", "url": "https://x/"}).to_string())
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// Waits until the collector answers `key` with `expected`; how long that took.
async fn until_status(collector: &Service, key: &str, expected: u16, what: &str) -> Duration {
    let started = Instant::now();
    eventually(what, WITHIN, || async {
        (status(collector, key).await == expected).then_some(())
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn an_admin_rotates_a_key_on_the_settings_page_and_the_collector_follows() {
    let env = TestEnv::new();
    let mut settings = env.settings.clone();
    settings.collector.projects_refresh = NonZeroDuration::new(REFRESH).expect("non-zero");
    // Where browsers reach the collector, behind a proxy's path prefix: the DSNs shown.
    settings.processor.collector_url = Some("https://collect.example/fm".parse().expect("a URL"));
    // The processor first: it creates the projects tables and seeds them.
    let processor = Service::processor(&settings).await;
    let collector = Service::collector(&settings).await;
    admin::users::create(&settings, ADMIN, PASSWORD, true, &[])
        .await
        .expect("the admin");
    admin::users::create(&settings, MEMBER, PASSWORD, false, &[1])
        .await
        .expect("the member");
    let cookie = sign_in(&processor, ADMIN).await;
    let token = csrf(&processor, &cookie).await;
    assert_eq!(status(&collector, TEST_KEY).await, 200);

    // The page lists the configured key with its DSN and snippet, under a tab of its own.
    let (code, html) = get(&processor, &cookie, "/projects/1/settings").await;
    assert_eq!(code, 200, "{html}");
    assert_eq!(active_keys(&html), [TEST_KEY]);
    assert!(
        html.contains(&format!("https://{TEST_KEY}@collect.example/fm/1")),
        "the DSN names the configured collector"
    );
    assert!(
        html.contains("https://collect.example/fm/sdk/v1/frontmon.min.js"),
        "the snippet loads the SDK from it"
    );
    assert!(html.contains("href=\"/projects/1/settings\" aria-current=\"page\""));
    let (_, zh) = get(&processor, &cookie, "/projects/1/settings?lang=zh").await;
    assert!(zh.contains("添加公钥"), "in Chinese");

    // Without the session's CSRF token nothing changes.
    let (code, _) = post_form(&processor, &cookie, "add=1&label=forged").await;
    assert_eq!(code, 403);

    // Add a key: the collector accepts it from its next refresh on.
    let (code, _) = post_form(
        &processor,
        &cookie,
        &format!("csrf={token}&add=1&label=rotation+2026"),
    )
    .await;
    assert_eq!(code, 303);
    let (_, html) = get(&processor, &cookie, "/projects/1/settings").await;
    assert!(!html.contains("forged"), "the forged request added nothing");
    assert!(html.contains("rotation 2026"), "the label");
    let keys = active_keys(&html);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let new = keys
        .iter()
        .find(|key| *key != TEST_KEY)
        .expect("the new key")
        .clone();
    assert!(
        html.contains(&format!("https://{new}@")),
        "the new key's DSN"
    );
    let accepted = until_status(&collector, &new, 200, "the new key accepted").await;

    // Revoke the old one: refused from the next refresh on.
    let (code, _) = post_form(
        &processor,
        &cookie,
        &format!("csrf={token}&revoke={TEST_KEY}"),
    )
    .await;
    assert_eq!(code, 303);
    let refused = until_status(&collector, TEST_KEY, 403, "the old key refused").await;
    let (_, html) = get(&processor, &cookie, "/projects/1/settings").await;
    assert_eq!(active_keys(&html), std::slice::from_ref(&new));
    assert!(html.contains("Revoked"), "the old key listed as revoked");

    // The last active key stays: the page says why, and the collector still takes it.
    let (code, html) = post_form(&processor, &cookie, &format!("csrf={token}&revoke={new}")).await;
    assert_eq!(code, 409);
    assert!(html.contains("last active key"), "{html}");
    assert_eq!(active_keys(&html), std::slice::from_ref(&new));
    assert_eq!(status(&collector, &new).await, 200);

    // A member of the project: no tab, no page, no change.
    let member = sign_in(&processor, MEMBER).await;
    let member_token = csrf(&processor, &member).await;
    let (_, issues) = get(&processor, &member, "/projects/1/issues").await;
    assert!(!issues.contains("/projects/1/settings"), "no Settings tab");
    assert_eq!(
        get(&processor, &member, "/projects/1/settings").await.0,
        404
    );
    let (code, _) = post_form(
        &processor,
        &member,
        &format!("csrf={member_token}&add=1&label=member-label"),
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = post_form(
        &processor,
        &member,
        &format!("csrf={member_token}&revoke={new}"),
    )
    .await;
    assert_eq!(code, 404);
    let (_, html) = get(&processor, &cookie, "/projects/1/settings").await;
    assert_eq!(
        active_keys(&html),
        std::slice::from_ref(&new),
        "the member changed nothing"
    );
    assert!(!html.contains("member-label"));

    println!(
        "settings: refresh {REFRESH:?}; new key accepted after {accepted:?}, old key refused after {refused:?}"
    );
}

/// Two revocations at once of a project's only two active keys (two admins, two tabs): the
/// project row's lock lets one through and refuses the other as the last key, so the
/// project keeps a key whatever the timing.
#[tokio::test]
async fn two_revocations_at_once_leave_the_project_a_key() {
    use shared::config::PublicKey;
    use shared::db::projects::{self, Revoked};

    let env = TestEnv::new();
    // The processor creates and seeds the projects tables.
    let processor = Service::processor(&env.settings).await;
    let pool = sqlx::PgPool::connect(env.settings.database.url.expose())
        .await
        .expect("the database");
    for round in 0..5 {
        let other = PublicKey::generate();
        assert!(
            projects::add_key(&pool, 1, &other, Some("second"))
                .await
                .expect("added")
        );
        let active = projects::active(&pool).await.expect("read");
        let keys = active
            .iter()
            .find(|project| project.id == 1)
            .expect("project 1")
            .keys
            .clone();
        assert_eq!(keys.len(), 2, "round {round}: {keys:?}");
        let (first, second) = tokio::join!(
            projects::revoke_key_keeping_one(&pool, 1, &keys[0]),
            projects::revoke_key_keeping_one(&pool, 1, &keys[1]),
        );
        let outcomes = [first.expect("answered"), second.expect("answered")];
        assert!(
            outcomes.contains(&Some(Revoked::Revoked)) && outcomes.contains(&None),
            "round {round}: {outcomes:?}"
        );
        let left = projects::active(&pool).await.expect("read");
        assert_eq!(
            left.iter()
                .find(|project| project.id == 1)
                .expect("project 1")
                .keys
                .len(),
            1,
            "round {round}"
        );
    }
    pool.close().await;
    processor.stop().await;
}
