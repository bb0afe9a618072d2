//! One webhook channel: an HTTP endpoint that receives notifications as signed JSON POSTs.
//!
//! A call succeeds only on a 2xx answer. Redirects are not followed: a signed notification
//! goes only where the configuration says, and a moved endpoint shows up as a failure.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use shared::config::{ChannelKind, ChannelSettings, Secret};
use shared::event::EventId;

use crate::metrics::Outcome;
use crate::signature;

/// Lets a receiver recognise a notification it has already handled: a delivery retried
/// because another channel failed reaches this one again.
pub const EVENT_ID_HEADER: &str = "X-Frontmon-Event-Id";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook answered {0}")]
    Rejected(StatusCode),
    #[error("the webhook did not answer in time")]
    Timeout(#[source] reqwest::Error),
    #[error("cannot reach the webhook")]
    Unreachable(#[source] reqwest::Error),
}

impl WebhookError {
    pub fn outcome(&self) -> Outcome {
        match self {
            WebhookError::Rejected(_) => Outcome::Rejected,
            WebhookError::Timeout(_) => Outcome::Timeout,
            WebhookError::Unreachable(_) => Outcome::Unreachable,
        }
    }

    fn from_reqwest(error: reqwest::Error) -> Self {
        // A webhook URL is often a credential itself (chat tools put the token in the path),
        // so it stays out of errors and logs.
        let error = error.without_url();
        if error.is_timeout() {
            WebhookError::Timeout(error)
        } else {
            WebhookError::Unreachable(error)
        }
    }
}

/// The HTTP client every channel shares (one connection pool).
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("frontmon-alerter/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    url: Url,
    secret: Option<Secret>,
}

impl Webhook {
    /// The webhook a channel describes, if it is one.
    pub fn from_settings(channel: &ChannelSettings) -> Option<Self> {
        match channel.kind {
            ChannelKind::Webhook => Some(Self {
                name: channel.name.clone(),
                url: channel.url.clone(),
                secret: channel.secret.clone(),
            }),
        }
    }

    /// POSTs `body` (JSON), signed if the channel has a secret.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        event_id: EventId,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let mut request = client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(EVENT_ID_HEADER, event_id.to_string());
        if let Some(secret) = &self.secret {
            let timestamp = chrono::Utc::now().timestamp();
            request = request
                .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    signature::SIGNATURE_HEADER,
                    signature::sign(secret.expose().as_bytes(), timestamp, body),
                );
        }
        let response = request
            .body(body.to_vec())
            .send()
            .await
            .map_err(WebhookError::from_reqwest)?;
        let status = response.status();
        // Read (and discard) the answer, so the connection goes back to the pool.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(WebhookError::Rejected(status))
        }
    }
}
