//! `GET /api/projects/{id}/errors`: JavaScript errors in context. Per time bucket: errors,
//! affected users, page views, the error rate (errors per page view), sessions and the
//! share of them without an unhandled error (crash-free); the period's totals beside the
//! period before; per release, sessions, errors and crash-free sessions; per page, errors,
//! issues and the error rate. Parameters and answer: docs/analytics.md#errors.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use shared::event::ProjectId;
use shared::query::Query;
use sqlx::PgPool;

use super::window::{analytics_query, free, per_bucket, per_value, rate, total};
use super::{ApiError, State, authorize};
use crate::analytics::{
    AFFECTED_USERS, ERRORS, ISSUE, PAGE, PAGEVIEWS, TOTAL, hll, split_issue_page,
};
use crate::db::StoreError;
use crate::db::rollups::{self, SessionFilter, SessionGroup, Sessions, Slice, Summed};

/// Issues named beside each page.
const TOP_ISSUES: usize = 3;

/// A page's errors, and per issue.
type PageErrors = (i64, HashMap<i64, i64>);

analytics_query!(ErrorsQuery {});

pub async fn errors(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<ErrorsQuery>,
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
    query: &ErrorsQuery,
) -> Result<Value, ApiError> {
    let project = i64::from(project.get());
    let (window, filters, limit) = query.params().parse(&[PAGE])?;
    // What committed batches left pending counts too: an answer is never behind the events.
    rollups::fold(pool).await?;
    let (slice, previous) = window.slices(project, &filters, true);
    let buckets = window.range.starts.len();
    let page = filters.of(PAGE);

    let errors = per_bucket(&error_rows(pool, &slice, page, true).await?, buckets);
    let previous_errors = total(&error_rows(pool, &previous, page, false).await?);
    let pageviews = per_bucket(
        &rollups::counts(pool, &slice, &[PAGEVIEWS], true).await?,
        buckets,
    );
    let previous_pageviews = total(&rollups::counts(pool, &previous, &[PAGEVIEWS], false).await?);
    // Affected users are sketched for the total only.
    let (users, total_users, previous_users) = if page.is_none() {
        let mut per: Vec<Vec<(i16, i16)>> = vec![Vec::new(); buckets];
        for (tb, _, register, rank) in
            rollups::registers(pool, &slice, AFFECTED_USERS, true).await?
        {
            if let Some(registers) = per.get_mut(tb) {
                registers.push((register, rank));
            }
        }
        let estimate = |rows: Vec<(usize, String, i16, i16)>| {
            json!(hll::estimate(rows.into_iter().map(|r| (r.2, r.3))).round())
        };
        (
            per.into_iter()
                .map(|registers| json!(hll::estimate(registers).round()))
                .collect(),
            estimate(rollups::registers(pool, &slice, AFFECTED_USERS, false).await?),
            estimate(rollups::registers(pool, &previous, AFFECTED_USERS, false).await?),
        )
    } else {
        (vec![Value::Null; buckets], Value::Null, Value::Null)
    };

    let session_filter = SessionFilter {
        environment: filters.environment,
        release: filters.release,
        entry_page: page,
        ..SessionFilter::default()
    };
    let sessions_of = |starts, until, per_bucket, group| {
        rollups::sessions(
            pool,
            project,
            starts,
            until,
            &session_filter,
            per_bucket,
            group,
        )
    };
    let mut sessions = vec![Sessions::default(); buckets];
    for row in sessions_of(
        &window.range.starts,
        window.range.until,
        true,
        SessionGroup::All,
    )
    .await?
    {
        let bucket = row.bucket;
        if let Some(slot) = sessions.get_mut(bucket) {
            *slot = row;
        }
    }
    let (session_count, crashed) = sessions
        .iter()
        .fold((0, 0), |a, s| (a.0 + s.sessions, a.1 + s.crashed));
    let before = sessions_of(
        &window.previous.starts,
        window.previous.until,
        false,
        SessionGroup::All,
    )
    .await?
    .pop()
    .unwrap_or_default();

    let mut answer = window.describe_hours();
    answer["series"] = json!({
        "errors": errors,
        "affected_users": users,
        "pageviews": pageviews,
        "error_rate": errors.iter().zip(&pageviews).map(|(e, p)| rate(*e, *p)).collect::<Vec<_>>(),
        "sessions": sessions.iter().map(|s| s.sessions).collect::<Vec<_>>(),
        "crash_free_sessions": sessions.iter().map(|s| free(s.crashed, s.sessions)).collect::<Vec<_>>(),
    });
    let error_total: i64 = errors.iter().sum();
    let pageview_total: i64 = pageviews.iter().sum();
    answer["totals"] = json!({
        "errors": {"value": error_total, "previous": previous_errors},
        "affected_users": {"value": total_users, "previous": previous_users},
        "pageviews": {"value": pageview_total, "previous": previous_pageviews},
        "error_rate": {"value": rate(error_total, pageview_total),
                       "previous": rate(previous_errors, previous_pageviews)},
        "sessions": {"value": session_count, "previous": before.sessions},
        "crash_free_sessions": {"value": free(crashed, session_count),
                                "previous": free(before.crashed, before.sessions)},
    });

    // Per release: the releases' own rows, whatever the page.
    let by_release = Slice {
        dim: TOTAL,
        value: None,
        by_release: true,
        ..slice.clone()
    };
    let release_errors = per_value(rollups::counts(pool, &by_release, &[ERRORS], false).await?);
    let release_views = per_value(rollups::counts(pool, &by_release, &[PAGEVIEWS], false).await?);
    let mut releases = sessions_of(
        &window.range.starts,
        window.range.until,
        false,
        SessionGroup::Release,
    )
    .await?;
    releases.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.value.cmp(&b.value))
    });
    answer["releases"] = releases
        .into_iter()
        .take(limit)
        .map(|row| {
            let errors = release_errors.get(&row.value).copied().unwrap_or_default();
            let views = release_views.get(&row.value).copied().unwrap_or_default();
            json!({
                "release": row.value,
                "sessions": row.sessions,
                "crash_free_sessions": free(row.crashed, row.sessions),
                "errors": errors,
                "error_rate": rate(errors, views),
            })
        })
        .collect::<Vec<_>>()
        .into();

    // Per page: errors and their issues (the most frequent first), beside page views.
    let mut pages: BTreeMap<String, PageErrors> = BTreeMap::new();
    for (_, value, _, _, n) in error_rows(pool, &slice, page, false).await? {
        let (issue, page) = split_issue_page(&value);
        let entry = pages.entry(page.to_owned()).or_default();
        entry.0 += n;
        *entry.1.entry(issue).or_default() += n;
    }
    let mut earlier: HashMap<String, i64> = HashMap::new();
    for (_, value, _, _, n) in error_rows(pool, &previous, page, false).await? {
        *earlier
            .entry(split_issue_page(&value).1.to_owned())
            .or_default() += n;
    }
    let page_slice = slice.of(PAGE, page);
    let views = per_value(rollups::counts(pool, &page_slice, &[PAGEVIEWS], false).await?);
    let mut pages: Vec<(String, PageErrors)> = pages.into_iter().collect();
    pages.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    answer["pages"] = pages
        .into_iter()
        .take(limit)
        .map(|(page, (errors, issues))| {
            let mut top: Vec<(i64, i64)> = issues.iter().map(|(i, n)| (*i, *n)).collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let pageviews = views.get(&page).copied().unwrap_or_default();
            json!({
                "page": page,
                "errors": errors,
                "previous": earlier.get(&page).copied().unwrap_or_default(),
                "issues": issues.len(),
                "top_issues": top.iter().take(TOP_ISSUES).filter(|t| t.0 > 0)
                    .map(|(issue, n)| json!({"issue": issue, "errors": n})).collect::<Vec<_>>(),
                "pageviews": pageviews,
                "error_rate": rate(errors, pageviews),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Ok(answer)
}

/// Errors in `slice`: from the total's rows, or, on one page, from the rows of its issues
/// (values `<issue> <page>`, whatever `slice`'s dimension).
async fn error_rows(
    pool: &sqlx::PgPool,
    slice: &Slice<'_>,
    page: Option<&str>,
    per_bucket: bool,
) -> Result<Vec<Summed>, StoreError> {
    let by_issue = slice.of(ISSUE, None);
    Ok(rollups::counts(pool, &by_issue, &[ERRORS], per_bucket)
        .await?
        .into_iter()
        .filter(|row| page.is_none_or(|page| split_issue_page(&row.1).1 == page))
        .collect())
}
