//! WeCom (企业微信) group robot: `POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`
//! with a `markdown` message, `{"msgtype": "markdown", "markdown": {"content"}}`, whose
//! content WeCom caps at 4096 bytes of UTF-8: longer content is cut on a character boundary
//! and marked. A group robot has no signing: its key is the only credential.
//!
//! The outcome is `errcode` in the body, from WeCom's group robot guide (群机器人配置说明) and
//! its global error codes (全局错误码):
//!
//! | errcode | meaning | here |
//! |---|---|---|
//! | 0 | sent | success |
//! | 45009 | `api freq out of limit`: over 20 a minute | retry after [`LIMITED_FOR`] |
//! | -1 | system busy | retry |
//! | 93000 | invalid webhook URL, or the robot was removed from the group | permanent |
//! | 40008, 40058, 44004 | invalid message type, invalid parameter, empty content | permanent |
//!
//! Any other code is permanent.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::config::ChannelSettings;

use super::http::{Answer, post_json};
use super::text::{
    culprit, escalation, facts, located, markdown_digest_items, markdown_escape, markdown_url,
    title, truncate_bytes, words_of,
};
use super::{ChannelError, Message, SendError};

/// WeCom refuses markdown content over this many bytes.
pub const MAX_CONTENT_BYTES: usize = 4096;
/// What ends content that was cut.
pub const TRUNCATED: &str = "\n…(truncated)";
/// How long to wait after 45009: the limit is counted per minute.
pub const LIMITED_FOR: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub(crate) struct WeCom {
    url: Url,
}

impl WeCom {
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        let has_key = settings
            .url
            .query_pairs()
            .any(|(key, value)| key == "key" && !value.is_empty());
        if !has_key {
            return Err(ChannelError::new(
                settings,
                "a WeCom robot URL is https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
            ));
        }
        if settings.secret.is_some() {
            return Err(ChannelError::new(
                settings,
                "a WeCom group robot has no signing secret: remove `secret`",
            ));
        }
        Ok(Self {
            url: settings.url.clone(),
        })
    }

    pub async fn send(&self, http: &reqwest::Client, message: &Message) -> Result<(), SendError> {
        let body = super::http::to_json(&body(message));
        judge(&post_json(http, self.url.clone(), HeaderMap::new(), body).await?)
    }
}

/// The request body.
pub(crate) fn body(message: &Message) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {"content": markdown(message)},
    })
}

/// The message in WeCom's Markdown, at most [`MAX_CONTENT_BYTES`]; the link goes last and is
/// kept whole when the rest must be cut.
pub(crate) fn markdown(message: &Message) -> String {
    let mut lines = vec![format!("### {}", markdown_escape(&message.headline))];
    if let Some(title) = title(message) {
        lines.push(format!("**{}**", markdown_escape(&title)));
    }
    if let Some(culprit) = culprit(message) {
        lines.push(located(message, &markdown_escape(&culprit)));
    }
    if let Some(reason) = &message.reason {
        lines.push(markdown_escape(reason));
    }
    if let Some(escalation) = escalation(message) {
        lines.push(format!(
            "<font color=\"warning\">{}</font>",
            markdown_escape(&escalation)
        ));
    }
    for fact in facts(message) {
        lines.push(format!(
            "> {}: <font color=\"comment\">{}</font>",
            fact.label,
            markdown_escape(&fact.value)
        ));
    }
    if let Some(digest) = &message.digest {
        lines.push(format!("**{}**", markdown_escape(&digest.summary)));
        lines.extend(markdown_digest_items(message, digest));
    }
    let text = lines.join("\n");
    match &message.link {
        Some(link) => {
            let link = format!("\n[{}]({})", words_of(message).open, markdown_url(link));
            if link.len() >= MAX_CONTENT_BYTES / 2 {
                // A link that long is not worth the room.
                return truncate_bytes(&text, MAX_CONTENT_BYTES, TRUNCATED);
            }
            let text = truncate_bytes(&text, MAX_CONTENT_BYTES - link.len(), TRUNCATED);
            format!("{text}{link}")
        }
        None => truncate_bytes(&text, MAX_CONTENT_BYTES, TRUNCATED),
    }
}

/// WeCom's answer: `errcode` 0, or why not.
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
        Some((code, message)) => {
            let code_text = Some(code.to_string());
            Err(match code {
                45009 => SendError::retry_later(Some(LIMITED_FOR), code_text, message),
                -1 => SendError::retry(code_text, message),
                _ => SendError::permanent(code_text, message),
            })
        }
        None => Err(SendError::retry(
            None,
            format!("not a WeCom answer: {}", answer.snippet()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;
    use crate::channels::tests::Failed;
    use crate::channels::tests::{digest, new_issue, settings};

    #[test]
    fn the_markdown_has_every_fact() {
        let json = body(&new_issue());
        assert_eq!(json["msgtype"], "markdown");
        let content = json["markdown"]["content"].as_str().unwrap_or_default();
        for expected in [
            "### New issue in shop-web",
            "**TypeError: Cannot read properties of undefined (reading 'total')**",
            "> Environment: <font color=\"comment\">production</font>",
            "> Users: <font color=\"comment\">37</font>",
            "[Open in frontmon](https://frontmon.example/projects/2/issues/42)",
        ] {
            assert!(
                content.contains(expected),
                "{expected:?} not in:\n{content}"
            );
        }
    }

    #[test]
    fn long_content_is_cut_on_a_character_boundary_within_4096_bytes() {
        let mut message = digest(30);
        if let Some(digest) = message.digest.as_mut() {
            for item in &mut digest.items {
                // Three bytes a character: a cut could fall inside one.
                item.text = "错".repeat(200);
            }
        }
        let content = markdown(&message);
        assert!(content.len() <= MAX_CONTENT_BYTES, "{}", content.len());
        assert!(content.contains(TRUNCATED));
        assert!(
            content.ends_with("[Open in frontmon](https://frontmon.example/projects/2/issues)")
        );
        // Short content is untouched.
        assert!(!markdown(&new_issue()).contains(TRUNCATED));
    }

    #[test]
    fn the_key_is_required_and_a_secret_refused() {
        let missing = settings(
            shared::config::ChannelKind::Wecom,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
        );
        assert!(WeCom::from_settings(&missing).is_err());
        let mut signed = settings(
            shared::config::ChannelKind::Wecom,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        );
        assert!(WeCom::from_settings(&signed).is_ok());
        signed.secret = Some(shared::config::Secret::new("s"));
        assert!(WeCom::from_settings(&signed).is_err());
    }

    fn answer(body: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn errcodes_decide_between_retrying_and_giving_up() {
        assert_eq!(judge(&answer(r#"{"errcode":0,"errmsg":"ok"}"#)), Ok(()));
        let limited = judge(&answer(
            r#"{"errcode":45009,"errmsg":"api freq out of limit, hint: [1]"}"#,
        ))
        .failed();
        assert!(!limited.is_permanent());
        assert_eq!(limited.retry_after(), Some(LIMITED_FOR));
        assert_eq!(limited.code(), Some("45009"));
        let removed = judge(&answer(
            r#"{"errcode":93000,"errmsg":"invalid webhook url, hint: [2]"}"#,
        ))
        .failed();
        assert!(removed.is_permanent());
        assert!(
            !judge(&answer(r#"{"errcode":-1,"errmsg":"system busy"}"#))
                .failed()
                .is_permanent()
        );
    }
}
