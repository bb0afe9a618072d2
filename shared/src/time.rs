//! How the APIs write times: RFC 3339 in UTC with exactly three fractional digits and `Z`
//! (`2026-12-07T10:15:21.123Z`), whatever precision the value was stored with. One shape
//! everywhere, so a client parses every time field the same way and compares them as text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `2026-12-07T10:15:21.123Z`.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(serialize_with = "shared::time::serialize")]`.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*at))
}

/// `#[serde(serialize_with = "shared::time::serialize_option")]`: `null` for `None`.
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_z_whatever_their_precision() {
        let at = |micros| DateTime::from_timestamp_micros(micros).expect("valid");
        assert_eq!(
            format(at(1_765_102_521_123_456)),
            "2025-12-07T10:15:21.123Z"
        );
        assert_eq!(
            format(at(1_765_102_521_000_000)),
            "2025-12-07T10:15:21.000Z"
        );
        let json = serde_json::json!({ "at": format(at(0)) });
        assert_eq!(json["at"], "1970-01-01T00:00:00.000Z");
    }
}
