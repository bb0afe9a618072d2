//! Our own webhook: the message as JSON, signed, for receivers that act on it.
//!
//! The body keeps every key of the notification the alerter sent before rules existed
//! (`text`, `project_id`, `project`, `routing_key`, `message`, `url`, `release`,
//! `environment`, `event_id`, `timestamp`, `timestamp_ms`; `null` when unknown), so existing
//! receivers keep working, and adds the rest of the [`Message`]: `kind`, `headline`,
//! `delivery_id`, `issue`, `reason`, `escalation`, `link`, `digest`.
//!
//! Headers: [`DELIVERY_HEADER`] (the message's delivery id, the same on every attempt, for
//! deduplication), [`EVENT_ID_HEADER`] when an event triggered it, and with a secret the
//! signature of [`crate::signature`]: `X-Frontmon-Timestamp` and
//! `X-Frontmon-Signature: sha256=HMAC(secret, timestamp + "." + body)`.
//!
//! Answers: 2xx delivered; 408, 429 and 5xx retried (no sooner than `Retry-After`); any other
//! 4xx is permanent: the receiver refuses this request (a wrong URL, a rejected signature).

use chrono::{SecondsFormat, Utc};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use shared::config::{ChannelSettings, Secret};

use super::http::post_json;
use super::text::{one_line, title};
use super::{ChannelError, Message, SendError};
use crate::signature;

/// The event the notification is about, when one is.
pub const EVENT_ID_HEADER: &str = "X-Frontmon-Event-Id";
/// This notification on this channel: the same on every attempt, for deduplication.
pub const DELIVERY_HEADER: &str = "X-Frontmon-Delivery";

#[derive(Clone)]
pub(crate) struct Webhook {
    url: Url,
    secret: Option<Secret>,
}

impl Webhook {
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        if !matches!(settings.url.scheme(), "http" | "https") {
            return Err(ChannelError::new(settings, "a webhook URL is http(s)"));
        }
        Ok(Self {
            url: settings.url.clone(),
            secret: settings.secret.clone(),
        })
    }

    pub async fn send(&self, http: &reqwest::Client, message: &Message) -> Result<(), SendError> {
        let body = super::http::to_json(&body(message));
        let timestamp = Utc::now().timestamp();
        let headers = headers(message, self.secret.as_ref(), timestamp, &body)?;
        post_json(http, self.url.clone(), headers, body)
            .await?
            .by_status()
    }
}

