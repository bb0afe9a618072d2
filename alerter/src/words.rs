//! Every phrase the alerter's messages say, in each language a channel can ask for
//! (`language` in `[[alerter.channels]]`): English and 简体中文.
//!
//! The labels are a [`Words`] per language, so a label missing from one language fails to
//! compile; the sentences with numbers in them are functions of the [`Language`], since the
//! languages put the numbers in different places. Names, titles and messages from events
//! are never translated: they are quoted as they came.

use chrono::{DateTime, Utc};
use shared::config::Language;

/// The fixed words of one language.
pub(crate) struct Words {
    pub project: &'static str,
    pub environment: &'static str,
    pub release: &'static str,
    pub level: &'static str,
    pub events: &'static str,
    pub users: &'static str,
    pub first_seen: &'static str,
    pub last_seen: &'static str,
    pub page: &'static str,
    /// Before the culprit: "in checkout (app.js)".
    pub located_in: &'static str,
    /// The link's text.
    pub open: &'static str,
    pub test_headline: &'static str,
    pub test_reason: &'static str,
}

static EN: Words = Words {
    project: "Project",
    environment: "Environment",
    release: "Release",
    level: "Level",
    events: "Events",
    users: "Users",
    first_seen: "First seen",
    last_seen: "Last seen",
    page: "Page",
    located_in: "in ",
    open: "Open in frontmon",
    test_headline: "Test message from frontmon",
    test_reason: "An operator checked this channel: it works.",
};

static ZH: Words = Words {
    project: "项目",
    environment: "环境",
    release: "版本",
    level: "级别",
    events: "事件数",
    users: "影响用户",
    first_seen: "首次出现",
    last_seen: "最近出现",
    page: "页面",
    located_in: "位置：",
    open: "在 frontmon 中查看",
    test_headline: "frontmon 测试消息",
    test_reason: "运维人员检查了此通道：它能正常工作。",
};

pub(crate) fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::ZhCn => &ZH,
    }
}

