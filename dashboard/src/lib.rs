//! frontmon's dashboard: server-rendered pages for people, mounted by the processor's HTTP
//! server (one container), on the same query code as its JSON API.
//!
//! - [`source`]: the [`Source`] trait, what the pages read and change; the processor
//!   implements it with the functions behind its JSON API, so imports run one way
//!   (processor → dashboard).
//! - [`accounts`]: users, roles, argon2id passwords, sessions and the sign-in throttle, in the
//!   database's `dashboard` schema ([`db`], migrations in `dashboard/migrations`).
//! - `web`: what every page shares: security headers, the viewer, CSRF, forms, errors.
//! - `pages`: the handlers, one module per screen, beside the route table ([`routes`]);
//!   templates in `dashboard/templates` (askama, checked at compile time, escaping all).
//! - [`alerts`]: the Alerts screen's data: the alerter's notifications (read from its
//!   schema), its channels and rules (from the configuration), and its test endpoint.
//! - `i18n`: the message catalogue, English and 简体中文.
//! - `assets`: htmx, uPlot and the style sheet, embedded under content-hashed paths.
//!
//! Start at [`routes`], then `pages::issues` and `pages::overview`.

pub mod accounts;
pub mod alerts;
mod assets;
mod db;
mod i18n;
mod pages;
pub mod source;
mod web;

use actix_web::web as aw;
use shared::event::ProjectId;

pub use accounts::{AccountError, Accounts, Role, Viewer};
pub use alerts::AlertSetup;
pub use source::{
    IssueActivity, IssuePage, IssueQuery, IssueRow, IssueSort, IssueStatus, KeyRevoked, ProjectKey,
    RELEASES_MAX, Range, Source, SourceError,
};

/// A project as the pages name it.
#[derive(Debug, Clone)]
pub struct ProjectInfo {
    pub id: ProjectId,
    pub name: String,
    pub public_key: String,
}

/// What the pages share, beside the [`Source`].
pub struct Dashboard {
    pub accounts: Accounts,
    /// Every project, in the configuration's order.
    pub projects: Vec<ProjectInfo>,
    /// Mark cookies `Secure` whatever the request says (the public URL is `https`).
    pub secure_cookies: bool,
    /// The alerter's channels and rules, and its API, for the Alerts screen.
    pub alerts: AlertSetup,
    /// Where browsers reach the collector (`processor.collector_url`), for the DSNs shown.
    pub collector_url: Option<url::Url>,
}

impl Dashboard {
    /// The viewer of a session cookie on this request, if it is live. For the JSON API,
    /// which accepts a session beside its bearer token.
    pub async fn viewer(
        &self,
        request: &actix_web::HttpRequest,
    ) -> Result<Option<Viewer>, AccountError> {
        match request.cookie(web::SESSION_COOKIE) {
            Some(cookie) => self.accounts.viewer(cookie.value()).await,
            None => Ok(None),
        }
    }
}

impl Dashboard {
    /// The viewer of a personal API token in `Authorization: Bearer fmt_…`, if it is one and
    /// exists; `None` for any other header (the admin token is the processor's to check).
    pub async fn api_viewer(
        &self,
        request: &actix_web::HttpRequest,
    ) -> Result<Option<Viewer>, AccountError> {
        let token = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(token) if token.starts_with(accounts::API_TOKEN_PREFIX) => {
                self.accounts.api_viewer(token).await
            }
            _ => Ok(None),
        }
    }
}

/// The dashboard's routes; the app must hold `web::Data<Dashboard>` and `web::Data<S>`.
pub fn routes<S: Source>(cfg: &mut aw::ServiceConfig) {
    use pages::{
        account, alerts, issues, overview, performance, projects, releases, settings, traffic,
    };
    cfg.service(web::resource("/", |r| {
        r.route(aw::get().to(projects::home))
    }))
    .service(web::resource("/login", |r| {
        r.route(aw::get().to(account::login_form))
            .route(aw::post().to(account::login))
    }))
    .service(web::resource("/logout", |r| {
        r.route(aw::post().to(account::logout))
    }))
    .service(web::resource("/account/password", |r| {
        r.route(aw::get().to(account::password_form))
            .route(aw::post().to(account::change_password))
    }))
    .service(web::resource("/account/tokens", |r| {
        r.route(aw::get().to(account::tokens))
            .route(aw::post().to(account::change_tokens))
    }))
    .service(web::resource("/alerts", |r| {
        r.route(aw::get().to(alerts::list::<S>))
    }))
    .service(web::resource("/alerts/channels/{name}/test", |r| {
        r.route(aw::post().to(alerts::test_channel::<S>))
    }))
    .service(web::resource("/projects", |r| {
        r.route(aw::get().to(projects::list))
    }))
    .service(web::resource("/projects/{project}", |r| {
        r.route(aw::get().to(projects::project))
    }))
    .service(web::resource("/projects/{project}/overview", |r| {
        r.route(aw::get().to(overview::overview::<S>))
    }))
    .service(web::resource("/projects/{project}/performance", |r| {
        r.route(aw::get().to(performance::performance::<S>))
    }))
    .service(web::resource("/projects/{project}/traffic", |r| {
        r.route(aw::get().to(traffic::traffic::<S>))
    }))
    .service(web::resource("/projects/{project}/releases", |r| {
        r.route(aw::get().to(releases::releases::<S>))
    }))
    .service(web::resource(
        "/projects/{project}/releases/{release}",
        |r| r.route(aw::get().to(releases::release::<S>)),
    ))
    .service(web::resource("/projects/{project}/settings", |r| {
        r.route(aw::get().to(settings::page::<S>))
            .route(aw::post().to(settings::change::<S>))
    }))
    .service(web::resource("/projects/{project}/issues", |r| {
        r.route(aw::get().to(issues::list::<S>))
    }))
    .service(web::resource("/projects/{project}/issues/bulk", |r| {
        r.route(aw::post().to(issues::bulk::<S>))
    }))
    .service(web::resource(
        "/projects/{project}/events/{event_id}",
        |r| r.route(aw::get().to(issues::event::<S>)),
    ))
    .service(web::resource("/projects/{project}/issues/{issue}", |r| {
        r.route(aw::get().to(issues::detail::<S>))
    }))
    .service(web::resource(
        "/projects/{project}/issues/{issue}/status",
        |r| r.route(aw::post().to(issues::set_status::<S>)),
    ))
    .service(web::resource("/assets/{file}", |r| {
        r.route(aw::get().to(assets::serve))
    }));
}
