//! The analytics endpoints against exact SQL over the raw events: events go through the
//! real processor (its consumer, its batch transaction), the endpoints answer from the
//! rollups, and each figure is checked against what PostgreSQL computes from `events`.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;
use shared::config::Consumers;
use shared::event::{Client, Detail, Event, VitalName};
use shared::testing::{ADMIN_TOKEN, TestEnv};
use sqlx::PgPool;

use crate::support::{
    TestApp, api_time, database, event, ids, json, publish_many, publisher, wait_stored_exactly,
};

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";

/// The start of the current UTC hour, minus `hours`.
pub fn hours_ago(hours: i64) -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::hours(1))
        .expect("an hour")
        - Duration::hours(hours)
}

pub fn with_client(mut event: Event, ua: &str, url: &str) -> Event {
    event.client = Client {
        ip: None,
        user_agent: Some(ua.into()),
    };
    event.url = Some(url.into());
    event
}

/// Three pages: `/order/:id` (ids collapsed), `/docs/*` (the project's pattern), `/cart`.
pub fn url_of(i: usize) -> String {
    match i % 3 {
        0 => format!("https://shop.example/order/{}?ref=mail", 1000 + i),
        1 => format!("https://shop.example/docs/guide/{}", i % 5),
        _ => "https://shop.example/cart#top".into(),
    }
}

/// The page the processor should name for each URL, spelled as SQL over `events.url`.
pub const PAGE_SQL: &str = "CASE WHEN url LIKE '%/order/%' THEN '/order/:id'
                             WHEN url LIKE '%/docs/%' THEN '/docs/*' ELSE '/cart' END";

fn vital_event(name: VitalName, value: f64, at: DateTime<Utc>, i: usize) -> Event {
    let ua = if i.is_multiple_of(2) { CHROME } else { IPHONE };
    with_client(
        event(
            Detail::Vital {
                name,
                value,
                rating: name.rate(value),
                navigation_type: None,
                attribution: None,
            },
            at,
        ),
        ua,
        &url_of(i),
    )
}

pub async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    json(app.get_with(path, Some(ADMIN_TOKEN)).await).await
}

/// Whether `got` is within 5 % (one bucket) of `exact`, or `floor` of it in absolute terms.
pub fn near(got: &Value, exact: f64, floor: f64) -> bool {
    let got = got.as_f64().unwrap_or(f64::NAN);
    (got - exact).abs() <= (exact.abs() * 0.05).max(floor)
}

