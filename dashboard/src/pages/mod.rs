//! The screens: one module per subject, each handler rendering one typed template.

pub mod account;
pub mod alerts;
mod figures;
pub mod issues;
pub mod overview;
pub mod performance;
mod period;
pub mod projects;
pub mod releases;
pub mod settings;
mod tables;
pub mod traffic;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::accounts::{Role, Viewer};
use crate::assets::{self, Urls};
use crate::i18n::{Lang, Text};
use crate::source::SourceError;
use crate::web::{Fail, PageError};
use crate::{Dashboard, ProjectInfo, web};

/// Why a [`crate::Source`] query failed, as the page answers it.
pub fn source_failed(lang: Lang) -> impl Fn(SourceError) -> PageError {
    move |error| match error {
        SourceError::BadCursor | SourceError::Invalid(_) => PageError::new(Fail::BadRequest, lang),
        SourceError::Unavailable(reason) => {
            tracing::error!(reason, "Dashboard query failed.");
            PageError::new(Fail::Unavailable, lang)
        }
    }
}

/// `?lang=` on any page.
#[derive(Debug, Deserialize)]
pub struct LangParam {
    pub lang: Option<String>,
}

/// What the frame of every signed-in page shows: the language, the assets, the viewer, the
/// project switcher.
pub struct Chrome<'a> {
    pub t: &'static Text,
    pub assets: &'static Urls,
    pub email: &'a str,
    pub role: &'static str,
    pub csrf: &'a str,
    /// An admin sees the Settings tab.
    pub admin: bool,
    pub projects: Vec<&'a ProjectInfo>,
    pub current: Option<&'a ProjectInfo>,
    /// This page's path, for the language switch.
    pub here: String,
}

impl<'a> Chrome<'a> {
    pub fn new(
        dashboard: &'a Dashboard,
        viewer: &'a Viewer,
        lang: Lang,
        current: Option<&'a ProjectInfo>,
        here: &str,
    ) -> Self {
        let t = lang.text();
        Self {
            t,
            assets: assets::urls(),
            email: &viewer.email,
            role: match viewer.role {
                Role::Admin => t.role_admin,
                Role::Member => t.role_member,
            },
            csrf: &viewer.csrf,
            admin: viewer.role == Role::Admin,
            projects: web::visible(dashboard, viewer),
            current,
            here: here.to_owned(),
        }
    }
}

/// The DSN an SDK is given for a key. The dashboard does not know the collector's public
/// address, so the host is a placeholder the reader fills in.
pub fn dsn(collector: Option<&url::Url>, key: &str, project: impl std::fmt::Display) -> String {
    let (scheme, host) = collector_parts(collector);
    format!("{scheme}://{key}@{host}/{project}")
}

/// The script tags that load the SDK with a DSN (the empty issue list and Settings).
pub fn script_snippet(collector: Option<&url::Url>, dsn: &str) -> String {
    let (scheme, host) = collector_parts(collector);
    format!(
        "<script src=\"{scheme}://{host}/sdk/v1/frontmon.min.js\" crossorigin=\"anonymous\"></script>\n<script>\n  frontmon.init({{ dsn: \"{dsn}\", release: \"my-app@1.0.0\" }});\n</script>"
    )
}

/// The collector's scheme and its host, port and path prefix as a DSN names them
/// (`collect.example:8443/fm`); a placeholder host when the URL is not configured.
fn collector_parts(collector: Option<&url::Url>) -> (&str, String) {
    match collector.and_then(|url| Some((url, url.host_str()?))) {
        None => ("https", "<your collector's host>".to_owned()),
        Some((url, host)) => {
            let port = url
                .port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            let prefix = url.path().trim_end_matches('/');
            (url.scheme(), format!("{host}{port}{prefix}"))
        }
    }
}

/// A time as `<time>` shows it before the page's script puts it in the reader's zone.
pub fn utc(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// RFC 3339, for `<time datetime>`.
pub fn iso(time: &DateTime<Utc>) -> String {
    shared::time::format(*time)
}

/// 12345 → "12,345" (the grouping both languages use).
pub fn count(n: &i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if *n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// At most `max` characters of hostile text, for lists (the detail page shows it whole).
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn dsns_name_the_configured_collector_or_a_placeholder() {
        let url = |text: &str| url::Url::parse(text).expect("a URL");
        assert_eq!(dsn(None, "k", 3), "https://k@<your collector's host>/3");
        assert_eq!(
            dsn(Some(&url("https://collect.example")), "k", 3),
            "https://k@collect.example/3"
        );
        // A port and a proxy's path prefix are kept, as the SDK's DSN parser reads them.
        let behind = url("http://collect.example:8443/fm/");
        assert_eq!(
            dsn(Some(&behind), "k", 3),
            "http://k@collect.example:8443/fm/3"
        );
        assert!(
            script_snippet(Some(&behind), "D").starts_with(
                "<script src=\"http://collect.example:8443/fm/sdk/v1/frontmon.min.js\""
            )
        );
    }
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(&0), "0");
        assert_eq!(count(&999), "999");
        assert_eq!(count(&1000), "1,000");
        assert_eq!(count(&1234567), "1,234,567");
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("错误错误", 2), "错误…");
        assert_eq!(clip("ab", 2), "ab");
    }
}
