//! Text shared by the formats: the facts of a message in display order, numbers and times
//! for people, and the escaping and truncation the vendors need.

use chrono::{DateTime, Utc};

use super::{Digest, DigestItem, Message};
use crate::words::{self, Words};

/// Items of a digest listed in one message; the rest are counted.
pub(crate) const MAX_DIGEST_ITEMS: usize = 30;
/// Longest title or culprit quoted, in characters: chat messages are read on phones.
pub(crate) const MAX_LINE_CHARS: usize = 300;

/// A label and its value, in display order: the same facts in every format.
pub(crate) struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// What a reader wants at a glance, those the message has.
pub(crate) fn facts(message: &Message) -> Vec<Fact> {
    let w = words_of(message);
    let mut facts = Vec::new();
    let mut add = |label, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            facts.push(Fact {
                label,
                value: truncate_chars(&one_line(&value), MAX_LINE_CHARS),
            });
        }
    };
    add(w.project, project_name(message));
    add(w.environment, message.environment.clone());
    add(w.release, message.release.clone());
    if let Some(issue) = &message.issue {
        add(w.level, issue.level.clone());
        add(w.events, Some(count(issue.count)));
        add(w.users, Some(count(issue.user_count)));
        add(w.first_seen, issue.first_seen.map(time));
        add(w.last_seen, issue.last_seen.map(time));
    }
    if let Some(event) = &message.event {
        add(w.page, event.url.clone());
    }
    facts
}

/// The fixed words of the message's language.
pub(crate) fn words_of(message: &Message) -> &'static Words {
    words::words(message.language)
}

/// "in checkout (app.js)", in the message's language.
pub(crate) fn located(message: &Message, culprit: &str) -> String {
    format!("{}{culprit}", words_of(message).located_in)
}

/// The project's name, else its id.
pub(crate) fn project_name(message: &Message) -> Option<String> {
    message.project.clone().or_else(|| {
        message
            .project_id
            .map(|id| words::unnamed_project(message.language, id))
    })
}

/// The issue's title, on one line.
pub(crate) fn title(message: &Message) -> Option<String> {
    message
        .issue
        .as_ref()
        .map(|issue| truncate_chars(&one_line(&issue.title), MAX_LINE_CHARS))
}

/// Where the issue happens, on one line.
pub(crate) fn culprit(message: &Message) -> Option<String> {
    message
        .issue
        .as_ref()
        .and_then(|issue| issue.culprit.as_deref())
        .map(one_line)
        .filter(|culprit| !culprit.is_empty())
        .map(|culprit| truncate_chars(&culprit, MAX_LINE_CHARS))
}

/// "Still happening: 4,312 more since 2024-05-01 14:02:00 UTC."
pub(crate) fn escalation(message: &Message) -> Option<String> {
    message.escalation.map(|escalation| {
        words::still_happening(
            message.language,
            &count(escalation.more),
            &time(escalation.since),
        )
    })
}

/// The digest's items to list, each on one line, and how many are left out.
pub(crate) fn digest_items(digest: &Digest) -> (Vec<DigestItem>, usize) {
    let listed = digest
        .items
        .iter()
        .take(MAX_DIGEST_ITEMS)
        .map(|item| DigestItem {
            text: truncate_chars(&one_line(&item.text), MAX_LINE_CHARS),
            link: item.link.clone(),
        })
        .collect();
    (listed, digest.items.len().saturating_sub(MAX_DIGEST_ITEMS))
}

/// "… and 12 more.", in the message's language.
pub(crate) fn more_items(message: &Message, left_out: usize) -> String {
    words::more_items(message.language, &count(left_out as u64))
}

/// The digest's items as a Markdown list, `- [text](link)` where there is a link, then
/// "… and 12 more." when some are left out: DingTalk, WeCom and Feishu render it alike.
pub(crate) fn markdown_digest_items(message: &Message, digest: &Digest) -> Vec<String> {
    let (items, left_out) = digest_items(digest);
    let mut lines: Vec<String> = items
        .iter()
        .map(|item| match &item.link {
            Some(link) => format!(
                "- [{}]({})",
                markdown_escape(&item.text),
                markdown_url(link)
            ),
            None => format!("- {}", markdown_escape(&item.text)),
        })
        .collect();
    if left_out > 0 {
        lines.push(more_items(message, left_out));
    }
    lines
}

