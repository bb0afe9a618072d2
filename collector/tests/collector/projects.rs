//! Projects and keys from the database: a key added with `frontmon-admin` works and a revoked
//! one is refused without a restart; with the database gone, the projects known stay in force,
//! across a restart too when the cache file is kept.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use shared::config::{NonZeroDuration, Settings};
use shared::testing::{TEST_KEY, TestEnv, eventually};
use sqlx::migrate::{MigrateDatabase, Migrator};

use crate::support::{Running, http};

/// The processor's schema, which creates the projects tables; the collector only reads them.
static PROCESSOR_MIGRATIONS: Migrator = sqlx::migrate!("../processor/migrations");

/// Long enough for a loaded machine; each wait ends as soon as what it waits for is seen.
const WITHIN: Duration = Duration::from_secs(20);

/// The test's database, migrated as the processor does and seeded with the test's
/// `[[projects]]` as the processor does at start.
async fn database(settings: &Settings) {
    let url = settings.database.url.expose();
    sqlx::Postgres::create_database(url).await.unwrap();
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    PROCESSOR_MIGRATIONS.run(&pool).await.unwrap();
    shared::db::projects::seed(&pool, &settings.projects)
        .await
        .unwrap();
    pool.close().await;
}

/// Refreshed every 50 ms, so that each test waits little.
fn quick(env: &TestEnv) -> Settings {
    let mut settings = env.settings.clone();
    settings.collector.projects_refresh = NonZeroDuration::new(Duration::from_millis(50)).unwrap();
    settings
}

/// The status of one event posted to project 1 with `key`.
async fn status(app: &Running, key: &str) -> u16 {
    http()
        .post(format!("{}?key={key}", app.events_url(1)))
        .body(json!({"type": "pageview", "url": "https://x/"}).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until `key` is answered `expected`.
async fn until_status(app: &Running, key: &str, expected: u16, what: &str) {
    eventually(what, WITHIN, || async {
        (status(app, key).await == expected).then_some(())
    })
    .await;
}

/// How many reads of the projects ended with `outcome` (`ok`, `failed`).
async fn reads(app: &Running, outcome: &str) -> u64 {
    let sample = format!("frontmon_collector_projects_reads_total{{outcome=\"{outcome}\"}} ");
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&sample)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_key_added_with_the_admin_command_works_and_a_revoked_one_is_refused() {
    let env = TestEnv::new();
    let settings = quick(&env);
    database(&settings).await;
    let app = Running::start(settings.clone()).await;
    assert_eq!(status(&app, TEST_KEY).await, 200);

    let added = admin::projects::add_key(&settings, 1, None, Some("rotation"))
        .await
        .unwrap();
    until_status(&app, added.as_str(), 200, "the added key to be accepted").await;
    // Both keys work while the SDKs move over.
    assert_eq!(status(&app, TEST_KEY).await, 200);

    assert!(
        admin::projects::revoke_key(&settings, 1, TEST_KEY)
            .await
            .unwrap()
    );
    until_status(&app, TEST_KEY, 403, "the revoked key to be refused").await;
    assert_eq!(status(&app, added.as_str()).await, 200);
    // Revoked on every endpoint: a Sentry SDK with the old key is refused too.
    let envelope = http()
        .post(format!(
            "{}/api/1/envelope/?sentry_key={TEST_KEY}",
            app.base
        ))
        .body("{}\n{\"type\":\"event\"}\n{}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn with_the_database_unreachable_the_configured_projects_are_accepted() {
    let env = TestEnv::new();
    let mut settings = quick(&env);
    // Nothing listens on port 1: every connection is refused.
    settings.database.url =
        shared::config::PostgresUrl::parse("postgres://postgres@127.0.0.1:1/frontmon").unwrap();
    let app = Running::start(settings).await;
    eventually("a failed read of the projects", WITHIN, || async {
        (reads(&app, "failed").await >= 1).then_some(())
    })
    .await;
    assert_eq!(status(&app, TEST_KEY).await, 200);
    assert_eq!(status(&app, "ffffffffffffffffffffffffffffffff").await, 403);
    app.stop().await;
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_projects_read_outlive_the_database_and_a_restart_through_the_cache() {
    let env = TestEnv::new();
    let mut settings = quick(&env);
    let cache = TempFile(std::env::temp_dir().join(format!("{}-projects.json", env.prefix)));
    settings.collector.projects_cache = Some(cache.0.clone());
    database(&settings).await;
    let app = Running::start(settings.clone()).await;
    let added = admin::projects::add_key(&settings, 1, None, None)
        .await
        .unwrap();
    admin::projects::revoke_key(&settings, 1, TEST_KEY)
        .await
        .unwrap();
    until_status(&app, added.as_str(), 200, "the added key to be accepted").await;
    until_status(&app, TEST_KEY, 403, "the revoked key to be refused").await;

    // The database is dropped under the running collector: it keeps what it read.
    let failed_before = reads(&app, "failed").await;
    // The collector reconnects every 50 ms: a connection may slip in between the drop's
    // termination of the others and the drop itself, which PostgreSQL then refuses (55006).
    eventually("the database dropped", WITHIN, || async {
        sqlx::Postgres::force_drop_database(settings.database.url.expose())
            .await
            .ok()
    })
    .await;
    eventually("a failed read of the projects", WITHIN, || async {
        (reads(&app, "failed").await > failed_before).then_some(())
    })
    .await;
    assert_eq!(status(&app, added.as_str()).await, 200);
    assert_eq!(status(&app, TEST_KEY).await, 403);
    app.stop().await;

    // Restarted while the database is still gone: the cache, not the configuration, says
    // which keys hold.
    let app = Running::start(settings.clone()).await;
    assert_eq!(status(&app, added.as_str()).await, 200);
    assert_eq!(status(&app, TEST_KEY).await, 403);
    app.stop().await;

    // Without the cache, the same start knows the configuration only.
    settings.collector.projects_cache = None;
    let app = Running::start(settings).await;
    assert_eq!(status(&app, TEST_KEY).await, 200);
    assert_eq!(status(&app, added.as_str()).await, 403);
    app.stop().await;
}
