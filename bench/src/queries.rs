//! The analytics endpoints' speed over a large data set (`bench --analytics-queries N`):
//! [`seed`] writes N events over 30 days (or `--analytics-db NAME` reuses a database seeded
//! before), the release processor serves them, and every endpoint of [`ENDPOINTS`] is asked
//! over the last 30 days and the last 24 hours, with and without a filter, a few times to
//! warm up and then `--requests` times, one request at a time. The table gives each one's
//! p50 and p95 against the target (p95 under 100 ms over 30 days).
//!
//! The ceiling, measured in the same run: what the same questions cost answered exactly from
//! the raw events (the p75 LCP per page by `percentile_cont`, page views and distinct
//! visitors by `count`), which is what the rollups save; and how far the endpoint's p75 per
//! page is from the exact one (its histogram's buckets are ~2% wide).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use shared::event::ProjectId;
use sqlx::{Connection as _, PgConnection};

use crate::client::Connection;
use crate::error::BenchError;
use crate::options::Options;
use crate::sandbox::Sandbox;
use crate::seed::{self, Seeded};
use crate::services::{Launcher, Service};
use crate::stats::Latencies;
use crate::synthetic::Plan;
use crate::table::{Align, Table, thousands};

/// An analytics endpoint, and a filter it takes (a query-string pair, URL-encoded).
pub struct Endpoint {
    pub name: &'static str,
    pub filter: &'static str,
}

/// The endpoints measured: a new analytics endpoint adds its line.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "vitals",
        filter: "page=%2Fcheckout",
    },
    Endpoint {
        name: "traffic",
        filter: "page=%2Fcheckout",
    },
    Endpoint {
        name: "errors",
        filter: "page=%2Fcheckout",
    },
    Endpoint {
        name: "releases",
        filter: "environment=production",
    },
    Endpoint {
        name: "api-health",
        filter: "environment=production",
    },
    Endpoint {
        name: "white-screens",
        filter: "page=%2Fcheckout",
    },
];

/// Requests before the timed ones, per case: connection, plan and page caches.
const WARM_UP: usize = 3;
/// The target: p95 below this over 30 days.
const TARGET: Duration = Duration::from_millis(100);
/// Days the data set spans.
const DAYS: u32 = 30;

/// One endpoint, window and filter, measured.
#[derive(Debug)]
pub struct Case {
    pub endpoint: &'static str,
    pub window: &'static str,
    pub filter: Option<&'static str>,
    pub p50: Duration,
    pub p95: Duration,
    pub max: Duration,
    pub bytes: usize,
}

/// An exact answer from the raw events, timed.
#[derive(Debug)]
pub struct Exact {
    pub question: &'static str,
    /// Each run's time, in order.
    pub runs: Vec<Duration>,
}

#[derive(Debug)]
pub struct QueryBench {
    pub seeded: Option<Seeded>,
    pub database: String,
    pub database_bytes: i64,
    pub events: i64,
    pub analyze: Option<Duration>,
    pub requests: usize,
    pub cases: Vec<Case>,
    pub exact: Vec<Exact>,
    /// (page, endpoint's p75 LCP, exact p75 LCP) for the most measured pages.
    pub accuracy: Vec<(String, f64, f64)>,
    /// `/proc/loadavg`'s first three figures before and after the queries.
    pub load: (String, String),
    pub kept: bool,
}

