//! What every page shares: the security headers, the signed-in viewer, CSRF and origin
//! checks, form bodies, and the error pages.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use crate::accounts::{AccountError, Viewer};
use crate::i18n::{self, Lang, Text};
use crate::{Dashboard, ProjectInfo, assets};

pub const SESSION_COOKIE: &str = "frontmon_session";

/// No script but our own files, no inline script or style, no framing, no form posting
/// elsewhere, no plugin, no `<base>`: an injection that slipped through escaping still runs
/// nothing and sends nothing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Form bodies are a few fields.
pub const FORM_LIMIT: usize = 16 * 1024;

/// A dashboard resource with its routes: security headers on every answer, small bodies.
pub fn resource<F>(path: &str, routes: F) -> impl actix_web::dev::HttpServiceFactory + use<F>
where
    F: FnOnce(actix_web::Resource) -> actix_web::Resource,
{
    routes(web::resource(path))
        .app_data(web::PayloadConfig::new(FORM_LIMIT))
        .wrap(
            DefaultHeaders::new()
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "same-origin"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Cross-Origin-Opener-Policy", "same-origin")),
        )
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum Fail {
    /// Not signed in: to the sign-in page, then back to `next`.
    SignIn(String),
    NotFound,
    /// A state change without this session's CSRF token or from another origin.
    Refused,
    BadRequest,
    Unavailable,
}

#[derive(Debug)]
pub struct PageError {
    pub fail: Fail,
    pub lang: Lang,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.fail)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'a Text,
    css: &'a str,
    message: &'a str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self.fail {
            Fail::SignIn(_) => StatusCode::SEE_OTHER,
            Fail::NotFound => StatusCode::NOT_FOUND,
            Fail::Refused => StatusCode::FORBIDDEN,
            Fail::BadRequest => StatusCode::BAD_REQUEST,
            Fail::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let t = self.lang.text();
        let message = match &self.fail {
            Fail::SignIn(next) => {
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("/login?next={next}")))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish();
            }
            Fail::NotFound => t.not_found,
            Fail::Refused => t.forbidden,
            Fail::BadRequest => t.bad_request,
            Fail::Unavailable => t.unavailable,
        };
        let body = ErrorPage {
            t,
            css: &assets::urls().css,
            message,
        }
        .render()
        .unwrap_or_else(|_| message.to_owned());
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body)
    }
}

impl PageError {
    pub fn new(fail: Fail, lang: Lang) -> Self {
        Self { fail, lang }
    }
}

pub fn unavailable(lang: Lang) -> impl Fn(AccountError) -> PageError {
    move |error| {
        tracing::error!(error = %error, "Dashboard query failed.");
        PageError::new(Fail::Unavailable, lang)
    }
}

/// The signed-in viewer, or a redirect to the sign-in page.
pub async fn viewer(
    request: &HttpRequest,
    dashboard: &Dashboard,
    lang: Lang,
) -> Result<Viewer, PageError> {
    match dashboard.viewer(request).await.map_err(unavailable(lang))? {
        Some(viewer) => Ok(viewer),
        None => {
            let uri = request.uri();
            let next = uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned();
            Err(PageError::new(Fail::SignIn(next), lang))
        }
    }
}

/// The project in a path, if the viewer may see it; else 404, as for a project that does not
/// exist, so a member learns nothing about others.
pub fn project<'a>(
    dashboard: &'a Dashboard,
    viewer: &Viewer,
    text: &str,
    lang: Lang,
) -> Result<&'a ProjectInfo, PageError> {
    dashboard
        .projects
        .iter()
        .find(|p| p.id.to_string() == text && viewer.can_see(p.id))
        .ok_or_else(|| PageError::new(Fail::NotFound, lang))
}

/// The projects a viewer may see.
pub fn visible<'a>(dashboard: &'a Dashboard, viewer: &Viewer) -> Vec<&'a ProjectInfo> {
    dashboard
        .projects
        .iter()
        .filter(|p| viewer.can_see(p.id))
        .collect()
}

/// A form body's fields, in order (a name may repeat).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A state-changing request must come from a page of this site: a browser's
/// `Sec-Fetch-Site`, when sent, says same-origin, and an `Origin`, when sent, is this host.
pub fn same_origin(request: &HttpRequest) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        return !host.is_empty() && origin_host == host;
    }
    true
}

/// Checks a state change: same origin, and this session's CSRF token in the form's `csrf`
/// field or the `X-CSRF-Token` header (htmx sends it).
pub fn check_csrf(
    request: &HttpRequest,
    viewer: &Viewer,
    form: &Form,
    lang: Lang,
) -> Result<(), PageError> {
    let presented = form.get("csrf").or_else(|| {
        request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
    });
    if same_origin(request) && presented.is_some_and(|token| viewer.csrf_matches(token)) {
        Ok(())
    } else {
        tracing::warn!(
            user_id = viewer.user_id,
            path = request.path(),
            "CSRF check refused a request."
        );
        Err(PageError::new(Fail::Refused, lang))
    }
}

/// Whether cookies get `Secure`: the operator said the site is HTTPS, or this request came
/// over HTTPS.
pub fn secure(request: &HttpRequest, dashboard: &Dashboard) -> bool {
    dashboard.secure_cookies || request.connection_info().scheme() == "https"
}

pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieDuration::seconds(
            crate::accounts::SESSION_LIFETIME.as_secs() as i64,
        ))
        .finish()
}

pub fn removed_session_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish();
    cookie.make_removal();
    cookie
}

/// A page's HTML, never cached (it is someone's data).
pub fn html(request: &HttpRequest, lang: Lang, asked: Option<&str>, body: String) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Cookie, Accept-Language"));
    // `?lang=` switches the language and remembers it for a year.
    if asked.is_some_and(|code| Lang::parse(code).is_some())
        && request
            .cookie(i18n::COOKIE)
            .map(|c| c.value().to_owned())
            .as_deref()
            != Some(lang.code())
    {
        response.cookie(
            Cookie::build(i18n::COOKIE, lang.code())
                .path("/")
                .same_site(SameSite::Lax)
                .max_age(CookieDuration::days(365))
                .finish(),
        );
    }
    response.body(body)
}

/// A rendered page as [`html`] answers it: the one way a handler shows a template.
pub fn page<T: Template>(
    request: &HttpRequest,
    lang: Lang,
    asked: Option<&str>,
    page: &T,
) -> Result<HttpResponse, PageError> {
    Ok(html(request, lang, asked, render(page, lang)?))
}

/// 303 to a path of this site.
pub fn see_other(path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A path to go back to after signing in: ours only (no `//host`, no scheme).
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.len() <= 2048 =>
        {
            path
        }
        _ => "/projects",
    }
}

pub fn render<T: Template>(page: &T, lang: Lang) -> Result<String, PageError> {
    page.render().map_err(|error| {
        tracing::error!(error = %error, "Template failed.");
        PageError::new(Fail::Unavailable, lang)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            local_path(Some("/projects/1/issues?x=1")),
            "/projects/1/issues?x=1"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
        ] {
            assert_eq!(local_path(Some(bad)), "/projects", "{bad}");
        }
        assert_eq!(local_path(None), "/projects");
    }
}