async fn percentile(db: &PgPool, name: &str, p: f64, page: Option<&str>) -> f64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT percentile_cont($2) WITHIN GROUP (ORDER BY (payload->>'value')::float8)
         FROM events WHERE routing_key = 'perf.vital' AND payload->>'name' = $1
           AND ($3::text IS NULL OR {PAGE_SQL} = $3)"
    )))
    .bind(name)
    .bind(p)
    .bind(page)
    .fetch_one(db)
    .await
    .expect("a percentile")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vitals_percentiles_are_within_a_bucket_of_percentile_cont_over_the_raw_events() {
    let mut env = TestEnv::new();
    env.settings.projects[0].routes = vec!["/docs/*".into()];
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    let base = hours_ago(5);
    let mut events = Vec::new();
    for i in 0..900 {
        let at = base + Duration::seconds(i as i64 * 17);
        events.push(vital_event(
            VitalName::Lcp,
            400.0 + ((i * 7919) % 5000) as f64,
            at,
            i,
        ));
        events.push(vital_event(
            VitalName::Inp,
            16.0 + ((i * 104_729) % 700) as f64,
            at,
            i,
        ));
        events.push(vital_event(
            VitalName::Cls,
            ((i * 31) % 400) as f64 / 1000.0,
            at,
            i,
        ));
    }
    publish_many(&publisher(&env).await, &events).await;
    wait_stored_exactly(&env, &db, &ids(&events), StdDuration::from_secs(120)).await;

    let range = format!("since={}&until={}", api_time(base), api_time(hours_ago(0)));
    for interval in ["1h", "1d"] {
        let (status, body) = get(
            &app,
            &format!("/api/projects/1/vitals?{range}&interval={interval}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for (name, floor) in [("LCP", 1.0), ("INP", 1.0), ("CLS", 1e-4)] {
            let summary = &body["summary"][name];
            assert_eq!(summary["count"], 900, "{name} {interval}: {summary}");
            for (label, p) in [("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99)] {
                let exact = percentile(&db, name, p, None).await;
                assert!(
                    near(&summary[label], exact, floor),
                    "{name} {label} {interval}: {} vs exact {exact}",
                    summary[label]
                );
            }
            let good: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events WHERE routing_key = 'perf.vital'
                   AND payload->>'name' = $1 AND payload->>'rating' = 'good'",
            )
            .bind(name)
            .fetch_one(&db)
            .await
            .expect("a count");
            let share = summary["good"].as_f64().expect("a share");
            assert!(
                (share - good as f64 / 900.0).abs() < 1e-4,
                "{name}: {share} vs {good}/900"
            );
        }
        // The trend's counts add up to the summary's.
        let counts: i64 = body["series"]["LCP"]["count"]
            .as_array()
            .expect("counts")
            .iter()
            .map(|n| n.as_i64().expect("a count"))
            .sum();
        assert_eq!(counts, 900, "{interval}");
        assert_eq!(
            body["series"]["LCP"]["p75"].as_array().map(Vec::len),
            body["timestamps"].as_array().map(Vec::len)
        );
    }

    // Per page, sorted by the worst p75 first; per device class.
    let (status, body) = get(&app, &format!("/api/projects/1/vitals?{range}&metric=lcp")).await;
    assert_eq!(status, 200, "{body}");
    let pages = body["pages"].as_array().expect("pages");
    let names: Vec<&str> = pages.iter().filter_map(|p| p["page"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["/cart", "/docs/*", "/order/:id"], "{body}");
    let p75s: Vec<f64> = pages.iter().filter_map(|p| p["p75"].as_f64()).collect();
    assert!(p75s.windows(2).all(|w| w[0] >= w[1]), "{p75s:?}");
    for page in pages {
        let name = page["page"].as_str().expect("a page");
        let exact = percentile(&db, "LCP", 0.75, Some(name)).await;
        assert!(
            near(&page["p75"], exact, 1.0),
            "{name}: {} vs {exact}",
            page["p75"]
        );
        assert_eq!(page["count"], 300);
    }
    let devices: Vec<(&str, i64)> = body["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().expect("a name"),
                d["count"].as_i64().expect("a count"),
            )
        })
        .collect();
    assert_eq!(devices.iter().map(|d| d.1).sum::<i64>(), 900, "{devices:?}");
    assert!(
        devices.contains(&("mobile", 450)) && devices.contains(&("desktop", 450)),
        "{devices:?}"
    );
    let browsers: Vec<&str> = body["browsers"]
        .as_array()
        .expect("browsers")
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert!(
        browsers.contains(&"Chrome") && browsers.contains(&"Safari"),
        "{browsers:?}"
    );

    // Filtered to one page, the trend is that page's.
    let (status, body) = get(&app, &format!("/api/projects/1/vitals?{range}&page=/cart")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["LCP"]["count"], 300);
    let exact = percentile(&db, "LCP", 0.9, Some("/cart")).await;
    assert!(near(&body["summary"]["LCP"]["p90"], exact, 1.0));
    app.stop().await;
}

/// A processor whose project names `/docs/*` pages, with one consume session (so a marker
/// published last is stored last), and its database.
pub async fn one_session_app() -> (TestEnv, TestApp, PgPool) {
    let mut env = TestEnv::new();
    env.settings.projects[0].routes = vec!["/docs/*".into()];
    env.settings.processor.consumers = Consumers::new(1).expect("1 session");
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    (env, app, db)
}

