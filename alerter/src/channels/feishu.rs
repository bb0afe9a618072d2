//! Feishu (飞书) and Lark custom bot: `POST https://open.feishu.cn/open-apis/bot/v2/hook/…`
//! (Lark: `open.larksuite.com`) with an interactive card: a coloured header, the issue, the
//! facts as fields, and a button to the issue.
//!
//! With a secret (the bot's 签名校验 setting), the body carries `"timestamp"` (unix seconds,
//! as a string) and `"sign" = base64(HmacSHA256(key = timestamp + "\n" + secret, message =
//! ""))`: the key is the string to sign and the message is empty, unlike DingTalk's. Feishu
//! refuses a timestamp more than an hour off its clock.
//!
//! The outcome is `code` in the JSON body (HTTP 200 for most, 4xx for some), from Feishu's
//! custom bot guide (自定义机器人使用指南) and the answers bots are known to give:
//!
//! | code | meaning | here |
//! |---|---|---|
//! | 0 | sent | success |
//! | 11232 | frequency limited: over 100 a minute or 5 a second for the bot, or load at busy hours (the guide names it) | retry after [`LIMITED_FOR`] |
//! | 9499 | `too many request` (gateway limit) | retry after [`LIMITED_FOR`] |
//! | 9499 | `Bad Request`: the body is malformed or over 20 KB (the guide names it) | permanent |
//! | 19021 | `sign match fail or timestamp is not within one hour from current time` | permanent |
//! | 19022 | `Ip Not Allowed` | permanent |
//! | 19024 | `Key Words Not Found` | permanent |
//! | 19001 | `param invalid: incoming webhook access token invalid` | permanent |
//!
//! 9499 is the gateway's code for both a bad request and too many, so its message decides.
//! Any other code is permanent, unless the status is 429 or 5xx. The legacy `StatusCode`
//! field is read when `code` is missing.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::Sha256;
use shared::config::{ChannelSettings, Secret};

use super::http::{Answer, is_transient_status, post_json};
use super::text::{
    culprit, escalation, facts, located, markdown_digest_items, markdown_escape, one_line, title,
    truncate_bytes, truncate_chars, words_of,
};
use super::{ChannelError, Message, MessageKind, SendError};

/// How long to wait after a rate-limit answer: the longest of Feishu's windows is a minute.
pub const LIMITED_FOR: Duration = Duration::from_secs(60);
/// Feishu refuses a body over 20 KB; the card's text is cut to leave room for the rest.
const MAX_CARD_TEXT_BYTES: usize = 12 * 1024;

#[derive(Clone)]
pub(crate) struct Feishu {
    url: Url,
    secret: Option<Secret>,
}

impl Feishu {
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        if !settings.url.path().contains("/bot/v2/hook/") {
            return Err(ChannelError::new(
                settings,
                "a Feishu or Lark bot URL is https://open.feishu.cn/open-apis/bot/v2/hook/…",
            ));
        }
        Ok(Self {
            url: settings.url.clone(),
            secret: settings.secret.clone(),
        })
    }

    pub async fn send(&self, http: &reqwest::Client, message: &Message) -> Result<(), SendError> {
        let signature = self.secret.as_ref().map(|secret| {
            let timestamp = Utc::now().timestamp();
            (timestamp, sign(secret.expose(), timestamp))
        });
        let body = super::http::to_json(&body(message, signature));
        judge(&post_json(http, self.url.clone(), HeaderMap::new(), body).await?)
    }
}

/// The 签名校验 signature for `timestamp_s`: base64 of HMAC-SHA256 keyed with
/// `timestamp + "\n" + secret` over nothing.
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    BASE64.encode(mac.finalize().into_bytes())
}

/// The request body, signed when `signature` (timestamp, sign) is given.
pub(crate) fn body(message: &Message, signature: Option<(i64, String)>) -> Value {
    let mut body = json!({
        "msg_type": "interactive",
        "card": card(message),
    });
    if let Some((timestamp, sign)) = signature {
        body["timestamp"] = Value::String(timestamp.to_string());
        body["sign"] = Value::String(sign);
    }
    body
}