/// What the headline says happened, in `project`.
pub(crate) enum Headline<'a> {
    NewIssue(&'a str),
    Regression(&'a str),
    Frequency(&'a str),
    Users(&'a str),
    Spike(&'a str),
    Escalation(&'a str),
}

pub(crate) fn headline(language: Language, what: Headline<'_>) -> String {
    match (language, what) {
        (Language::En, Headline::NewIssue(p)) => format!("New issue in {p}"),
        (Language::En, Headline::Regression(p)) => format!("Regression in {p}"),
        (Language::En, Headline::Frequency(p)) => format!("Frequent error in {p}"),
        (Language::En, Headline::Users(p)) => format!("Error hitting many users in {p}"),
        (Language::En, Headline::Spike(p)) => format!("Error spike in {p}"),
        (Language::En, Headline::Escalation(p)) => format!("Still happening in {p}"),
        (Language::ZhCn, Headline::NewIssue(p)) => format!("{p} 出现新问题"),
        (Language::ZhCn, Headline::Regression(p)) => format!("{p} 的问题再次出现"),
        (Language::ZhCn, Headline::Frequency(p)) => format!("{p} 错误频发"),
        (Language::ZhCn, Headline::Users(p)) => format!("{p} 的错误影响了大量用户"),
        (Language::ZhCn, Headline::Spike(p)) => format!("{p} 错误激增"),
        (Language::ZhCn, Headline::Escalation(p)) => format!("{p} 的问题仍在发生"),
    }
}

/// "project 3" when the project has no name.
pub(crate) fn unnamed_project(language: Language, id: impl std::fmt::Display) -> String {
    match language {
        Language::En => format!("project {id}"),
        Language::ZhCn => format!("项目 {id}"),
    }
}

/// Why a rule fired, one sentence; `span` is a window as [`span`] writes it.
pub(crate) enum Why<'a> {
    NewIssue,
    Regression(Option<&'a str>),
    Frequency {
        count: u64,
        span: String,
    },
    Users {
        count: u64,
        span: String,
    },
    Spike {
        count: u64,
        average: f64,
        span: String,
    },
    Escalation {
        more: u64,
        since: DateTime<Utc>,
    },
}

pub(crate) fn why(language: Language, reason: Why<'_>) -> String {
    match (language, reason) {
        (Language::En, Why::NewIssue) => "The first event of this issue.".into(),
        (Language::En, Why::Regression(Some(release))) => {
            format!("A resolved issue is back, in release {release}.")
        }
        (Language::En, Why::Regression(None)) => "A resolved issue is back.".into(),
        (Language::En, Why::Frequency { count, span }) => {
            format!("{count} events in the last {span}.")
        }
        (Language::En, Why::Users { count, span }) => {
            format!("{count} users hit it in the last {span}.")
        }
        (
            Language::En,
            Why::Spike {
                count,
                average,
                span,
            },
        ) => format!("{count} errors in the last {span}, against {average:.1} on average."),
        (Language::En, Why::Escalation { more, since }) => format!(
            "Still happening: {more} more since {}.",
            since.format("%H:%M UTC")
        ),
        (Language::ZhCn, Why::NewIssue) => "该问题的第一个事件。".into(),
        (Language::ZhCn, Why::Regression(Some(release))) => {
            format!("已解决的问题在版本 {release} 中再次出现。")
        }
        (Language::ZhCn, Why::Regression(None)) => "已解决的问题再次出现。".into(),
        (Language::ZhCn, Why::Frequency { count, span }) => {
            format!("最近 {span}内发生 {count} 次。")
        }
        (Language::ZhCn, Why::Users { count, span }) => {
            format!("最近 {span}内影响 {count} 位用户。")
        }
        (
            Language::ZhCn,
            Why::Spike {
                count,
                average,
                span,
            },
        ) => format!("最近 {span}内发生 {count} 次错误，平均为 {average:.1} 次。"),
        (Language::ZhCn, Why::Escalation { more, since }) => format!(
            "仍在发生：自 {} 以来又发生 {more} 次。",
            since.format("%H:%M UTC")
        ),
    }
}

/// A window: "5 min", "1 h", "90 s"; in Chinese "5 分钟", "1 小时", "90 秒".
pub(crate) fn span(language: Language, seconds: u64) -> String {
    let (hours, minutes, secs) = match language {
        Language::En => ("h", "min", "s"),
        Language::ZhCn => ("小时", "分钟", "秒"),
    };
    match seconds {
        s if s % 3600 == 0 => format!("{} {hours}", s / 3600),
        s if s % 60 == 0 => format!("{} {minutes}", s / 60),
        s => format!("{s} {secs}"),
    }
}

/// "Still happening: 4,312 more since 2024-05-01 14:02:00 UTC." (`more` and `since`
/// already written for people).
pub(crate) fn still_happening(language: Language, more: &str, since: &str) -> String {
    match language {
        Language::En => format!("Still happening: {more} more since {since}."),
        Language::ZhCn => format!("仍在发生：自 {since} 以来又发生 {more} 次。"),
    }
}

/// "… and 12 more."
pub(crate) fn more_items(language: Language, left_out: &str) -> String {
    match language {
        Language::En => format!("… and {left_out} more."),
        Language::ZhCn => format!("……另有 {left_out} 条。"),
    }
}

/// What a digest folds: "12 new issues" or "12 alerts", "in shop-web" or anywhere, "in the
/// last minute" or "during quiet hours".
pub(crate) fn digest_summary(
    language: Language,
    count: usize,
    all_new_issues: bool,
    project: Option<&str>,
    after_quiet_hours: bool,
) -> String {
    match language {
        Language::En => {
            let what = if all_new_issues {
                format!("{count} new issues")
            } else {
                format!("{count} alerts")
            };
            let place = project.map(|p| format!(" in {p}")).unwrap_or_default();
            let when = if after_quiet_hours {
                " during quiet hours"
            } else {
                " in the last minute"
            };
            format!("{what}{place}{when}")
        }
        Language::ZhCn => {
            let when = if after_quiet_hours {
                "免打扰时段内"
            } else {
                "最近一分钟内"
            };
            let place = project.map(|p| format!(" {p} ")).unwrap_or_default();
            let what = if all_new_issues {
                format!("{count} 个新问题")
            } else {
                format!("{count} 条告警")
            };
            format!("{when}{place}有 {what}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_in_each_language() {
        assert_eq!(span(Language::En, 300), "5 min");
        assert_eq!(span(Language::En, 3600), "1 h");
        assert_eq!(span(Language::En, 90), "90 s");
        assert_eq!(span(Language::ZhCn, 300), "5 分钟");
        assert_eq!(span(Language::ZhCn, 7200), "2 小时");
    }

    #[test]
    fn digests_are_summed_up_in_each_language() {
        assert_eq!(
            digest_summary(Language::En, 12, true, Some("shop-web"), false),
            "12 new issues in shop-web in the last minute"
        );
        assert_eq!(
            digest_summary(Language::En, 3, false, None, true),
            "3 alerts during quiet hours"
        );
        assert_eq!(
            digest_summary(Language::ZhCn, 12, true, Some("shop-web"), false),
            "最近一分钟内 shop-web 有 12 个新问题"
        );
        assert_eq!(
            digest_summary(Language::ZhCn, 3, false, None, true),
            "免打扰时段内有 3 条告警"
        );
    }
}
