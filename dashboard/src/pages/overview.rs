//! A project's overview for a period: errors, affected users and crash-free sessions (the
//! errors endpoint's totals), the issues new and regressed, page views, visitors and
//! sessions (the traffic endpoint's totals), the p75 of LCP, INP and CLS rated (the vitals
//! endpoint's, this period's and the one before), each beside the period before; the page
//! views' trend; the newest new and regressed issues.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde_json::json;

use super::figures::{Figure, Island, VITALS, percent, whole};
use super::period::{PeriodParams, PeriodView};
use super::{Chrome, clip, count, iso, source_failed, utc};
use crate::i18n::Text;
use crate::source::{IssueRow, Source};
use crate::web::{self, PageError};
use crate::{Dashboard, ProjectInfo};

/// How many new and regressed issues the overview lists.
const TOP: usize = 5;

/// An issue as the overview lists it: when it began (or came back).
pub struct Listed {
    pub id: i64,
    pub title: String,
    pub events: String,
    pub at: String,
    pub at_iso: String,
}

impl Listed {
    pub fn new(issue: &IssueRow, at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            id: issue.id,
            title: clip(&issue.title, 200),
            events: count(&issue.events),
            at: utc(&at),
            at_iso: iso(&at),
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    view: PeriodView,
    /// (heading, figures, a note beneath or empty): the errors, the issues, the traffic,
    /// the vitals.
    groups: Vec<(&'static str, Vec<Figure>, &'static str)>,
    charts: Island,
    /// (heading, element id, issues, the tab listing them all)
    lists: Vec<(&'static str, &'static str, Vec<Listed>, &'static str)>,
}

/// Errors, affected users and crash-free sessions, from the errors endpoint's totals.
fn error_figures(t: &'static Text, answer: &serde_json::Value) -> Vec<Figure> {
    let totals = &answer["totals"];
    let figure = |key: &'static str, label, format: fn(f64) -> String| {
        Figure::new(
            key,
            label,
            &totals[key]["value"],
            &totals[key]["previous"],
            format,
        )
    };
    vec![
        figure("errors", t.errors_figure, whole),
        figure("affected_users", t.affected_users, whole),
        figure("crash_free_sessions", t.crash_free_sessions, percent),
    ]
}

pub async fn overview<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    params: aw::Query<PeriodParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let (lang, viewer, project, period) =
        super::period::open(&request, &dashboard, &path, &params).await?;
    let t = lang.text();
    let range = period.range();
    let failed = source_failed(lang);
    let traffic = source.traffic(project.id, &range).await.map_err(&failed)?;
    let vitals = source
        .vitals(project.id, &range, VITALS[0].name)
        .await
        .map_err(&failed)?;
    let before = source
        .vitals(project.id, &range.previous(), VITALS[0].name)
        .await
        .map_err(&failed)?;
    let activity = source.activity(project.id, &range).await.map_err(&failed)?;
    let errors = source.errors(project.id, &range).await.map_err(&failed)?;

    let mut traffic_figures = super::traffic::figures(t, &traffic);
    traffic_figures.truncate(3);
    let vital_figures: Vec<Figure> = VITALS[..3]
        .iter()
        .map(|v| {
            Figure::vital(
                *v,
                &vitals["summary"][v.name]["p75"],
                &before["summary"][v.name]["p75"],
            )
        })
        .collect();
    let error_figures = error_figures(t, &errors);
    let issue_figures = vec![
        Figure::new(
            "new_issues",
            t.new_issues,
            &json!(activity.new.len()),
            &json!(activity.new_before),
            whole,
        ),
        Figure::new(
            "regressed_issues",
            t.regressed_issues,
            &json!(activity.regressed.len()),
            &json!(activity.regressed_before),
            whole,
        ),
    ];
    let mut chart = super::traffic::chart(t, &traffic);
    chart.series.truncate(2);
    let page = OverviewPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "overview",
        view: PeriodView::new(&period, t),
        groups: vec![
            (t.errors_heading, error_figures, ""),
            (
                t.issues,
                issue_figures,
                // More issues were active than were read: the counts are a lower bound.
                if activity.complete {
                    ""
                } else {
                    t.issues_incomplete
                },
            ),
            (t.traffic, traffic_figures, ""),
            (t.web_vitals_p75, vital_figures, ""),
        ],
        charts: Island::new(&[chart]),
        lists: vec![
            (
                t.top_new,
                "top-new",
                activity
                    .new
                    .iter()
                    .take(TOP)
                    .map(|i| Listed::new(i, i.first_seen))
                    .collect(),
                "new",
            ),
            (
                t.top_regressed,
                "top-regressed",
                activity
                    .regressed
                    .iter()
                    .take(TOP)
                    .map(|i| Listed::new(i, i.regressed_at.unwrap_or(i.last_seen)))
                    .collect(),
                "regressed",
            ),
        ],
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}