/// `events` until stored, then every one again (an SDK's retry, a redelivery) and `marker`
/// after them, until the marker is stored too.
pub async fn deliver_twice(env: &TestEnv, db: &PgPool, events: &[Event], marker: &[Event]) {
    let publisher = publisher(env).await;
    publish_many(&publisher, events).await;
    wait_stored_exactly(env, db, &ids(events), StdDuration::from_secs(120)).await;
    publish_many(&publisher, events).await;
    publish_many(&publisher, marker).await;
    let mut all = ids(events);
    all.extend(ids(marker));
    wait_stored_exactly(env, db, &all, StdDuration::from_secs(120)).await;
}

/// A visitor's sessions: `pages` page views each, a minute apart, the first with a referrer
/// for even visitors.
fn session_events(
    visitor: usize,
    session: usize,
    pages: usize,
    start: DateTime<Utc>,
) -> Vec<Event> {
    (0..pages)
        .map(|p| {
            let referrer = (p == 0 && visitor.is_multiple_of(2))
                .then(|| "https://news.example/story".to_owned());
            let mut e = with_client(
                event(
                    Detail::Pageview {
                        referrer,
                        title: None,
                    },
                    start + Duration::minutes(p as i64),
                ),
                if visitor.is_multiple_of(3) {
                    IPHONE
                } else {
                    CHROME
                },
                &url_of(visitor + p),
            );
            e.visitor_id = Some(format!("visitor-{visitor}"));
            e.session_id = Some(format!("s-{visitor}-{session}"));
            e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_matches_exact_sql_and_a_redelivered_event_counts_once() {
    let (env, app, db) = one_session_app().await;
    let base = hours_ago(6);
    let mut events = Vec::new();
    for visitor in 0..120 {
        for session in 0..(visitor % 3 + 1) {
            let start = base + Duration::minutes((visitor * 7 + session * 90) as i64 % 330);
            events.extend(session_events(
                visitor,
                session,
                (visitor + session) % 4 + 1,
                start,
            ));
        }
    }
    // The period before: other visitors.
    for visitor in 500..520 {
        events.extend(session_events(visitor, 0, 2, base - Duration::hours(3)));
    }
    let marker = session_events(999, 0, 1, base - Duration::days(3));
    deliver_twice(&env, &db, &events, &marker).await;

    let until = hours_ago(0);
    let range = format!("since={}&until={}", api_time(base), api_time(until));
    let (status, body) = get(
        &app,
        &format!("/api/projects/1/traffic?{range}&interval=1h"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let exact = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(base)
                .bind(until)
                .fetch_one(&db)
                .await
                .expect(sql)
        }
    };
    let pageviews =
        exact("SELECT count(*) FROM events WHERE received_at >= $1 AND received_at < $2").await;
    assert_eq!(
        body["totals"]["pageviews"]["value"], pageviews,
        "{}",
        body["totals"]
    );
    let series: i64 = body["series"]["pageviews"]
        .as_array()
        .expect("a series")
        .iter()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(series, pageviews);
    let previous = exact(
        "SELECT count(*) FROM events WHERE received_at >= $1 - ($2 - $1) AND received_at < $1",
    )
    .await;
    assert_eq!(body["totals"]["pageviews"]["previous"], previous);
    assert_eq!(previous, 40);
    let visitors = exact(
        "SELECT count(DISTINCT payload->>'visitor_id') FROM events WHERE received_at >= $1 AND received_at < $2",
    )
    .await;
    let estimate = body["totals"]["visitors"]["value"]
        .as_f64()
        .expect("visitors");
    assert!(
        (estimate / visitors as f64 - 1.0).abs() <= 0.065,
        "{estimate} vs {visitors}"
    );
    let sessions_sql =
        "WITH s AS (SELECT payload->>'session_id' AS id, min(received_at) AS started,
                                          max(received_at) AS last, count(*) AS pages
                                   FROM events GROUP BY 1)";
    let sessions: (i64, i64, f64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{sessions_sql} SELECT count(*), count(*) FILTER (WHERE pages = 1),
                               avg(extract(epoch FROM last - started))::float8
                        FROM s WHERE started >= $1 AND started < $2"
    )))
    .bind(base)
    .bind(until)
    .fetch_one(&db)
    .await
    .expect("sessions");
    let totals = &body["totals"];
    assert_eq!(totals["sessions"]["value"], sessions.0, "{totals}");
    assert_eq!(totals["sessions"]["previous"], 20);
    let bounce = totals["bounce_rate"]["value"].as_f64().expect("a rate");
    assert!(
        (bounce - sessions.1 as f64 / sessions.0 as f64).abs() < 1e-4,
        "{bounce} vs {sessions:?}"
    );
    let length = totals["session_seconds"]["value"]
        .as_f64()
        .expect("seconds");
    assert!(
        (length - sessions.2).abs() < 0.1,
        "{length} vs {sessions:?}"
    );

    // Top pages, exact, with the period before beside them.
    let pages: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PAGE_SQL}, count(*) FROM events WHERE received_at >= $1 AND received_at < $2
         GROUP BY 1 ORDER BY 2 DESC, 1"
    )))
    .bind(base)
    .bind(until)
    .fetch_all(&db)
    .await
    .expect("pages");
    let answered: Vec<(String, i64)> = body["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| {
            (
                p["page"].as_str().expect("a page").to_owned(),
                p["pageviews"].as_i64().expect("a count"),
            )
        })
        .collect();
    assert_eq!(answered, pages);
    let entries: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{sessions_sql}, e AS (SELECT DISTINCT ON (payload->>'session_id') payload->>'session_id' AS id, {PAGE_SQL} AS page
                          FROM events ORDER BY payload->>'session_id', received_at)
         SELECT e.page, count(*) FROM s JOIN e USING (id)
         WHERE started >= $1 AND started < $2 GROUP BY 1 ORDER BY 2 DESC, 1"
    )))
    .bind(base)
    .bind(until)
    .fetch_all(&db)
    .await
    .expect("entry pages");
    let answered: Vec<(String, i64)> = body["entry_pages"]
        .as_array()
        .expect("entry pages")
        .iter()
        .map(|p| {
            (
                p["page"].as_str().expect("a page").to_owned(),
                p["sessions"].as_i64().expect("a count"),
            )
        })
        .collect();
    assert_eq!(answered, entries);
    let referred = exact(
        "SELECT count(*) FROM events WHERE received_at >= $1 AND received_at < $2 AND payload ? 'referrer'",
    )
    .await;
    assert_eq!(
        body["referrers"][0]["host"], "news.example",
        "{}",
        body["referrers"]
    );
    assert_eq!(body["referrers"][0]["pageviews"], referred);
    let devices: i64 = body["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["pageviews"].as_i64())
        .sum();
    assert_eq!(devices, pageviews);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_refuse_other_projects_and_bad_parameters() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let unknown_token = format!("fmt_{}", "0".repeat(64));
    for endpoint in [
        "vitals",
        "traffic",
        "errors",
        "releases",
        "api-health",
        "white-screens",
    ] {
        let (status, _) = get(&app, &format!("/api/projects/999/{endpoint}")).await;
        assert_eq!(status, 404, "{endpoint}");
        let status = app
            .get_with(&format!("/api/projects/1/{endpoint}"), None)
            .await
            .status();
        assert_eq!(status, 401, "{endpoint}");
        // A wrong admin token, and a personal token nobody holds.
        for token in ["wrong-token", unknown_token.as_str()] {
            let status = app
                .get_with(&format!("/api/projects/1/{endpoint}"), Some(token))
                .await
                .status();
            assert_eq!(status, 403, "{endpoint}");
        }
        let long = "x".repeat(300);
        for query in [
            "interval=5m",
            "interval=1w",
            "tz=Mars/Olympus",
            "since=yesterday",
            "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
            "page=/a&browser=Chrome",
            "limit=0",
            "limit=101",
            "unknown=1",
            &format!("page={long}"),
        ] {
            let (status, body) = get(&app, &format!("/api/projects/1/{endpoint}?{query}")).await;
            assert_eq!(status, 400, "{endpoint}?{query}: {body}");
            assert!(body["error"].is_string(), "{body}");
        }
        // An empty project answers zeros and nulls, not errors.
        let (status, body) = get(&app, &format!("/api/projects/1/{endpoint}")).await;
        assert_eq!(status, 200, "{body}");
        // 24 hours to now, rounded out to whole hours.
        let buckets = body["timestamps"].as_array().map_or(0, Vec::len);
        assert!((24..=25).contains(&buckets), "{body}");
    }
    for query in ["metric=FID", "sort=name"] {
        let (status, _) = get(&app, &format!("/api/projects/1/vitals?{query}")).await;
        assert_eq!(status, 400, "{query}");
    }
    // Filters an endpoint's rollups do not keep.
    for path in [
        "errors?browser=Chrome",
        "white-screens?os=iOS",
        "releases?page=/cart",
        "api-health?page=/cart",
        "traffic?metric=LCP",
    ] {
        let (status, body) = get(&app, &format!("/api/projects/1/{path}")).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_writing_one_hot_page_keep_rows_of_their_own() {
    let env = TestEnv::new();
    assert_eq!(env.settings.processor.consumers.get(), 2);
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    let at = hours_ago(1);
    let events: Vec<Event> = (0..4000)
        .map(|i| {
            let mut e = with_client(
                event(
                    Detail::Pageview {
                        referrer: None,
                        title: None,
                    },
                    at + Duration::milliseconds(i),
                ),
                CHROME,
                "https://shop.example/",
            );
            e.visitor_id = Some(format!("v{}", i % 50));
            e
        })
        .collect();
    publish_many(&publisher(&env).await, &events).await;
    wait_stored_exactly(&env, &db, &ids(&events), StdDuration::from_secs(120)).await;
    let range = format!(
        "since={}&until={}",
        api_time(at),
        api_time(at + Duration::hours(1))
    );
    let (status, body) = get(&app, &format!("/api/projects/1/traffic?{range}&page=/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totals"]["pageviews"]["value"], 4000);
    // Both sessions wrote the hot page's hour, each to its own row (the read folded what
    // was pending).
    let shards: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT shard, n FROM rollup_counts WHERE grain = 0 AND dim = 1 AND value = '/' ORDER BY shard",
    )
    .fetch_all(&db)
    .await
    .expect("rows");
    assert_eq!(shards.len(), 2, "{shards:?}");
    assert_eq!(shards.iter().map(|s| s.1).sum::<i64>(), 4000);
    assert_eq!(
        app.metric("frontmon_processor_transaction_conflicts_total")
            .await,
        0.0
    );
    // A sketch: within its error of the 50 visitors.
    let visitors = body["totals"]["visitors"]["value"]
        .as_f64()
        .expect("visitors");
    assert!((visitors / 50.0 - 1.0).abs() <= 0.065, "{visitors}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rollups_off_events_are_stored_and_nothing_is_rolled_up() {
    let mut env = TestEnv::new();
    env.settings.analytics.rollups = false;
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    let events = session_events(1, 0, 3, hours_ago(1));
    publish_many(&publisher(&env).await, &events).await;
    wait_stored_exactly(&env, &db, &ids(&events), StdDuration::from_secs(60)).await;
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM rollup_counts) + (SELECT count(*) FROM rollup_distinct)
              + (SELECT count(*) FROM rollup_sessions)
              + (SELECT count(*) FROM rollup_counts_pending)
              + (SELECT count(*) FROM rollup_distinct_pending)",
    )
    .fetch_one(&db)
    .await
    .expect("a count");
    assert_eq!(rows, 0);
    app.stop().await;
}
