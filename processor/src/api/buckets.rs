//! Where the buckets of a chart begin and end. Buckets are aligned to their interval, so two
//! requests a minute apart chart the same buckets:
//!
//! - an interval that divides a day (`5m`, `1h`, `6h`) or is whole days (`1d`, `7d`) starts
//!   on the wall clock of the zone (UTC by default): a `1h` bucket at :00, a `6h` one at
//!   00:00, 06:00, …, a `1d` one at midnight, an `n`-day one every `n` days counted from
//!   1970-01-01. Around a change of summer time a day bucket is 23 or 25 hours long; a wall
//!   time the change skips starts at the first instant after it, and one it repeats at its
//!   first occurrence.
//! - any other interval (`7h`, `25h`) is counted from 1970-01-01T00:00Z, in UTC only.
//!
//! The first bucket is the one `since` falls in (so it is whole); the last ends at the first
//! boundary at or after `until`, which stays exclusive.

use chrono::offset::LocalResult;
use chrono::{DateTime, Days, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

const DAY_SECS: i64 = 86_400;

/// The buckets of a range: each starts where the previous ends, the last ends at `until`.
#[derive(Debug, PartialEq, Eq)]
pub struct Buckets {
    pub starts: Vec<DateTime<Utc>>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BucketError {
    #[error("more than {0} buckets")]
    TooMany(usize),
    #[error("a time zone needs an interval that divides a day or is whole days")]
    ZoneNeedsCalendarInterval,
}

/// Whether buckets of this many seconds follow the wall clock.
pub fn follows_calendar(interval_secs: i64) -> bool {
    DAY_SECS % interval_secs == 0 || interval_secs % DAY_SECS == 0
}

/// The buckets covering `since..until` (`since < until`), at most `max` of them.
pub fn buckets(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    interval_secs: i64,
    zone: Tz,
    max: usize,
) -> Result<Buckets, BucketError> {
    if follows_calendar(interval_secs) {
        let mut wall = floor_wall(since.with_timezone(&zone).naive_local(), interval_secs);
        collect(until, max, || {
            let at = instant(zone, wall);
            wall = step(wall, interval_secs);
            at
        })
    } else if zone != Tz::UTC {
        Err(BucketError::ZoneNeedsCalendarInterval)
    } else {
        let mut at = since.timestamp().div_euclid(interval_secs) * interval_secs;
        collect(until, max, || {
            let this = DateTime::from_timestamp(at, 0).unwrap_or(until);
            at += interval_secs;
            this
        })
    }
}

/// Takes boundaries from `next` (non-decreasing) until one reaches `until`.
fn collect(
    until: DateTime<Utc>,
    max: usize,
    mut next: impl FnMut() -> DateTime<Utc>,
) -> Result<Buckets, BucketError> {
    let mut starts: Vec<DateTime<Utc>> = Vec::new();
    // Bounded even if `next` stalls: every step either adds a bucket or is a repeat, and
    // repeats come one per change of clocks.
    for _ in 0..2 * max + 2 {
        let at = next();
        if at >= until && !starts.is_empty() {
            return Ok(Buckets { starts, until: at });
        }
        // Two wall times a change of clocks maps to one instant make one bucket.
        if starts.last().is_some_and(|last| at <= *last) {
            continue;
        }
        if starts.len() == max {
            break;
        }
        starts.push(at);
    }
    Err(BucketError::TooMany(max))
}

/// The wall time of the bucket `local` falls in.
fn floor_wall(local: NaiveDateTime, interval_secs: i64) -> NaiveDateTime {
    if interval_secs % DAY_SECS == 0 {
        let days = interval_secs / DAY_SECS;
        let since_epoch = (local.date() - NaiveDate::default()).num_days();
        let first = NaiveDate::default() + Duration::days(since_epoch.div_euclid(days) * days);
        first.and_time(chrono::NaiveTime::MIN)
    } else {
        let of_day = i64::from(local.num_seconds_from_midnight());
        local.date().and_time(chrono::NaiveTime::MIN)
            + Duration::seconds(of_day - of_day % interval_secs)
    }
}

fn step(wall: NaiveDateTime, interval_secs: i64) -> NaiveDateTime {
    if interval_secs % DAY_SECS == 0 {
        let days = u64::try_from(interval_secs / DAY_SECS).unwrap_or(1);
        wall.checked_add_days(Days::new(days)).unwrap_or(wall)
    } else {
        wall + Duration::seconds(interval_secs)
    }
}

/// The instant a wall time of `zone` names: its first occurrence when the clocks repeat
/// it, the first instant after the gap when they skip it.
fn instant(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = wall;
    // Gaps are at most a day (Samoa skipped 2011-12-30); probed in quarter hours.
    for _ in 0..=4 * 25 {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                return at.with_timezone(&Utc);
            }
            LocalResult::None => probe += Duration::minutes(15),
        }
    }
    wall.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    fn starts(buckets: &Buckets) -> Vec<String> {
        buckets
            .starts
            .iter()
            .map(|at| shared::time::format(*at))
            .collect()
    }

    #[test]
    fn hours_start_on_the_hour_and_the_range_is_rounded_out() {
        let b = buckets(
            utc("2026-12-07T22:25:22.787Z"),
            utc("2026-12-08T01:10:00Z"),
            3600,
            Tz::UTC,
            2000,
        )
        .expect("buckets");
        assert_eq!(
            starts(&b),
            [
                "2026-12-07T22:00:00.000Z",
                "2026-12-07T23:00:00.000Z",
                "2026-12-08T00:00:00.000Z",
                "2026-12-08T01:00:00.000Z"
            ]
        );
        assert_eq!(b.until, utc("2026-12-08T02:00:00Z"));
        // An until on a boundary stays where it is: it is exclusive.
        let b = buckets(
            utc("2026-12-07T22:00:00Z"),
            utc("2026-12-08T00:00:00Z"),
            3600,
            Tz::UTC,
            2000,
        )
        .expect("buckets");
        assert_eq!(b.starts.len(), 2);
        assert_eq!(b.until, utc("2026-12-08T00:00:00Z"));
    }

    #[test]
    fn days_start_at_midnight_utc_or_in_the_zone() {
        let since = utc("2026-12-07T22:25:00Z");
        let until = utc("2026-12-09T03:00:00Z");
        let b = buckets(since, until, DAY_SECS, Tz::UTC, 2000).expect("buckets");
        assert_eq!(
            starts(&b),
            [
                "2026-12-07T00:00:00.000Z",
                "2026-12-08T00:00:00.000Z",
                "2026-12-09T00:00:00.000Z"
            ]
        );
        // 22:25 UTC is 07:25 the next day in Tokyo, whose midnight is 15:00 UTC.
        let b = buckets(since, until, DAY_SECS, Tz::Asia__Tokyo, 2000).expect("buckets");
        assert_eq!(
            starts(&b),
            ["2026-12-07T15:00:00.000Z", "2026-12-08T15:00:00.000Z"]
        );
        assert_eq!(b.until, utc("2026-12-09T15:00:00Z"));
        // Half-hour zones: hours on the local hour.
        let b = buckets(
            utc("2026-12-07T10:10:00Z"),
            utc("2026-12-07T11:00:00Z"),
            3600,
            Tz::Asia__Kolkata,
            2000,
        )
        .expect("buckets");
        assert_eq!(
            starts(&b),
            ["2026-12-07T09:30:00.000Z", "2026-12-07T10:30:00.000Z"]
        );
    }

    #[test]
    fn days_around_summer_time_are_23_or_25_hours() {
        // Berlin: clocks go forward on 2026-03-29 and back on 2026-10-25.
        let b = buckets(
            utc("2026-03-28T12:00:00Z"),
            utc("2026-03-30T12:00:00Z"),
            DAY_SECS,
            Tz::Europe__Berlin,
            2000,
        )
        .expect("buckets");
        assert_eq!(
            starts(&b),
            [
                "2026-03-27T23:00:00.000Z",
                "2026-03-28T23:00:00.000Z",
                "2026-03-29T22:00:00.000Z"
            ]
        );
        assert_eq!(b.starts[2] - b.starts[1], Duration::hours(23));
        let b = buckets(
            utc("2026-10-25T12:00:00Z"),
            utc("2026-10-25T13:00:00Z"),
            DAY_SECS,
            Tz::Europe__Berlin,
            2000,
        )
        .expect("buckets");
        assert_eq!(b.until - b.starts[0], Duration::hours(25));
        // Hours across the skipped hour: 02:00 does not exist, 03:00 follows 01:00.
        let b = buckets(
            utc("2026-03-29T00:00:00Z"),
            utc("2026-03-29T02:00:00Z"),
            3600,
            Tz::Europe__Berlin,
            2000,
        )
        .expect("buckets");
        assert_eq!(
            starts(&b),
            ["2026-03-29T00:00:00.000Z", "2026-03-29T01:00:00.000Z"]
        );
    }

    #[test]
    fn other_intervals_count_from_the_epoch_in_utc_only() {
        let b = buckets(
            utc("1970-01-01T08:00:00Z"),
            utc("1970-01-01T15:00:00Z"),
            7 * 3600,
            Tz::UTC,
            2000,
        )
        .expect("buckets");
        assert_eq!(
            starts(&b),
            ["1970-01-01T07:00:00.000Z", "1970-01-01T14:00:00.000Z"]
        );
        assert_eq!(
            buckets(b.starts[0], b.until, 7 * 3600, Tz::Europe__Berlin, 2000),
            Err(BucketError::ZoneNeedsCalendarInterval)
        );
    }

    #[test]
    fn too_many_buckets_are_refused() {
        assert_eq!(
            buckets(
                utc("2026-01-01T00:00:00Z"),
                utc("2026-01-02T00:00:00Z"),
                60,
                Tz::UTC,
                100
            ),
            Err(BucketError::TooMany(100))
        );
    }
}
