//! `GET /api/projects/{id}/stats?since=&until=&interval=`: counts per routing key per bucket.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{ApiError, authorize, invalid};
use crate::startup::ApiState;

const MAX_BUCKETS: i64 = 2000;

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    since: Option<String>,
    until: Option<String>,
    interval: Option<String>,
}

pub async fn stats(
    request: HttpRequest,
    project: web::Path<String>,
    query: web::Query<StatsQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project)?;
    let now = Utc::now();
    let until = query
        .until
        .as_deref()
        .map(|t| instant("until", t))
        .transpose()?
        .unwrap_or(now);
    let since = query
        .since
        .as_deref()
        .map(|t| instant("since", t))
        .transpose()?
        .unwrap_or(until - Duration::hours(24));
    let interval = query
        .interval
        .as_deref()
        .map(interval_secs)
        .transpose()?
        .unwrap_or(3600);
    if since >= until {
        return Err(invalid("since", "must be before until"));
    }
    let span = (until - since).num_seconds();
    if span / interval > MAX_BUCKETS {
        return Err(invalid(
            "interval",
            format!("too small for this range: more than {MAX_BUCKETS} buckets"),
        ));
    }

    let counts = state.store.counts(project, since, until, interval).await?;
    let mut buckets: BTreeMap<DateTime<Utc>, BTreeMap<String, i64>> = BTreeMap::new();
    // Every bucket of the range, empty ones too, so a chart needs no gap filling.
    let mut start = since;
    while start < until {
        buckets.insert(start, BTreeMap::new());
        start += Duration::seconds(interval);
    }
    for (bucket, key, count) in counts {
        buckets.entry(bucket).or_default().insert(key, count);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "since": since.to_rfc3339(),
        "until": until.to_rfc3339(),
        "interval_secs": interval,
        "buckets": buckets.into_iter().map(|(start, counts)| serde_json::json!({
            "start": start.to_rfc3339(),
            "counts": counts,
        })).collect::<Vec<_>>(),
    })))
}

/// RFC 3339 (`2026-11-25T10:00:00Z`) or milliseconds since the epoch.
fn instant(name: &'static str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms).ok_or_else(|| invalid(name, "out of range"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(
                name,
                "expected RFC 3339 (2026-11-25T10:00:00Z) or milliseconds since the epoch",
            )
        })
}

/// `300`, `30s`, `5m`, `1h` or `1d`.
fn interval_secs(text: &str) -> Result<i64, ApiError> {
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

    #[test]
    fn instants_accept_rfc3339_and_millis() {
        assert_eq!(
            instant("since", "1750000000000").ok(),
            DateTime::from_timestamp_millis(1_750_000_000_000)
        );
        assert!(instant("since", "2026-11-25T10:00:00Z").is_ok());
        assert!(instant("since", "yesterday").is_err());
    }
}
