//! What the analytics endpoints share: their query's common parameters
//! ([`analytics_query`]), the range and its buckets (`since`, `until`, `interval`, `tz`, as
//! `stats` reads them), the grain of rollups that answers it, the period before it (for
//! deltas), the filters, and the rollup rows they select.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::buckets::{BucketError, Buckets, buckets};
use super::stats::interval_secs;
use super::{ApiError, invalid, optional_instant};
use crate::analytics::{BROWSER, DAY, DEVICE, HOUR, OS, PAGE, TOTAL};
use crate::db::rollups::{Slice, Summed};

/// Declares an analytics endpoint's query string: the range and filters every one takes
/// (read by [`Params::parse`] through the generated `params`), then the endpoint's own.
macro_rules! analytics_query {
    ($name:ident { $($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Debug, Default, serde::Deserialize)]
        pub struct $name {
            pub since: Option<String>,
            pub until: Option<String>,
            pub interval: Option<String>,
            pub tz: Option<String>,
            pub environment: Option<String>,
            pub release: Option<String>,
            pub page: Option<String>,
            pub browser: Option<String>,
            pub os: Option<String>,
            pub device: Option<String>,
            pub limit: Option<usize>,
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl $name {
            fn params(&self) -> super::window::Params<'_> {
                super::window::Params {
                    since: self.since.as_deref(),
                    until: self.until.as_deref(),
                    interval: self.interval.as_deref(),
                    tz: self.tz.as_deref(),
                    environment: self.environment.as_deref(),
                    release: self.release.as_deref(),
                    page: self.page.as_deref(),
                    browser: self.browser.as_deref(),
                    os: self.os.as_deref(),
                    device: self.device.as_deref(),
                    limit: self.limit,
                }
            }
        }
    };
}
pub(super) use analytics_query;

/// The common parameters as the query string gave them.
pub struct Params<'a> {
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub interval: Option<&'a str>,
    pub tz: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
    pub page: Option<&'a str>,
    pub browser: Option<&'a str>,
    pub os: Option<&'a str>,
    pub device: Option<&'a str>,
    pub limit: Option<usize>,
}

impl<'a> Params<'a> {
    /// The range, the filters, of which the dimensions in `dims` (and the environment and
    /// release) are supported (another is a 400 naming it), and the tables' rows.
    pub fn parse(&self, dims: &[i16]) -> Result<(Window, Filters<'a>, usize), ApiError> {
        let window = Window::parse(self.since, self.until, self.interval, self.tz)?;
        let filters = Filters::parse(
            self.environment,
            self.release,
            self.page,
            self.browser,
            self.os,
            self.device,
        )?;
        if filters.dim != TOTAL && !dims.contains(&filters.dim) {
            let name = DIM_NAMES
                .iter()
                .find(|(dim, _)| *dim == filters.dim)
                .map_or("page", |(_, name)| *name);
            return Err(invalid(name, "this endpoint does not filter on it"));
        }
        Ok((window, filters, rows(self.limit)?))
    }
}

const DIM_NAMES: [(i16, &str); 4] = [
    (PAGE, "page"),
    (BROWSER, "browser"),
    (OS, "os"),
    (DEVICE, "device"),
];

const MAX_BUCKETS: usize = 2000;
const HOUR_SECS: i64 = 3600;
const DAY_SECS: i64 = 86_400;
/// The longest filter value: pages are at most 200 bytes, names shorter.
const MAX_FILTER: usize = 200;
/// Rows in a table (`limit`).
pub const DEFAULT_ROWS: usize = 10;
pub const MAX_ROWS: usize = 100;

/// The range asked for, bucketed.
pub struct Window {
    pub range: Buckets,
    /// The same length just before `range`, for deltas: one bucket.
    pub previous: Buckets,
    pub interval: i64,
    pub zone: Tz,
    /// `analytics::HOUR` or `DAY`.
    pub grain: i16,
}

