//! Numbers as the analytics screens show them: a figure beside the previous period's, a
//! web vital in its unit with web.dev's rating, a share as a percentage, and the charts'
//! data as a JSON island (`<script type="application/json">`, data the browser never runs).

use std::fmt;

use serde_json::Value;

use super::count;

/// A web vital: its name, and web.dev's thresholds (good up to the first, poor above the
/// second), in its unit (milliseconds; CLS none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vital {
    pub name: &'static str,
    pub good: f64,
    pub poor: f64,
}

pub const VITALS: [Vital; 5] = [
    Vital {
        name: "LCP",
        good: 2500.0,
        poor: 4000.0,
    },
    Vital {
        name: "INP",
        good: 200.0,
        poor: 500.0,
    },
    Vital {
        name: "CLS",
        good: 0.1,
        poor: 0.25,
    },
    Vital {
        name: "FCP",
        good: 1800.0,
        poor: 3000.0,
    },
    Vital {
        name: "TTFB",
        good: 800.0,
        poor: 1800.0,
    },
];

impl Vital {
    pub fn find(name: &str) -> Option<Vital> {
        VITALS
            .into_iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }

    /// `good`, `ni` (needs improvement) or `poor`: a CSS class.
    pub fn rating(self, value: f64) -> &'static str {
        if value <= self.good {
            "good"
        } else if value <= self.poor {
            "ni"
        } else {
            "poor"
        }
    }

    /// 2,345.6 ms → "2.35 s", 180 → "180 ms", CLS 0.1234 → "0.123".
    pub fn format(self, value: f64) -> String {
        if self.name == "CLS" {
            format!("{value:.3}")
        } else if value >= 1000.0 {
            format!("{:.2} s", value / 1000.0)
        } else {
            format!("{value:.0} ms")
        }
    }
}

/// One figure of a screen: the number shown, the exact one (`data-value`, as the JSON API
/// answered it), the previous period's and the change.
pub struct Figure {
    /// The answer's name for it (`pageviews`, `LCP`), for tests and styles.
    pub key: &'static str,
    pub label: &'static str,
    pub shown: String,
    /// The JSON number as the API answered it; empty when there is none.
    pub exact: String,
    pub previous: String,
    /// "+12 %" or "−3 %"; empty when there was nothing before.
    pub change: String,
    /// `up`, `down` or empty (no change, or nothing to compare).
    pub direction: &'static str,
    /// A vital's rating class (`good`, `ni`, `poor`), else empty.
    pub rating: &'static str,
}

impl Figure {
    /// `format` shows a value; the change is relative, from `previous` to `value`.
    pub fn new(
        key: &'static str,
        label: &'static str,
        value: &Value,
        previous: &Value,
        format: impl Fn(f64) -> String,
    ) -> Self {
        let (change, direction) = match (value.as_f64(), previous.as_f64()) {
            (Some(now), Some(before)) if before != 0.0 => {
                let percent = ((now - before) / before * 100.0).round();
                if percent == 0.0 {
                    ("±0 %".to_owned(), "")
                } else if percent > 0.0 {
                    (format!("+{percent:.0} %"), "up")
                } else {
                    (format!("−{:.0} %", -percent), "down")
                }
            }
            _ => (String::new(), ""),
        };
        Self {
            key,
            label,
            shown: value.as_f64().map_or_else(|| "—".to_owned(), &format),
            exact: if value.is_number() {
                value.to_string()
            } else {
                String::new()
            },
            previous: previous.as_f64().map_or_else(|| "—".to_owned(), &format),
            change,
            direction,
            rating: "",
        }
    }

    /// A vital's p75, rated.
    pub fn vital(vital: Vital, value: &Value, previous: &Value) -> Self {
        let mut figure = Self::new(vital.name, vital.name, value, previous, |v| vital.format(v));
        figure.rating = value.as_f64().map_or("", |v| vital.rating(v));
        figure
    }
}

/// A count as shown (12,345).
pub fn whole(value: f64) -> String {
    count(&(value.round() as i64))
}

/// A share (0.4231) as a percentage ("42.3 %").
pub fn percent(value: f64) -> String {
    format!("{:.1} %", value * 100.0)
}

/// Seconds as "1 m 35 s" or "48 s".
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.round() as i64;
    if seconds >= 60 {
        format!("{} m {} s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds} s")
    }
}

