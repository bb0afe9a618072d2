//! Quiet hours: a channel's notifications are held from `start` to `end`, wall-clock time in
//! the channel's time zone, and sent as a digest when they end. Parsed once, at start, into a
//! [`QuietSchedule`]; a setting that cannot be used fails at start naming the key.
//!
//! A quiet period begins on a local day at `start` and ends at the next `end` (on the same
//! day, or the next one when `end` is not after `start`: `22:00`–`08:00` is overnight). Both
//! are taken as instants once, from the time zone's rules for that day, so on the days
//! daylight saving time changes:
//! - clocks go forward (the hour from 02:00 to 03:00 does not exist): a `start` or `end` in
//!   that hour is the moment the clocks jump; an overnight period is an hour shorter;
//! - clocks go back (the hour from 02:00 to 03:00 happens twice): a `start` or `end` in that
//!   hour is its first occurrence, and a period that has ended does not begin again when the
//!   clock shows the same times once more; an overnight period is an hour longer.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// Hours in which a channel's notifications are held, then sent as one digest, as written
/// in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `22:00`: local time in `timezone`.
    pub start: String,
    /// `08:00`; before `start` means the next day.
    pub end: String,
    /// An IANA time zone name (`Asia/Shanghai`, `Europe/Berlin`).
    pub timezone: String,
    /// Whether a new issue of level fatal is sent at once even in quiet hours.
    #[serde(default)]
    pub fatal_breaks_through: bool,
}

/// Why a `quiet_hours` setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuietHoursError {
    #[error("quiet_hours.{key}: {value:?} is not a time of day as HH:MM")]
    Time { key: &'static str, value: String },
    #[error("quiet_hours.timezone: {0:?} is not an IANA time zone name (such as Europe/Berlin)")]
    TimeZone(String),
    #[error("quiet_hours: start and end are the same time")]
    Empty,
}

/// A channel's quiet hours, parsed: only a usable schedule can be held.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "QuietHours")]
pub struct QuietSchedule {
    setting: QuietHours,
    start: NaiveTime,
    end: NaiveTime,
    zone: Tz,
}

impl TryFrom<QuietHours> for QuietSchedule {
    type Error = QuietHoursError;

    fn try_from(setting: QuietHours) -> Result<Self, QuietHoursError> {
        let time = |key: &'static str, value: &str| {
            NaiveTime::parse_from_str(value.trim(), "%H:%M").map_err(|_| QuietHoursError::Time {
                key,
                value: value.to_owned(),
            })
        };
        let start = time("start", &setting.start)?;
        let end = time("end", &setting.end)?;
        if start == end {
            return Err(QuietHoursError::Empty);
        }
        let zone = setting
            .timezone
            .trim()
            .parse::<Tz>()
            .map_err(|_| QuietHoursError::TimeZone(setting.timezone.clone()))?;
        Ok(Self {
            setting,
            start,
            end,
            zone,
        })
    }
}

impl QuietSchedule {
    /// The setting as written.
    pub fn setting(&self) -> &QuietHours {
        &self.setting
    }

