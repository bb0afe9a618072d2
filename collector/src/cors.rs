//! CORS for browser pages on other origins.
//!
//! `text/plain` bodies and the `?key=` parameter let a page send events as a "simple"
//! request, without a preflight; pages that send `application/json` or the key header get a
//! preflight, answered here. Either way the browser only lets the page read our answer if
//! `Access-Control-Allow-Origin` names its origin, which we do for the project's
//! `allowed_origins`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use shared::config::Project;

use crate::body::header_str;
use crate::error::{EVENTS_METHODS, IngestError};
use crate::state::State;

/// Adds the CORS answer for `origin` to a response, when the project allows it.
pub fn allow(response: &mut HttpResponse, project: Option<&Project>, origin: Option<&str>) {
    let (Some(project), Some(origin)) = (project, origin) else {
        return;
    };
    if !project.allows_origin(origin) {
        return;
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        // The answer depends on the Origin header: caches must keep one per origin.
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        // How long to wait after a 429 or 503: an SDK on another origin may read these only
        // when they are exposed.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After, X-Sentry-Rate-Limits"),
        );
    }
}

pub fn origin(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
}

/// `OPTIONS /api/{project_id}/events`: the preflight.
pub async fn preflight(
    request: HttpRequest,
    project_id: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    let project = state.project(&project_id);
    let project = project.as_deref();
    let origin = origin(&request);
    let mut response = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, EVENTS_METHODS))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Content-Type, Content-Encoding, X-Frontmon-Key",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish();
    allow(&mut response, project, origin);
    response
}

/// For the SDK endpoints (Sentry, Faro): every answer is readable by the page that sent the
/// request, refusals included, so the SDK sees 429s and the headers in `exposed`. Which
/// origins may send events is enforced on the request itself ([`check_origin`]), not by
/// hiding answers.
pub(crate) fn allow_any_origin(
    response: &mut HttpResponse,
    request: &HttpRequest,
    exposed: &'static str,
) {
    let headers = response.headers_mut();
    match header_str(request, header::ORIGIN.as_str())
        .and_then(|origin| HeaderValue::from_str(origin).ok())
    {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(exposed),
    );
}

/// The SDK endpoints' preflight, answered for any origin: whether the origin may send events
/// is decided on the POST, whose refusal the page can then read.
pub(crate) fn any_origin_preflight(
    request: &HttpRequest,
    allowed: &'static str,
    exposed: &'static str,
) -> HttpResponse {
    let mut response = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, EVENTS_METHODS))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, allowed))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish();
    allow_any_origin(&mut response, request, exposed);
    response
}

/// A 403 for a request from an origin the project does not list; one without `Origin` (not
/// from a browser page) passes.
pub(crate) fn check_origin(request: &HttpRequest, project: &Project) -> Result<(), IngestError> {
    match header_str(request, header::ORIGIN.as_str()) {
        Some(origin) if !project.allows_origin(origin) => {
            Err(IngestError::OriginNotAllowed(origin.to_owned()))
        }
        _ => Ok(()),
    }
}
