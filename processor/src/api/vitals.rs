//! `GET /api/projects/{id}/vitals`: the web vitals (LCP, INP, CLS, FCP, TTFB) from the
//! rollups: p50/p75/p90/p99 and count per time bucket (a trend), the period's summary with
//! the share rated good / needs improvement / poor, and one metric (`metric`, default LCP)
//! per page, device class, browser and OS, sorted by the worst p75 or by traffic (`sort`).
//! Parameters and answer: docs/analytics.md#vitals.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use shared::event::ProjectId;
use shared::query::Query;
use sqlx::PgPool;

use super::window::analytics_query;
use super::{ApiError, State, authorize, invalid};
use crate::analytics::histogram::Histogram;
use crate::analytics::{BROWSER, DEVICE, OS, PAGE, VITALS, metric_min};
use crate::db::rollups;

const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99)];

analytics_query!(VitalsQuery {
    /// The metric of the tables: LCP (default), INP, CLS, FCP or TTFB.
    metric: Option<String>,
    /// `p75` (default: the worst first) or `count` (the most measured first).
    sort: Option<String>,
});

pub async fn vitals(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<VitalsQuery>,
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
    query: &VitalsQuery,
) -> Result<Value, ApiError> {
    let (window, filters, limit) = query.params().parse(&[PAGE, BROWSER, OS, DEVICE])?;
    let (metric, metric_name) = match query.metric.as_deref() {
        None => (VITALS[0].1, VITALS[0].2),
        Some(name) => VITALS
            .iter()
            .find(|(_, _, n)| n.eq_ignore_ascii_case(name))
            .map(|(_, m, n)| (*m, *n))
            .ok_or_else(|| invalid("metric", "one of LCP, INP, CLS, FCP, TTFB"))?,
    };
    let by_count = match query.sort.as_deref() {
        None | Some("p75") => false,
        Some("count") => true,
        Some(_) => return Err(invalid("sort", "p75 or count")),
    };
    // What committed batches left pending counts too: an answer is never behind the events.
    rollups::fold(pool).await?;
    let all_metrics: Vec<i16> = VITALS.iter().map(|(_, m, _)| *m).collect();
    let (slice, _) = window.slices(i64::from(project.get()), &filters, false);

    // The trend, and the summary merged from it.
    let buckets = window.range.starts.len();
    let mut trend: HashMap<i16, Vec<Histogram>> = all_metrics
        .iter()
        .map(|m| (*m, vec![Histogram::default(); buckets]))
        .collect();
    for (tb, _, m, bucket, n) in rollups::histograms(pool, &slice, &all_metrics, true).await? {
        if let Some(h) = trend.get_mut(&m).and_then(|series| series.get_mut(tb)) {
            h.add(bucket, n);
        }
    }
    let mut series = serde_json::Map::new();
    let mut summary = serde_json::Map::new();
    for (_, m, name) in VITALS {
        let histograms = &trend[&m];
        let min = metric_min(m);
        let mut metric_series = serde_json::Map::new();
        for (label, q) in QUANTILES {
            metric_series.insert(
                label.into(),
                histograms
                    .iter()
                    .map(|h| h.quantile(q, min))
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        metric_series.insert(
            "count".into(),
            histograms
                .iter()
                .map(Histogram::count)
                .collect::<Vec<_>>()
                .into(),
        );
        series.insert(name.into(), Value::Object(metric_series));
        let mut merged = Histogram::default();
        for h in histograms {
            merged.merge(h);
        }
        summary.insert(name.into(), stats(&merged, min));
    }

    // The tables: one metric by page, device, browser and OS, over the whole filter but the
    // dimension filter (the rollups do not cross dimensions).
    let mut tables = serde_json::Map::new();
    for (key, dim) in [
        ("pages", PAGE),
        ("devices", DEVICE),
        ("browsers", BROWSER),
        ("os", OS),
    ] {
        let slice = slice.of(dim, filters.of(dim));
        let mut per_value: BTreeMap<String, Histogram> = BTreeMap::new();
        for (_, value, _, bucket, n) in rollups::histograms(pool, &slice, &[metric], false).await? {
            per_value.entry(value).or_default().add(bucket, n);
        }
        let min = metric_min(metric);
        let mut table: Vec<(String, f64, i64, Value)> = per_value
            .into_iter()
            .filter(|(_, h)| h.count() > 0)
            .map(|(value, h)| {
                let p75 = h.quantile(0.75, min).unwrap_or_default();
                (value, p75, h.count(), stats(&h, min))
            })
            .collect();
        if by_count {
            table.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        } else {
            table.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then_with(|| b.2.cmp(&a.2))
                    .then_with(|| a.0.cmp(&b.0))
            });
        }
        let name = if dim == PAGE { "page" } else { "name" };
        tables.insert(
            key.into(),
            table
                .into_iter()
                .take(limit)
                .map(|(value, _, _, mut stats)| {
                    stats[name] = value.into();
                    stats
                })
                .collect::<Vec<_>>()
                .into(),
        );
    }

    let mut answer = window.describe();
    answer["metric"] = metric_name.into();
    answer["series"] = Value::Object(series);
    answer["summary"] = Value::Object(summary);
    for (key, table) in tables {
        answer[key] = table;
    }
    Ok(answer)
}

/// Percentiles, count and rating shares of a merged histogram.
fn stats(h: &Histogram, min: f64) -> Value {
    let ratings = h.ratings();
    let rated: i64 = ratings.iter().sum();
    let share = |n: i64| {
        if rated == 0 {
            Value::Null
        } else {
            json!((n as f64 / rated as f64 * 10_000.0).round() / 10_000.0)
        }
    };
    let mut out = json!({
        "count": h.count(),
        "good": share(ratings[0]),
        "needs_improvement": share(ratings[1]),
        "poor": share(ratings[2]),
    });
    for (label, q) in QUANTILES {
        out[label] = json!(h.quantile(q, min));
    }
    out
}
