//! Performance: the p75 of LCP, INP, CLS, FCP and TTFB over the period, rated, with the
//! share of good / needs-improvement / poor measurements; each one's p75 trend drawn over
//! web.dev's bands; and one metric per page, the worst pages first, from the vitals
//! endpoint's answer. Then what failed: API calls per endpoint with their p75/p95 duration
//! and resources per URL (the api-health endpoint's answer), white screens per page (the
//! white-screens endpoint's), the most first, each total beside the period before. Endpoint
//! paths, URLs and pages come from events: table text, never links.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde_json::Value;

use super::figures::{Chart, Figure, Island, Series, VITALS, Vital, percent, whole};
use super::period::{PeriodParams, PeriodView};
use super::tables::{Cell, Table};
use super::{Chrome, clip, source_failed};
use crate::i18n::Text;
use crate::source::Source;
use crate::web::{self, Fail, PageError};
use crate::{Dashboard, ProjectInfo};

/// A vital's summary: its p75 (rated) and its shares.
struct Summary {
    figure: Figure,
    count: String,
    good: String,
    ni: String,
    poor: String,
}

#[derive(Template)]
#[template(path = "performance.html")]
struct PerformancePage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    view: PeriodView,
    summaries: Vec<Summary>,
    charts: Island,
    /// (metric name, its table's query string, chosen)
    metrics: Vec<(&'static str, String, bool)>,
    table: Table,
    /// (heading, figures, a note beneath or empty): the failures' totals.
    groups: Vec<(&'static str, Vec<Figure>, &'static str)>,
    /// Failed API calls, resources and white screens.
    tables: Vec<Table>,
}

fn share(value: &Value) -> String {
    value.as_f64().map_or_else(|| "—".to_owned(), percent)
}

/// Each vital's p75 trend, over its bands.
pub fn charts(t: &'static Text, answer: &Value) -> Vec<Chart> {
    VITALS
        .into_iter()
        .map(|vital| Chart {
            id: vital.name,
            time: t.time,
            x: Chart::x(answer),
            series: vec![Series {
                label: "p75",
                values: Chart::values(&answer["series"][vital.name]["p75"]),
            }],
            bands: Some([vital.good, vital.poor]),
            unit: if vital.name == "CLS" { "" } else { "ms" },
        })
        .collect()
}

fn table(t: &'static Text, answer: &Value, vital: Vital) -> Table {
    let shared = |key: &'static str, class: &'static str| -> Box<dyn Fn(&Value) -> Cell> {
        Box::new(move |row: &Value| Cell::new(&row[key], percent).rated(class))
    };
    Table::of(
        "vital-pages",
        t.pages_worst_first,
        t.page,
        answer,
        "pages",
        "page",
        vec![
            (
                "p75",
                Box::new(move |row: &Value| {
                    let p75 = &row["p75"];
                    Cell::new(p75, |v| vital.format(v))
                        .rated(p75.as_f64().map_or("", |v| vital.rating(v)))
                }),
            ),
            (
                t.measurements_column,
                Box::new(|row: &Value| Cell::new(&row["count"], whole)),
            ),
            (t.good, shared("good", "good")),
            (t.needs_improvement, shared("needs_improvement", "ni")),
            (t.poor, shared("poor", "poor")),
        ],
    )
}

fn counted(key: &'static str) -> Box<dyn Fn(&Value) -> Cell> {
    Box::new(move |row: &Value| Cell::new(&row[key], whole))
}

fn milliseconds(key: &'static str) -> Box<dyn Fn(&Value) -> Cell> {
    Box::new(move |row: &Value| Cell::new(&row[key], |ms| format!("{ms:.0} ms")))
}

/// The failures' totals beside the period before: API calls, resources, white screens.
fn failure_figures(t: &'static Text, health: &Value, blank: &Value) -> Vec<Figure> {
    let figure = |key: &'static str, label, totals: &Value| {
        Figure::new(
            key,
            label,
            &totals[key]["value"],
            &totals[key]["previous"],
            whole,
        )
    };
    vec![
        figure("api_failures", t.api_failures, &health["totals"]),
        figure("resource_failures", t.resource_failures, &health["totals"]),
        figure("white_screens", t.white_screens, &blank["totals"]),
    ]
}

/// Failed API calls per endpoint and resources per URL (`health`), white screens per page
/// (`blank`), the most first as the endpoints sort them.
fn failure_tables(t: &'static Text, health: &Value, blank: &Value) -> Vec<Table> {
    let endpoint = |row: &Value| {
        let method = row["method"].as_str().unwrap_or("");
        let path = row["path"].as_str().unwrap_or("");
        clip(format!("{method} {path}").trim(), 200)
    };
    vec![
        Table::named_by(
            "api-endpoints",
            t.api_endpoints,
            t.endpoint,
            health,
            "endpoints",
            endpoint,
            vec![
                (t.failures_column, counted("failures")),
                (t.previous_period, counted("previous")),
                (t.p75_duration, milliseconds("p75_ms")),
                (t.p95_duration, milliseconds("p95_ms")),
            ],
        )
        .when_empty(t.no_api_failures),
        Table::of(
            "failed-resources",
            t.failed_resources,
            t.url,
            health,
            "resources",
            "url",
            vec![
                (t.failures_column, counted("failures")),
                (t.previous_period, counted("previous")),
            ],
        )
        .when_empty(t.no_resource_failures),
        Table::of(
            "white-screens",
            t.white_screen_pages,
            t.page,
            blank,
            "pages",
            "page",
            vec![
                (t.white_screens, counted("white_screens")),
                (
                    t.per_page_view,
                    Box::new(|row: &Value| Cell::new(&row["rate"], percent)),
                ),
                (t.previous_period, counted("previous")),
            ],
        )
        .when_empty(t.no_white_screens),
    ]
}

pub async fn performance<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    params: aw::Query<PeriodParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let (lang, viewer, project, period) =
        super::period::open(&request, &dashboard, &path, &params).await?;
    let t = lang.text();
    let vital = match params.metric.as_deref() {
        None => VITALS[0],
        Some(name) => Vital::find(name).ok_or_else(|| PageError::new(Fail::BadRequest, lang))?,
    };
    let range = period.range();
    let failed = source_failed(lang);
    let answer = source
        .vitals(project.id, &range, vital.name)
        .await
        .map_err(&failed)?;
    let health = source
        .api_health(project.id, &range)
        .await
        .map_err(&failed)?;
    let blank = source
        .white_screens(project.id, &range)
        .await
        .map_err(&failed)?;
    let mut view = PeriodView::new(&period, t);
    view.keep.push(("metric", vital.name.to_owned()));
    let summaries = VITALS
        .into_iter()
        .map(|v| {
            let summary = &answer["summary"][v.name];
            Summary {
                figure: Figure::vital(v, &summary["p75"], &Value::Null),
                count: whole(summary["count"].as_f64().unwrap_or_default()),
                good: share(&summary["good"]),
                ni: share(&summary["needs_improvement"]),
                poor: share(&summary["poor"]),
            }
        })
        .collect();
    let page = PerformancePage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "performance",
        metrics: VITALS
            .into_iter()
            .map(|v| {
                (
                    v.name,
                    format!("{}&metric={}", view.query, v.name),
                    v == vital,
                )
            })
            .collect(),
        view,
        summaries,
        charts: Island::new(&charts(t, &answer)),
        table: table(t, &answer, vital),
        groups: vec![(t.failures_heading, failure_figures(t, &health, &blank), "")],
        tables: failure_tables(t, &health, &blank),
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}