/// A JSON value's text as a table cell shows it (hostile: askama escapes it).
pub fn text(value: &Value) -> String {
    super::clip(value.as_str().unwrap_or(""), 200)
}

/// A chart's data: the bucket starts (Unix seconds) and its series.
#[derive(serde::Serialize)]
pub struct Chart {
    pub id: &'static str,
    /// The x axis' name in the legend.
    pub time: &'static str,
    pub x: Vec<i64>,
    pub series: Vec<Series>,
    /// A vital's good and poor thresholds, drawn as bands behind the line.
    pub bands: Option<[f64; 2]>,
    /// `ms`, or empty.
    pub unit: &'static str,
}

#[derive(serde::Serialize)]
pub struct Series {
    pub label: &'static str,
    pub values: Vec<Option<f64>>,
}

impl Chart {
    /// The x axis of an analytics answer (its `timestamps`).
    pub fn x(answer: &Value) -> Vec<i64> {
        answer["timestamps"]
            .as_array()
            .map(|stamps| {
                stamps
                    .iter()
                    .filter_map(|s| s.as_str())
                    .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|at| at.timestamp())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A series of an answer's JSON array (nulls kept: no measurement in that bucket).
    pub fn values(array: &Value) -> Vec<Option<f64>> {
        array
            .as_array()
            .map(|values| values.iter().map(Value::as_f64).collect())
            .unwrap_or_default()
    }
}

/// Charts as a JSON island: JSON with `<`, `>` and `&` written as `\u003c`, `\u003e` and
/// `\u0026`, so nothing in it can close the `<script type="application/json">` element or
/// open another, whatever its strings hold; the browser never runs it (it is data), and the
/// page's script reads it with `JSON.parse`.
pub struct Island(String);

impl Island {
    pub fn new(charts: &[Chart]) -> Self {
        let json = serde_json::to_string(charts).unwrap_or_else(|_| "[]".to_owned());
        Self(
            json.replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029"),
        )
    }
}

impl fmt::Display for Island {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Written as is: [`Island::new`] escaped what could end the element, and HTML escaping
/// would break the JSON (the element's text is not entity-decoded).
impl askama::filters::HtmlSafe for Island {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_island_cannot_close_its_element() {
        let chart = Chart {
            id: "x",
            time: "Time",
            x: vec![1],
            series: vec![Series {
                label: "</script><script>alert(1)</script>&amp;",
                values: vec![Some(1.0), None],
            }],
            bands: None,
            unit: "",
        };
        let island = Island::new(&[chart]).to_string();
        assert!(!island.contains('<') && !island.contains('>') && !island.contains('&'));
        let back: Value = serde_json::from_str(&island).unwrap();
        assert_eq!(
            back[0]["series"][0]["label"],
            "</script><script>alert(1)</script>&amp;"
        );
        assert_eq!(
            back[0]["series"][0]["values"],
            serde_json::json!([1.0, null])
        );
    }

    #[test]
    fn vitals_are_rated_and_shown_in_their_unit() {
        let lcp = Vital::find("lcp").unwrap();
        assert_eq!(lcp.rating(2500.0), "good");
        assert_eq!(lcp.rating(2500.1), "ni");
        assert_eq!(lcp.rating(4000.1), "poor");
        assert_eq!(lcp.format(2345.6), "2.35 s");
        assert_eq!(lcp.format(180.2), "180 ms");
        assert_eq!(Vital::find("CLS").unwrap().format(0.1234), "0.123");
    }

    #[test]
    fn changes_are_relative_to_the_previous_period() {
        let f = Figure::new(
            "x",
            "x",
            &serde_json::json!(120),
            &serde_json::json!(100),
            whole,
        );
        assert_eq!(
            (f.shown.as_str(), f.change.as_str(), f.direction),
            ("120", "+20 %", "up")
        );
        assert_eq!(f.exact, "120");
        let f = Figure::new(
            "x",
            "x",
            &serde_json::json!(3),
            &serde_json::json!(0),
            whole,
        );
        assert_eq!((f.change.as_str(), f.previous.as_str()), ("", "0"));
        let f = Figure::new("x", "x", &Value::Null, &serde_json::json!(4), whole);
        assert_eq!(
            (f.shown.as_str(), f.exact.as_str(), f.change.as_str()),
            ("—", "", "")
        );
    }
}
