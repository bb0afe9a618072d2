//! Issues: the list (tabs by status, search, sort, cursor paging, bulk resolve and ignore)
//! and an issue's page (counts, the latest event with its resolved stack trace, breadcrumbs,
//! tags, user, URL, raw JSON; resolve, ignore, unresolve).
//!
//! Everything from an event is hostile: it reaches the templates as plain strings, which
//! askama escapes; nothing here is marked safe, and URLs are shown as text, never as links.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use shared::event::{Event, EventId, StackFrame};

use super::period::{Period, PeriodParams, PeriodView};
use super::{Chrome, LangParam, clip, count, iso, source_failed, utc};
use crate::i18n::{Lang, Text};
use crate::source::{IssueQuery, IssueRow, IssueSort, IssueStatus, Source};
use crate::web::{self, Fail, Form, PageError};
use crate::{Dashboard, ProjectInfo};

const PAGE_SIZE: i64 = 50;
/// A search longer than this is cut (titles are matched by substring).
const SEARCH_MAX_CHARS: usize = 200;
/// Issues changed by one bulk action at most (a page's worth).
const BULK_MAX: usize = 100;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    sort: Option<String>,
    query: Option<String>,
    cursor: Option<String>,
    /// The period of the New and Regressed tabs, and `lang`.
    #[serde(flatten)]
    period: PeriodParams,
}

/// The list's tab: the issues of a status, or those new or regressed in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Status(IssueStatus),
    New,
    Regressed,
}

impl Tab {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "new" => Some(Tab::New),
            "regressed" => Some(Tab::Regressed),
            _ => IssueStatus::parse(text).map(Tab::Status),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Tab::Status(status) => status.as_str(),
            Tab::New => "new",
            Tab::Regressed => "regressed",
        }
    }
}

/// One row as the list shows it.
struct Row {
    id: i64,
    level: String,
    title: String,
    culprit: String,
    events: String,
    users: String,
    first_seen: String,
    first_seen_iso: String,
    last_seen: String,
    last_seen_iso: String,
}

impl Row {
    fn new(issue: &IssueRow) -> Self {
        Self {
            id: issue.id,
            level: level_class(&issue.level).to_owned(),
            title: clip(&issue.title, 300),
            culprit: clip(issue.culprit.as_deref().unwrap_or(""), 120),
            events: count(&issue.events),
            users: count(&issue.users),
            first_seen: utc(&issue.first_seen),
            first_seen_iso: iso(&issue.first_seen),
            last_seen: utc(&issue.last_seen),
            last_seen_iso: iso(&issue.last_seen),
        }
    }
}

/// The level as a known word (it names a CSS class; anything else is `error`).
fn level_class(level: &str) -> &'static str {
    match level {
        "fatal" => "fatal",
        "warning" => "warning",
        "info" => "info",
        "debug" => "debug",
        _ => "error",
    }
}

#[derive(Template)]
#[template(path = "issues.html")]
struct IssuesPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    /// The New or Regressed tab: the period form instead of search, sort and pages.
    by_period: bool,
    view: PeriodView,
    status: &'static str,
    sort: &'static str,
    search: String,
    rows: Vec<Row>,
    /// Query string of the next page.
    next: Option<String>,
    first_page: Option<String>,
    /// The project has no event at all: the snippet instead of a table.
    empty: bool,
    snippet: String,
    npm_snippet: String,
    tabs: Vec<(&'static str, &'static str, String)>,
    sorts: Vec<(&'static str, &'static str, String)>,
}

fn query_string(status: &str, sort: &str, search: &str, cursor: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("status", status)
        .append_pair("sort", sort);
    if !search.is_empty() {
        query.append_pair("query", search);
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", cursor);
    }
    query.finish()
}