/// The whole message as plain text, one fact a line: email's text part, and what a chat
/// vendor shows where it cannot show more.
pub(crate) fn plain_text(message: &Message) -> String {
    let mut lines = vec![message.headline.clone(), String::new()];
    if let Some(title) = title(message) {
        lines.push(title);
    }
    if let Some(culprit) = culprit(message) {
        lines.push(located(message, &culprit));
    }
    if let Some(reason) = &message.reason {
        lines.push(one_line(reason));
    }
    if let Some(escalation) = escalation(message) {
        lines.push(escalation);
    }
    if lines.len() > 2 {
        lines.push(String::new());
    }
    for fact in facts(message) {
        lines.push(format!("{}: {}", fact.label, fact.value));
    }
    if let Some(digest) = &message.digest {
        lines.push(String::new());
        lines.push(one_line(&digest.summary));
        let (items, left_out) = digest_items(digest);
        for item in items {
            match item.link {
                Some(link) => lines.push(format!("- {} <{link}>", item.text)),
                None => lines.push(format!("- {}", item.text)),
            }
        }
        if left_out > 0 {
            lines.push(more_items(message, left_out));
        }
    }
    if let Some(link) = &message.link {
        lines.push(String::new());
        lines.push(link.clone());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// 1204 → "1,204".
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A time for people in any time zone: UTC, to the second.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `text` on one line: runs of whitespace (newlines included) and control characters become
/// one space, so a multi-line message cannot forge lines (or Markdown blocks) of its own.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// At most `max` characters, the last of them `…` when cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` bytes of UTF-8, cut on a character boundary and ending with `marker` when
/// cut (the marker counted within `max`).
pub(crate) fn truncate_bytes(text: &str, max: usize, marker: &str) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(marker.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &text[..end])
}

/// `text` safe inside Markdown (DingTalk, WeCom, Feishu's `lark_md`): on one line, HTML's
/// specials as entities (those vendors render some tags, `<font>`, `<at>`), and the
/// characters that open emphasis, code, links and tables escaped with a backslash, as
/// CommonMark does. Titles of JavaScript errors are full of `_`, `*`, `[` and `<`; a stray
/// backslash where a renderer ignores escapes is better than a title turned into a link.
pub(crate) fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in one_line(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A URL safe as a Markdown link target: the characters that would end it escaped.
pub(crate) fn markdown_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.trim().chars() {
        match c {
            ' ' => out.push_str("%20"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::tests::{at, digest, new_issue};

    #[test]
    fn counts_times_and_lines_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1204), "1,204");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(
            time(at("2024-05-01T14:02:03.456Z")),
            "2024-05-01 14:02:03 UTC"
        );
        assert_eq!(one_line("  a\n\n b\t\u{0}c  "), "a b c");
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }

    #[test]
    fn truncation_keeps_utf8_whole_and_the_marker_within_the_limit() {
        let text = "é".repeat(100); // 200 bytes
        let cut = truncate_bytes(&text, 51, "…[cut]");
        assert!(cut.len() <= 51, "{}", cut.len());
        assert!(cut.ends_with("…[cut]"));
        assert!(cut.starts_with("éé"));
        assert_eq!(truncate_bytes("short", 51, "…"), "short");
    }

    #[test]
    fn markdown_escaping_defuses_links_emphasis_and_html() {
        assert_eq!(
            markdown_escape("a_b *c* [x](y) <font>\n# h & `z` |"),
            r"a\_b \*c\* \[x\](y) &lt;font&gt; # h &amp; \`z\` \|"
        );
        assert_eq!(
            markdown_url("https://x.example/a (b)"),
            "https://x.example/a%20%28b%29"
        );
    }

    #[test]
    fn plain_text_has_every_fact() {
        let text = plain_text(&new_issue());
        for expected in [
            "New issue in shop-web",
            "TypeError: Cannot read properties of undefined (reading 'total')",
            "in checkout (app.js)",
            "Project: shop-web",
            "Environment: production",
            "Release: 1.4.2",
            "Events: 1,204",
            "Users: 37",
            "First seen: 2024-05-01 14:02:03 UTC",
            "Last seen: 2024-05-01 14:07:09 UTC",
            "Page: https://shop.example/cart",
            "https://frontmon.example/projects/2/issues/42",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        let digest = plain_text(&digest(45));
        assert!(digest.contains("45 new issues in shop-web in the last minute"));
        assert!(digest.contains("- New issue: TypeError: x29 is undefined"));
        assert!(!digest.contains("x30 is undefined"));
        assert!(digest.contains("… and 15 more."));
    }

    #[test]
    fn plain_text_is_in_the_messages_language() {
        let mut message = new_issue();
        message.language = shared::config::Language::ZhCn;
        message.headline = "shop-web 出现新问题".into();
        message.escalation = Some(crate::channels::Escalation {
            more: 4312,
            since: at("2024-05-01T14:02:00Z"),
        });
        let text = plain_text(&message);
        for expected in [
            "shop-web 出现新问题",
            // The title is the event's, never translated.
            "TypeError: Cannot read properties of undefined (reading 'total')",
            "位置：checkout (app.js)",
            "仍在发生：自 2024-05-01 14:02:00 UTC 以来又发生 4,312 次。",
            "项目: shop-web",
            "环境: production",
            "版本: 1.4.2",
            "事件数: 1,204",
            "影响用户: 37",
            "首次出现: 2024-05-01 14:02:03 UTC",
            "页面: https://shop.example/cart",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        for english in ["Project:", "Events:", "in checkout", "Still happening"] {
            assert!(!text.contains(english), "{english:?} in:\n{text}");
        }
        let mut digest = digest(45);
        digest.language = shared::config::Language::ZhCn;
        assert!(plain_text(&digest).contains("……另有 15 条。"));
    }
}
