//! The period and filters every analytics screen takes from its query string: a preset
//! (`range=24h|7d|30d`, ending at the next full hour) or an exact `since`/`until`, and an
//! `environment` and a `release`; and the query string that keeps them across the screens.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Deserialize;

use actix_web::HttpRequest;

use crate::i18n::{Lang, Text};
use crate::source::Range;
use crate::web::{self, Fail, PageError};
use crate::{Dashboard, ProjectInfo, Viewer};

/// The longest period a page asks for.
const MAX_DAYS: i64 = 92;
/// Filter values are at most this long (as the API takes them).
const MAX_FILTER: usize = 200;

/// The query string of the analytics screens (each reads the fields it needs).
#[derive(Debug, Default, Deserialize)]
pub struct PeriodParams {
    pub range: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// The performance screen's table metric.
    pub metric: Option<String>,
    pub lang: Option<String>,
}

/// A preset period: its key, its length, its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Day,
    Week,
    Month,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Day, Preset::Week, Preset::Month];

    pub fn key(self) -> &'static str {
        match self {
            Preset::Day => "24h",
            Preset::Week => "7d",
            Preset::Month => "30d",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == text)
    }

    fn hours(self) -> i64 {
        match self {
            Preset::Day => 24,
            Preset::Week => 7 * 24,
            Preset::Month => 30 * 24,
        }
    }

    pub fn label(self, t: &Text) -> &'static str {
        match self {
            Preset::Day => t.last_24_hours,
            Preset::Week => t.last_7_days,
            Preset::Month => t.last_30_days,
        }
    }
}

/// The period a page shows, checked.
#[derive(Debug, Clone)]
pub struct Period {
    /// `None` for an exact `since`/`until`.
    pub preset: Option<Preset>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub environment: String,
    pub release: String,
}

/// Up to three days by the hour, up to a fortnight by 6 hours, longer by the day.
fn interval_hours(length: Duration) -> u32 {
    if length <= Duration::days(3) {
        1
    } else if length <= Duration::days(14) {
        6
    } else {
        24
    }
}

fn instant(text: &str, lang: Lang) -> Result<DateTime<Utc>, PageError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| PageError::new(Fail::BadRequest, lang))
}

fn filter(value: Option<&str>, lang: Lang) -> Result<String, PageError> {
    let value = value.unwrap_or("").trim();
    if value.len() > MAX_FILTER {
        return Err(PageError::new(Fail::BadRequest, lang));
    }
    Ok(value.to_owned())
}

impl Period {
    pub fn parse(params: &PeriodParams, now: DateTime<Utc>, lang: Lang) -> Result<Self, PageError> {
        let bad = || PageError::new(Fail::BadRequest, lang);
        let (preset, since, until) = match (params.since.as_deref(), params.until.as_deref()) {
            (Some(since), Some(until)) => (None, instant(since, lang)?, instant(until, lang)?),
            (None, None) => {
                let preset = match params.range.as_deref() {
                    None => Preset::Day,
                    Some(key) => Preset::parse(key).ok_or_else(bad)?,
                };
                // Whole hours, so the buckets are the rollups' and a reload shows the same.
                let until =
                    now.duration_trunc(Duration::hours(1)).map_err(|_| bad())? + Duration::hours(1);
                (Some(preset), until - Duration::hours(preset.hours()), until)
            }
            _ => return Err(bad()),
        };
        if since >= until || until - since > Duration::days(MAX_DAYS) {
            return Err(bad());
        }
        Ok(Self {
            preset,
            since,
            until,
            environment: filter(params.environment.as_deref(), lang)?,
            release: filter(params.release.as_deref(), lang)?,
        })
    }

    pub fn range(&self) -> Range<'_> {
        Range {
            since: self.since,
            until: self.until,
            interval_hours: interval_hours(self.until - self.since),
            environment: Some(self.environment.as_str()).filter(|e| !e.is_empty()),
            release: Some(self.release.as_str()).filter(|r| !r.is_empty()),
        }
    }

    /// `range=…` (or `since=…&until=…`) and the filters, to keep them on the next screen.
    pub fn query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        match self.preset {
            Some(preset) => {
                query.append_pair("range", preset.key());
            }
            None => {
                query
                    .append_pair("since", &shared::time::format(self.since))
                    .append_pair("until", &shared::time::format(self.until));
            }
        }
        if !self.environment.is_empty() {
            query.append_pair("environment", &self.environment);
        }
        if !self.release.is_empty() {
            query.append_pair("release", &self.release);
        }
        query.finish()
    }
}