pub async fn list<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    params: aw::Query<ListParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let asked = params.period.lang.as_deref();
    let lang = Lang::of(&request, asked);
    let t = lang.text();
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let project = web::project(&dashboard, &viewer, &path, lang)?;
    let tab = match params.status.as_deref() {
        None => Tab::Status(IssueStatus::Unresolved),
        Some(text) => Tab::parse(text).ok_or_else(|| PageError::new(Fail::BadRequest, lang))?,
    };
    let sort = match params.sort.as_deref() {
        None => IssueSort::LastSeen,
        Some(text) => {
            IssueSort::parse(text).ok_or_else(|| PageError::new(Fail::BadRequest, lang))?
        }
    };
    let period = Period::parse(&params.period, Utc::now(), lang)?;
    let mut view = PeriodView::new(&period, t);
    view.keep.push(("status", tab.as_str().to_owned()));
    let search: String = params
        .query
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(SEARCH_MAX_CHARS)
        .collect();
    let cursor = params.cursor.as_deref().filter(|c| c.len() <= 64);
    let failed = source_failed(lang);
    let (issues, next, empty) = match tab {
        Tab::Status(status) => {
            let page = source
                .issues(
                    project.id,
                    &IssueQuery {
                        status,
                        sort,
                        search: Some(search.as_str()).filter(|s| !s.is_empty()),
                        cursor,
                        limit: PAGE_SIZE,
                    },
                )
                .await
                .map_err(&failed)?;
            let empty = page.issues.is_empty()
                && status == IssueStatus::Unresolved
                && search.is_empty()
                && cursor.is_none()
                && !source.has_events(project.id).await.map_err(&failed)?;
            (page.issues, page.next, empty)
        }
        Tab::New | Tab::Regressed => {
            let activity = source
                .activity(project.id, &period.range())
                .await
                .map_err(&failed)?;
            let issues = if tab == Tab::New {
                activity.new
            } else {
                activity.regressed
            };
            (issues, None, false)
        }
    };
    let collector = dashboard.collector_url.as_ref();
    let dsn = super::dsn(collector, &project.public_key, project.id);
    let tabs = [
        (Tab::Status(IssueStatus::Unresolved), t.unresolved),
        (Tab::Status(IssueStatus::Resolved), t.resolved),
        (Tab::Status(IssueStatus::Ignored), t.ignored),
        (Tab::New, t.new_tab),
        (Tab::Regressed, t.regressed_tab),
    ]
    .into_iter()
    .map(|(tab, label)| {
        let query = match tab {
            Tab::Status(_) => query_string(tab.as_str(), sort.as_str(), &search, None),
            Tab::New | Tab::Regressed => format!("status={}&{}", tab.as_str(), view.query),
        };
        (tab.as_str(), label, query)
    })
    .collect();
    let sorts = [
        (IssueSort::LastSeen, t.last_seen),
        (IssueSort::FirstSeen, t.first_seen),
        (IssueSort::Events, t.events),
    ]
    .into_iter()
    .map(|(s, label)| {
        (
            s.as_str(),
            label,
            query_string(tab.as_str(), s.as_str(), &search, None),
        )
    })
    .collect();
    let status = tab.as_str();
    let body = IssuesPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "issues",
        by_period: !matches!(tab, Tab::Status(_)),
        view,
        status,
        sort: sort.as_str(),
        rows: issues.iter().map(Row::new).collect(),
        next: next
            .as_deref()
            .map(|next| query_string(status, sort.as_str(), &search, Some(next))),
        first_page: cursor.map(|_| query_string(status, sort.as_str(), &search, None)),
        empty,
        snippet: super::script_snippet(collector, &dsn),
        npm_snippet: format!(
            "import {{ init, errors, pageviews, vitals }} from \"@frontmon/browser\";\n\ninit({{ dsn: \"{dsn}\", release: \"my-app@1.0.0\", plugins: [errors, pageviews, vitals] }});"
        ),
        search,
        tabs,
        sorts,
    };
    web::page(&request, lang, asked, &body)
}

