//! The alerter's API, behind `Authorization: Bearer <processor.admin_token>` (one token for
//! the whole deployment): what was notified, and a test message per channel.
//!
//! - `GET /api/alerts?limit=&project=`: the latest notifications, newest first, with their
//!   status (`pending`, `sent`, `folded` into a digest, `failed`), attempts and last error.
//! - `POST /api/channels/{name}/test`: sends a test message now, and says what the channel
//!   answered.
//!
//! As in the processor's read API, an unsupported query parameter is a 400 naming it
//! (`shared::query`), and times are written as `shared::time` says.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use shared::auth::{BearerError, check_bearer};
use shared::config::Secret;
use shared::query::{NoParams, Query};

use crate::send::Sender;
use crate::store::AlertStore;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

pub struct ApiState {
    pub store: AlertStore,
    pub admin_token: Secret,
    pub senders: HashMap<String, Arc<dyn Sender>>,
    /// The message a test sends to each channel (in its language), as stored messages are.
    pub test_messages: HashMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing credentials: send Authorization: Bearer <admin token>")]
    Unauthenticated,
    #[error("wrong admin token")]
    Forbidden,
    #[error("no channel is named {0:?}")]
    UnknownChannel(String),
    #[error("invalid parameter {0}")]
    InvalidParameter(String),
    #[error("the database is unavailable")]
    Database(#[from] sqlx::Error),
}

impl From<BearerError> for ApiError {
    fn from(error: BearerError) -> Self {
        match error {
            BearerError::Missing => ApiError::Unauthenticated,
            BearerError::Wrong => ApiError::Forbidden,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::UnknownChannel(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Database(error) = self {
            tracing::error!(error = %error, "Alerts API query failed.");
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}

#[derive(Debug, Deserialize)]
pub struct AlertsQuery {
    limit: Option<i64>,
    project: Option<i64>,
}

pub async fn alerts(
    request: HttpRequest,
    query: Query<AlertsQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidParameter(format!(
            "limit: must be 1 to {MAX_LIMIT}"
        )));
    }
    let alerts = state.store.recent(limit, query.project).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "alerts": alerts })))
}

pub async fn test_channel(
    request: HttpRequest,
    name: web::Path<String>,
    _: Query<NoParams>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let (Some(sender), Some(message)) = (
        state.senders.get(name.as_str()),
        state.test_messages.get(name.as_str()),
    ) else {
        return Err(ApiError::UnknownChannel(name.to_string()));
    };
    Ok(match sender.send(message).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "channel": *name, "sent": true })),
        Err(failure) => HttpResponse::BadGateway().json(serde_json::json!({
            "channel": *name,
            "sent": false,
            "permanent": failure.permanent,
            "error": failure.detail,
        })),
    })
}

fn authorize(request: &HttpRequest, state: &ApiState) -> Result<(), ApiError> {
    Ok(check_bearer(request.headers(), &state.admin_token)?)
}