/// The card: what people and events wrote (titles, names, messages) goes in `plain_text`,
/// which Feishu shows as is; only our own labels and links are `lark_md`.
fn card(message: &Message) -> Value {
    let mut elements = Vec::new();
    let plain =
        |text: String| json!({"tag": "div", "text": {"tag": "plain_text", "content": text}});
    let mut lines = Vec::new();
    if let Some(title) = title(message) {
        lines.push(title);
    }
    if let Some(culprit) = culprit(message) {
        lines.push(located(message, &culprit));
    }
    if let Some(reason) = &message.reason {
        lines.push(one_line(reason));
    }
    if !lines.is_empty() {
        elements.push(plain(lines.join("\n")));
    }
    if let Some(escalation) = escalation(message) {
        elements.push(
            json!({"tag": "div", "text": {"tag": "lark_md", "content": format!("**{escalation}**")}}),
        );
    }
    let fields: Vec<Value> = facts(message)
        .into_iter()
        .map(|fact| {
            json!({
                "is_short": true,
                "text": {"tag": "lark_md", "content": format!("**{}**\n{}", fact.label, markdown_escape(&fact.value))},
            })
        })
        .collect();
    if !fields.is_empty() {
        elements.push(json!({"tag": "div", "fields": fields}));
    }
    if let Some(digest) = &message.digest {
        let mut lines = vec![format!("**{}**", markdown_escape(&digest.summary))];
        lines.extend(markdown_digest_items(message, digest));
        let text = truncate_bytes(&lines.join("\n"), MAX_CARD_TEXT_BYTES, "\n…");
        elements.push(json!({"tag": "div", "text": {"tag": "lark_md", "content": text}}));
    }
    if let Some(link) = &message.link {
        elements.push(json!({
            "tag": "action",
            "actions": [{
                "tag": "button",
                "text": {"tag": "plain_text", "content": words_of(message).open},
                "type": "primary",
                "url": link,
            }],
        }));
    }
    json!({
        "config": {"wide_screen_mode": true},
        "header": {
            "title": {"tag": "plain_text", "content": truncate_chars(&one_line(&message.headline), 100)},
            "template": colour(message.kind),
        },
        "elements": elements,
    })
}

/// The header's colour: red for what needs looking at now.
fn colour(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::NewIssue | MessageKind::Spike | MessageKind::Escalation => "red",
        MessageKind::Regression | MessageKind::Frequency | MessageKind::Users => "orange",
        MessageKind::Digest => "blue",
        MessageKind::Test => "green",
    }
}

/// Feishu's answer: `code` 0, or why not.
pub(crate) fn judge(answer: &Answer) -> Result<(), SendError> {
    let json = answer.json();
    let code = json.as_ref().and_then(|json| {
        let code = json["code"]
            .as_i64()
            .or_else(|| json["StatusCode"].as_i64())?;
        let message = json["msg"]
            .as_str()
            .or_else(|| json["StatusMessage"].as_str())
            .unwrap_or_default()
            .to_owned();
        Some((code, message))
    });
    match code {
        Some((0, _)) if answer.status.is_success() => Ok(()),
        Some((code, message)) => Err(code_error(answer, code, message)),
        None if answer.status.is_success() => Err(SendError::retry(
            None,
            format!("not a Feishu answer: {}", answer.snippet()),
        )),
        None => answer.by_status(),
    }
}