fn database(context: &'static str) -> impl FnOnce(sqlx::Error) -> BenchError {
    move |source| BenchError::Database { context, source }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

pub async fn run(
    options: &Options,
    sandbox: &Sandbox,
    events: usize,
) -> Result<QueryBench, BenchError> {
    let launcher = Launcher::new(sandbox, &[Service::Processor])?;
    let url = sandbox.database_url();
    let reuse = sandbox.keep_database && database_has_events(url).await;
    let (seeded, analyze) = if reuse {
        eprintln!(
            "bench: analytics queries: reusing {}",
            sandbox.database_name
        );
        (None, None)
    } else {
        sandbox.create_database().await?;
        // Started once and stopped: it migrates the schema.
        launcher.start(Service::Processor).await?.stop().await?;
        let now = Utc::now();
        let end = now.with_nanosecond(0).unwrap_or(now)
            - TimeDelta::seconds(i64::from(now.minute() * 60 + now.second()));
        let plan = Plan {
            seed: options.seed,
            events,
            days: DAYS,
            end,
            project: ProjectId::new(1).ok_or_else(|| BenchError::Usage("project 0".into()))?,
        };
        eprintln!("bench: analytics queries: seeding {events} events over {DAYS} days");
        let seeded = seed::seed(url, &sandbox.settings, plan).await?;
        eprintln!(
            "bench: seeded {} events in {:.0} s ({:.0} events/s)",
            seeded.census.events,
            seeded.elapsed.as_secs_f64(),
            seeded.per_sec()
        );
        // What autovacuum would have done by the time anyone asks: statistics for the
        // planner and a visibility map for index-only scans.
        let mut connection = PgConnection::connect(url)
            .await
            .map_err(database("connecting"))?;
        let started = Instant::now();
        sqlx::query("VACUUM (ANALYZE)")
            .execute(&mut connection)
            .await
            .map_err(database("VACUUM ANALYZE"))?;
        let _ = connection.close().await;
        (Some(seeded), Some(started.elapsed()))
    };
    let mut connection = PgConnection::connect(url)
        .await
        .map_err(database("connecting"))?;
    let (events_stored, last): (i64, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT count(*), max(received_at) FROM events")
            .fetch_one(&mut connection)
            .await
            .map_err(database("counting events"))?;
    let database_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut connection)
        .await
        .map_err(database("measuring the database"))?;
    let last = last.ok_or_else(|| BenchError::Incomplete("the database has no events".into()))?;
    // The hour after the last event: where the seeded month ends.
    let end = last
        - TimeDelta::seconds(i64::from(last.minute() * 60 + last.second()))
        - TimeDelta::nanoseconds(i64::from(last.nanosecond()))
        + TimeDelta::hours(1);

    let processor = launcher.start(Service::Processor).await?;
    let token = sandbox.settings.processor.admin_token.expose().to_owned();
    let mut client = Connection::open(processor.addr()).await?;
    let load_before = load_average();
    let mut cases = Vec::new();
    let windows = [
        ("30 days", end - TimeDelta::days(i64::from(DAYS))),
        ("24 h", end - TimeDelta::hours(24)),
    ];
    for endpoint in ENDPOINTS {
        for (window, since) in windows {
            for filter in [None, Some(endpoint.filter)] {
                let path = format!(
                    "/api/projects/1/{}?since={}&until={}{}",
                    endpoint.name,
                    since.timestamp_millis(),
                    end.timestamp_millis(),
                    filter.map(|f| format!("&{f}")).unwrap_or_default()
                );
                eprintln!("bench: analytics queries: {path}");
                let mut latencies = Latencies::default();
                let mut bytes = 0;
                for n in 0..WARM_UP + options.requests {
                    let started = Instant::now();
                    let (status, body) = client.get_authorized(&path, &token).await?;
                    let elapsed = started.elapsed();
                    if !status.is_success() {
                        return Err(BenchError::Incomplete(format!(
                            "{path} answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        )));
                    }
                    if n >= WARM_UP {
                        latencies.record(elapsed);
                        bytes = body.len();
                    }
                }
                let zero = Duration::ZERO;
                cases.push(Case {
                    endpoint: endpoint.name,
                    window,
                    filter,
                    p50: latencies.percentile(50.0).unwrap_or(zero),
                    p95: latencies.percentile(95.0).unwrap_or(zero),
                    max: latencies.percentile(100.0).unwrap_or(zero),
                    bytes,
                });
            }
        }
    }
    let month = windows[0].1;
    let path = format!(
        "/api/projects/1/vitals?since={}&until={}&metric=LCP&sort=count&limit=10",
        month.timestamp_millis(),
        end.timestamp_millis()
    );
    let (_, body) = client.get_authorized(&path, &token).await?;
    let load_after = load_average();
    drop(client);
    processor.stop().await?;

    eprintln!("bench: analytics queries: the exact answers from the raw events");
    let (exact, exact_p75) = exact_answers(&mut connection, month, end).await?;
    let _ = connection.close().await;
    let accuracy = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|answer| {
            let pages = answer.get("pages")?.as_array()?.clone();
            Some(
                pages
                    .iter()
                    .filter_map(|row| {
                        let page = row.get("page")?.as_str()?.to_owned();
                        let p75 = row.get("p75")?.as_f64()?;
                        let exact = *exact_p75.get(&page)?;
                        Some((page, p75, exact))
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    Ok(QueryBench {
        seeded,
        database: sandbox.database_name.clone(),
        database_bytes,
        events: events_stored,
        analyze,
        requests: options.requests,
        cases,
        exact,
        accuracy,
        load: (load_before, load_after),
        kept: sandbox.keep_database,
    })
}

async fn database_has_events(url: &str) -> bool {
    let Ok(mut connection) = PgConnection::connect(url).await else {
        return false;
    };
    let found = sqlx::query_scalar::<_, bool>(
        "SELECT to_regclass('events') IS NOT NULL AND EXISTS (SELECT 1 FROM events)",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap_or(false);
    let _ = connection.close().await;
    found
}

/// Runs of each exact question: the first cold-ish, the second with the pages cached.
const EXACT_RUNS: usize = 2;

/// The questions the endpoints answer from rollups, answered from the raw events instead;
/// and the exact p75 LCP per page.
async fn exact_answers(
    connection: &mut PgConnection,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(Vec<Exact>, HashMap<String, f64>), BenchError> {
    let mut p75 = HashMap::new();
    let mut runs = Vec::new();
    for _ in 0..EXACT_RUNS {
        let started = Instant::now();
        let rows: Vec<(Option<String>, Option<f64>)> = sqlx::query_as(
            "SELECT payload->>'route', percentile_cont(0.75) WITHIN GROUP
                        (ORDER BY (payload->>'value')::float8)
             FROM events
             WHERE project_id = 1 AND routing_key = 'perf.vital' AND payload->>'name' = 'LCP'
               AND received_at >= $1 AND received_at < $2
             GROUP BY 1",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&mut *connection)
        .await
        .map_err(database("the exact p75 LCP per page"))?;
        runs.push(started.elapsed());
        p75 = rows
            .into_iter()
            .filter_map(|(page, value)| Some((page?, value?)))
            .collect();
    }
    let mut exact = vec![Exact {
        question: "p75 LCP per page, 30 days (`percentile_cont` over the events)",
        runs,
    }];
    let mut runs = Vec::new();
    for _ in 0..EXACT_RUNS {
        let started = Instant::now();
        sqlx::query(
            "SELECT count(*), count(DISTINCT payload->>'visitor_id')
             FROM events
             WHERE project_id = 1 AND routing_key = 'behavior.pageview'
               AND received_at >= $1 AND received_at < $2",
        )
        .bind(since)
        .bind(until)
        .execute(&mut *connection)
        .await
        .map_err(database("the exact page views and visitors"))?;
        runs.push(started.elapsed());
    }
    exact.push(Exact {
        question: "page views and distinct visitors, 30 days (`count` over the events)",
        runs,
    });
    Ok((exact, p75))
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

impl QueryBench {
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(seeded) = &self.seeded {
            out.push_str(&format!(
                "Seeded {} events ({}) over {DAYS} days in {:.0} s: {} events/s; {} issues; \
                 VACUUM ANALYZE {:.0} s.\n",
                thousands(seeded.census.events as f64),
                seeded
                    .census
                    .by_kind
                    .iter()
                    .map(|(kind, n)| format!("{kind} {}", thousands(*n as f64)))
                    .collect::<Vec<_>>()
                    .join(", "),
                seeded.elapsed.as_secs_f64(),
                thousands(seeded.per_sec()),
                seeded.issues,
                self.analyze.map_or(0.0, |d| d.as_secs_f64()),
            ));
        }
        out.push_str(&format!(
            "Database {}: {} events, {:.1} GB{}. Load average {} before the queries, {} after.\n\n",
            self.database,
            thousands(self.events as f64),
            self.database_bytes as f64 / 1e9,
            if self.kept { ", kept" } else { ", dropped" },
            self.load.0,
            self.load.1,
        ));
        let mut table = Table::new(&[
            ("endpoint", Align::Left),
            ("window", Align::Left),
            ("filter", Align::Left),
            ("p50 ms", Align::Right),
            ("p95 ms", Align::Right),
            ("max ms", Align::Right),
            ("bytes", Align::Right),
            ("p95 < 100 ms", Align::Left),
        ]);
        for case in &self.cases {
            table.row([
                case.endpoint.to_owned(),
                case.window.to_owned(),
                case.filter
                    .map(|f| f.replace("%2F", "/"))
                    .unwrap_or_else(|| "–".into()),
                ms(case.p50),
                ms(case.p95),
                ms(case.max),
                thousands(case.bytes as f64),
                if case.p95 < TARGET {
                    "met".into()
                } else {
                    "**missed**".into()
                },
            ]);
        }
        out.push_str(&format!(
            "{} requests per row, one at a time, after {WARM_UP} to warm up:\n\n",
            self.requests
        ));
        out.push_str(&table.render());
        let mut exact = Table::new(&[
            ("the ceiling: exact, from the raw events", Align::Left),
            ("runs, ms", Align::Right),
        ]);
        for question in &self.exact {
            exact.row([
                question.question.to_owned(),
                question
                    .runs
                    .iter()
                    .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        out.push('\n');
        out.push_str(&exact.render());
        if !self.accuracy.is_empty() {
            let mut accuracy = Table::new(&[
                ("page (most LCPs, 30 days)", Align::Left),
                ("endpoint p75 ms", Align::Right),
                ("exact p75 ms", Align::Right),
                ("error", Align::Right),
            ]);
            for (page, p75, exact) in &self.accuracy {
                accuracy.row([
                    page.clone(),
                    format!("{p75:.0}"),
                    format!("{exact:.0}"),
                    format!("{:+.1}%", (p75 / exact - 1.0) * 100.0),
                ]);
            }
            out.push('\n');
            out.push_str(&accuracy.render());
        }
        out
    }
}