/// `POST …/issues/bulk` with `csrf`, `action` (`resolve`, `ignore`) and `issue` repeated.
pub async fn bulk<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let project = web::project(&dashboard, &viewer, &path, lang)?;
    let form = Form::parse(&body);
    web::check_csrf(&request, &viewer, &form, lang)?;
    let status = match form.get("action") {
        Some("resolve") => IssueStatus::Resolved,
        Some("ignore") => IssueStatus::Ignored,
        Some("unresolve") => IssueStatus::Unresolved,
        _ => return Err(PageError::new(Fail::BadRequest, lang)),
    };
    let ids = form
        .all("issue")
        .take(BULK_MAX)
        .map(|id| id.parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| PageError::new(Fail::BadRequest, lang))?;
    for id in ids {
        source
            .set_status(project.id, id, status)
            .await
            .map_err(source_failed(lang))?;
    }
    let back = form
        .get("back")
        .filter(|q| q.len() <= 2048)
        .map(|q| format!("/projects/{}/issues?{q}", project.id))
        .unwrap_or_else(|| format!("/projects/{}/issues", project.id));
    Ok(web::see_other(&back))
}

/// `POST …/issues/{id}/status` with `csrf` and `status`.
pub async fn set_status<S: Source>(
    request: HttpRequest,
    path: aw::Path<(String, String)>,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let (project, issue) = path.into_inner();
    let project = web::project(&dashboard, &viewer, &project, lang)?;
    let form = Form::parse(&body);
    web::check_csrf(&request, &viewer, &form, lang)?;
    let status = form
        .get("status")
        .and_then(IssueStatus::parse)
        .ok_or_else(|| PageError::new(Fail::BadRequest, lang))?;
    let id = issue
        .parse::<i64>()
        .map_err(|_| PageError::new(Fail::NotFound, lang))?;
    if !source
        .set_status(project.id, id, status)
        .await
        .map_err(source_failed(lang))?
    {
        return Err(PageError::new(Fail::NotFound, lang));
    }
    Ok(web::see_other(&format!(
        "/projects/{}/issues/{id}",
        project.id
    )))
}

/// A stack frame as the page shows it.
struct Frame {
    function: String,
    location: String,
    in_app: bool,
    /// (line number, text, whether it is the frame's line)
    context: Vec<(String, String, bool)>,
}

impl Frame {
    fn new(frame: &StackFrame) -> Self {
        let file = frame
            .filename
            .as_deref()
            .or(frame.abs_path.as_deref())
            .unwrap_or("?");
        let location = match (frame.lineno, frame.colno) {
            (Some(line), Some(col)) => format!("{file}:{line}:{col}"),
            (Some(line), None) => format!("{file}:{line}"),
            _ => file.to_owned(),
        };
        let mut context = Vec::new();
        if let (Some(line), Some(text)) = (frame.lineno, frame.context_line.as_deref()) {
            let line = i64::from(line);
            let before = frame.pre_context.len() as i64;
            for (i, pre) in frame.pre_context.iter().enumerate() {
                context.push(((line - before + i as i64).to_string(), pre.clone(), false));
            }
            context.push((line.to_string(), text.to_owned(), true));
            for (i, post) in frame.post_context.iter().enumerate() {
                context.push(((line + 1 + i as i64).to_string(), post.clone(), false));
            }
        }
        Self {
            function: frame.function.clone().unwrap_or_else(|| "?".to_owned()),
            location,
            in_app: frame.in_app.unwrap_or(true),
            context,
        }
    }
}

struct ExceptionView {
    kind: String,
    value: String,
    /// Newest call first.
    frames: Vec<Frame>,
    raw_frames: Vec<Frame>,
}

struct Crumb {
    offset: String,
    category: String,
    level: String,
    message: String,
}