fn code_error(answer: &Answer, code: i64, message: String) -> SendError {
    let code_text = Some(code.to_string());
    let lower = message.to_ascii_lowercase();
    let limited = code == 11232
        || (code == 9499 && (lower.contains("too many") || lower.contains("limit")))
        || answer.status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    if limited {
        // The gateway says when its window resets; otherwise wait out the longest window.
        let reset = answer
            .headers
            .get("x-ogw-ratelimit-reset")
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .or_else(|| super::retry_after(&answer.headers, Utc::now()));
        SendError::retry_later(Some(reset.unwrap_or(LIMITED_FOR)), code_text, message)
    } else if is_transient_status(answer.status) {
        SendError::retry(code_text, message)
    } else {
        SendError::permanent(code_text, message)
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::channels::tests::Failed;
    use crate::channels::tests::{answer, digest, new_issue};

    // Feishu publishes the algorithm with sample code (Go, Java, Python) and an example
    // timestamp, 1599360473, but no signature to check against. These were computed
    // independently with Python, following its sample:
    //   base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"",
    //                             hashlib.sha256).digest()).decode()

    #[test]
    fn signs_like_feishus_sample_code() {
        assert_eq!(
            sign("demo", 1_599_360_473),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
        assert_eq!(
            sign("nIMtb7r3N9pkXyXdtAbx6e", 1_599_360_473),
            "8XkigV4ad5JPY2LaX299xcMMDywUX9buomtj9pY5MiY="
        );
    }

    #[test]
    fn the_signature_goes_in_the_body_with_the_timestamp_as_a_string() {
        let json = body(
            &new_issue(),
            Some((1_599_360_473, sign("demo", 1_599_360_473))),
        );
        assert_eq!(json["timestamp"], "1599360473");
        assert_eq!(json["sign"], "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=");
        assert_eq!(json["msg_type"], "interactive");
        let unsigned = body(&new_issue(), None);
        assert!(unsigned.get("sign").is_none() && unsigned.get("timestamp").is_none());
    }

    #[test]
    fn the_card_shows_the_issue_as_plain_text_and_the_facts_as_fields() {
        let json = body(&new_issue(), None);
        let card = &json["card"];
        assert_eq!(card["header"]["title"]["content"], "New issue in shop-web");
        assert_eq!(card["header"]["template"], "red");
        let elements = card["elements"].as_array().cloned().unwrap_or_default();
        assert_eq!(elements[0]["text"]["tag"], "plain_text");
        assert_eq!(
            elements[0]["text"]["content"],
            "TypeError: Cannot read properties of undefined (reading 'total')\nin checkout (app.js)"
        );
        let fields = elements[1]["fields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            fields
                .iter()
                .any(|f| f["text"]["content"] == "**Environment**\nproduction")
        );
        assert!(
            fields
                .iter()
                .any(|f| f["text"]["content"] == "**Events**\n1,204")
        );
        let button = &elements[2]["actions"][0];
        assert_eq!(
            button["url"],
            "https://frontmon.example/projects/2/issues/42"
        );
        assert_eq!(button["text"]["content"], "Open in frontmon");
    }

    #[test]
    fn a_big_digest_stays_under_feishus_size_limit() {
        let json = body(&digest(500), Some((1, "s".into())));
        assert!(
            json.to_string().len() < 20 * 1024,
            "{}",
            json.to_string().len()
        );
        assert!(json.to_string().contains("… and 470 more."));
    }

    #[test]
    fn codes_decide_between_retrying_and_giving_up() {
        assert_eq!(
            judge(&answer(200, &[], r#"{"code":0,"data":{},"msg":"success"}"#)),
            Ok(())
        );
        // The legacy fields.
        assert_eq!(
            judge(&answer(
                200,
                &[],
                r#"{"StatusCode":0,"StatusMessage":"success"}"#
            )),
            Ok(())
        );
        let limited = judge(&answer(
            200,
            &[],
            r#"{"code":11232,"data":{},"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}"#,
        ))
        .failed();
        assert!(!limited.is_permanent());
        assert_eq!(limited.retry_after(), Some(LIMITED_FOR));
        assert_eq!(limited.code(), Some("11232"));
        let gateway = judge(&answer(
            429,
            &[("x-ogw-ratelimit-reset", "7")],
            r#"{"code":9499,"msg":"too many request"}"#,
        ))
        .failed();
        assert_eq!(gateway.retry_after(), Some(Duration::from_secs(7)));
        let bad = judge(&answer(
            400,
            &[],
            r#"{"code":9499,"msg":"Bad Request","data":{}}"#,
        ))
        .failed();
        assert!(bad.is_permanent());
        let sign = judge(&answer(
            200,
            &[],
            r#"{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        ))
        .failed();
        assert!(sign.is_permanent());
        assert_eq!(sign.code(), Some("19021"));
        for permanent in [19001, 19022, 19024] {
            let body = format!(r#"{{"code":{permanent},"msg":"x"}}"#);
            assert!(judge(&answer(200, &[], &body)).failed().is_permanent());
        }
        assert!(!judge(&answer(503, &[], "")).failed().is_permanent());
        assert!(!judge(&answer(200, &[], "ok")).failed().is_permanent());
        assert!(
            !judge(&answer(500, &[], r#"{"code":1500,"msg":"internal error"}"#))
                .failed()
                .is_permanent()
        );
    }
}
