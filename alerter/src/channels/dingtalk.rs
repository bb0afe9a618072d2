//! DingTalk (钉钉) custom robot: `POST https://oapi.dingtalk.com/robot/send?access_token=…`
//! with a `markdown` message, `{"msgtype": "markdown", "markdown": {"title", "text"}}`.
//!
//! With a secret (the robot's 加签 setting, `SEC…`), every request carries
//! `&timestamp=<ms>&sign=<sign>`, where `sign = urlencode(base64(HmacSHA256(key = secret,
//! message = timestamp + "\n" + secret)))`; DingTalk refuses a timestamp more than an hour
//! off its clock.
//!
//! DingTalk answers 200 whatever happened; the outcome is `errcode` in the body. The codes
//! handled, from DingTalk's custom robot documentation (自定义机器人接入, its error code
//! table) and the answers robots are known to give:
//!
//! | errcode | meaning | here |
//! |---|---|---|
//! | 0 | sent | success |
//! | 130101 | `send too fast, exceed 20 times per minute`: the robot is throttled for 10 minutes | retry after [`THROTTLED_FOR`] |
//! | 410100 | 发送速度太快而限流 (the same limit, newer code) | retry after [`THROTTLED_FOR`] |
//! | -1 | 系统繁忙, system busy | retry |
//! | 310000 | `sign not match`, `keywords not in content`, `ip … not in whitelist`, invalid timestamp | permanent |
//! | 300001, 400101 | the access token does not exist | permanent |
//! | 400102, 400106 | the robot was disabled, or does not exist | permanent |
//! | 400013 | the group was dissolved | permanent |
//! | 400105, 40035 | unsupported message type, missing parameter | permanent |
//! | 430101–430104 | content refused as unsafe | permanent |
//!
//! Any other non-zero code is permanent: DingTalk documents none other as transient. A
//! non-2xx status (a gateway in front of it) is judged by status.

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

use super::http::{Answer, post_json};
use super::text::{
    culprit, escalation, facts, located, markdown_digest_items, markdown_escape, markdown_url,
    one_line, title, truncate_chars, words_of,
};
use super::{ChannelError, Message, SendError};

/// How long DingTalk blocks a robot that sent more than 20 messages in a minute.
pub const THROTTLED_FOR: Duration = Duration::from_secs(10 * 60);
/// Longest Markdown text sent, in characters: DingTalk documents no limit for robots, but its
/// other message APIs refuse Markdown over 5,000 characters (34016).
const MAX_TEXT_CHARS: usize = 5000;

#[derive(Clone)]
pub(crate) struct DingTalk {
    url: Url,
    secret: Option<Secret>,
}

impl DingTalk {
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        let has_token = settings
            .url
            .query_pairs()
            .any(|(key, value)| key == "access_token" && !value.is_empty());
        if !has_token {
            return Err(ChannelError::new(
                settings,
                "a DingTalk robot URL is https://oapi.dingtalk.com/robot/send?access_token=…",
            ));
        }
        Ok(Self {
            url: settings.url.clone(),
            secret: settings.secret.clone(),
        })
    }

    pub async fn send(&self, http: &reqwest::Client, message: &Message) -> Result<(), SendError> {
        let url = match &self.secret {
            Some(secret) => signed_url(&self.url, secret.expose(), Utc::now().timestamp_millis()),
            None => self.url.clone(),
        };
        let body = super::http::to_json(&body(message));
        judge(&post_json(http, url, HeaderMap::new(), body).await?)
    }
}

/// The 加签 signature of `timestamp_ms`, before URL encoding: base64 of HMAC-SHA256 keyed
/// with the secret over `timestamp + "\n" + secret`.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The robot URL with `timestamp` and `sign` appended (URL-encoded: base64's `+`, `/` and
/// `=` as `%2B`, `%2F`, `%3D`).
pub(crate) fn signed_url(url: &Url, secret: &str, timestamp_ms: i64) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign(secret, timestamp_ms));
    url
}

/// The request body.
pub(crate) fn body(message: &Message) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {
            // What the notification and the chat list show.
            "title": truncate_chars(&one_line(&message.headline), 100),
            "text": markdown(message),
        },
    })
}

