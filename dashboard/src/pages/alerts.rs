//! Alerts: what the alerter sent, when, about which issue, to which channel, and how it went
//! (sent, folded into a digest, failed; attempts and the last error), newest first and paged
//! by cursor; the channels and rules in force; and, for an admin, a "send a test" button per
//! channel that asks the alerter's API to send one now.
//!
//! A notification links to its issue's page by the issue id its message carries (new issues,
//! regressions) or, for those that name only the group (`frequency`, `users`, escalations),
//! by the processor's issue of that fingerprint ([`Source::issue_ids`]).
//!
//! An admin sees every project's notifications, a member only those of their projects. The
//! notifications are the alerter's records, read from its schema; before the alerter first
//! started there are none, and the screen says so.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, clip, iso, source_failed, utc};
use crate::accounts::{Role, Viewer};
use crate::alerts::{AlertLog, AlertRow, AlerterError, LogError, TestOutcome};
use crate::i18n::{Lang, Text};
use crate::source::Source;
use crate::web::{self, Fail, Form, PageError};
use crate::{Dashboard, ProjectInfo};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct AlertsParams {
    project: Option<String>,
    cursor: Option<String>,
    lang: Option<String>,
}

/// One notification as the list shows it.
struct Row {
    at: String,
    at_iso: String,
    project: String,
    /// The issue's page and what to call it; just the text when the issue is not known.
    issue: Option<String>,
    what: String,
    channel: String,
    rule: String,
    /// `sent`, `folded`, `failed`, `pending`: a CSS class.
    status: &'static str,
    status_label: &'static str,
    attempts: i32,
    retries: i32,
    last_error: String,
}

struct ChannelRow {
    name: String,
    kind: &'static str,
    language: &'static str,
}

struct RuleRow {
    name: String,
    condition: &'static str,
    threshold: String,
    window: String,
    factor: String,
    scope: String,
    channels: String,
    cooldown: String,
}

/// The result of "send a test", shown above the lists.
struct Notice {
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    /// The alerter has created its tables: otherwise the empty state says it never started.
    started: bool,
    rows: Vec<Row>,
    next: Option<String>,
    first_page: Option<String>,
    /// The project filter: (id, name, selected); the empty id is "all".
    filter: Vec<(String, String, bool)>,
    channels: Vec<ChannelRow>,
    rules: Vec<RuleRow>,
    default_rules: bool,
    admin: bool,
    notice: Option<Notice>,
}

fn status(t: &'static Text, status: &str) -> (&'static str, &'static str) {
    match status {
        "sent" => ("sent", t.alert_sent),
        "folded" => ("folded", t.alert_folded),
        "failed" => ("failed", t.alert_failed),
        _ => ("pending", t.alert_pending),
    }
}

/// Issue ids by (project, fingerprint), for the notifications that name only the group.
type IssueIds = HashMap<(i64, String), i64>;

fn row(
    t: &'static Text,
    names: &HashMap<i64, &ProjectInfo>,
    ids: &IssueIds,
    alert: &AlertRow,
) -> Row {
    let project = names.get(&alert.project_id);
    let issue_id = alert.issue_id.or_else(|| {
        ids.get(&(alert.project_id, alert.fingerprint.clone()))
            .copied()
    });
    let (status, status_label) = status(t, &alert.status);
    let what = clip(
        alert
            .title
            .as_deref()
            .or(alert.headline.as_deref())
            .unwrap_or(&alert.reason),
        200,
    );
    Row {
        at: utc(&alert.created_at),
        at_iso: iso(&alert.created_at),
        project: project.map_or_else(|| "—".to_owned(), |p| p.name.clone()),
        issue: match (project, issue_id) {
            (Some(project), Some(issue)) => {
                Some(format!("/projects/{}/issues/{issue}", project.id))
            }
            _ => None,
        },
        what,
        channel: alert.channel.clone(),
        rule: alert.rule.clone(),
        status,
        status_label,
        attempts: alert.attempts,
        retries: (alert.attempts - 1).max(0),
        last_error: clip(alert.last_error.as_deref().unwrap_or(""), 300),
    }
}