    /// When the quiet period that `now` is in ends; `None` outside quiet hours.
    pub fn until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&self.zone).date_naive();
        // Only a period that began today or yesterday (local) can still be going on.
        [today.pred_opt()?, today]
            .into_iter()
            .filter_map(|day| self.period(day))
            .find(|(begin, end)| *begin <= now && now < *end)
            .map(|(_, end)| end)
    }

    /// The quiet period that begins on `day`, as instants.
    fn period(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let begin = self.first_instant(day, self.start)?;
        let end_day = if self.end > self.start {
            day
        } else {
            day.checked_add_days(Days::new(1))?
        };
        let end = self.first_instant(end_day, self.end)?;
        Some((begin, end))
    }

    /// The first instant the clocks in the zone show `time` on `day`, or, when they skip it,
    /// the moment they jump past it.
    fn first_instant(&self, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let mut local = day.and_time(time);
        // Gaps are at most a few hours; a minute at a time finds the jump (zones shift by
        // whole minutes), and the bound keeps a broken zone from looping.
        for _ in 0..=24 * 60 {
            if let Some(instant) = self.zone.from_local_datetime(&local).earliest() {
                return Some(instant.with_timezone(&Utc));
            }
            local += TimeDelta::minutes(1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The harness: a setting as written, parsed as the configuration parses it.
    fn check_quiet_hours(quiet: &QuietHours) -> Result<(), QuietHoursError> {
        QuietSchedule::try_from(quiet.clone()).map(|_| ())
    }

    fn quiet_until(quiet: &QuietHours, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        QuietSchedule::try_from(quiet.clone()).ok()?.until(now)
    }

    fn quiet(start: &str, end: &str, timezone: &str) -> QuietHours {
        QuietHours {
            start: start.into(),
            end: end.into(),
            timezone: timezone.into(),
            fatal_breaks_through: false,
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid test time")
            .with_timezone(&Utc)
    }

    fn until(quiet: &QuietHours, now: &str) -> Option<DateTime<Utc>> {
        quiet_until(quiet, utc(now))
    }

    #[test]
    fn overnight_across_midnight() {
        let night = quiet("22:00", "08:00", "UTC");
        assert_eq!(until(&night, "2024-06-01T21:59:59Z"), None);
        // Start is inside, end is outside.
        assert_eq!(
            until(&night, "2024-06-01T22:00:00Z"),
            Some(utc("2024-06-02T08:00:00Z"))
        );
        assert_eq!(
            until(&night, "2024-06-01T23:59:00Z"),
            Some(utc("2024-06-02T08:00:00Z"))
        );
        assert_eq!(
            until(&night, "2024-06-02T00:00:00Z"),
            Some(utc("2024-06-02T08:00:00Z"))
        );
        assert_eq!(
            until(&night, "2024-06-02T07:59:59Z"),
            Some(utc("2024-06-02T08:00:00Z"))
        );
        assert_eq!(until(&night, "2024-06-02T08:00:00Z"), None);
        assert_eq!(until(&night, "2024-06-02T12:00:00Z"), None);
    }

    #[test]
    fn within_one_day() {
        let lunch = quiet("12:00", "13:30", "UTC");
        assert_eq!(until(&lunch, "2024-06-01T11:59:00Z"), None);
        assert_eq!(
            until(&lunch, "2024-06-01T12:00:00Z"),
            Some(utc("2024-06-01T13:30:00Z"))
        );
        assert_eq!(until(&lunch, "2024-06-01T13:30:00Z"), None);
        assert_eq!(until(&lunch, "2024-06-01T23:00:00Z"), None);
    }

    #[test]
    fn the_same_hours_in_two_time_zones() {
        let shanghai = quiet("22:00", "08:00", "Asia/Shanghai");
        let new_york = quiet("22:00", "08:00", "America/New_York");
        // 15:00 UTC: 23:00 in Shanghai (UTC+8), 11:00 in New York (UTC-4 in June).
        assert_eq!(
            until(&shanghai, "2024-06-01T15:00:00Z"),
            Some(utc("2024-06-02T00:00:00Z"))
        );
        assert_eq!(until(&new_york, "2024-06-01T15:00:00Z"), None);
        // 03:00 UTC: 11:00 in Shanghai, 23:00 the day before in New York.
        assert_eq!(until(&shanghai, "2024-06-02T03:00:00Z"), None);
        assert_eq!(
            until(&new_york, "2024-06-02T03:00:00Z"),
            Some(utc("2024-06-02T12:00:00Z"))
        );
        // In winter New York is UTC-5: the same wall-clock hours are an hour later in UTC.
        assert_eq!(
            until(&new_york, "2024-12-02T03:30:00Z"),
            Some(utc("2024-12-02T13:00:00Z"))
        );
    }

    #[test]
    fn the_night_clocks_go_forward() {
        // Europe/Berlin, 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        let night = quiet("22:00", "08:00", "Europe/Berlin");
        // 22:00 CET is 21:00 UTC; 08:00 CEST is 06:00 UTC: nine hours, not ten.
        assert_eq!(until(&night, "2024-03-30T20:59:00Z"), None);
        assert_eq!(
            until(&night, "2024-03-30T21:00:00Z"),
            Some(utc("2024-03-31T06:00:00Z"))
        );
        assert_eq!(
            until(&night, "2024-03-31T05:59:00Z"),
            Some(utc("2024-03-31T06:00:00Z"))
        );
        assert_eq!(until(&night, "2024-03-31T06:00:00Z"), None);

        // An end inside the skipped hour is the moment the clocks jump.
        let short = quiet("23:00", "02:30", "Europe/Berlin");
        assert_eq!(
            until(&short, "2024-03-31T00:30:00Z"),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert_eq!(until(&short, "2024-03-31T01:00:00Z"), None);
        // So is a start inside it.
        let early = quiet("02:30", "06:00", "Europe/Berlin");
        assert_eq!(until(&early, "2024-03-31T00:59:00Z"), None);
        assert_eq!(
            until(&early, "2024-03-31T01:00:00Z"),
            Some(utc("2024-03-31T04:00:00Z"))
        );
    }

    #[test]
    fn the_night_clocks_go_back() {
        // Europe/Berlin, 2024-10-27: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:00 to 03:00
        // local happens twice.
        let night = quiet("22:00", "08:00", "Europe/Berlin");
        // 22:00 CEST is 20:00 UTC; 08:00 CET is 07:00 UTC: eleven hours.
        assert_eq!(
            until(&night, "2024-10-26T20:00:00Z"),
            Some(utc("2024-10-27T07:00:00Z"))
        );
        assert_eq!(
            until(&night, "2024-10-27T01:30:00Z"),
            Some(utc("2024-10-27T07:00:00Z"))
        );

        // An end inside the repeated hour is its first occurrence (02:30 CEST, 00:30 UTC),
        // and the second 02:00–02:30 is not quiet again.
        let short = quiet("22:00", "02:30", "Europe/Berlin");
        assert_eq!(
            until(&short, "2024-10-26T23:00:00Z"),
            Some(utc("2024-10-27T00:30:00Z"))
        );
        assert_eq!(until(&short, "2024-10-27T00:30:00Z"), None);
        assert_eq!(until(&short, "2024-10-27T01:10:00Z"), None);
        // The next night is normal again (CET, UTC+1).
        assert_eq!(
            until(&short, "2024-10-27T21:00:00Z"),
            Some(utc("2024-10-28T01:30:00Z"))
        );
    }

    #[test]
    fn settings_that_cannot_be_used() {
        assert_eq!(
            check_quiet_hours(&quiet("25:00", "08:00", "UTC")),
            Err(QuietHoursError::Time {
                key: "start",
                value: "25:00".into()
            })
        );
        assert!(matches!(
            check_quiet_hours(&quiet("22:00", "8", "UTC")),
            Err(QuietHoursError::Time { key: "end", .. })
        ));
        assert_eq!(
            check_quiet_hours(&quiet("22:00", "08:00", "Mars/Olympus")),
            Err(QuietHoursError::TimeZone("Mars/Olympus".into()))
        );
        assert_eq!(
            check_quiet_hours(&quiet("22:00", "22:00", "UTC")),
            Err(QuietHoursError::Empty)
        );
        assert!(check_quiet_hours(&quiet("22:00", "08:00", "Asia/Shanghai")).is_ok());
        // Refused settings are never quiet.
        assert_eq!(
            until(
                &quiet("22:00", "08:00", "Mars/Olympus"),
                "2024-06-01T23:00:00Z"
            ),
            None
        );
    }
}