/// The message in DingTalk's Markdown: blocks apart by a blank line (its renderer joins
/// single newlines), list items by one.
pub(crate) fn markdown(message: &Message) -> String {
    let mut blocks = vec![format!("#### {}", markdown_escape(&message.headline))];
    if let Some(title) = title(message) {
        blocks.push(format!("**{}**", markdown_escape(&title)));
    }
    if let Some(culprit) = culprit(message) {
        blocks.push(located(message, &markdown_escape(&culprit)));
    }
    if let Some(reason) = &message.reason {
        blocks.push(markdown_escape(reason));
    }
    if let Some(escalation) = escalation(message) {
        blocks.push(format!("**{}**", markdown_escape(&escalation)));
    }
    let facts: Vec<String> = facts(message)
        .into_iter()
        .map(|fact| format!("- **{}:** {}", fact.label, markdown_escape(&fact.value)))
        .collect();
    if !facts.is_empty() {
        blocks.push(facts.join("\n"));
    }
    if let Some(digest) = &message.digest {
        blocks.push(markdown_escape(&digest.summary));
        let lines = markdown_digest_items(message, digest);
        if !lines.is_empty() {
            blocks.push(lines.join("\n"));
        }
    }
    let link = message
        .link
        .as_ref()
        .map(|link| format!("[{}]({})", words_of(message).open, markdown_url(link)));
    let text = truncate_chars(&blocks.join("\n\n"), MAX_TEXT_CHARS - 100);
    match link {
        // The link goes last and is never cut off.
        Some(link) => format!("{text}\n\n{link}"),
        None => text,
    }
}

/// DingTalk's answer: `errcode` 0, or why not.
pub(crate) fn judge(answer: &Answer) -> Result<(), SendError> {
    if !answer.status.is_success() {
        return answer.by_status();
    }
    let code = answer.json().and_then(|json| {
        let message = json["errmsg"].as_str().unwrap_or_default().to_owned();
        json["errcode"].as_i64().map(|code| (code, message))
    });
    match code {
        Some((0, _)) => Ok(()),
        Some((code, message)) => Err(errcode(code, message)),
        // A proxy or captive portal, not DingTalk: it may be right again later.
        None => Err(SendError::retry(
            None,
            format!("not a DingTalk answer: {}", answer.snippet()),
        )),
    }
}