fn listed(values: &[String], all: &str) -> String {
    if values.is_empty() {
        all.to_owned()
    } else {
        values.join(", ")
    }
}

fn rules(dashboard: &Dashboard, viewer: &Viewer, t: &'static Text) -> Vec<RuleRow> {
    let dash = || "—".to_owned();
    dashboard
        .alerts
        .rules
        .iter()
        // A member sees the rules that can notify about their projects.
        .filter(|rule| {
            rule.projects.is_empty()
                || rule.projects.iter().any(|id| {
                    dashboard
                        .projects
                        .iter()
                        .any(|p| p.id.get() == *id && viewer.can_see(p.id))
                })
        })
        .map(|rule| {
            let projects: Vec<String> = rule
                .projects
                .iter()
                .map(|id| {
                    dashboard
                        .projects
                        .iter()
                        .find(|p| p.id.get() == *id)
                        .map_or_else(|| id.to_string(), |p| p.name.clone())
                })
                .collect();
            let mut scope = vec![listed(&projects, t.all_projects)];
            if !rule.environments.is_empty() {
                scope.push(rule.environments.join(", "));
            }
            if !rule.levels.is_empty() {
                scope.push(rule.levels.join(", "));
            }
            RuleRow {
                name: rule.name.clone(),
                condition: match rule.condition {
                    "new_issue" => t.rule_new_issue,
                    "regression" if rule.newer_release_only => t.rule_regression_newer,
                    "regression" => t.rule_regression,
                    "frequency" => t.rule_frequency,
                    "users" => t.rule_users,
                    _ => t.rule_spike,
                },
                threshold: rule.threshold.map_or_else(dash, |n| n.to_string()),
                window: rule.window_secs.map_or_else(dash, |s| format!("{s} s")),
                factor: rule.factor.map_or_else(dash, |f| format!("× {f}")),
                scope: scope.join(" · "),
                channels: listed(&rule.channels, t.all_channels),
                cooldown: format!("{} s", rule.cooldown_secs),
            }
        })
        .collect()
}

/// The page, with `notice` when it answers a test.
async fn render<S: Source>(
    source: &S,
    dashboard: &Dashboard,
    viewer: &Viewer,
    lang: Lang,
    params: &AlertsParams,
    notice: Option<Notice>,
) -> Result<String, PageError> {
    let t = lang.text();
    let visible = web::visible(dashboard, viewer);
    let chosen = match params.project.as_deref().filter(|p| !p.is_empty()) {
        Some(text) => Some(web::project(dashboard, viewer, text, lang)?),
        None => None,
    };
    let projects: Option<Vec<i64>> = match (chosen, viewer.role) {
        (Some(project), _) => Some(vec![i64::from(project.id.get())]),
        (None, Role::Admin) => None,
        (None, Role::Member) => Some(visible.iter().map(|p| i64::from(p.id.get())).collect()),
    };
    let cursor = params.cursor.as_deref().filter(|c| c.len() <= 64);
    let log = AlertLog::new(dashboard.accounts.pool().clone());
    let page = log
        .page(projects.as_deref(), cursor, PAGE_SIZE)
        .await
        .map_err(|error| match error {
            LogError::BadCursor => PageError::new(Fail::BadRequest, lang),
            LogError::Database(error) => {
                tracing::error!(error = %error, "Alerts query failed.");
                PageError::new(Fail::Unavailable, lang)
            }
        })?;
    let names: HashMap<i64, &ProjectInfo> = dashboard
        .projects
        .iter()
        .map(|p| (i64::from(p.id.get()), p))
        .collect();
    // `frequency`, `users` and escalations count events, which the alerter groups itself:
    // their messages carry the group's fingerprint, not the processor's issue id.
    let keys: Vec<(i64, String)> = page
        .iter()
        .flat_map(|page| &page.rows)
        .filter(|a| a.issue_id.is_none() && !a.fingerprint.is_empty())
        .filter(|a| names.contains_key(&a.project_id))
        .map(|a| (a.project_id, a.fingerprint.clone()))
        .collect();
    let ids = if keys.is_empty() {
        IssueIds::new()
    } else {
        source.issue_ids(&keys).await.map_err(source_failed(lang))?
    };
    let query = |cursor: Option<&str>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(project) = chosen {
            query.append_pair("project", &project.id.to_string());
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        query.finish()
    };
    let mut filter = vec![(String::new(), t.all_projects.to_owned(), chosen.is_none())];
    filter.extend(visible.iter().map(|p| {
        (
            p.id.to_string(),
            p.name.clone(),
            chosen.is_some_and(|c| c.id == p.id),
        )
    }));
    let page_view = AlertsPage {
        chrome: Chrome::new(dashboard, viewer, lang, chosen, "/alerts"),
        t,
        started: page.is_some(),
        rows: page
            .as_ref()
            .map(|page| page.rows.iter().map(|a| row(t, &names, &ids, a)).collect())
            .unwrap_or_default(),
        next: page
            .as_ref()
            .and_then(|page| page.next.as_deref())
            .map(|next| query(Some(next))),
        first_page: cursor.map(|_| query(None)),
        filter,
        channels: dashboard
            .alerts
            .channels
            .iter()
            .map(|c| ChannelRow {
                name: c.name.clone(),
                kind: c.kind,
                language: c.language,
            })
            .collect(),
        rules: rules(dashboard, viewer, t),
        default_rules: dashboard.alerts.default_rules,
        admin: viewer.role == Role::Admin,
        notice,
    };
    web::render(&page_view, lang)
}

