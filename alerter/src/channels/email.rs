//! Email over SMTP: one message per notification or digest, plain text and HTML
//! (`multipart/alternative`), the headline as its subject.
//!
//! The channel's `url` picks the transport security: `smtp://host:port` upgrades with
//! STARTTLS and refuses a server that cannot (port 587 by default), `smtps://host:port` is TLS
//! from the first byte (465), `smtp+plain://host:port` is neither (25; for a relay on the same
//! host, and tests). Certificates are checked against the system's roots. With `username` and
//! `secret` (the password) it authenticates (PLAIN or LOGIN, whichever the server offers).
//!
//! The message's delivery id is its `Message-ID` (and `X-Frontmon-Delivery`), so a copy sent
//! again after a failure is recognised by mail systems that drop duplicate ids.
//!
//! Failures: a 4xx reply (greylisting, a full mailbox for now, too many connections), a
//! network, TLS or timeout error is retried; a 5xx reply (a rejected login, an unknown
//! recipient, a refused sender) is permanent, and so is a server that lacks what the
//! configuration requires (STARTTLS, a common authentication mechanism).

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use shared::config::ChannelSettings;

use super::text::{
    culprit, digest_items, escalation, facts, more_items, one_line, plain_text, title,
    truncate_chars, words_of,
};
use super::{ChannelError, Message, SendError};

/// How long one SMTP command may take: a conversation is several round trips, TLS included.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
const DELIVERY_HEADER: HeaderName = HeaderName::new_from_ascii_str("X-Frontmon-Delivery");

#[derive(Clone)]
pub(crate) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    pub fn from_settings(settings: &ChannelSettings) -> Result<Self, ChannelError> {
        let invalid = |reason: String| ChannelError::new(settings, reason);
        let url = &settings.url;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "put the SMTP user in `username` and the password in `secret`, not in the URL"
                    .into(),
            ));
        }
        let host = url
            .host_str()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .filter(|host| !host.is_empty())
            .ok_or_else(|| invalid("an email channel's url names the SMTP server".into()))?;
        let tls_error = |e: lettre::transport::smtp::Error| invalid(format!("TLS setup: {e}"));
        let (builder, default_port) = match url.scheme() {
            "smtp" => (
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?,
                587,
            ),
            "smtps" => (
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
                465,
            ),
            "smtp+plain" => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                25,
            ),
            _ => {
                return Err(invalid(
                    "an email channel's url is smtp://, smtps:// or smtp+plain://".into(),
                ));
            }
        };
        let mut builder = builder
            .port(url.port().unwrap_or(default_port))
            .timeout(Some(SMTP_TIMEOUT));
        match (&settings.username, &settings.secret) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "`username` and `secret` (the SMTP password) go together".into(),
                ));
            }
        }
        let mailbox = |address: &str, key: &str| {
            address
                .parse::<Mailbox>()
                .map_err(|e| invalid(format!("{key} {address:?}: {e}")))
        };
        let from = mailbox(
            settings
                .from
                .as_deref()
                .ok_or_else(|| invalid("an email channel needs `from`".into()))?,
            "from",
        )?;
        let to = settings
            .to
            .iter()
            .map(|address| mailbox(address, "to"))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(invalid("an email channel needs at least one `to`".into()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
        })
    }

    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let email = self
            .build(message)
            .map_err(|e| SendError::permanent(None, format!("cannot build the email: {e}")))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| smtp_error(&e))
    }

    fn build(&self, message: &Message) -> Result<lettre::Message, lettre::error::Error> {
        let id = message_id_part(&message.delivery_id);
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(truncate_chars(&one_line(&message.headline), 200))
            .message_id(Some(format!("<{id}@frontmon.alerter>")))
            .raw_header(HeaderValue::new(DELIVERY_HEADER, id))
            .date_now();
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder.multipart(MultiPart::alternative_plain_html(
            plain_text(message),
            html(message),
        ))
    }
}

/// The delivery id as the left part of a `Message-ID`: only what RFC 5322 allows there.
fn message_id_part(delivery_id: &str) -> String {
    let id: String = delivery_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(128)
        .collect();
    if id.is_empty() { "none".into() } else { id }
}

/// Retry what may pass later; give up on what the server refused for good, or on what the
/// configuration asks of a server that cannot do it.
fn smtp_error(error: &lettre::transport::smtp::Error) -> SendError {
    let code = error.status().map(|code| format!("SMTP {code}"));
    let message = super::http::error_chain(error);
    if error.is_permanent() || error.is_client() {
        SendError::permanent(code, message)
    } else {
        SendError::retry(code, message)
    }
}

