//! `GET /api/projects/{id}/releases`: each release seen in the range, newest first: when it
//! was first and last seen, its page views and share of them (adoption), sessions, errors,
//! error rate, crash-free sessions, the issues first seen in it and those that came back in
//! it, and its vitals' p75 beside the previous release's. Parameters and answer:
//! docs/analytics.md#releases.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde_json::{Map, Value, json};
use shared::event::ProjectId;
use shared::query::Query;
use sqlx::PgPool;

use super::window::{analytics_query, free, per_value, rate};
use super::{ApiError, State, authorize};
use crate::analytics::histogram::Histogram;
use crate::analytics::{ERRORS, PAGEVIEWS, VITALS, metric_min};
use crate::db::issues;
use crate::db::rollups::{self, SessionFilter, SessionGroup, Slice};

analytics_query!(ReleasesQuery {});

pub async fn releases(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<ReleasesQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project).await?;
    let answer = answer(state.store.pool(), project, &query).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The answer of the endpoint, for the dashboard's pages too (`api::pages`).
pub async fn answer(
    pool: &PgPool,
    project_id: ProjectId,
    query: &ReleasesQuery,
) -> Result<Value, ApiError> {
    let project = i64::from(project_id.get());
    let (window, filters, limit) = query.params().parse(&[])?;
    // What committed batches left pending counts too: an answer is never behind the events.
    rollups::fold(pool).await?;
    let (slice, _) = window.slices(project, &filters, true);
    let slice = Slice {
        by_release: true,
        ..slice
    };
    let pageviews = per_value(rollups::counts(pool, &slice, &[PAGEVIEWS], false).await?);
    let errors = per_value(rollups::counts(pool, &slice, &[ERRORS], false).await?);
    let filter = SessionFilter {
        environment: filters.environment,
        release: filters.release,
        ..SessionFilter::default()
    };
    let sessions: HashMap<String, (i64, i64)> = rollups::sessions(
        pool,
        project,
        &window.range.starts,
        window.range.until,
        &filter,
        false,
        SessionGroup::Release,
    )
    .await?
    .into_iter()
    .map(|row| (row.value, (row.sessions, row.crashed)))
    .collect();
    let metrics: Vec<i16> = VITALS.iter().map(|(_, m, _)| *m).collect();
    let mut vitals: HashMap<String, HashMap<i16, Histogram>> = HashMap::new();
    for (_, release, metric, bucket, n) in
        rollups::histograms(pool, &slice, &metrics, false).await?
    {
        vitals
            .entry(release)
            .or_default()
            .entry(metric)
            .or_default()
            .add(bucket, n);
    }

    // Every release's first and last hour, in order: the one before a release is the
    // release first seen before it.
    let mut seen =
        rollups::releases_seen(pool, project, &[PAGEVIEWS, ERRORS], filters.environment).await?;
    seen.retain(|(release, _, _)| !release.is_empty());
    seen.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let active: HashSet<&String> = pageviews
        .keys()
        .chain(errors.keys())
        .chain(sessions.keys())
        .collect();
    let listed: Vec<(usize, &(String, _, _))> = seen
        .iter()
        .enumerate()
        .filter(|(_, (release, _, _))| active.contains(release))
        .rev()
        .take(limit)
        .collect();
    let names: Vec<&str> = listed.iter().map(|(_, r)| r.0.as_str()).collect();
    let issues: HashMap<String, (i64, i64)> = issues::per_release(pool, project_id, &names)
        .await
        .map_err(crate::db::StoreError::from)?
        .into_iter()
        .map(|(release, new, regressed)| (release, (new, regressed)))
        .collect();
    let all_views: i64 = pageviews.values().sum();
    let p75s = |release: &str| {
        let mut out = Map::new();
        for (_, metric, name) in VITALS {
            let p75 = vitals
                .get(release)
                .and_then(|by_metric| by_metric.get(&metric))
                .and_then(|h| h.quantile(0.75, metric_min(metric)));
            out.insert(name.into(), json!(p75));
        }
        Value::Object(out)
    };
    let answer_rows: Vec<Value> = listed
        .iter()
        .map(|(index, (release, first, last))| {
            let views = pageviews.get(release).copied().unwrap_or_default();
            let errors = errors.get(release).copied().unwrap_or_default();
            let (sessions, crashed) = sessions.get(release).copied().unwrap_or_default();
            let (new, regressed) = issues.get(release).copied().unwrap_or_default();
            let previous = index.checked_sub(1).and_then(|i| seen.get(i)).map_or(
                Value::Null,
                |(before, _, _)| json!({"release": before, "vitals_p75": p75s(before)}),
            );
            json!({
                "release": release,
                "first_seen": shared::time::format(*first),
                "last_seen": shared::time::format(*last + Duration::hours(1)),
                "pageviews": views,
                "adoption": rate(views, all_views),
                "sessions": sessions,
                "crash_free_sessions": free(crashed, sessions),
                "errors": errors,
                "error_rate": rate(errors, views),
                "new_issues": new,
                "regressed_issues": regressed,
                "vitals_p75": p75s(release),
                "previous": previous,
            })
        })
        .collect();
    let mut answer = window.describe_hours();
    answer["releases"] = answer_rows.into();
    Ok(answer)
}
