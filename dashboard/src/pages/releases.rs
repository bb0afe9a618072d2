//! Releases: each release seen in the period, newest first, with its adoption (its share of
//! the page views), sessions, crash-free sessions, error rate, the issues new and regressed
//! in it, and the p75 of LCP, INP and CLS beside the previous release's; and a release's
//! page: those figures with every vital, and the issues first seen in it, each a link to
//! its page. All from the releases endpoint's answer (`Source::releases`).
//!
//! A release's name comes from events: it is text wherever it is shown, and in a link's
//! path it is percent-encoded whole ([`segment`]), so no character of it can leave the path.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde_json::Value;

use super::figures::{Figure, VITALS, Vital, percent, text, whole};
use super::overview::Listed;
use super::period::{PeriodParams, PeriodView};
use super::tables::Cell;
use super::{Chrome, clip, iso, source_failed, utc};
use crate::i18n::Text;
use crate::source::{Range, Source};
use crate::web::{self, PageError};
use crate::{Dashboard, ProjectInfo};

/// The vitals the release table shows (the release's page shows all five).
const TABLE_VITALS: usize = 3;
/// Issues a release's page lists.
const RELEASE_ISSUES: i64 = 50;

/// A vital's p75 in the table, and the previous release's beneath it.
pub struct VitalCell {
    pub cell: Cell,
    pub before: String,
    pub before_exact: String,
}

/// One release of the table.
pub struct ReleaseRow {
    pub name: String,
    /// Its page's path, the name encoded.
    pub href: String,
    pub first_seen: String,
    pub first_seen_iso: String,
    pub cells: Vec<Cell>,
    pub vitals: Vec<VitalCell>,
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    view: PeriodView,
    columns: Vec<&'static str>,
    vital_names: Vec<&'static str>,
    rows: Vec<ReleaseRow>,
}

#[derive(Template)]
#[template(path = "release.html")]
struct ReleasePage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    view: PeriodView,
    name: String,
    /// Whether the release was seen in the period (else only its issues are shown).
    seen: bool,
    first_seen: String,
    first_seen_iso: String,
    last_seen: String,
    last_seen_iso: String,
    /// The previous release's name, or empty.
    previous: String,
    usage: Vec<Figure>,
    vitals: Vec<Figure>,
    issues: Vec<Listed>,
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`: a release's name as one path
/// segment, whatever it holds (`/`, `?`, `#`, `%`, quotes, spaces).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn time(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    value
        .as_str()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&chrono::Utc))
}

/// `(shown, ISO)` of an answer's time, or dashes.
fn shown_time(value: &Value) -> (String, String) {
    time(value).map_or_else(
        || ("—".to_owned(), String::new()),
        |at| (utc(&at), iso(&at)),
    )
}

/// A number column: its heading, the answer's key, how it is shown.
type Column = (&'static str, &'static str, fn(f64) -> String);

/// The table's number columns.
fn columns(t: &'static Text) -> [Column; 6] {
    [
        (t.adoption, "adoption", percent),
        (t.sessions, "sessions", whole),
        (t.crash_free_sessions, "crash_free_sessions", percent),
        (t.error_rate, "error_rate", percent),
        (t.new_issues, "new_issues", whole),
        (t.regressed_issues, "regressed_issues", whole),
    ]
}

fn vital_cell(vital: Vital, value: &Value, before: &Value) -> VitalCell {
    let cell =
        Cell::new(value, |v| vital.format(v)).rated(value.as_f64().map_or("", |v| vital.rating(v)));
    VitalCell {
        cell,
        before: before
            .as_f64()
            .map_or_else(|| "—".to_owned(), |v| vital.format(v)),
        before_exact: if before.is_number() {
            before.to_string()
        } else {
            String::new()
        },
    }
}