/// The HTML part: every value escaped, links only when they are http(s).
pub(crate) fn html(message: &Message) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><body style=\"font-family: -apple-system, Segoe UI, \
         Helvetica, Arial, sans-serif; font-size: 14px; color: #1f2328\">\n",
    );
    out.push_str(&format!("<h2>{}</h2>\n", escape(&message.headline)));
    if let Some(title) = title(message) {
        out.push_str(&format!("<p><strong>{}</strong>", escape(&title)));
        if let Some(culprit) = culprit(message) {
            out.push_str(&format!(
                "<br>{}<code>{}</code>",
                escape(words_of(message).located_in),
                escape(&culprit)
            ));
        }
        out.push_str("</p>\n");
    }
    if let Some(reason) = &message.reason {
        out.push_str(&format!("<p>{}</p>\n", escape(&one_line(reason))));
    }
    if let Some(escalation) = escalation(message) {
        out.push_str(&format!(
            "<p><strong>{}</strong></p>\n",
            escape(&escalation)
        ));
    }
    let facts = facts(message);
    if !facts.is_empty() {
        out.push_str("<table cellpadding=\"4\" style=\"border-collapse: collapse\">\n");
        for fact in facts {
            out.push_str(&format!(
                "<tr><th align=\"left\" style=\"color: #57606a\">{}</th><td>{}</td></tr>\n",
                escape(fact.label),
                escape(&fact.value)
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(digest) = &message.digest {
        out.push_str(&format!("<p>{}</p>\n<ul>\n", escape(&digest.summary)));
        let (items, left_out) = digest_items(digest);
        for item in items {
            match item.link.as_deref().filter(|link| is_web_link(link)) {
                Some(link) => out.push_str(&format!(
                    "<li><a href=\"{}\">{}</a></li>\n",
                    escape(link),
                    escape(&item.text)
                )),
                None => out.push_str(&format!("<li>{}</li>\n", escape(&item.text))),
            }
        }
        out.push_str("</ul>\n");
        if left_out > 0 {
            out.push_str(&format!(
                "<p>{}</p>\n",
                escape(&more_items(message, left_out))
            ));
        }
    }
    if let Some(link) = message.link.as_deref().filter(|link| is_web_link(link)) {
        out.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape(link),
            escape(words_of(message).open)
        ));
    }
    out.push_str("</body></html>\n");
    out
}

fn is_web_link(link: &str) -> bool {
    let lower = link.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Text safe in HTML content and in quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use shared::config::{ChannelKind, Secret};

    use super::*;
    use crate::channels::tests::{digest, new_issue, settings};

    fn email_settings(url: &str) -> ChannelSettings {
        let mut settings = settings(ChannelKind::Email, url);
        settings.from = Some("frontmon <alerts@example.com>".into());
        settings.to = vec![
            "ops@example.com".into(),
            "Dev Team <dev@example.com>".into(),
        ];
        settings
    }

    #[test]
    fn every_scheme_builds_and_bad_settings_are_named() {
        for url in [
            "smtp://mail.example.com:587",
            "smtps://mail.example.com",
            "smtp+plain://127.0.0.1:2525",
        ] {
            assert!(Email::from_settings(&email_settings(url)).is_ok(), "{url}");
        }
        let mut no_from = email_settings("smtp://mail.example.com");
        no_from.from = None;
        assert!(Email::from_settings(&no_from).is_err());
        let mut bad_to = email_settings("smtp://mail.example.com");
        bad_to.to = vec!["not an address".into()];
        let error = Email::from_settings(&bad_to)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(error.to_string().contains("not an address"), "{error}");
        let mut half_auth = email_settings("smtp://mail.example.com");
        half_auth.username = Some("alerts".into());
        assert!(Email::from_settings(&half_auth).is_err());
        half_auth.secret = Some(Secret::new("pw"));
        assert!(Email::from_settings(&half_auth).is_ok());
        assert!(Email::from_settings(&email_settings("smtp://user:pw@mail.example.com")).is_err());
    }

    #[test]
    fn the_message_is_multipart_with_the_headline_as_subject() {
        let email = Email::from_settings(&email_settings("smtp+plain://127.0.0.1:2525"))
            .unwrap_or_else(|e| panic!("{e}"));
        let raw = email
            .build(&new_issue())
            .unwrap_or_else(|e| panic!("{e}"))
            .formatted();
        let raw = String::from_utf8_lossy(&raw);
        for expected in [
            "Subject: New issue in shop-web",
            "Message-ID: <92e5b2761e81983d3b15ce410bf41110@frontmon.alerter>",
            "X-Frontmon-Delivery: 92e5b2761e81983d3b15ce410bf41110",
            "From: frontmon <alerts@example.com>",
            "multipart/alternative",
            "text/plain",
            "text/html",
        ] {
            assert!(raw.contains(expected), "{expected:?} not in:\n{raw}");
        }
        assert!(raw.contains("ops@example.com") && raw.contains("dev@example.com"));
    }

    #[test]
    fn html_escapes_everything_from_events() {
        let mut message = new_issue();
        if let Some(issue) = message.issue.as_mut() {
            issue.title = "<script>alert(\"x\")</script> & 'y'".into();
        }
        message.environment = Some("<img src=x onerror=alert(1)>".into());
        let page = html(&message);
        assert!(!page.contains("<script>") && !page.contains("<img"));
        assert!(
            page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        );
        assert!(page.contains("<a href=\"https://frontmon.example/projects/2/issues/42\">"));
        message.link = Some("javascript:alert(1)".into());
        assert!(!html_contains_link(&message));
        let digest = html(&digest(3));
        assert!(digest.contains("<li><a href=\"https://frontmon.example/projects/2/issues/2\">New issue: TypeError: x2 is undefined</a></li>"));
    }

    fn html_contains_link(message: &Message) -> bool {
        html(message).contains("Open in frontmon")
    }

    #[test]
    fn message_ids_keep_only_safe_characters() {
        assert_eq!(message_id_part("abc123"), "abc123");
        assert_eq!(message_id_part("a b<c>@d"), "abcd");
        assert_eq!(message_id_part("<>"), "none");
    }
}
