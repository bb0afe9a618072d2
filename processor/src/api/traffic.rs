//! `GET /api/projects/{id}/traffic`: page views, unique visitors, sessions, bounce rate and
//! session length per time bucket; the period's totals beside the period before; and the
//! top pages, entry pages, referrer hosts, browsers, OS and device classes, each with the
//! previous period's figure. Parameters and answer: docs/analytics.md#traffic.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use shared::event::ProjectId;
use shared::query::Query;
use sqlx::PgPool;

use super::window::{analytics_query, per_bucket, per_value, rate};
use super::{ApiError, State, authorize};
use crate::analytics::{BROWSER, DEVICE, OS, PAGE, PAGEVIEWS, REFERRER, TOTAL, VISITORS, hll};
use crate::db::rollups::{self, SessionFilter, SessionGroup};

analytics_query!(TrafficQuery {});

pub async fn traffic(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<TrafficQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project).await?;
    let answer = answer(state.store.pool(), project, &query).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The answer of the endpoint, for the dashboard's pages too (`api::pages`).
pub async fn answer(
    pool: &PgPool,
    project: ProjectId,
    query: &TrafficQuery,
) -> Result<Value, ApiError> {
    let project = i64::from(project.get());
    let (window, filters, limit) = query.params().parse(&[PAGE, BROWSER, OS, DEVICE])?;
    // What committed batches left pending counts too: an answer is never behind the events.
    rollups::fold(pool).await?;
    let (slice, previous) = window.slices(project, &filters, false);
    let buckets = window.range.starts.len();

    // Page views and visitors per bucket, and over each period.
    let pageviews = per_bucket(
        &rollups::counts(pool, &slice, &[PAGEVIEWS], true).await?,
        buckets,
    );
    let previous_pageviews: i64 = rollups::counts(pool, &previous, &[PAGEVIEWS], false)
        .await?
        .iter()
        .map(|row| row.4)
        .sum();
    // Visitors are sketched for the total and per page only.
    let sketched = filters.dim == TOTAL || filters.dim == PAGE;
    let (visitors, total_visitors, previous_visitors) = if sketched {
        let mut per_bucket: Vec<Vec<(i16, i16)>> = vec![Vec::new(); buckets];
        for (tb, _, register, rank) in rollups::registers(pool, &slice, VISITORS, true).await? {
            if let Some(registers) = per_bucket.get_mut(tb) {
                registers.push((register, rank));
            }
        }
        let total = rollups::registers(pool, &slice, VISITORS, false).await?;
        let before = rollups::registers(pool, &previous, VISITORS, false).await?;
        (
            per_bucket
                .into_iter()
                .map(|registers| json!(hll::estimate(registers).round()))
                .collect::<Vec<_>>(),
            json!(hll::estimate(total.into_iter().map(|r| (r.2, r.3))).round()),
            json!(hll::estimate(before.into_iter().map(|r| (r.2, r.3))).round()),
        )
    } else {
        (vec![Value::Null; buckets], Value::Null, Value::Null)
    };

    // Sessions, by when they started: exact, from the sessions' rows.
    let session_filter = SessionFilter {
        environment: filters.environment,
        release: filters.release,
        entry_page: filters.of(PAGE),
        browser: filters.of(BROWSER),
        os: filters.of(OS),
        device: filters.of(DEVICE),
    };
    let mut sessions = vec![(0i64, 0i64, 0f64); buckets];
    for row in rollups::sessions(
        pool,
        project,
        &window.range.starts,
        window.range.until,
        &session_filter,
        true,
        SessionGroup::All,
    )
    .await?
    {
        if let Some(slot) = sessions.get_mut(row.bucket) {
            *slot = (row.sessions, row.bounces, row.seconds);
        }
    }
    let total_sessions = sessions
        .iter()
        .fold((0, 0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
    let previous_sessions = rollups::sessions(
        pool,
        project,
        &window.previous.starts,
        window.previous.until,
        &session_filter,
        false,
        SessionGroup::All,
    )
    .await?
    .first()
    .map_or((0, 0, 0.0), |row| (row.sessions, row.bounces, row.seconds));

    let mut answer = window.describe();
    answer["series"] = json!({
        "pageviews": pageviews,
        "visitors": visitors,
        "sessions": sessions.iter().map(|s| s.0).collect::<Vec<_>>(),
        "bounce_rate": sessions.iter().map(|s| rate(s.1, s.0)).collect::<Vec<_>>(),
        "session_seconds": sessions.iter().map(|s| mean(s.2, s.0)).collect::<Vec<_>>(),
    });
    answer["totals"] = json!({
        "pageviews": {"value": pageviews.iter().sum::<i64>(), "previous": previous_pageviews},
        "visitors": {"value": total_visitors, "previous": previous_visitors},
        "sessions": {"value": total_sessions.0, "previous": previous_sessions.0},
        "bounce_rate": {"value": rate(total_sessions.1, total_sessions.0),
                        "previous": rate(previous_sessions.1, previous_sessions.0)},
        "session_seconds": {"value": mean(total_sessions.2, total_sessions.0),
                            "previous": mean(previous_sessions.2, previous_sessions.0)},
    });

    // The tables: page views by page, referrer, browser, OS and device, this period and the
    // one before; visitors beside pages.
    for (key, dim) in [
        ("pages", PAGE),
        ("referrers", REFERRER),
        ("browsers", BROWSER),
        ("os", OS),
        ("devices", DEVICE),
    ] {
        let now = slice.of(dim, filters.of(dim));
        let before = previous.of(dim, filters.of(dim));
        let current = per_value(rollups::counts(pool, &now, &[PAGEVIEWS], false).await?);
        let earlier = per_value(rollups::counts(pool, &before, &[PAGEVIEWS], false).await?);
        let mut top: Vec<(String, i64)> = current.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(limit);
        let mut page_visitors: BTreeMap<String, Vec<(i16, i16)>> = BTreeMap::new();
        if dim == PAGE && sketched {
            for (_, value, register, rank) in
                rollups::registers(pool, &now, VISITORS, false).await?
            {
                page_visitors
                    .entry(value)
                    .or_default()
                    .push((register, rank));
            }
        }
        let name = if dim == PAGE {
            "page"
        } else if dim == REFERRER {
            "host"
        } else {
            "name"
        };
        answer[key] = top
            .into_iter()
            .map(|(value, n)| {
                let mut row = json!({
                    name: value,
                    "pageviews": n,
                    "previous": earlier.get(&value).copied().unwrap_or_default(),
                });
                if dim == PAGE {
                    row["visitors"] = page_visitors
                        .remove(&value)
                        .map_or(Value::Null, |r| json!(hll::estimate(r).round()));
                }
                row
            })
            .collect::<Vec<_>>()
            .into();
    }

    // Entry pages: sessions by the page they started on, with their bounce rate.
    let entries = rollups::sessions(
        pool,
        project,
        &window.range.starts,
        window.range.until,
        &session_filter,
        false,
        SessionGroup::EntryPage,
    )
    .await?;
    let earlier: HashMap<String, i64> = rollups::sessions(
        pool,
        project,
        &window.previous.starts,
        window.previous.until,
        &session_filter,
        false,
        SessionGroup::EntryPage,
    )
    .await?
    .into_iter()
    .map(|row| (row.value, row.sessions))
    .collect();
    let mut entries: Vec<_> = entries
        .into_iter()
        .filter(|row| !row.value.is_empty())
        .collect();
    entries.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.value.cmp(&b.value))
    });
    answer["entry_pages"] = entries
        .into_iter()
        .take(limit)
        .map(|row| {
            json!({
                "page": row.value,
                "sessions": row.sessions,
                "previous": earlier.get(&row.value).copied().unwrap_or_default(),
                "bounce_rate": rate(row.bounces, row.sessions),
                "session_seconds": mean(row.seconds, row.sessions),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Ok(answer)
}

fn mean(sum: f64, n: i64) -> Value {
    if n == 0 {
        Value::Null
    } else {
        json!((sum / n as f64 * 10.0).round() / 10.0)
    }
}
