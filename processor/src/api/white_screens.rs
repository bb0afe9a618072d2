//! `GET /api/projects/{id}/white-screens`: pages that stayed blank, per time bucket and
//! per page, with the rate per page view and the period before beside each. Parameters
//! and answer: docs/analytics.md#white-screens.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use shared::event::ProjectId;
use shared::query::Query;
use sqlx::PgPool;

use super::window::{analytics_query, per_bucket, per_value, rate, total};
use super::{ApiError, State, authorize};
use crate::analytics::{PAGE, PAGEVIEWS, WHITE_SCREENS};
use crate::db::rollups;

analytics_query!(WhiteScreensQuery {});

pub async fn white_screens(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<WhiteScreensQuery>,
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
    query: &WhiteScreensQuery,
) -> Result<Value, ApiError> {
    let project = i64::from(project.get());
    let (window, filters, limit) = query.params().parse(&[PAGE])?;
    // What committed batches left pending counts too: an answer is never behind the events.
    rollups::fold(pool).await?;
    let (slice, previous) = window.slices(project, &filters, true);
    let buckets = window.range.starts.len();

    let blank = per_bucket(
        &rollups::counts(pool, &slice, &[WHITE_SCREENS], true).await?,
        buckets,
    );
    let views = per_bucket(
        &rollups::counts(pool, &slice, &[PAGEVIEWS], true).await?,
        buckets,
    );
    let blank_before = total(&rollups::counts(pool, &previous, &[WHITE_SCREENS], false).await?);
    let views_before = total(&rollups::counts(pool, &previous, &[PAGEVIEWS], false).await?);
    let (blank_total, views_total) = (blank.iter().sum(), views.iter().sum());
    let mut answer = window.describe_hours();
    answer["series"] = json!({
        "white_screens": blank,
        "pageviews": views,
        "rate": blank.iter().zip(&views).map(|(b, v)| rate(*b, *v)).collect::<Vec<_>>(),
    });
    answer["totals"] = json!({
        "white_screens": {"value": blank_total, "previous": blank_before},
        "rate": {"value": rate(blank_total, views_total), "previous": rate(blank_before, views_before)},
    });

    let now = slice.of(PAGE, filters.of(PAGE));
    let current = per_value(rollups::counts(pool, &now, &[WHITE_SCREENS], false).await?);
    let earlier = per_value(
        rollups::counts(
            pool,
            &previous.of(PAGE, filters.of(PAGE)),
            &[WHITE_SCREENS],
            false,
        )
        .await?,
    );
    let page_views = per_value(rollups::counts(pool, &now, &[PAGEVIEWS], false).await?);
    let mut pages: Vec<(String, i64)> = current.into_iter().collect();
    pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    answer["pages"] = pages
        .into_iter()
        .take(limit)
        .map(|(page, n)| {
            let views = page_views.get(&page).copied().unwrap_or_default();
            json!({
                "page": page,
                "white_screens": n,
                "previous": earlier.get(&page).copied().unwrap_or_default(),
                "pageviews": views,
                "rate": rate(n, views),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Ok(answer)
}
