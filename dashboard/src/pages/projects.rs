//! The project switcher.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;

use super::{Chrome, LangParam};
use crate::Dashboard;
use crate::i18n::{Lang, Text};
use crate::web::{self, PageError};

pub async fn home() -> HttpResponse {
    web::see_other("/projects")
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
}

pub async fn list(
    request: HttpRequest,
    params: aw::Query<LangParam>,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let page = ProjectsPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, None, request.path()),
        t: lang.text(),
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}

/// A project's own address leads to its overview.
pub async fn project(
    request: HttpRequest,
    path: aw::Path<String>,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let project = web::project(&dashboard, &viewer, &path, lang)?;
    Ok(web::see_other(&format!(
        "/projects/{}/overview",
        project.id
    )))
}
