//! HTTP, as every vendor but email speaks it: one POST, its answer read (bounded), judged by
//! status where the vendor has no codes of its own, and `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::SendError;
use super::text::{one_line, truncate_chars};

/// Most of an answer body read: vendors answer a few hundred bytes, and one that streams
/// more is not worth the memory.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A vendor's answer to one POST.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as one short line, for logs.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let line = one_line(&text);
        if line.is_empty() {
            self.status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        } else {
            truncate_chars(&line, 300)
        }
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The answer judged by its status alone: 2xx is success; 408, 429 and 5xx are worth
    /// another attempt (no sooner than `Retry-After`); any other 4xx is permanent.
    pub fn by_status(&self) -> Result<(), SendError> {
        if self.status.is_success() {
            return Ok(());
        }
        let code = Some(self.status.as_u16().to_string());
        if is_transient_status(self.status) {
            Err(SendError::retry_later(
                retry_after(&self.headers, Utc::now()),
                code,
                self.snippet(),
            ))
        } else {
            Err(SendError::permanent(code, self.snippet()))
        }
    }
}

pub(crate) fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// POSTs `body` as JSON and reads the answer, whatever its status.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<Answer, SendError> {
    let mut response = http
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            // The vendor may have taken the message: retrying may send it twice, which a
            // reader prefers to never.
            Err(error) => return Err(transport_error(error)),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A request that got no (complete) answer: always worth another attempt.
fn transport_error(error: reqwest::Error) -> SendError {
    // Robot URLs carry their token: keep them out of errors and logs.
    let error = error.without_url();
    let what = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    SendError::retry(None, format!("{what}: {}", error_chain(&error)))
}

/// An error and its causes, `outer: inner: innermost`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // reqwest repeats its cause in its own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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

/// A JSON body, which serializing a `serde_json::Value` cannot fail to produce.
pub(crate) fn to_json(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::tests::{Failed, answer};

    #[test]
    fn statuses_retry_on_rate_limits_and_server_errors_only() {
        assert_eq!(answer(204, &[], "").by_status(), Ok(()));
        let limited = answer(429, &[("retry-after", "30")], "rate_limited")
            .by_status()
            .failed();
        assert!(!limited.is_permanent());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(limited.code(), Some("429"));
        assert_eq!(limited.message(), "rate_limited");
        for status in [408, 500, 502, 503] {
            assert!(
                !answer(status, &[], "").by_status().failed().is_permanent(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 410] {
            assert!(
                answer(status, &[], "").by_status().failed().is_permanent(),
                "{status}"
            );
        }
        // An empty body still says something.
        assert_eq!(
            answer(404, &[], "").by_status().failed().message(),
            "Not Found"
        );
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
        );
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_every_http_date_format() {
        // Sun, 06 Nov 1994 08:49:00 GMT
        let now = DateTime::from_timestamp(784_111_740, 0).unwrap_or_else(|| panic!("valid"));
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                retry_after(&headers(date), now),
                Some(Duration::from_secs(37)),
                "{date}"
            );
        }
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
