//! A project's Settings screen, for admins only: its public keys with their DSNs and
//! snippets, a key added, a key revoked (never the last active one). The keys are the
//! database's, read and written through [`Source`] with the functions `frontmon-admin keys`
//! calls; the collectors pick a change up within `collector.projects_refresh_ms`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use chrono::Utc;

use super::period::{Period, PeriodParams, PeriodView};
use super::{Chrome, LangParam, source_failed};
use crate::accounts::{Role, Viewer};
use crate::i18n::{Lang, Text};
use crate::source::{KeyRevoked, ProjectKey};
use crate::web::{self, Fail, Form, PageError};
use crate::{Dashboard, ProjectInfo, Source};

/// Labels are for people telling keys apart, not for essays.
const LABEL_MAX_CHARS: usize = 100;

/// A key as listed: active ones carry their DSN and snippet.
struct KeyView {
    key: String,
    label: String,
    created: String,
    created_iso: String,
    /// (shown, RFC 3339)
    revoked: Option<(String, String)>,
    dsn: String,
    snippet: String,
}

impl KeyView {
    fn new(key: ProjectKey, project: &ProjectInfo, collector: Option<&url::Url>) -> Self {
        let dsn = super::dsn(collector, &key.key, project.id);
        Self {
            snippet: super::script_snippet(collector, &dsn),
            dsn,
            label: key.label.unwrap_or_default(),
            created: super::utc(&key.created_at),
            created_iso: super::iso(&key.created_at),
            revoked: key.revoked_at.map(|at| (super::utc(&at), super::iso(&at))),
            key: key.key,
        }
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    project: &'a ProjectInfo,
    section: &'static str,
    /// The other tabs' links keep the default period.
    view: PeriodView,
    keys: Vec<KeyView>,
    error: Option<&'static str>,
}

/// The viewer and the project, if the viewer is an admin who may see it; else 404, as for
/// any page a member may not see.
async fn open<'a>(
    request: &HttpRequest,
    dashboard: &'a Dashboard,
    path: &str,
    lang: Lang,
) -> Result<(Viewer, &'a ProjectInfo), PageError> {
    let viewer = web::viewer(request, dashboard, lang).await?;
    if viewer.role != Role::Admin {
        return Err(PageError::new(Fail::NotFound, lang));
    }
    let project = web::project(dashboard, &viewer, path, lang)?;
    Ok((viewer, project))
}

async fn render<S: Source>(
    request: &HttpRequest,
    dashboard: &Dashboard,
    source: &S,
    viewer: &Viewer,
    project: &ProjectInfo,
    lang: Lang,
    error: Option<&'static str>,
) -> Result<String, PageError> {
    let t = lang.text();
    let keys = source
        .keys(project.id)
        .await
        .map_err(source_failed(lang))?
        .into_iter()
        .map(|key| KeyView::new(key, project, dashboard.collector_url.as_ref()))
        .collect();
    let period = Period::parse(&PeriodParams::default(), Utc::now(), lang)?;
    let page = SettingsPage {
        chrome: Chrome::new(dashboard, viewer, lang, Some(project), request.path()),
        t,
        project,
        section: "settings",
        view: PeriodView::new(&period, t),
        keys,
        error,
    };
    web::render(&page, lang)
}

pub async fn page<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    params: aw::Query<LangParam>,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let (viewer, project) = open(&request, &dashboard, &path, lang).await?;
    let body = render(
        &request, &dashboard, &**source, &viewer, project, lang, None,
    )
    .await?;
    Ok(web::html(&request, lang, params.lang.as_deref(), body))
}

/// `POST /projects/{project}/settings` with `csrf` and either `add` (and an optional
/// `label`) or `revoke` (a key).
pub async fn change<S: Source>(
    request: HttpRequest,
    path: aw::Path<String>,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
    source: aw::Data<S>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let t = lang.text();
    let (viewer, project) = open(&request, &dashboard, &path, lang).await?;
    let form = Form::parse(&body);
    web::check_csrf(&request, &viewer, &form, lang)?;
    let failed = source_failed(lang);
    let here = format!("/projects/{}/settings", project.id);
    let error = if let Some(key) = form.get("revoke") {
        match source.revoke_key(project.id, key).await.map_err(failed)? {
            KeyRevoked::Revoked | KeyRevoked::Already => return Ok(web::see_other(&here)),
            KeyRevoked::NotFound => return Err(PageError::new(Fail::NotFound, lang)),
            KeyRevoked::LastKey => t.last_key,
        }
    } else if form.get("add").is_some() {
        let label = form.get("label").unwrap_or("").trim();
        if label.chars().count() > LABEL_MAX_CHARS {
            t.key_label_too_long
        } else {
            let label = Some(label).filter(|label| !label.is_empty());
            source.add_key(project.id, label).await.map_err(failed)?;
            return Ok(web::see_other(&here));
        }
    } else {
        return Err(PageError::new(Fail::BadRequest, lang));
    };
    // A refusal: the page again, saying why.
    let body = render(
        &request,
        &dashboard,
        &**source,
        &viewer,
        project,
        lang,
        Some(error),
    )
    .await?;
    let mut response = web::html(&request, lang, None, body);
    *response.status_mut() = StatusCode::CONFLICT;
    Ok(response)
}
