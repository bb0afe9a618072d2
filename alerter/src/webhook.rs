//! One webhook channel: an HTTP endpoint that receives notifications as signed JSON POSTs.
//!
//! A call succeeds only on a 2xx answer. Redirects are not followed: a signed notification
//! goes only where the configuration says, and a moved endpoint shows up as a failure.
//!
//! Every request names its delivery in [`DELIVERY_HEADER`]: the same value on every attempt
//! to deliver one event to one channel, whether the alerter retried in-process, the broker
//! redelivered the message, or the alerter restarted. A receiver that remembers the ids it
//! has handled processes each notification once.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use shared::config::{ChannelKind, ChannelSettings, Secret};
use shared::event::EventId;

use crate::metrics::Outcome;
use crate::signature;

/// The event the notification is about (the same on every channel).
pub const EVENT_ID_HEADER: &str = "X-Frontmon-Event-Id";
/// This event on this channel: stable across retries and redeliveries, for deduplication.
pub const DELIVERY_HEADER: &str = "X-Frontmon-Delivery";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook answered {status}")]
    Rejected {
        status: StatusCode,
        /// What a 429 or 503 answer asked for in `Retry-After`.
        retry_after: Option<Duration>,
    },
    #[error("the webhook did not answer in time")]
    Timeout(#[source] reqwest::Error),
    #[error("cannot reach the webhook")]
    Unreachable(#[source] reqwest::Error),
}

impl WebhookError {
    pub fn outcome(&self) -> Outcome {
        match self {
            WebhookError::Rejected { .. } => Outcome::Rejected,
            WebhookError::Timeout(_) => Outcome::Timeout,
            WebhookError::Unreachable(_) => Outcome::Unreachable,
        }
    }

    /// How long the webhook asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WebhookError::Rejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A 4xx other than 408 (timeout) and 429 (rate limit): the receiver says the request
    /// itself is wrong (a bad URL, a rejected signature), which a retry alone rarely fixes.
    /// Still retried (see `retry`), but logged as needing an operator.
    pub fn is_client_error(&self) -> bool {
        matches!(self, WebhookError::Rejected { status, .. }
            if status.is_client_error()
                && *status != StatusCode::REQUEST_TIMEOUT
                && *status != StatusCode::TOO_MANY_REQUESTS)
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
            _ => None,
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
            .header(EVENT_ID_HEADER, event_id.to_string())
            .header(DELIVERY_HEADER, delivery_id(event_id, &self.name));
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
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                retry_after(response.headers(), Utc::now())
            }
            _ => None,
        };
        // Read (and discard) the answer, so the connection goes back to the pool.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(WebhookError::Rejected {
                status,
                retry_after,
            })
        }
    }
}

/// The [`DELIVERY_HEADER`] of `event_id` on the channel named `channel`: 32 hex digits of
/// SHA-256 over both, so it is the same in every process and reveals neither.
pub fn delivery_id(event_id: EventId, channel: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(event_id.as_uuid().as_bytes());
    digest.update(channel.as_bytes());
    hex::encode(&digest.finalize()[..16])
}

/// The wait a `Retry-After` header asks for, from `now`: delay-seconds or an HTTP date (in
/// any of the three formats RFC 9110 makes recipients accept). A date in the past is no
/// wait; an unreadable value is ignored.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| {
            // RFC 850, obsolete: Sunday, 06-Nov-94 08:49:37 GMT
            NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT").map(|at| at.and_utc())
        })
        .or_else(|_| {
            // asctime, obsolete: Sun Nov  6 08:49:37 1994
            NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y").map(|at| at.and_utc())
        })
        .ok()?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
        );
        headers
    }

    fn now() -> DateTime<Utc> {
        // Sun, 06 Nov 1994 08:49:00 GMT
        DateTime::from_timestamp(784_111_740, 0).unwrap_or_else(|| panic!("valid"))
    }

    #[test]
    fn retry_after_reads_seconds_and_every_http_date_format() {
        assert_eq!(
            retry_after(&headers("120"), now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(retry_after(&headers(" 0 "), now()), Some(Duration::ZERO));
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                retry_after(&headers(date), now()),
                Some(Duration::from_secs(37)),
                "{date}"
            );
        }
    }

    #[test]
    fn retry_after_in_the_past_is_no_wait_and_garbage_is_ignored() {
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now()),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("-5"), now()), None);
        assert_eq!(retry_after(&headers("soon"), now()), None);
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn delivery_ids_are_stable_per_event_and_channel() {
        let event: EventId = "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let other = EventId::new_random();
        let id = delivery_id(event, "ops");
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, delivery_id(event, "ops"));
        assert_ne!(id, delivery_id(event, "oncall"));
        assert_ne!(id, delivery_id(other, "ops"));
        // Fixed across versions (receivers may have stored it); computed with Python:
        // hashlib.sha256(uuid.UUID(id).bytes + b"ops").hexdigest()[:32]
        assert_eq!(id, "92e5b2761e81983d3b15ce410bf41110");
    }

    #[test]
    fn client_errors_other_than_timeout_and_rate_limit() {
        let rejected = |status: u16| WebhookError::Rejected {
            status: StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}")),
            retry_after: None,
        };
        assert!(rejected(400).is_client_error());
        assert!(rejected(404).is_client_error());
        assert!(rejected(410).is_client_error());
        assert!(!rejected(408).is_client_error());
        assert!(!rejected(429).is_client_error());
        assert!(!rejected(500).is_client_error());
        assert!(!rejected(503).is_client_error());
    }
}
