//! Traffic: page views, visitors, sessions, bounce rate and session length beside the
//! previous period, their trend, and the top pages, entry pages, referrers, browsers, OS
//! and device classes; all from the traffic endpoint's answer.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde_json::Value;

use super::figures::{Chart, Figure, Island, Series, duration, percent, whole};
use super::period::{PeriodParams, PeriodView};
use super::tables::{Cell, Table};
use super::{Chrome, source_failed};
use crate::i18n::Text;
use crate::source::Source;
use crate::web::{self, PageError};
use crate::{Dashboard, ProjectInfo};

#[derive(Template)]
#[template(path = "traffic.html")]
struct TrafficPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    view: PeriodView,
    figures: Vec<Figure>,
    charts: Island,
    tables: Vec<Table>,
}

/// The totals' figures, in the order the screen shows them.
pub fn figures(t: &'static Text, answer: &Value) -> Vec<Figure> {
    let totals = &answer["totals"];
    let figure = |label, key: &'static str, format: fn(f64) -> String| {
        Figure::new(
            key,
            label,
            &totals[key]["value"],
            &totals[key]["previous"],
            format,
        )
    };
    vec![
        figure(t.page_views, "pageviews", whole),
        figure(t.visitors, "visitors", whole),
        figure(t.sessions, "sessions", whole),
        figure(t.bounce_rate, "bounce_rate", percent),
        figure(t.session_length, "session_seconds", duration),
    ]
}

/// Page views, visitors and sessions per bucket.
pub fn chart(t: &'static Text, answer: &Value) -> Chart {
    let series = &answer["series"];
    Chart {
        id: "traffic",
        time: t.time,
        x: Chart::x(answer),
        series: [
            (t.page_views, "pageviews"),
            (t.visitors, "visitors"),
            (t.sessions, "sessions"),
        ]
        .into_iter()
        .map(|(label, key)| Series {
            label,
            values: Chart::values(&series[key]),
        })
        .collect(),
        bands: None,
        unit: "",
    }
}

fn counted(key: &'static str) -> Box<dyn Fn(&Value) -> Cell> {
    Box::new(move |row: &Value| Cell::new(&row[key], whole))
}

fn tables(t: &'static Text, answer: &Value) -> Vec<Table> {
    let named = |id, title, first, key: &str, name_key: &str| {
        Table::of(
            id,
            title,
            first,
            answer,
            key,
            name_key,
            vec![
                (t.page_views, counted("pageviews")),
                (t.previous_period, counted("previous")),
            ],
        )
    };
    vec![
        Table::of(
            "top-pages",
            t.top_pages,
            t.page,
            answer,
            "pages",
            "page",
            vec![
                (t.page_views, counted("pageviews")),
                (t.visitors, counted("visitors")),
                (t.previous_period, counted("previous")),
            ],
        ),
        Table::of(
            "entry-pages",
            t.entry_pages,
            t.page,
            answer,
            "entry_pages",
            "page",
            vec![
                (t.sessions, counted("sessions")),
                (
                    t.bounce_rate,
                    Box::new(|row: &Value| Cell::new(&row["bounce_rate"], percent)),
                ),
                (
                    t.session_length,
                    Box::new(|row: &Value| Cell::new(&row["session_seconds"], duration)),
                ),
                (t.previous_period, counted("previous")),
            ],
        ),
        named("referrers", t.referrers, t.host, "referrers", "host"),
        named("browsers", t.browsers, t.browser, "browsers", "name"),
        named("os", t.os, t.os_name, "os", "name"),
        named("devices", t.devices, t.device, "devices", "name"),
    ]
}

pub async fn traffic<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    params: aw::Query<PeriodParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let (lang, viewer, project, period) =
        super::period::open(&request, &dashboard, &path, &params).await?;
    let t = lang.text();
    let answer = source
        .traffic(project.id, &period.range())
        .await
        .map_err(source_failed(lang))?;
    let page = TrafficPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "traffic",
        view: PeriodView::new(&period, t),
        figures: figures(t, &answer),
        charts: Island::new(&[chart(t, &answer)]),
        tables: tables(t, &answer),
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}
