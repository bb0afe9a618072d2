//! The data's lifecycle: `events` partitioned by day and created ahead, every copy of an
//! event stored once across partitions, expired days dropped whole (once, with two processors
//! at it) while issues survive, shorter project windows, source maps, and the migration of a
//! database built by the previous migrations.

use std::borrow::Cow;
use std::num::NonZeroU16;
use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::Value;
use shared::config::Consumers;
use shared::event::{Event, EventId};
use shared::testing::{TestEnv, eventually};
use sqlx::PgPool;
use sqlx::migrate::{MigrateDatabase, Migrator};
use uuid::Uuid;

use crate::support::{
    TestApp, WAIT, database, ids, js_error, now, pageview, project, publish, publisher,
};

const DAY: TimeDelta = TimeDelta::days(1);

fn partition_name(day: NaiveDate) -> String {
    format!("events_p{}", day.format("%Y%m%d"))
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The partitions of `events`, by name.
async fn partitions(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

/// What a processor of an earlier day would have left: the partition of `day`, with its
/// unique key.
async fn create_partition(db: &PgPool, day: NaiveDate) {
    let name = partition_name(day);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {name} PARTITION OF events FOR VALUES FROM ('{}') TO ('{}');
         CREATE UNIQUE INDEX {name}_key ON {name} (project_id, event_id);",
        midnight(day).to_rfc3339(),
        midnight(day + DAY).to_rfc3339()
    )))
    .execute(db)
    .await
    .unwrap();
}

async fn copies(db: &PgPool, id: EventId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id = $1")
        .bind(id.as_uuid())
        .fetch_one(db)
        .await
        .unwrap()
}

/// The sum of a sample over processors.
async fn metric_sum(apps: &[&TestApp], sample: &str) -> f64 {
    let mut sum = 0.0;
    for app in apps {
        sum += app.metric(sample).await;
    }
    sum
}

/// Waits until `app` has finished its first retention round, whatever its outcome.
async fn wait_first_round(app: &TestApp) {
    eventually("a retention round", WAIT, || async {
        let mut rounds = 0.0;
        for outcome in ["done", "skipped", "failed"] {
            rounds += app
                .metric(&format!(
                    "frontmon_processor_lifecycle_rounds_total{{outcome=\"{outcome}\"}}"
                ))
                .await;
        }
        (rounds >= 1.0).then_some(())
    })
    .await;
}

const DROPPED: &str = "frontmon_processor_partitions_dropped_total{table=\"events\"}";
const EXPIRED_ROWS: &str = "frontmon_processor_rows_expired_total{table=\"events\"}";
const FAILED: &str = "frontmon_processor_lifecycle_rounds_total{outcome=\"failed\"}";