fn rows(t: &'static Text, project: &ProjectInfo, query: &str, answer: &Value) -> Vec<ReleaseRow> {
    answer["releases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|row| {
            let name = row["release"].as_str().unwrap_or("");
            let (first_seen, first_seen_iso) = shown_time(&row["first_seen"]);
            ReleaseRow {
                name: clip(name, 200),
                href: format!(
                    "/projects/{}/releases/{}?{query}",
                    project.id,
                    segment(name)
                ),
                first_seen,
                first_seen_iso,
                cells: columns(t)
                    .into_iter()
                    .map(|(_, key, format)| Cell::new(&row[key], format))
                    .collect(),
                vitals: VITALS[..TABLE_VITALS]
                    .iter()
                    .map(|v| {
                        vital_cell(
                            *v,
                            &row["vitals_p75"][v.name],
                            &row["previous"]["vitals_p75"][v.name],
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The period without its release filter: a release's page is about the release in its
/// path, beside the others (adoption, the previous release).
fn every_release<'a>(range: &Range<'a>) -> Range<'a> {
    Range {
        release: None,
        ..range.clone()
    }
}

pub async fn releases<S: Source>(
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
        .releases(project.id, &period.range())
        .await
        .map_err(source_failed(lang))?;
    let view = PeriodView::new(&period, t);
    let page = ReleasesPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "releases",
        columns: columns(t).into_iter().map(|(label, _, _)| label).collect(),
        vital_names: VITALS[..TABLE_VITALS].iter().map(|v| v.name).collect(),
        rows: rows(t, project, &view.query, &answer),
        view,
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}

pub async fn release<S: Source>(
    request: HttpRequest,
    path: aw::Path<(String, String)>,
    params: aw::Query<PeriodParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let (project_path, name) = path.into_inner();
    let (lang, viewer, project, period) =
        super::period::open(&request, &dashboard, &project_path, &params).await?;
    let t = lang.text();
    let failed = source_failed(lang);
    let answer = source
        .releases(project.id, &every_release(&period.range()))
        .await
        .map_err(&failed)?;
    let issues = source
        .release_issues(project.id, &name, RELEASE_ISSUES)
        .await
        .map_err(&failed)?;
    let row = answer["releases"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["release"].as_str() == Some(name.as_str()))
        })
        .unwrap_or(&Value::Null);
    let (first_seen, first_seen_iso) = shown_time(&row["first_seen"]);
    let (last_seen, last_seen_iso) = shown_time(&row["last_seen"]);
    let mut usage: Vec<Figure> = vec![Figure::new(
        "pageviews",
        t.page_views,
        &row["pageviews"],
        &Value::Null,
        whole,
    )];
    usage.extend(
        columns(t)
            .into_iter()
            .map(|(label, key, format)| Figure::new(key, label, &row[key], &Value::Null, format)),
    );
    usage.insert(
        4,
        Figure::new(
            "errors",
            t.errors_figure,
            &row["errors"],
            &Value::Null,
            whole,
        ),
    );
    let page = ReleasePage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "releases",
        view: PeriodView::new(&period, t),
        seen: row.is_object(),
        first_seen,
        first_seen_iso,
        last_seen,
        last_seen_iso,
        previous: text(&row["previous"]["release"]),
        usage,
        vitals: VITALS
            .iter()
            .map(|v| {
                Figure::vital(
                    *v,
                    &row["vitals_p75"][v.name],
                    &row["previous"]["vitals_p75"][v.name],
                )
            })
            .collect(),
        issues: issues
            .iter()
            .map(|issue| Listed::new(issue, issue.first_seen))
            .collect(),
        name: clip(&name, 200),
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_one_path_segment_whatever_it_holds() {
        assert_eq!(segment("shop@2.0.0"), "shop%402.0.0");
        assert_eq!(
            segment("web/1.9 <b>\"#?%"),
            "web%2F1.9%20%3Cb%3E%22%23%3F%25"
        );
        assert_eq!(segment("版本"), "%E7%89%88%E6%9C%AC");
        assert_eq!(segment("a-b_c.d~e"), "a-b_c.d~e");
    }
}
