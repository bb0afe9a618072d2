//! Signing in and out, and changing one's password.

use actix_web::{HttpRequest, HttpResponse, web as aw};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, LangParam};
use crate::Dashboard;
use crate::accounts::AccountError;
use crate::assets::{self, Urls};
use crate::i18n::{Lang, Text};
use crate::web::{self, Fail, Form, PageError};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Text,
    assets: &'static Urls,
    next: &'a str,
    email: &'a str,
    error: Option<&'static str>,
    here: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    next: Option<String>,
    lang: Option<String>,
}

pub async fn login_form(
    request: HttpRequest,
    params: aw::Query<LoginParams>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let next = web::local_path(params.next.as_deref());
    let page = LoginPage {
        t: lang.text(),
        assets: assets::urls(),
        next,
        email: "",
        error: None,
        here: "/login",
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}

pub async fn login(
    request: HttpRequest,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    // Login CSRF (signing a victim into the attacker's account) is stopped by the origin
    // check: there is no session yet to carry a token.
    if !web::same_origin(&request) {
        return Err(PageError::new(Fail::Refused, lang));
    }
    let form = Form::parse(&body);
    let email = form.get("email").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    let next = web::local_path(form.get("next"));
    let address = request
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let outcome = dashboard.accounts.sign_in(email, password, &address).await;
    let error = match outcome {
        Ok(token) => {
            let secure = web::secure(&request, &dashboard);
            let mut response = web::see_other(next);
            response
                .add_cookie(&web::session_cookie(&token, secure))
                .map_err(|_| PageError::new(Fail::Unavailable, lang))?;
            return Ok(response);
        }
        Err(AccountError::WrongCredentials) => lang.text().wrong_credentials,
        Err(AccountError::Throttled) => lang.text().throttled,
        Err(error) => return Err(web::unavailable(lang)(error)),
    };
    let status = if error == lang.text().throttled {
        actix_web::http::StatusCode::TOO_MANY_REQUESTS
    } else {
        actix_web::http::StatusCode::UNAUTHORIZED
    };
    let email = super::clip(email, 254);
    let page = LoginPage {
        t: lang.text(),
        assets: assets::urls(),
        next,
        email: &email,
        error: Some(error),
        here: "/login",
    };
    let body = web::render(&page, lang)?;
    let mut response = web::html(&request, lang, None, body);
    *response.status_mut() = status;
    Ok(response)
}

pub async fn logout(
    request: HttpRequest,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    web::check_csrf(&request, &viewer, &Form::parse(&body), lang)?;
    dashboard
        .accounts
        .sign_out(&viewer)
        .await
        .map_err(web::unavailable(lang))?;
    let mut response = web::see_other("/login");
    response
        .add_cookie(&web::removed_session_cookie(web::secure(
            &request, &dashboard,
        )))
        .map_err(|_| PageError::new(Fail::Unavailable, lang))?;
    Ok(response)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    error: Option<&'static str>,
    done: bool,
}

pub async fn password_form(
    request: HttpRequest,
    params: aw::Query<LangParam>,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let page = PasswordPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, None, request.path()),
        t: lang.text(),
        error: None,
        done: false,
    };
    web::page(&request, lang, params.lang.as_deref(), &page)
}

pub async fn change_password(
    request: HttpRequest,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let t = lang.text();
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let form = Form::parse(&body);
    web::check_csrf(&request, &viewer, &form, lang)?;
    let new = form.get("new").unwrap_or("");
    let error = if Some(new) != form.get("confirm") {
        Some(t.passwords_differ)
    } else {
        match dashboard
            .accounts
            .change_password(&viewer, form.get("current").unwrap_or(""), new)
            .await
        {
            Ok(()) => None,
            Err(AccountError::WrongCredentials) => Some(t.wrong_credentials),
            Err(AccountError::WeakPassword) => Some(t.weak_password),
            Err(error) => return Err(web::unavailable(lang)(error)),
        }
    };
    let page = PasswordPage {
        chrome: Chrome::new(&dashboard, &viewer, lang, None, request.path()),
        t,
        error,
        done: error.is_none(),
    };
    let mut response = web::html(&request, lang, None, web::render(&page, lang)?);
    if error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// A token as listed.
struct TokenView {
    id: i64,
    name: String,
    created: String,
    created_iso: String,
    last_used: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage<'a> {
    chrome: Chrome<'a>,
    t: &'static Text,
    tokens: Vec<TokenView>,
    /// Just created: shown this once.
    created: Option<String>,
    error: Option<&'static str>,
}

async fn tokens_page(
    request: &HttpRequest,
    dashboard: &Dashboard,
    viewer: &crate::Viewer,
    lang: Lang,
    created: Option<String>,
    error: Option<&'static str>,
) -> Result<String, PageError> {
    let tokens = dashboard
        .accounts
        .api_tokens(viewer)
        .await
        .map_err(web::unavailable(lang))?
        .into_iter()
        .map(|token| TokenView {
            id: token.id,
            name: token.name,
            created: super::utc(&token.created_at),
            created_iso: super::iso(&token.created_at),
            last_used: token
                .last_used_at
                .map(|at| (super::utc(&at), super::iso(&at))),
        })
        .collect();
    let page = TokensPage {
        chrome: Chrome::new(dashboard, viewer, lang, None, request.path()),
        t: lang.text(),
        tokens,
        created,
        error,
    };
    web::render(&page, lang)
}

pub async fn tokens(
    request: HttpRequest,
    params: aw::Query<LangParam>,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, params.lang.as_deref());
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let body = tokens_page(&request, &dashboard, &viewer, lang, None, None).await?;
    Ok(web::html(&request, lang, params.lang.as_deref(), body))
}

/// `POST /account/tokens` with `csrf` and either `name` (create) or `revoke` (a token's id).
pub async fn change_tokens(
    request: HttpRequest,
    body: aw::Bytes,
    dashboard: aw::Data<Dashboard>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&request, None);
    let t = lang.text();
    let viewer = web::viewer(&request, &dashboard, lang).await?;
    let form = Form::parse(&body);
    web::check_csrf(&request, &viewer, &form, lang)?;
    if let Some(id) = form.get("revoke") {
        let id = id
            .parse::<i64>()
            .map_err(|_| PageError::new(Fail::BadRequest, lang))?;
        if !dashboard
            .accounts
            .revoke_api_token(&viewer, id)
            .await
            .map_err(web::unavailable(lang))?
        {
            return Err(PageError::new(Fail::NotFound, lang));
        }
        return Ok(web::see_other("/account/tokens"));
    }
    let (created, error) = match dashboard
        .accounts
        .create_api_token(&viewer, form.get("name").unwrap_or(""))
        .await
    {
        Ok(token) => (Some(token), None),
        Err(AccountError::InvalidTokenName) => (None, Some(t.invalid_token_name)),
        Err(AccountError::TooManyTokens) => (None, Some(t.too_many_tokens)),
        Err(error) => return Err(web::unavailable(lang)(error)),
    };
    let body = tokens_page(&request, &dashboard, &viewer, lang, created, error).await?;
    let mut response = web::html(&request, lang, None, body);
    if error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}
