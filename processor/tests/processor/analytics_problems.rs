//! The errors, releases, API health and white screens endpoints against exact SQL over the
//! raw events: errors, failed calls and resources, blank pages and sessions go through the
//! real processor, are delivered twice, and each figure is checked against what PostgreSQL
//! computes from `events` and `issues`.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use shared::event::{Detail, Event, VitalName};
use sqlx::PgPool;

use crate::analytics::{
    CHROME, PAGE_SQL, deliver_twice, get, hours_ago, near, one_session_app, url_of, with_client,
};
use crate::support::{api_time, event};

/// A visitor's session in `release`: `pages` page views a minute apart from `start`.
fn session(visitor: usize, release: &str, pages: usize, start: DateTime<Utc>) -> Vec<Event> {
    (0..pages)
        .map(|p| {
            let view = event(
                Detail::Pageview {
                    referrer: None,
                    title: None,
                },
                start + Duration::minutes(p as i64),
            );
            visit(
                with_client(view, CHROME, &url_of(visitor + p)),
                visitor,
                release,
            )
        })
        .collect()
}

fn visit(mut event: Event, visitor: usize, release: &str) -> Event {
    event.visitor_id = Some(format!("visitor-{visitor}"));
    event.session_id = Some(format!("s-{visitor}"));
    event.release = Some(release.into());
    event
}

/// Error `kind` (one issue per kind) on the page of `url`; nothing caught it when
/// `unhandled`.
fn error(kind: usize, at: DateTime<Utc>, url: &str, unhandled: bool) -> Event {
    let mut error = with_client(event(Detail::Error {}, at), CHROME, url);
    error.message = Some(format!("failure {kind}"));
    error.stack = Some(format!(
        "Error: failure {kind}\n    at step{kind} (https://shop.example/app.js:{}:5)",
        10 + kind
    ));
    error.mechanism = Some(if unhandled { "onerror" } else { "manual" }.into());
    error
}

fn release_of(visitor: usize) -> &'static str {
    if visitor < 30 { "1.0" } else { "2.0" }
}

/// Everything, in the range starting at `base` and (a few) in the period before.
fn scenario(base: DateTime<Utc>) -> Vec<Event> {
    let mut events = Vec::new();
    for visitor in 0..60 {
        let start = base + Duration::minutes(visitor as i64 * 5);
        let release = release_of(visitor);
        events.extend(session(visitor, release, visitor % 3 + 1, start));
        let value = 1000.0 + ((visitor * 97) % 3000) as f64;
        let lcp = Detail::Vital {
            name: VitalName::Lcp,
            value,
            rating: VitalName::Lcp.rate(value),
            navigation_type: None,
            attribution: None,
        };
        let at = start + Duration::seconds(10);
        events.push(visit(
            with_client(event(lcp, at), CHROME, &url_of(visitor)),
            visitor,
            release,
        ));
        if visitor % 4 == 0 {
            let e = error(
                visitor % 3,
                start + Duration::seconds(30),
                &url_of(visitor),
                visitor % 8 == 0,
            );
            events.push(visit(e, visitor, release));
        }
    }
    // Errors without a session, and in the period before.
    for i in 0..5 {
        events.push(error(
            7,
            base + Duration::minutes(i * 31),
            &url_of(2),
            false,
        ));
        events.push(error(7, base - Duration::hours(3), &url_of(1), false));
    }
    for i in 0..40usize {
        let target = if i % 2 == 0 {
            format!("https://shop.example/api/orders/{}?x=1", 5000 + i)
        } else {
            "/api/cart".to_owned()
        };
        let method = if i % 2 == 0 { "GET" } else { "post" };
        let at = base + Duration::minutes(i as i64 * 7);
        let call = Detail::ApiError {
            target,
            method: Some(method.into()),
            status: Some(502),
            duration_ms: Some(100.0 + ((i * 37) % 900) as f64),
        };
        events.push(with_client(event(call, at), CHROME, &url_of(i)));
    }
    for i in 0..10usize {
        let target = if i < 7 {
            "https://cdn.example/app.js?v=3"
        } else {
            "https://cdn.example/logo.png"
        };
        let failed = Detail::ResourceError {
            target: target.into(),
            tag_name: Some("script".into()),
            selector: None,
        };
        events.push(event(failed, base + Duration::minutes(i as i64 * 13)));
    }
    for i in 0..9usize {
        let blank = Detail::WhiteScreen {
            empty_ratio: 1.0,
            points: Some(17),
        };
        let at = base + Duration::minutes(i as i64 * 17);
        events.push(with_client(event(blank, at), CHROME, &url_of(i * 2)));
    }
    events
}