impl Window {
    /// From the query's `since`, `until` (default: the 24 hours to now), `interval` (whole
    /// hours; default `1h` up to 3 days, else `1d`) and `tz`.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        interval: Option<&str>,
        tz: Option<&str>,
    ) -> Result<Self, ApiError> {
        let until = optional_instant("until", until)?.unwrap_or_else(Utc::now);
        let since = optional_instant("since", since)?.unwrap_or(until - Duration::hours(24));
        if since >= until {
            return Err(invalid("since", "must be before until"));
        }
        let interval = match interval {
            Some(text) => interval_secs(text)?,
            None if until - since <= Duration::days(3) => HOUR_SECS,
            None => DAY_SECS,
        };
        if interval % HOUR_SECS != 0 {
            return Err(invalid(
                "interval",
                "analytics are rolled up by the hour: use whole hours (1h, 6h) or days (1d)",
            ));
        }
        let zone = match tz {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                invalid(
                    "tz",
                    format!("{name:?} is not an IANA time zone (like Europe/Berlin or UTC)"),
                )
            })?,
        };
        let bucketed = |since: DateTime<Utc>, until: DateTime<Utc>, interval: i64| {
            buckets(since, until, interval, zone, MAX_BUCKETS).map_err(|error| match error {
                BucketError::TooMany(_) => {
                    invalid("interval", format!("too small for this range: {error}"))
                }
                BucketError::ZoneNeedsCalendarInterval => invalid("tz", error.to_string()),
            })
        };
        let range = bucketed(since, until, interval)?;
        let start = range.starts[0];
        let length = range.until - start;
        // One bucket: only its total is read. Aligned to the hour, as the rollups are.
        let previous_since = start - length;
        let previous = Buckets {
            starts: vec![previous_since],
            until: start,
        };
        // Days are UTC days: the daily grain answers only day buckets that start at UTC
        // midnight; anything else is summed from hours.
        let grain = if interval % DAY_SECS == 0 && zone == Tz::UTC {
            DAY
        } else {
            HOUR
        };
        Ok(Self {
            range,
            previous,
            interval,
            zone,
            grain,
        })
    }

    /// The rows of the range and of the period before under `filters` (the dimension's,
    /// or the total's). `hourly`: the measure is kept by the hour only. The period before is
    /// one bucket, summed from hours whatever its length.
    pub fn slices<'s>(
        &'s self,
        project: i64,
        filters: &Filters<'s>,
        hourly: bool,
    ) -> (Slice<'s>, Slice<'s>) {
        let range = Slice {
            project,
            grain: if hourly { HOUR } else { self.grain },
            dim: filters.dim,
            value: filters.value,
            environment: filters.environment,
            release: filters.release,
            starts: &self.range.starts,
            until: self.range.until,
            by_release: false,
        };
        let previous = Slice {
            starts: &self.previous.starts,
            until: self.previous.until,
            grain: HOUR,
            ..range.clone()
        };
        (range, previous)
    }

    pub fn grain_name(&self) -> &'static str {
        if self.grain == DAY { "day" } else { "hour" }
    }

    /// The range's description, for an answer read from measures kept by the hour only.
    pub fn describe_hours(&self) -> serde_json::Value {
        let mut described = self.describe();
        described["grain"] = "hour".into();
        described
    }

    /// The range's description, for the answer.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "since": shared::time::format(self.range.starts[0]),
            "until": shared::time::format(self.range.until),
            "interval_secs": self.interval,
            "tz": self.zone.name(),
            "grain": self.grain_name(),
            "previous": {
                "since": shared::time::format(self.previous.starts[0]),
                "until": shared::time::format(self.previous.until),
            },
            "timestamps": self.range.starts.iter().map(|at| shared::time::format(*at)).collect::<Vec<_>>(),
        })
    }
}

/// The filters: an environment and a release, and at most one of page, browser, OS or
/// device class (rollups keep each dimension beside the total, not crossed).
#[derive(Debug, Default)]
pub struct Filters<'a> {
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
    /// The dimension filtered on (`TOTAL` for none), and its value.
    pub dim: i16,
    pub value: Option<&'a str>,
}

impl<'a> Filters<'a> {
    pub fn parse(
        environment: Option<&'a str>,
        release: Option<&'a str>,
        page: Option<&'a str>,
        browser: Option<&'a str>,
        os: Option<&'a str>,
        device: Option<&'a str>,
    ) -> Result<Self, ApiError> {
        for (name, value) in [
            ("environment", environment),
            ("release", release),
            ("page", page),
            ("browser", browser),
            ("os", os),
            ("device", device),
        ] {
            if value.is_some_and(|v| v.len() > MAX_FILTER) {
                return Err(invalid(name, format!("at most {MAX_FILTER} bytes")));
            }
        }
        let mut dims = [(PAGE, page), (BROWSER, browser), (OS, os), (DEVICE, device)]
            .into_iter()
            .filter(|(_, value)| value.is_some());
        let (dim, value) = dims.next().unwrap_or((TOTAL, None));
        if dims.next().is_some() {
            return Err(invalid(
                "page",
                "filter on at most one of page, browser, os and device",
            ));
        }
        Ok(Self {
            environment,
            release,
            dim,
            value,
        })
    }

    pub fn of(&self, dim: i16) -> Option<&'a str> {
        self.value.filter(|_| self.dim == dim)
    }
}

/// `limit`: rows per table, 1 to [`MAX_ROWS`].
fn rows(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_ROWS),
        Some(n) if (1..=MAX_ROWS).contains(&n) => Ok(n),
        Some(_) => Err(invalid("limit", format!("must be 1 to {MAX_ROWS}"))),
    }
}

/// Summed rows per time bucket, `buckets` of them.
pub fn per_bucket(rows: &[Summed], buckets: usize) -> Vec<i64> {
    let mut series = vec![0; buckets];
    for (tb, _, _, _, n) in rows {
        if let Some(slot) = series.get_mut(*tb) {
            *slot += n;
        }
    }
    series
}

/// Summed rows per dimension value.
pub fn per_value(rows: Vec<Summed>) -> HashMap<String, i64> {
    let mut by_value = HashMap::new();
    for (_, value, _, _, n) in rows {
        *by_value.entry(value).or_default() += n;
    }
    by_value
}

/// `part / whole`, to 4 decimals; null when nothing was counted.
pub fn rate(part: i64, whole: i64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!((part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
    }
}

/// The share of `whole` without `part` (crash-free sessions), to 4 decimals.
pub fn free(part: i64, whole: i64) -> Value {
    rate(whole - part, whole)
}

/// Summed rows, all together.
pub fn total(rows: &[Summed]) -> i64 {
    rows.iter().map(|row| row.4).sum()
}