#[tokio::test]
async fn partitions_are_created_ahead_and_take_their_rows_from_the_default() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    let today = Utc::now().date_naive();
    let ahead: Vec<String> = (0..=3).map(|n| partition_name(today + DAY * n)).collect();
    let existing = partitions(&db).await;
    for name in &ahead {
        assert!(existing.contains(name), "{name} missing from {existing:?}");
    }
    assert!(existing.contains(&"events_default".to_owned()));

    // A day whose partition is missing: its events wait in the default partition until the
    // next round creates it and moves them.
    wait_first_round(&app).await;
    let last = ahead.last().unwrap().clone();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {last}")))
        .execute(&db)
        .await
        .unwrap();
    let publisher = publisher(&env).await;
    let late = pageview(midnight(today + DAY * 3) + TimeDelta::hours(12));
    publish(&publisher, std::slice::from_ref(&late)).await;
    app.wait_for_events(&[late.event_id]).await;
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM events_default")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(in_default, 1);
    app.stop().await;

    let app = TestApp::ready(&env.settings).await;
    assert_eq!(
        app.metric("frontmon_processor_partitions_created_total")
            .await,
        1.0
    );
    let (in_default, in_day): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT count(*) FROM events_default), (SELECT count(*) FROM {last})"
    )))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((in_default, in_day), (0, 1));
    assert!(app.event(late.event_id).await.is_some());

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn redeliveries_and_client_retries_are_stored_once_across_partitions() {
    let mut env = TestEnv::new();
    // One session: the marker published last is stored last.
    env.settings.processor.consumers = Consumers::new(1).unwrap();
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    let publisher = publisher(&env).await;
    let tomorrow = midnight(Utc::now().date_naive() + DAY);

    // A client's retry on the other side of midnight, a retry later the same day, and a
    // broker redelivery (the same received_at); each an error, to count into its issue.
    let before_midnight = js_error("midnight", tomorrow - TimeDelta::milliseconds(200));
    let after_midnight = Event {
        received_at: tomorrow + TimeDelta::seconds(4),
        ..before_midnight.clone()
    };
    let noon = js_error("noon", tomorrow + TimeDelta::hours(12));
    let afternoon = Event {
        received_at: tomorrow + TimeDelta::hours(14),
        ..noon.clone()
    };
    let redelivered = js_error("redelivered", tomorrow + TimeDelta::hours(3));
    publish(
        &publisher,
        &[before_midnight.clone(), noon.clone(), redelivered.clone()],
    )
    .await;
    app.wait_for_events(&ids(&[
        before_midnight.clone(),
        noon.clone(),
        redelivered.clone(),
    ]))
    .await;
    // In separate batches, and in one batch together.
    publish(&publisher, std::slice::from_ref(&after_midnight)).await;
    publish(&publisher, &[afternoon.clone(), redelivered.clone()]).await;
    let twins = js_error("twins", tomorrow - TimeDelta::seconds(1));
    let twin = Event {
        received_at: tomorrow + TimeDelta::seconds(1),
        ..twins.clone()
    };
    publish(&publisher, &[twins.clone(), twin]).await;
    let marker = pageview(now());
    publish(&publisher, std::slice::from_ref(&marker)).await;
    app.wait_for_events(&[marker.event_id, twins.event_id])
        .await;

    for event in [&before_midnight, &noon, &redelivered, &twins] {
        assert_eq!(copies(&db, event.event_id).await, 1, "{:?}", event.message);
    }
    let (status, body) = app.get("/api/projects/1/issues?status=all&limit=100").await;
    assert_eq!(status, 200, "{body}");
    // Four errors, each counted once into its issue, whatever the copies.
    let counted: i64 = body["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["count"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, 4, "{body}");
    assert_eq!(
        app.metric("frontmon_processor_events_stored_total").await,
        5.0
    );

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn expired_days_are_dropped_whole_and_counted_while_issues_survive() {
    let mut env = TestEnv::new();
    env.settings.retention.events_days = NonZeroU16::new(30).unwrap();
    let app = TestApp::ready(&env.settings).await;
    // Past its first round, which would otherwise drop the old days before they are filled.
    wait_first_round(&app).await;
    let db = database(&env).await;
    let publisher = publisher(&env).await;
    let today = Utc::now().date_naive();
    let old_days = [today - DAY * 40, today - DAY * 31];
    let kept_day = today - DAY * 20;
    for day in old_days.into_iter().chain([kept_day]) {
        create_partition(&db, day).await;
    }
    let old: Vec<Event> = old_days
        .iter()
        .map(|day| js_error("checkout failed", midnight(*day) + TimeDelta::hours(12)))
        .collect();
    let kept = js_error("checkout failed", midnight(kept_day) + TimeDelta::hours(12));
    let all: Vec<Event> = old.iter().chain([&kept]).cloned().collect();
    publish(&publisher, &all).await;
    app.wait_for_events(&ids(&all)).await;
    app.stop().await;

    // The next start's round drops the two days past 30 days, and nothing else.
    let app = TestApp::ready(&env.settings).await;
    app.wait_for_metric(DROPPED, 2.0).await;
    wait_first_round(&app).await;
    assert_eq!(app.metric(FAILED).await, 0.0);
    let names = partitions(&db).await;
    for day in old_days {
        assert!(!names.contains(&partition_name(day)), "{names:?}");
    }
    assert!(names.contains(&partition_name(kept_day)), "{names:?}");
    for event in &old {
        assert!(app.event(event.event_id).await.is_none());
    }
    assert!(app.event(kept.event_id).await.is_some());

    // The issue, with its counts, outlives the events it counted.
    let (status, body) = app.get("/api/projects/1/issues?status=all").await;
    assert_eq!(status, 200, "{body}");
    let issue = &body["issues"][0];
    assert_eq!(issue["count"], 3, "{body}");
    let id = issue["id"].as_i64().unwrap();
    let (status, one) = app.get(&format!("/api/projects/1/issues/{id}")).await;
    assert_eq!((status, &one["count"]), (200, &Value::from(3)), "{one}");
    let (status, events) = app
        .get(&format!("/api/projects/1/issues/{id}/events"))
        .await;
    assert_eq!(status, 200, "{events}");
    let listed: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [kept.event_id.as_uuid().simple().to_string()],
        "{events}"
    );

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processors_at_once_drop_each_expired_partition_once() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    app.stop().await;
    let today = Utc::now().date_naive();
    let expired = 30;
    for n in 0..expired {
        create_partition(&db, today - DAY * (100 + n)).await;
    }

    let (first, second) =
        tokio::join!(TestApp::ready(&env.settings), TestApp::ready(&env.settings));
    let apps = [&first, &second];
    eventually("every expired partition dropped", WAIT, || async {
        (metric_sum(&apps, DROPPED).await == f64::from(expired)).then_some(())
    })
    .await;
    wait_first_round(&first).await;
    wait_first_round(&second).await;
    assert_eq!(metric_sum(&apps, FAILED).await, 0.0);
    assert_eq!(metric_sum(&apps, DROPPED).await, f64::from(expired));
    // Today's and the next days' partitions, the default one, and nothing older.
    assert_eq!(partitions(&db).await.len(), 4 + 1);

    db.close().await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_project_with_a_shorter_window_loses_its_expired_rows() {
    let mut env = TestEnv::new();
    env.settings.projects[0].retention_days = Some(NonZeroU16::new(7).unwrap());
    let app = TestApp::ready(&env.settings).await;
    wait_first_round(&app).await;
    let db = database(&env).await;
    let publisher = publisher(&env).await;
    let day = Utc::now().date_naive() - DAY * 10;
    create_partition(&db, day).await;
    let t = midnight(day) + TimeDelta::hours(6);
    let mine: Vec<Event> = (0..3)
        .map(|i| pageview(t + TimeDelta::seconds(i)))
        .collect();
    let theirs = Event {
        project_id: project(2),
        ..pageview(t)
    };
    let recent = pageview(now());
    let all: Vec<Event> = mine.iter().chain([&theirs, &recent]).cloned().collect();
    publish(&publisher, &all).await;
    eventually("every event stored", WAIT, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&db)
            .await
            .unwrap();
        (n == all.len() as i64).then_some(())
    })
    .await;
    app.stop().await;

    let app = TestApp::ready(&env.settings).await;
    app.wait_for_metric(EXPIRED_ROWS, 3.0).await;
    for event in &mine {
        assert_eq!(copies(&db, event.event_id).await, 0);
    }
    // Project 2 keeps the global 90 days, in the same partition, which stays.
    assert_eq!(copies(&db, theirs.event_id).await, 1);
    assert_eq!(copies(&db, recent.event_id).await, 1);
    assert!(partitions(&db).await.contains(&partition_name(day)));
    assert_eq!(app.metric(DROPPED).await, 0.0);

    db.close().await;
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn source_maps_expire_by_release_age_keeping_the_newest_releases() {
    let mut env = TestEnv::new();
    env.settings.retention.sourcemaps_days = NonZeroU16::new(30).unwrap();
    env.settings.retention.sourcemaps_keep_releases = 2;
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    app.stop().await;
    // Releases 1.0 to 1.2 uploaded 60, 50 and 40 days ago, 2.0 today; a map without a release
    // 60 days ago, one today. Kept: the newest two releases (2.0, 1.2, though 1.2 is old),
    // and the new map without a release.
    let old = |days: i32| Utc::now() - DAY * days;
    for (release, name, debug_id, uploaded) in [
        ("1.0", "~/app.js", None, old(60)),
        ("1.0", "~/vendor.js", None, old(60)),
        ("1.1", "~/app.js", None, old(50)),
        ("1.2", "~/app.js", None, old(40)),
        ("2.0", "~/app.js", None, old(0)),
        ("", "~/app.js", Some(Uuid::new_v4()), old(60)),
        ("", "~/app.js", Some(Uuid::new_v4()), old(0)),
    ] {
        sqlx::query(
            "INSERT INTO sourcemaps (project_id, release, name, debug_id, map, size_bytes,
                                     uploaded_at)
             VALUES (1, $1, $2, $3, '\\x7b7d', 2, $4)",
        )
        .bind(release)
        .bind(name)
        .bind(debug_id)
        .bind(uploaded)
        .execute(&db)
        .await
        .unwrap();
    }

    let app = TestApp::ready(&env.settings).await;
    app.wait_for_metric("frontmon_processor_sourcemaps_expired_total", 4.0)
        .await;
    let left: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT release, uploaded_at FROM sourcemaps ORDER BY release")
            .fetch_all(&db)
            .await
            .unwrap();
    let releases: Vec<&str> = left.iter().map(|(release, _)| release.as_str()).collect();
    assert_eq!(releases, ["", "1.2", "2.0"]);
    assert!(left[0].1 > old(1));

    db.close().await;
    app.stop().await;
}

