//! Slack incoming webhook: `POST https://hooks.slack.com/services/…` with a Block Kit message
//! (a header, the issue, the facts as fields, a button to the issue) and a fallback `text`
//! for notifications and clients that cannot show blocks.
//!
//! Slack answers `200 ok`, or an error status with a short code as the body, from its
//! incoming webhooks guide (Handling errors) and rate limits page:
//!
//! | status | body | here |
//! |---|---|---|
//! | 200 | `ok` | success |
//! | 429 | `rate_limited`, with `Retry-After` (about one message a second is allowed) | retry after `Retry-After` |
//! | 5xx | `rollup_error`, … | retry |
//! | 400 | `invalid_payload`, `invalid_blocks`, `no_text`, `too_many_attachments`, `user_not_found`, `posting_to_general_channel_denied` | permanent |
//! | 403 | `action_prohibited`, `invalid_token` | permanent |
//! | 404 | `no_service` (webhook removed or disabled), `channel_not_found`, `no_team` | permanent |
//! | 410 | `channel_is_archived` | permanent |
//!
//! Any 2xx is taken as delivered: Slack itself only says `ok`, and Slack-compatible
//! receivers (Mattermost, Rocket.Chat) answer other bodies.

use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::config::ChannelSettings;

use super::http::{Answer, post_json};
use super::text::{
    culprit, digest_items, escalation, facts, more_items, one_line, title, truncate_chars, words_of,
};
use super::{ChannelError, Message, SendError};

/// Block Kit's limits, in characters.
const MAX_HEADER_CHARS: usize = 150;
const MAX_SECTION_CHARS: usize = 3000;
const MAX_FIELD_CHARS: usize = 2000;
const MAX_FIELDS: usize = 10;
const MAX_BUTTON_URL_CHARS: usize = 3000;

#[derive(Clone)]
pub(crate) struct Slack {
    url: Url,
}

impl Slack {
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        if settings.secret.is_some() {
            return Err(ChannelError::new(
                settings,
                "a Slack incoming webhook has no signing secret: remove `secret`",
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

/// The request body: `text` (the fallback) and `blocks`.
pub(crate) fn body(message: &Message) -> Value {
    json!({
        "text": fallback(message),
        "blocks": blocks(message),
    })
}

/// What a notification shows: "New issue in shop-web: TypeError: x is undefined".
fn fallback(message: &Message) -> String {
    let headline = one_line(&message.headline);
    let text = match title(message) {
        Some(title) => format!("{headline}: {title}"),
        None => headline,
    };
    escape(&text)
}

fn blocks(message: &Message) -> Vec<Value> {
    let section = |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(&text, MAX_SECTION_CHARS)}});
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate_chars(&one_line(&message.headline), MAX_HEADER_CHARS),
            "emoji": true,
        },
    })];
    let mut lines = Vec::new();
    if let Some(title) = title(message) {
        lines.push(format!("*{}*", escape(&title)));
    }
    if let Some(culprit) = culprit(message) {
        lines.push(format!(
            "{}`{}`",
            words_of(message).located_in,
            escape(&culprit).replace('`', "'")
        ));
    }
    if let Some(reason) = &message.reason {
        lines.push(escape(&one_line(reason)));
    }
    if let Some(escalation) = escalation(message) {
        lines.push(format!(":warning: {}", escape(&escalation)));
    }
    if !lines.is_empty() {
        blocks.push(section(lines.join("\n")));
    }
    let fields: Vec<Value> = facts(message)
        .into_iter()
        .take(MAX_FIELDS)
        .map(|fact| {
            let text = format!("*{}*\n{}", fact.label, escape(&fact.value));
            json!({"type": "mrkdwn", "text": truncate_chars(&text, MAX_FIELD_CHARS)})
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(digest) = &message.digest {
        let (items, left_out) = digest_items(digest);
        let mut text = format!("*{}*", escape(&one_line(&digest.summary)));
        let mut listed = 0;
        for item in &items {
            let line = match &item.link {
                Some(link) => format!("\n• <{}|{}>", link_target(link), escape(&item.text)),
                None => format!("\n• {}", escape(&item.text)),
            };
            // Keep room for the count of what is left out.
            if text.chars().count() + line.chars().count() > MAX_SECTION_CHARS - 40 {
                break;
            }
            text.push_str(&line);
            listed += 1;
        }
        let left_out = left_out + (items.len() - listed);
        if left_out > 0 {
            text.push('\n');
            text.push_str(&more_items(message, left_out));
        }
        blocks.push(section(text));
    }
    if let Some(link) = message
        .link
        .as_ref()
        .filter(|link| link.chars().count() <= MAX_BUTTON_URL_CHARS)
    {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": words_of(message).open},
                "url": link,
            }],
        }));
    }
    blocks
}