async fn rows<T>(db: &PgPool, sql: &str, base: DateTime<Utc>, until: DateTime<Utc>) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(base)
        .bind(until)
        .fetch_all(db)
        .await
        .expect(sql)
}

/// A table's `name` and `count` columns.
fn column_pair(table: &Value, name: &str, count: &str) -> Vec<(String, i64)> {
    table
        .as_array()
        .expect("a table")
        .iter()
        .map(|row| {
            (
                row[name].as_str().expect(name).to_owned(),
                row[count].as_i64().expect(count),
            )
        })
        .collect()
}

fn rate(part: i64, whole: i64) -> f64 {
    (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
}

/// Sessions with a page view that started in the range, and those with an unhandled error,
/// per release ('' for all).
const SESSIONS_SQL: &str = "WITH s AS (
        SELECT payload->>'session_id' AS id, min(received_at) AS started, min(release) AS release,
               bool_or(payload->>'mechanism' IN ('onerror', 'onunhandledrejection')) AS crashed,
               count(*) FILTER (WHERE routing_key = 'behavior.pageview') AS pages
        FROM events WHERE payload ? 'session_id' GROUP BY 1)
    SELECT r, count(*), count(*) FILTER (WHERE crashed)
    FROM s, LATERAL (VALUES (''), (release)) AS v(r)
    WHERE pages > 0 AND started >= $1 AND started < $2 GROUP BY r ORDER BY r";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_releases_api_health_and_white_screens_match_exact_sql_counted_once() {
    let (env, app, db) = one_session_app().await;
    let base = hours_ago(6);
    let until = hours_ago(0);
    let events = scenario(base);
    let marker = session(999, "0.1", 1, base - Duration::days(3));
    deliver_twice(&env, &db, &events, &marker).await;
    let range = format!("since={}&until={}", api_time(base), api_time(until));
    let count = |key: &'static str, previous: bool| {
        let db = db.clone();
        async move {
            let (from, to) = if previous {
                (base - (until - base), base)
            } else {
                (base, until)
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM events WHERE routing_key = $1 AND received_at >= $2 AND received_at < $3",
            )
            .bind(key)
            .bind(from)
            .bind(to)
            .fetch_one(&db)
            .await
            .expect("a count")
        }
    };

    // Errors in context.
    let (status, body) = get(&app, &format!("/api/projects/1/errors?{range}&interval=1h")).await;
    assert_eq!(status, 200, "{body}");
    let errors = count("error.js", false).await;
    let pageviews = count("behavior.pageview", false).await;
    let totals = &body["totals"];
    assert_eq!(totals["errors"]["value"], errors, "{totals}");
    assert_eq!(totals["errors"]["previous"], count("error.js", true).await);
    assert_eq!(totals["errors"]["previous"], 5);
    assert_eq!(totals["pageviews"]["value"], pageviews);
    assert_eq!(
        totals["error_rate"]["value"].as_f64(),
        Some(rate(errors, pageviews))
    );
    let series: i64 = body["series"]["errors"]
        .as_array()
        .expect("a series")
        .iter()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(series, errors);
    assert_eq!(
        body["series"]["error_rate"].as_array().map(Vec::len),
        body["timestamps"].as_array().map(Vec::len)
    );
    let affected: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT payload->>'visitor_id') FROM events
         WHERE routing_key = 'error.js' AND received_at >= $1 AND received_at < $2",
    )
    .bind(base)
    .bind(until)
    .fetch_one(&db)
    .await
    .expect("users");
    let estimate = totals["affected_users"]["value"].as_f64().expect("users");
    assert!(
        (estimate - affected as f64).abs() <= (affected as f64 * 0.065).max(1.0),
        "{estimate} vs {affected}"
    );
    let sessions: Vec<(String, i64, i64)> = rows(&db, SESSIONS_SQL, base, until).await;
    let (_, all_sessions, crashed) = &sessions[0];
    assert!(*crashed > 0 && crashed < all_sessions, "{sessions:?}");
    assert_eq!(totals["sessions"]["value"], *all_sessions, "{totals}");
    assert_eq!(
        totals["crash_free_sessions"]["value"].as_f64(),
        Some(rate(all_sessions - crashed, *all_sessions))
    );
    for row in body["releases"].as_array().expect("releases") {
        let release = row["release"].as_str().expect("a release");
        let (_, n, crashed) = sessions.iter().find(|s| s.0 == release).expect(release);
        assert_eq!(row["sessions"], *n, "{row}");
        assert_eq!(
            row["crash_free_sessions"].as_f64(),
            Some(rate(n - crashed, *n)),
            "{row}"
        );
    }
    let pages: Vec<(String, i64, i64)> = rows(
        &db,
        &format!(
            "SELECT {PAGE_SQL}, count(*), count(DISTINCT issue_id) FROM events
             WHERE routing_key = 'error.js' AND received_at >= $1 AND received_at < $2
             GROUP BY 1 ORDER BY 2 DESC, 1"
        ),
        base,
        until,
    )
    .await;
    let answered: Vec<(String, i64, i64)> = body["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| {
            (
                p["page"].as_str().expect("a page").to_owned(),
                p["errors"].as_i64().expect("n"),
                p["issues"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(answered, pages, "{}", body["pages"]);
    // One page: its errors only, and its rate per page view.
    let (page, page_errors, _) = &pages[0];
    let (status, body) = get(&app, &format!("/api/projects/1/errors?{range}&page={page}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["totals"]["errors"]["value"], *page_errors,
        "{}",
        body["totals"]
    );
    assert!(body["totals"]["affected_users"]["value"].is_null());

    // Releases: newest first, each with its sessions, errors and issues.
    let (status, body) = get(&app, &format!("/api/projects/1/releases?{range}")).await;
    assert_eq!(status, 200, "{body}");
    let releases = body["releases"].as_array().expect("releases");
    let names: Vec<&str> = releases
        .iter()
        .filter_map(|r| r["release"].as_str())
        .collect();
    assert!(names.starts_with(&["2.0", "1.0"]), "{names:?}");
    let new_issues: Vec<(String, i64)> = rows(
        &db,
        "SELECT first_release, count(*) FROM issues WHERE $1::timestamptz < $2 GROUP BY 1",
        base,
        until,
    )
    .await;
    let per_release: Vec<(String, i64, i64)> = rows(
        &db,
        "SELECT release, count(*) FILTER (WHERE routing_key = 'error.js'),
                count(*) FILTER (WHERE routing_key = 'behavior.pageview')
         FROM events WHERE received_at >= $1 AND received_at < $2 GROUP BY 1",
        base,
        until,
    )
    .await;
    for row in &releases[..2] {
        let release = row["release"].as_str().expect("a release");
        let (_, errors, views) = per_release.iter().find(|r| r.0 == release).expect(release);
        assert_eq!(row["errors"], *errors, "{row}");
        assert_eq!(row["pageviews"], *views, "{row}");
        assert_eq!(
            row["error_rate"].as_f64(),
            Some(rate(*errors, *views)),
            "{row}"
        );
        let new = new_issues
            .iter()
            .find(|r| r.0 == release)
            .map_or(0, |r| r.1);
        assert_eq!(row["new_issues"], new, "{row}");
        let (_, n, crashed) = sessions.iter().find(|s| s.0 == release).expect(release);
        assert_eq!(
            row["crash_free_sessions"].as_f64(),
            Some(rate(n - crashed, *n)),
            "{row}"
        );
    }
    assert_eq!(releases[0]["previous"]["release"], "1.0", "{}", releases[0]);
    assert_eq!(
        releases[0]["previous"]["vitals_p75"],
        releases[1]["vitals_p75"]
    );
    let p75s: Vec<(String, f64)> = rows(
        &db,
        "SELECT release, percentile_cont(0.75) WITHIN GROUP (ORDER BY (payload->>'value')::float8)
         FROM events WHERE routing_key = 'perf.vital' AND received_at >= $1 AND received_at < $2
         GROUP BY 1 ORDER BY 1",
        base,
        until,
    )
    .await;
    assert_eq!(p75s.len(), 2);
    for (release, exact) in p75s {
        let row = releases
            .iter()
            .find(|r| r["release"] == release.as_str())
            .expect("a release");
        assert!(
            near(&row["vitals_p75"]["LCP"], exact, 1.0),
            "{row} vs {exact}"
        );
    }

    // API health: failures per endpoint, their durations, failed resources.
    let (status, body) = get(&app, &format!("/api/projects/1/api-health?{range}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["totals"]["api_failures"]["value"],
        count("error.api", false).await
    );
    assert_eq!(
        body["totals"]["resource_failures"]["value"],
        count("error.resource", false).await
    );
    let endpoints: Vec<(String, i64, f64, f64)> = rows(
        &db,
        "SELECT upper(payload->>'method') || ' ' ||
                CASE WHEN payload->>'target' LIKE '%/orders/%' THEN '/api/orders/:id' ELSE '/api/cart' END,
                count(*),
                percentile_cont(0.75) WITHIN GROUP (ORDER BY (payload->>'duration_ms')::float8),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY (payload->>'duration_ms')::float8)
         FROM events WHERE routing_key = 'error.api' AND received_at >= $1 AND received_at < $2
         GROUP BY 1 ORDER BY 2 DESC, 1",
        base,
        until,
    )
    .await;
    let answered = body["endpoints"].as_array().expect("endpoints");
    assert_eq!(answered.len(), endpoints.len(), "{answered:?}");
    for (row, (endpoint, n, p75, p95)) in answered.iter().zip(&endpoints) {
        let name = format!(
            "{} {}",
            row["method"].as_str().expect("m"),
            row["path"].as_str().expect("p")
        );
        assert_eq!(
            (&name, row["failures"].as_i64()),
            (endpoint, Some(*n)),
            "{row}"
        );
        assert!(near(&row["p75_ms"], *p75, 1.0), "{row} vs {p75}");
        assert!(near(&row["p95_ms"], *p95, 1.0), "{row} vs {p95}");
    }
    let resources: Vec<(String, i64)> = rows(
        &db,
        "SELECT split_part(payload->>'target', '?', 1), count(*) FROM events
         WHERE routing_key = 'error.resource' AND received_at >= $1 AND received_at < $2
         GROUP BY 1 ORDER BY 2 DESC, 1",
        base,
        until,
    )
    .await;
    assert_eq!(
        column_pair(&body["resources"], "url", "failures"),
        resources
    );

    // White screens per page, with their rate per page view.
    let (status, body) = get(
        &app,
        &format!("/api/projects/1/white-screens?{range}&interval=1d"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Day buckets, summed from the hours white screens are kept by.
    assert_eq!(body["grain"], "hour");
    let blank = count("error.white_screen", false).await;
    assert_eq!(body["totals"]["white_screens"]["value"], blank);
    assert_eq!(
        body["totals"]["rate"]["value"].as_f64(),
        Some(rate(blank, pageviews))
    );
    let pages: Vec<(String, i64, i64)> = rows(
        &db,
        &format!(
            "SELECT {PAGE_SQL}, count(*) FILTER (WHERE routing_key = 'error.white_screen') AS n,
                    count(*) FILTER (WHERE routing_key = 'behavior.pageview')
             FROM events WHERE received_at >= $1 AND received_at < $2
             GROUP BY 1 HAVING count(*) FILTER (WHERE routing_key = 'error.white_screen') > 0
             ORDER BY 2 DESC, 1"
        ),
        base,
        until,
    )
    .await;
    let answered: Vec<(String, i64, f64)> = body["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| {
            (
                p["page"].as_str().expect("a page").to_owned(),
                p["white_screens"].as_i64().expect("n"),
                p["rate"].as_f64().expect("a rate"),
            )
        })
        .collect();
    let expected: Vec<(String, i64, f64)> = pages
        .iter()
        .map(|(p, n, v)| (p.clone(), *n, rate(*n, *v)))
        .collect();
    assert_eq!(answered, expected);
    app.stop().await;
}