struct EventView {
    id: String,
    received: String,
    received_iso: String,
    message: String,
    url: String,
    release: String,
    environment: String,
    exceptions: Vec<ExceptionView>,
    crumbs: Vec<Crumb>,
    tags: Vec<(String, String)>,
    user: Vec<(&'static str, String)>,
}

impl EventView {
    fn new(event: &Event) -> Self {
        let at = event.timestamp.timestamp_millis();
        let mut tags: Vec<(String, String)> = event
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(env) = &event.environment {
            tags.push(("environment".into(), env.clone()));
        }
        let mut user = Vec::new();
        if let Some(u) = &event.user {
            for (label, value) in [
                ("id", &u.id),
                ("email", &u.email),
                ("username", &u.username),
                ("ip_address", &u.ip_address),
            ] {
                if let Some(value) = value {
                    user.push((label, value.clone()));
                }
            }
        }
        Self {
            id: event.event_id.to_string(),
            received: utc(&event.received_at),
            received_iso: iso(&event.received_at),
            message: event.message.clone().unwrap_or_default(),
            url: event.url.clone().unwrap_or_default(),
            release: event.release.clone().unwrap_or_default(),
            environment: event.environment.clone().unwrap_or_default(),
            exceptions: event
                .exceptions
                .iter()
                .rev()
                .map(|e| ExceptionView {
                    kind: e.kind.clone().unwrap_or_default(),
                    value: e.value.clone().unwrap_or_default(),
                    frames: e.frames.iter().rev().map(Frame::new).collect(),
                    raw_frames: e.raw_frames.iter().rev().map(Frame::new).collect(),
                })
                .collect(),
            crumbs: event
                .breadcrumbs
                .iter()
                .map(|b| Crumb {
                    offset: b
                        .timestamp
                        .map(|ts| format!("{:+.1} s", (ts - at) as f64 / 1000.0))
                        .unwrap_or_default(),
                    category: b.category.clone().unwrap_or_default(),
                    level: b.level.map(|l| l.as_str()).unwrap_or("").to_owned(),
                    message: b.message.clone().unwrap_or_default(),
                })
                .collect(),
            tags,
            user,
        }
    }
}

#[derive(Template)]
#[template(path = "issue.html")]
struct IssuePage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    issue: &'a IssueRow,
    level: &'static str,
    status: &'static str,
    events: String,
    users: String,
    first_seen: String,
    first_seen_iso: String,
    last_seen: String,
    last_seen_iso: String,
    regressed: Option<(String, String)>,
    event: Option<EventView>,
    raw_json: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DetailParams {
    lang: Option<String>,
}

/// `/projects/{project}/events/{event_id}`: the page of the issue the event was grouped
/// into. Alert messages about an event (a frequency or users rule fires on events, before
/// the processor has told the alerter the issue's id) link here.
pub async fn event<S: Source>(
    request: HttpRequest,
    path: aw::Path<(String, String)>,
    params: aw::Query<LangParam>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let (project, event) = path.into_inner();
    let project = web::project(&dashboard, &viewer, &project, lang)?;
    let event = event
        .parse::<EventId>()
        .map_err(|_| PageError::new(Fail::NotFound, lang))?;
    let issue = source
        .event_issue(project.id, event)
        .await
        .map_err(source_failed(lang))?
        .ok_or_else(|| PageError::new(Fail::NotFound, lang))?;
    Ok(web::see_other(&format!(
        "/projects/{}/issues/{issue}",
        project.id
    )))
}

pub async fn detail<S: Source>(
    request: HttpRequest,
    path: aw::Path<(String, String)>,
    params: aw::Query<DetailParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let (project, issue) = path.into_inner();
    let project = web::project(&dashboard, &viewer, &project, lang)?;
    let id = issue
        .parse::<i64>()
        .map_err(|_| PageError::new(Fail::NotFound, lang))?;
    let failed = source_failed(lang);
    let issue = source
        .issue(project.id, id)
        .await
        .map_err(&failed)?
        .ok_or_else(|| PageError::new(Fail::NotFound, lang))?;
    let payload = source.latest_event(project.id, id).await.map_err(&failed)?;
    let event = payload
        .as_ref()
        .and_then(|p| serde_json::from_value::<Event>(p.clone()).ok())
        .map(|e| EventView::new(&e));
    let raw_json = payload
        .as_ref()
        .map(|p| serde_json::to_string_pretty(p).unwrap_or_default());
    let page = IssuePage {
        chrome: Chrome::new(&dashboard, &viewer, lang, Some(project), request.path()),
        t: lang.text(),
        project,
        level: level_class(&issue.level),
        status: issue.status.as_str(),
        events: count(&issue.events),
        users: count(&issue.users),
        first_seen: utc(&issue.first_seen),
        first_seen_iso: iso(&issue.first_seen),
        last_seen: utc(&issue.last_seen),
        last_seen_iso: iso(&issue.last_seen),
        regressed: issue.regressed_at.as_ref().map(|at| (utc(at), iso(at))),
        event,
        raw_json,
        issue: &issue,
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}
