//! Performance: the p75 of LCP, INP, CLS, FCP and TTFB over the period, rated, with the
//! share of good / needs-improvement / poor measurements; each one's p75 trend drawn over
//! web.dev's bands; and one metric per page, the worst pages first. All from the vitals
//! endpoint's answer.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde_json::Value;

use super::figures::{Chart, Figure, Island, Series, VITALS, Vital, percent, whole};
use super::period::{PeriodParams, PeriodView};
use super::tables::{Cell, Table};
use super::{Chrome, source_failed};
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
    let answer = source
        .vitals(project.id, &period.range(), vital.name)
        .await
        .map_err(source_failed(lang))?;
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
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}