/// The request headers: delivery, event, and with a secret the signature of `body` sent at
/// `timestamp` (unix seconds).
pub(crate) fn headers(
    message: &Message,
    secret: Option<&Secret>,
    timestamp: i64,
    body: &[u8],
) -> Result<HeaderMap, SendError> {
    let mut headers = HeaderMap::new();
    let mut add = |name: &'static str, value: String| {
        // A delivery id is ours, hex; anything else would be a bug upstream, and a request
        // without it would defeat the receiver's deduplication.
        let invalid = || SendError::permanent(None, format!("invalid {name} header"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let value = HeaderValue::try_from(value).map_err(|_| invalid())?;
        headers.insert(name, value);
        Ok::<(), SendError>(())
    };
    add(DELIVERY_HEADER, message.delivery_id.clone())?;
    if let Some(event) = &message.event {
        add(EVENT_ID_HEADER, event.event_id.to_string())?;
    }
    if let Some(secret) = secret {
        add(signature::TIMESTAMP_HEADER, timestamp.to_string())?;
        add(
            signature::SIGNATURE_HEADER,
            signature::sign(secret.expose().as_bytes(), timestamp, body),
        )?;
    }
    Ok(headers)
}

/// The JSON body.
pub(crate) fn body(message: &Message) -> Value {
    let event = message.event.as_ref();
    let timestamp = event.and_then(|e| e.timestamp);
    json!({
        "text": text(message),
        "kind": message.kind.as_str(),
        "language": message.language,
        "headline": message.headline,
        "delivery_id": message.delivery_id,
        "project_id": message.project_id,
        "project": message.project,
        "routing_key": event.and_then(|e| e.routing_key.as_deref()),
        "message": event
            .and_then(|e| e.message.clone())
            .or_else(|| message.issue.as_ref().map(|i| i.title.clone())),
        "url": event.and_then(|e| e.url.as_deref()),
        "release": message.release,
        "environment": message.environment,
        "event_id": event.map(|e| e.event_id),
        "timestamp": timestamp.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        "timestamp_ms": timestamp.map(|t| t.timestamp_millis()),
        "issue": message.issue,
        "reason": message.reason,
        "escalation": message.escalation,
        "link": message.link,
        "digest": message.digest,
    })
}

/// One line for people (and for chat tools pointed at a webhook, which display `text`):
/// "New issue in shop-web: TypeError: x is undefined https://…".
fn text(message: &Message) -> String {
    let mut text = one_line(&message.headline);
    if let Some(title) = title(message) {
        text.push_str(": ");
        text.push_str(&title);
    } else if let Some(digest) = &message.digest {
        text.push_str(": ");
        text.push_str(&one_line(&digest.summary));
    }
    if let Some(link) = &message.link {
        text.push(' ');
        text.push_str(link);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::MessageKind;
    use crate::channels::tests::{digest, new_issue};

    #[test]
    fn keeps_the_old_notification_keys_and_adds_the_message() {
        let json = body(&new_issue());
        for key in [
            "text",
            "project_id",
            "project",
            "routing_key",
            "message",
            "url",
            "release",
            "environment",
            "event_id",
            "timestamp",
            "timestamp_ms",
        ] {
            assert!(json.get(key).is_some(), "no {key} in {json}");
        }
        assert_eq!(json["project_id"], 2);
        assert_eq!(json["project"], "shop-web");
        assert_eq!(json["routing_key"], "error.js");
        assert_eq!(
            json["message"],
            "Cannot read properties of undefined (reading 'total')"
        );
        assert_eq!(json["url"], "https://shop.example/cart");
        assert_eq!(json["event_id"], "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f");
        assert_eq!(json["timestamp"], "2024-05-01T14:07:09.123Z");
        assert_eq!(json["timestamp_ms"], 1_714_572_429_123_i64);
        assert_eq!(json["kind"], "new_issue");
        assert_eq!(json["delivery_id"], "92e5b2761e81983d3b15ce410bf41110");
        assert_eq!(json["issue"]["count"], 1204);
        assert_eq!(json["issue"]["first_seen"], "2024-05-01T14:02:03Z");
        assert_eq!(
            json["text"],
            "New issue in shop-web: TypeError: Cannot read properties of undefined \
             (reading 'total') https://frontmon.example/projects/2/issues/42"
        );
    }

    #[test]
    fn a_digest_has_null_event_keys_and_its_items() {
        let json = body(&digest(3));
        assert_eq!(json["kind"], "digest");
        assert_eq!(json["event_id"], Value::Null);
        assert_eq!(json["timestamp_ms"], Value::Null);
        assert_eq!(json["message"], Value::Null);
        assert_eq!(json["digest"]["items"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            json["text"],
            "3 new issues in shop-web: 3 new issues in shop-web in the last minute \
             https://frontmon.example/projects/2/issues"
        );
    }

    #[test]
    fn signs_with_the_shared_scheme_when_there_is_a_secret() {
        let message = new_issue();
        let body = br#"{"kind":"new_issue"}"#;
        let secret = Secret::new("whsec_test");
        let signed =
            headers(&message, Some(&secret), 1_700_000_000, body).unwrap_or_else(|e| panic!("{e}"));
        let header = |name: &str| signed.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            header("x-frontmon-delivery"),
            Some("92e5b2761e81983d3b15ce410bf41110")
        );
        // As the alerter always sent it: the event id's display form.
        assert_eq!(
            header("x-frontmon-event-id"),
            Some("2f1c0d3e8b7a4c5d9e6f0a1b2c3d4e5f")
        );
        assert_eq!(header("x-frontmon-timestamp"), Some("1700000000"));
        // Computed independently with Python:
        // "sha256=" + hmac.new(b"whsec_test", b'1700000000.{"kind":"new_issue"}',
        //                      hashlib.sha256).hexdigest()
        assert_eq!(
            header("x-frontmon-signature"),
            Some("sha256=2b6701aceeb1cd6882b332ef758bc0602723fdf3f12703298e48658a3ebabcf2")
        );

        let mut test = message;
        test.kind = MessageKind::Test;
        test.event = None;
        let unsigned = headers(&test, None, 1_700_000_000, body).unwrap_or_else(|e| panic!("{e}"));
        assert!(unsigned.get("x-frontmon-signature").is_none());
        assert!(unsigned.get("x-frontmon-event-id").is_none());
        assert!(unsigned.get("x-frontmon-delivery").is_some());
    }
}
