//! `GET /api/projects/{id}/api-health`: failed API calls (fetch/XHR that failed or answered
//! a server error) and failed resources (scripts, styles, images) per time bucket; the
//! period's totals beside the period before; per endpoint (method and normalised path) its
//! failures and their p75/p95 duration; per resource URL its failures. Parameters and
//! answer: docs/analytics.md#api-health.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use shared::event::ProjectId;
use shared::query::Query;
use sqlx::PgPool;

use super::window::{analytics_query, per_bucket, per_value, total};
use super::{ApiError, State, authorize};
use crate::analytics::histogram::Histogram;
use crate::analytics::{
    API_DURATION, API_FAILURES, ENDPOINT, RESOURCE, RESOURCE_FAILURES, metric_min,
};
use crate::db::rollups;

analytics_query!(ApiHealthQuery {});

pub async fn api_health(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<ApiHealthQuery>,
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
    query: &ApiHealthQuery,
) -> Result<Value, ApiError> {
    let project = i64::from(project.get());
    let (window, filters, limit) = query.params().parse(&[])?;
    // What committed batches left pending counts too: an answer is never behind the events.
    rollups::fold(pool).await?;
    let (slice, previous) = window.slices(project, &filters, true);
    let buckets = window.range.starts.len();

    let failures = per_bucket(
        &rollups::counts(pool, &slice, &[API_FAILURES], true).await?,
        buckets,
    );
    let resources = per_bucket(
        &rollups::counts(pool, &slice, &[RESOURCE_FAILURES], true).await?,
        buckets,
    );
    let mut durations = Histogram::default();
    for (_, _, _, bucket, n) in rollups::histograms(pool, &slice, &[API_DURATION], false).await? {
        durations.add(bucket, n);
    }
    let mut answer = window.describe_hours();
    answer["series"] = json!({
        "api_failures": failures,
        "resource_failures": resources,
    });
    answer["totals"] = json!({
        "api_failures": {
            "value": failures.iter().sum::<i64>(),
            "previous": total(&rollups::counts(pool, &previous, &[API_FAILURES], false).await?),
        },
        "resource_failures": {
            "value": resources.iter().sum::<i64>(),
            "previous": total(&rollups::counts(pool, &previous, &[RESOURCE_FAILURES], false).await?),
        },
        "p75_ms": quantile(&durations, 0.75),
        "p95_ms": quantile(&durations, 0.95),
    });

    // Per endpoint, the most failures first, with their durations.
    let now = slice.of(ENDPOINT, None);
    let current = per_value(rollups::counts(pool, &now, &[API_FAILURES], false).await?);
    let earlier = per_value(
        rollups::counts(pool, &previous.of(ENDPOINT, None), &[API_FAILURES], false).await?,
    );
    let mut per_endpoint: HashMap<String, Histogram> = HashMap::new();
    for (_, value, _, bucket, n) in rollups::histograms(pool, &now, &[API_DURATION], false).await? {
        per_endpoint.entry(value).or_default().add(bucket, n);
    }
    answer["endpoints"] = top(current, limit)
        .map(|(endpoint, n)| {
            let (method, path) = endpoint.split_once(' ').unwrap_or(("", &endpoint));
            let h = per_endpoint.get(&endpoint).cloned().unwrap_or_default();
            json!({
                "method": method,
                "path": path,
                "failures": n,
                "previous": earlier.get(&endpoint).copied().unwrap_or_default(),
                "p75_ms": quantile(&h, 0.75),
                "p95_ms": quantile(&h, 0.95),
            })
        })
        .collect::<Vec<_>>()
        .into();

    // Per resource URL.
    let current = per_value(
        rollups::counts(pool, &slice.of(RESOURCE, None), &[RESOURCE_FAILURES], false).await?,
    );
    let earlier = per_value(
        rollups::counts(
            pool,
            &previous.of(RESOURCE, None),
            &[RESOURCE_FAILURES],
            false,
        )
        .await?,
    );
    answer["resources"] = top(current, limit)
        .map(|(url, n)| {
            json!({
                "url": url,
                "failures": n,
                "previous": earlier.get(&url).copied().unwrap_or_default(),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Ok(answer)
}

/// The `limit` values counted most, the most first (ties by value).
fn top(counted: HashMap<String, i64>, limit: usize) -> impl Iterator<Item = (String, i64)> {
    let mut rows: Vec<(String, i64)> = counted.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.into_iter().take(limit)
}

fn quantile(h: &Histogram, q: f64) -> Value {
    json!(h.quantile(q, metric_min(API_DURATION)))
}
