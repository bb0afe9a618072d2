//! The alerter's API, as the dashboard calls it: `POST /api/channels/{name}/test` with the
//! deployment's admin token, at `processor.alerter_url`.

use std::time::Duration;

use shared::config::Secret;
use url::Url;

/// A test message waits for the vendor's answer; the alerter gives up on a vendor after
/// `alerter.webhook_timeout_ms` (10 s by default), so this is that and some.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the channel did with the test message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    Sent,
    /// The vendor refused or could not be reached: what it said.
    Failed {
        detail: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AlerterError {
    #[error("cannot reach the alerter at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the alerter refused the admin token (HTTP {0})")]
    Refused(u16),
    #[error("the alerter has no channel of that name")]
    UnknownChannel,
    #[error("the alerter answered HTTP {0}")]
    Unexpected(u16),
}

pub struct AlerterApi {
    base: Url,
    token: Secret,
    http: reqwest::Client,
}

impl AlerterApi {
    pub fn new(base: Url, token: Secret) -> Self {
        Self {
            base,
            token,
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Where a channel's test goes: the name is one path segment, escaped.
    fn test_url(&self, channel: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["api", "channels", channel, "test"]);
        }
        url
    }

    /// Asks the alerter to send `channel` a test message now.
    pub async fn test_channel(&self, channel: &str) -> Result<TestOutcome, AlerterError> {
        let url = self.test_url(channel);
        let response = self
            .http
            .post(url.clone())
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|error| AlerterError::Unreachable {
                url: self.base.to_string(),
                reason: error.to_string(),
            })?;
        let status = response.status().as_u16();
        match status {
            200 => Ok(TestOutcome::Sent),
            502 => {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                Ok(TestOutcome::Failed {
                    detail: body["error"].as_str().unwrap_or("").to_owned(),
                })
            }
            401 | 403 => Err(AlerterError::Refused(status)),
            404 => Err(AlerterError::UnknownChannel),
            _ => Err(AlerterError::Unexpected(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channels_name_is_one_escaped_segment() {
        for base in ["http://alerter:8082", "http://alerter:8082/"] {
            let api = AlerterApi::new(
                base.parse().unwrap_or_else(|e| panic!("{e}")),
                Secret::new("t"),
            );
            assert_eq!(
                api.test_url("ops/../x y").as_str(),
                "http://alerter:8082/api/channels/ops%2F..%2Fx%20y/test"
            );
            assert_eq!(
                api.test_url("ding").as_str(),
                "http://alerter:8082/api/channels/ding/test"
            );
        }
    }
}
