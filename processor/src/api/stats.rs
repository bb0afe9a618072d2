//! `GET /api/projects/{id}/stats?since=&until=&interval=&tz=&environment=&release=`: counts
//! per routing key per bucket, every bucket of the range listed (empty ones too, so a chart
//! needs no gap filling). Where buckets begin and end: [`super::buckets`].

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::query::Query;

use super::buckets::{BucketError, buckets};
use super::{ApiError, State, authorize, invalid, optional_instant};
use crate::db::CountFilter;

const MAX_BUCKETS: usize = 2000;

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    since: Option<String>,
    until: Option<String>,
    interval: Option<String>,
    tz: Option<String>,
    environment: Option<String>,
    release: Option<String>,
}

pub async fn stats(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<StatsQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project).await?;
    let until = optional_instant("until", query.until.as_deref())?.unwrap_or_else(Utc::now);
    let since =
        optional_instant("since", query.since.as_deref())?.unwrap_or(until - Duration::hours(24));
    let interval = query
        .interval
        .as_deref()
        .map(interval_secs)
        .transpose()?
        .unwrap_or(3600);
    let zone = match query.tz.as_deref() {
        None => Tz::UTC,
        Some(name) => name.parse::<Tz>().map_err(|_| {
            invalid(
                "tz",
                format!("{name:?} is not an IANA time zone (like Europe/Berlin or UTC)"),
            )
        })?,
    };
    if since >= until {
        return Err(invalid("since", "must be before until"));
    }
    let range =
        buckets(since, until, interval, zone, MAX_BUCKETS).map_err(|error| match error {
            BucketError::TooMany(_) => {
                invalid("interval", format!("too small for this range: {error}"))
            }
            BucketError::ZoneNeedsCalendarInterval => invalid("tz", error.to_string()),
        })?;

    let filter = CountFilter {
        environment: query.environment.as_deref(),
        release: query.release.as_deref(),
    };
    let counts = state
        .store
        .counts(project, &range.starts, range.until, &filter)
        .await?;
    let mut per_bucket: Vec<BTreeMap<String, i64>> = vec![BTreeMap::new(); range.starts.len()];
    for (bucket, key, count) in counts {
        if let Some(counts) = per_bucket.get_mut(bucket) {
            counts.insert(key, count);
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "since": shared::time::format(range.starts[0]),
        "until": shared::time::format(range.until),
        "interval_secs": interval,
        "tz": zone.name(),
        "buckets": range.starts.iter().zip(per_bucket).map(|(start, counts)| serde_json::json!({
            "start": shared::time::format(*start),
            "counts": counts,
        })).collect::<Vec<_>>(),
    })))
}

/// `300`, `30s`, `5m`, `1h` or `1d`.
pub(crate) fn interval_secs(text: &str) -> Result<i64, ApiError> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(invalid(
                "interval",
                "expected seconds or a number with s, m, h or d",
            ));
        }
    };
    match number.parse::<i64>() {
        Ok(n) if n > 0 && n <= 366 * 86_400 / multiplier => Ok(n * multiplier),
        _ => Err(invalid(
            "interval",
            "must be a positive duration of at most a year",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(interval_secs("300").ok(), Some(300));
        assert_eq!(interval_secs("5m").ok(), Some(300));
        assert_eq!(interval_secs("2h").ok(), Some(7200));
        assert_eq!(interval_secs("1d").ok(), Some(86_400));
        assert!(interval_secs("0").is_err());
        assert!(interval_secs("5w").is_err());
        assert!(interval_secs("-5").is_err());
        assert!(interval_secs("999999999999d").is_err());
    }
}