/// A database built by migrations 0001 to 0007, with rows in it: the processor's start
/// migrates it to the partitioned table without losing or duplicating a row.
#[tokio::test]
async fn a_database_of_the_previous_migrations_is_partitioned_row_for_row() {
    let env = TestEnv::new();
    let url = env.settings.database.url.expose();
    sqlx::Postgres::create_database(url).await.unwrap();
    let db = PgPool::connect(url).await.unwrap();
    let all = Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .await
        .unwrap();
    let previous = Migrator {
        migrations: Cow::Owned(
            all.migrations
                .iter()
                .filter(|migration| migration.version <= 7)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    assert_eq!(previous.migrations.len(), 7);
    previous.run(&db).await.unwrap();

    // 3,000 rows over 30 days, some with an issue, one near midnight yesterday.
    let (issue,): (i64,) = sqlx::query_as(
        "INSERT INTO issues (project_id, grouping_version, fingerprint, title, level,
                             first_seen, last_seen, event_count)
         VALUES (1, 1, 'f', 'Error: x', 'error', now(), now(), 1500) RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let start = midnight(Utc::now().date_naive()) - DAY * 30;
    let mut rows: Vec<(i64, Uuid, DateTime<Utc>, Option<i64>)> = (0..3_000)
        .map(|i| {
            (
                1 + i % 2,
                Uuid::new_v4(),
                start + TimeDelta::minutes(i * 14),
                (i % 2 == 0).then_some(issue),
            )
        })
        .collect();
    rows.push((
        1,
        Uuid::new_v4(),
        midnight(Utc::now().date_naive()) - TimeDelta::minutes(5),
        None,
    ));
    sqlx::query(
        "INSERT INTO events (project_id, event_id, routing_key, occurred_at, received_at,
                             message, url, release, environment, payload, issue_id)
         SELECT p, e, 'error.js', r, r, 'm', 'https://shop.example/', '1.0', 'production',
                jsonb_build_object('n', e::text), i
         FROM jsonb_to_recordset($1) AS t(p int8, e uuid, r timestamptz, i int8)",
    )
    .bind(Value::Array(
        rows.iter()
            .map(|(p, e, r, i)| serde_json::json!({ "p": p, "e": e, "r": r, "i": i }))
            .collect(),
    ))
    .execute(&db)
    .await
    .unwrap();
    let snapshot = "SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY project_id, event_id), '[]')
                    FROM events e";
    let before: Value = sqlx::query_scalar(snapshot).fetch_one(&db).await.unwrap();
    let days: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT (received_at AT TIME ZONE 'UTC')::date) FROM events",
    )
    .fetch_one(&db)
    .await
    .unwrap();

    let app = TestApp::ready(&env.settings).await;
    let after: Value = sqlx::query_scalar(snapshot).fetch_one(&db).await.unwrap();
    assert_eq!(after.as_array().map(Vec::len), Some(rows.len()));
    assert!(after == before, "the rows changed in the migration");
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM events_default")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(in_default, 0);
    // A partition per day that had rows (today's among the days created ahead).
    let names = partitions(&db).await;
    assert!(names.len() as i64 > days, "{names:?}");
    // The row near midnight is claimed: its retry after midnight is not stored again.
    let near: i64 = sqlx::query_scalar("SELECT count(*) FROM event_keys_near_midnight")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(near >= 1);
    // Read back through the API, by id and by issue.
    let (_, id, _, _) = rows[0];
    assert!(app.event(EventId::from_uuid(id)).await.is_some());
    let (status, body) = app
        .get(&format!("/api/projects/1/issues/{issue}/events?limit=10"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(10));

    db.close().await;
    app.stop().await;
}