pub async fn list<S: Source>(
    request: HttpRequest,
    params: aw::Query<AlertsParams>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let asked = params.lang.as_deref();
    let lang = Lang::of(&request, asked);
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let body = render(source.get_ref(), &dashboard, &viewer, lang, &params, None).await?;
    Ok(web::html(&request, lang, asked, body))
}

/// "Send a test": an admin's, with this session's CSRF token; the alerter sends it and says
/// how it went, which the page shows.
pub async fn test_channel<S: Source>(
    request: HttpRequest,
    name: aw::Path<String>,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let t = lang.text();
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let form = Form::parse(&body);
    web::check_csrf(&request, &viewer, &form, lang)?;
    if viewer.role != Role::Admin {
        return Err(PageError::new(Fail::Refused, lang));
    }
    let channel = dashboard
        .alerts
        .channel(&name)
        .ok_or_else(|| PageError::new(Fail::NotFound, lang))?;
    let notice = match dashboard.alerts.api.test_channel(&channel.name).await {
        Ok(TestOutcome::Sent) => Notice {
            ok: true,
            text: format!("{} {}", t.test_sent, channel.name),
        },
        Ok(TestOutcome::Failed { detail }) => Notice {
            ok: false,
            text: format!("{} {}: {}", t.test_failed, channel.name, clip(&detail, 300)),
        },
        Err(error) => {
            tracing::warn!(channel = %channel.name, error = %error, "Channel test not sent.");
            let why = match error {
                AlerterError::Unreachable { .. } => t.alerter_unreachable,
                AlerterError::Refused(_) => t.alerter_refused,
                AlerterError::UnknownChannel => t.alerter_unknown_channel,
                AlerterError::Unexpected(_) => t.unavailable,
            };
            Notice {
                ok: false,
                text: format!("{} {}: {why}", t.test_failed, channel.name),
            }
        }
    };
    tracing::info!(
        user_id = viewer.user_id,
        channel = %channel.name,
        sent = notice.ok,
        "Channel test requested from the dashboard."
    );
    let params = AlertsParams {
        project: None,
        cursor: None,
        lang: None,
    };
    let body = render(
        source.get_ref(),
        &dashboard,
        &viewer,
        lang,
        &params,
        Some(notice),
    )
    .await?;
    Ok(web::html(&request, lang, None, body))
}