fn errcode(code: i64, message: String) -> SendError {
    let code_text = Some(code.to_string());
    match code {
        // Over 20 a minute: blocked for 10 minutes; sooner would only be refused again.
        130101 | 410100 => SendError::retry_later(Some(THROTTLED_FOR), code_text, message),
        -1 => SendError::retry(code_text, message),
        _ => SendError::permanent(code_text, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::tests::Failed;
    use crate::channels::tests::{digest, new_issue};

    // DingTalk publishes the algorithm with sample code (Python, Java, PHP) but no fixed
    // timestamp and signature to check against. These were computed independently with
    // Python, following its sample:
    //   s = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(),
    //                                 hashlib.sha256).digest()).decode()
    //   urllib.parse.quote_plus(s)
    // The first uses the documentation's placeholder secret, `this is secret`.

    #[test]
    fn signs_like_dingtalks_sample_code() {
        assert_eq!(
            sign("this is secret", 1_700_000_000_123),
            "W2RNhLVXZurCuMiewxzjoEaGqxhR/FQAkLiAHZh+PWY="
        );
        assert_eq!(
            sign(
                "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc",
                1_577_808_000_000
            ),
            "fjk/56GWOLUZo0esMfc7SVb5cNmoXxTnNLtMRGBKn2g="
        );
    }

    #[test]
    fn the_signature_is_url_encoded_after_the_token() {
        let url: Url = "https://oapi.dingtalk.com/robot/send?access_token=abc"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            signed_url(&url, "this is secret", 1_700_000_000_123).as_str(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000123\
             &sign=W2RNhLVXZurCuMiewxzjoEaGqxhR%2FFQAkLiAHZh%2BPWY%3D"
        );
    }

    #[test]
    fn a_url_without_a_token_is_refused_at_start() {
        let settings = crate::channels::tests::settings(
            shared::config::ChannelKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send",
        );
        let error = DingTalk::from_settings(&settings)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(error.to_string().contains("access_token"), "{error}");
    }

    #[test]
    fn the_markdown_has_every_fact_and_escapes_the_title() {
        let json = body(&new_issue());
        assert_eq!(json["msgtype"], "markdown");
        assert_eq!(json["markdown"]["title"], "New issue in shop-web");
        let text = json["markdown"]["text"].as_str().unwrap_or_default();
        for expected in [
            "#### New issue in shop-web",
            "**TypeError: Cannot read properties of undefined (reading 'total')**",
            "in checkout (app.js)",
            "- **Environment:** production",
            "- **Release:** 1.4.2",
            "- **Events:** 1,204",
            "- **Users:** 37",
            "- **First seen:** 2024-05-01 14:02:03 UTC",
            "[Open in frontmon](https://frontmon.example/projects/2/issues/42)",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        let mut tricky = new_issue();
        if let Some(issue) = tricky.issue.as_mut() {
            issue.title = "Error: [click](https://evil.example) __proto__ <b>".into();
        }
        let text = markdown(&tricky);
        assert!(text.contains(r"\[click\](https://evil.example) \_\_proto\_\_ &lt;b&gt;"));
    }

    #[test]
    fn a_chinese_channel_gets_chinese_labels_and_link() {
        let mut message = new_issue();
        message.language = shared::config::Language::ZhCn;
        message.headline = "shop-web 出现新问题".into();
        let json = body(&message);
        assert_eq!(json["markdown"]["title"], "shop-web 出现新问题");
        let text = json["markdown"]["text"].as_str().unwrap_or_default();
        for expected in [
            "#### shop-web 出现新问题",
            "**TypeError: Cannot read properties of undefined (reading 'total')**",
            "位置：checkout (app.js)",
            "- **环境:** production",
            "- **事件数:** 1,204",
            "- **影响用户:** 37",
            "[在 frontmon 中查看](https://frontmon.example/projects/2/issues/42)",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert!(!text.contains("Open in frontmon"), "{text}");
    }

    #[test]
    fn a_digest_lists_its_items_with_links_and_counts_the_rest() {
        let text = markdown(&digest(40));
        assert!(text.contains("40 new issues in shop-web in the last minute"));
        assert!(text.contains(
            "- [New issue: TypeError: x0 is undefined](https://frontmon.example/projects/2/issues/0)"
        ));
        assert!(text.contains("… and 10 more."));
        assert!(text.ends_with("[Open in frontmon](https://frontmon.example/projects/2/issues)"));
        assert!(text.chars().count() <= MAX_TEXT_CHARS);
    }

    fn answer(status: u16, body: &str) -> Answer {
        crate::channels::tests::answer(status, &[], body)
    }

    #[test]
    fn errcodes_decide_between_retrying_and_giving_up() {
        assert_eq!(
            judge(&answer(200, r#"{"errcode":0,"errmsg":"ok"}"#)),
            Ok(())
        );
        let fast = judge(&answer(
            200,
            r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
        ))
        .failed();
        assert!(!fast.is_permanent());
        assert_eq!(fast.retry_after(), Some(THROTTLED_FOR));
        assert_eq!(fast.code(), Some("130101"));
        assert_eq!(fast.message(), "send too fast, exceed 20 times per minute");
        let sign = judge(&answer(
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#,
        ))
        .failed();
        assert!(sign.is_permanent());
        assert_eq!(sign.to_string(), "310000: sign not match");
        for permanent in [300001, 400101, 400102, 400013, 430101] {
            let body = format!(r#"{{"errcode":{permanent},"errmsg":"x"}}"#);
            assert!(judge(&answer(200, &body)).failed().is_permanent());
        }
        let busy = judge(&answer(200, r#"{"errcode":-1,"errmsg":"系统繁忙"}"#)).failed();
        assert!(!busy.is_permanent() && busy.retry_after().is_none());
        // Not DingTalk speaking.
        assert!(!judge(&answer(200, "<html>")).failed().is_permanent());
        assert!(!judge(&answer(502, "")).failed().is_permanent());
        assert!(judge(&answer(404, "")).failed().is_permanent());
    }
}
