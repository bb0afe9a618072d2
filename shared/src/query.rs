//! Query strings, read strictly: a parameter an endpoint does not support is refused with a
//! 400 that names it and lists what is supported. Ignored, a misspelt or unsupported filter
//! (`?enviroment=prod`, `?url=`) silently answers with unfiltered data.
//!
//! A handler takes [`Query<T>`] instead of `web::Query<T>`; the supported names are `T`'s
//! fields, read from its `Deserialize` impl, so they cannot drift from what is parsed. An
//! endpoint without parameters takes `Query<NoParams>`. Code that reads a query string by
//! hand calls [`parse`].

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// The longest parameter name quoted back: the name is the client's input.
const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("unknown query parameter {name:?} (supported: {})", list(.supported))]
    Unknown {
        name: String,
        supported: &'static [&'static str],
    },
    /// The names are known but a value does not parse (`limit=abc`).
    #[error("invalid query string: {0}")]
    Invalid(String),
}

fn list(supported: &[&str]) -> String {
    if supported.is_empty() {
        "none".to_owned()
    } else {
        supported.join(", ")
    }
}

impl ResponseError for QueryError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest().json(serde_json::json!({ "error": self.to_string() }))
    }
}

/// The query string of an endpoint that takes no parameters.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoParams {}

/// Parses `query` into `T`, refusing any parameter that is not one of `T`'s fields.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, QueryError> {
    let supported = fields::<T>();
    for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
        if !supported.contains(&name.as_ref()) {
            return Err(QueryError::Unknown {
                name: name.chars().take(MAX_NAME_CHARS).collect(),
                supported,
            });
        }
    }
    actix_web::web::Query::<T>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .map_err(|error| QueryError::Invalid(error.to_string()))
}

/// The extractor: `web::Query`, strict.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = QueryError;
    type Future = Ready<Result<Self, QueryError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(request.query_string()).map(Query))
    }
}

/// The field names of a struct, as its derived `Deserialize` asks for them: the derive
/// passes them to `deserialize_struct`, where this deserializer takes them and stops. Empty
/// for anything that is not a plain struct (a `#[serde(flatten)]` one asks for a map), so
/// such a type refuses every parameter, which its first test shows.
fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut found));
    found
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names read")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Page {
        limit: Option<i64>,
        #[serde(rename = "before")]
        cursor: Option<String>,
    }

    #[test]
    fn known_parameters_parse() {
        assert_eq!(
            parse::<Page>("limit=5&before=a%20b").ok(),
            Some(Page {
                limit: Some(5),
                cursor: Some("a b".into())
            })
        );
        assert_eq!(
            parse::<Page>("").ok(),
            Some(Page {
                limit: None,
                cursor: None
            })
        );
        assert!(parse::<NoParams>("").is_ok());
    }

    #[test]
    fn unknown_parameters_are_named_with_what_is_supported() {
        let error = parse::<Page>("limit=5&url=x").expect_err("url is not supported");
        assert_eq!(
            error.to_string(),
            r#"unknown query parameter "url" (supported: limit, before)"#
        );
        // The serde name counts, not the Rust one.
        assert!(parse::<Page>("cursor=x").is_err());
        let error = parse::<NoParams>("verbose=1").expect_err("no parameters");
        assert_eq!(
            error.to_string(),
            r#"unknown query parameter "verbose" (supported: none)"#
        );
        let long = format!("{}=1", "x".repeat(1000));
        let error = parse::<NoParams>(&long).expect_err("unknown");
        assert!(error.to_string().len() < 200, "{error}");
    }

    #[test]
    fn values_that_do_not_parse_are_invalid() {
        let error = parse::<Page>("limit=abc").expect_err("not a number");
        assert!(matches!(error, QueryError::Invalid(_)), "{error}");
        assert!(
            error.to_string().starts_with("invalid query string"),
            "{error}"
        );
    }
}