/// What every analytics screen starts from: the language, the signed-in viewer, the project
/// in the path if they may see it (else 404), and the period asked for.
pub async fn open<'a>(
    request: &HttpRequest,
    dashboard: &'a Dashboard,
    path: &str,
    params: &PeriodParams,
) -> Result<(Lang, Viewer, &'a ProjectInfo, Period), PageError> {
    let lang = Lang::of(request, params.lang.as_deref());
    let viewer = web::viewer(request, dashboard, lang).await?;
    let project = web::project(dashboard, &viewer, path, lang)?;
    let period = Period::parse(params, Utc::now(), lang)?;
    Ok((lang, viewer, project, period))
}

/// What the period form and the screens' tabs show.
pub struct PeriodView {
    /// (key, label, chosen)
    pub presets: Vec<(&'static str, &'static str, bool)>,
    pub environment: String,
    pub release: String,
    /// [`Period::query`], for links to the other screens.
    pub query: String,
    pub since: String,
    pub since_iso: String,
    pub until: String,
    pub until_iso: String,
    /// Fields the period form keeps (a tab, a metric): (name, value).
    pub keep: Vec<(&'static str, String)>,
}

impl PeriodView {
    pub fn new(period: &Period, t: &Text) -> Self {
        Self {
            presets: Preset::ALL
                .into_iter()
                .map(|p| (p.key(), p.label(t), period.preset == Some(p)))
                .collect(),
            environment: period.environment.clone(),
            release: period.release.clone(),
            query: period.query(),
            since: super::utc(&period.since),
            since_iso: super::iso(&period.since),
            until: super::utc(&period.until),
            until_iso: super::iso(&period.until),
            keep: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_preset_ends_at_the_next_full_hour() {
        let params = PeriodParams {
            range: Some("7d".into()),
            ..PeriodParams::default()
        };
        let period = Period::parse(&params, at("2026-03-10T12:34:56Z"), Lang::En).unwrap();
        assert_eq!(period.until, at("2026-03-10T13:00:00Z"));
        assert_eq!(period.since, at("2026-03-03T13:00:00Z"));
        assert_eq!(period.range().interval_hours, 6);
        assert_eq!(period.query(), "range=7d");
    }

    #[test]
    fn an_exact_period_is_kept_and_bad_ones_refused() {
        let params = PeriodParams {
            since: Some("2026-03-01T00:00:00Z".into()),
            until: Some("2026-03-02T00:00:00Z".into()),
            release: Some("shop@1 2".into()),
            ..PeriodParams::default()
        };
        let period = Period::parse(&params, Utc::now(), Lang::En).unwrap();
        assert_eq!(period.range().interval_hours, 1);
        assert_eq!(period.range().release, Some("shop@1 2"));
        assert_eq!(
            period.query(),
            "since=2026-03-01T00%3A00%3A00.000Z&until=2026-03-02T00%3A00%3A00.000Z&release=shop%401+2"
        );
        for bad in [
            PeriodParams {
                range: Some("1y".into()),
                ..PeriodParams::default()
            },
            PeriodParams {
                since: Some("2026-03-02T00:00:00Z".into()),
                until: Some("2026-03-01T00:00:00Z".into()),
                ..PeriodParams::default()
            },
            PeriodParams {
                since: Some("2026-01-01T00:00:00Z".into()),
                until: Some("2026-06-01T00:00:00Z".into()),
                ..PeriodParams::default()
            },
            PeriodParams {
                since: Some("yesterday".into()),
                ..PeriodParams::default()
            },
        ] {
            assert!(
                Period::parse(&bad, Utc::now(), Lang::En).is_err(),
                "{bad:?}"
            );
        }
    }
}