/// Text safe in `mrkdwn`: Slack asks only that `&`, `<` and `>` be escaped (they start links,
/// mentions and entities); its emphasis characters have no escape.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL inside `<url|text>`: `|` and `>` would end it.
fn link_target(url: &str) -> String {
    url.replace('|', "%7C")
        .replace('>', "%3E")
        .replace('<', "%3C")
}

/// Slack's answer: 2xx, or its status and code.
pub(crate) fn judge(answer: &Answer) -> Result<(), SendError> {
    match answer.by_status() {
        Ok(()) => Ok(()),
        // The body is Slack's code (`invalid_payload`, `no_service`): the code to log.
        Err(error) => {
            let code = one_line(&String::from_utf8_lossy(&answer.body));
            let is_code = !code.is_empty()
                && code.len() <= 64
                && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !is_code {
                return Err(error);
            }
            let message = format!("Slack answered {} {code}", answer.status.as_u16());
            Err(match error {
                SendError::Retry { retry_after, .. } => {
                    SendError::retry_later(retry_after, Some(code), message)
                }
                SendError::Permanent { .. } => SendError::permanent(Some(code), message),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::channels::tests::Failed;
    use crate::channels::tests::{answer, digest, new_issue};

    #[test]
    fn the_blocks_show_the_issue_the_facts_and_a_button() {
        let json = body(&new_issue());
        assert_eq!(
            json["text"],
            "New issue in shop-web: TypeError: Cannot read properties of undefined (reading 'total')"
        );
        let blocks = json["blocks"].as_array().cloned().unwrap_or_default();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "New issue in shop-web");
        assert_eq!(
            blocks[1]["text"]["text"],
            "*TypeError: Cannot read properties of undefined (reading 'total')*\nin `checkout (app.js)`"
        );
        let fields = blocks[2]["fields"].as_array().cloned().unwrap_or_default();
        assert!(fields.len() <= MAX_FIELDS);
        assert!(fields.iter().any(|f| f["text"] == "*Release*\n1.4.2"));
        assert!(
            fields
                .iter()
                .any(|f| f["text"] == "*Last seen*\n2024-05-01 14:07:09 UTC")
        );
        assert_eq!(blocks[3]["type"], "actions");
        assert_eq!(
            blocks[3]["elements"][0]["url"],
            "https://frontmon.example/projects/2/issues/42"
        );
    }

    #[test]
    fn text_cannot_open_links_or_mentions() {
        let mut message = new_issue();
        if let Some(issue) = message.issue.as_mut() {
            issue.title = "Error: <!channel> & <https://evil.example|click>".into();
        }
        let json = body(&message).to_string();
        assert!(!json.contains("<!channel>"));
        assert!(json.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"));
    }

    #[test]
    fn a_big_digest_fits_one_section() {
        let text = digest_section(&digest(30));
        assert!(text.chars().count() <= MAX_SECTION_CHARS);
        assert!(text.contains(
            "• <https://frontmon.example/projects/2/issues/0|New issue: TypeError: x0 is undefined>"
        ));
        let mut huge = digest(30);
        if let Some(digest) = huge.digest.as_mut() {
            for item in &mut digest.items {
                item.text = "x".repeat(300);
            }
        }
        let text = digest_section(&huge);
        assert!(
            text.chars().count() <= MAX_SECTION_CHARS,
            "{}",
            text.chars().count()
        );
        assert!(text.contains("more."), "{text}");
    }

    fn digest_section(message: &Message) -> String {
        body(message)["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.contains("in the last minute"))
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn statuses_and_codes_decide_between_retrying_and_giving_up() {
        assert_eq!(judge(&answer(200, &[], "ok")), Ok(()));
        let limited = judge(&answer(429, &[("retry-after", "3")], "rate_limited")).failed();
        assert!(!limited.is_permanent());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(limited.code(), Some("rate_limited"));
        for (status, code) in [
            (400, "invalid_payload"),
            (404, "no_service"),
            (403, "action_prohibited"),
            (410, "channel_is_archived"),
        ] {
            let error = judge(&answer(status, &[], code)).failed();
            assert!(error.is_permanent(), "{status}");
            assert_eq!(error.code(), Some(code));
        }
        let down = judge(&answer(500, &[], "rollup_error")).failed();
        assert!(!down.is_permanent());
        // A body that is not a code keeps the status as the code.
        let html = judge(&answer(502, &[], "<html>Bad gateway</html>")).failed();
        assert_eq!(html.code(), Some("502"));
    }
}
