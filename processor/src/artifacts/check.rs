//! Whether a map is one the resolver can use, decided whole at upload so that a broken map
//! is refused with where it is broken, not found out when the first error needs it.
//!
//! [`check`] reads what the map says it is (a version 3 object with `mappings`, or an index
//! map whose sections carry their maps inline) and decodes every segment of every
//! `mappings` ([`super::mappings`]); [`decode`] is the resolver's own reading, run at upload
//! too so that nothing is accepted that it would then refuse. The resolver runs both, so a
//! map stored before uploads were checked is reported the same way.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use sourcemap::{DecodedMap, SourceMap};
use uuid::Uuid;

use super::mappings;

/// The fields of a map that say what it is and where its mappings point; everything else
/// (`sourcesContent` above all) is skipped by the parser without being copied.
#[derive(Deserialize)]
struct MapHead<'a> {
    version: Option<serde_json::Value>,
    #[serde(borrow)]
    mappings: Option<Cow<'a, str>>,
    sources: Option<Vec<IgnoredAny>>,
    names: Option<Vec<IgnoredAny>>,
    #[serde(borrow)]
    sections: Option<Vec<Section<'a>>>,
    #[serde(rename = "debugId")]
    debug_id_camel: Option<String>,
    debug_id: Option<String>,
}

#[derive(Deserialize)]
struct Section<'a> {
    #[serde(borrow)]
    map: Option<Box<MapHead<'a>>>,
}

/// Checks `map` through and through; its debug id, if it has one.
pub fn check(map: &[u8]) -> Result<Option<Uuid>, String> {
    // The anti-XSSI prefix some servers put before JSON, which source map readers skip.
    let json = match map.strip_prefix(b")]}'") {
        Some(rest) => rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&[][..], |at| &rest[at + 1..]),
        None => map,
    };
    // A derived struct also reads a JSON array (as a sequence of its fields).
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err("not a source map: not a JSON object".into());
    }
    let head: MapHead =
        serde_json::from_slice(json).map_err(|error| format!("not a source map: {error}"))?;
    match &head.version {
        None => return Err("not a source map: no \"version\"".into()),
        Some(version) if version.as_u64() == Some(3) => {}
        Some(version) => return Err(format!("version {version} is not supported, only 3")),
    }
    check_body(&head, "")?;
    head.debug_id_camel
        .or(head.debug_id)
        .map(|id| {
            id.parse::<Uuid>()
                .map_err(|_| "its debugId is not a UUID".to_owned())
        })
        .transpose()
}

/// The mappings of a map, or of each map of its sections; `path` names the map in messages
/// (empty for the whole map).
fn check_body(head: &MapHead, path: &str) -> Result<(), String> {
    let at = |message: String| {
        if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        }
    };
    // The resolver reads a map with sections as an index map, whatever else it has.
    if let Some(sections) = &head.sections {
        for (index, section) in sections.iter().enumerate() {
            let Some(map) = &section.map else {
                return Err(at(format!(
                    "sections[{index}] has no \"map\": sections that point to a \"url\" are not supported, put the map inline"
                )));
            };
            let path = format!("sections[{index}].map");
            // Within an index map the version may be left out; if given, it is 3.
            if let Some(version) = map.version.as_ref().filter(|v| v.as_u64() != Some(3)) {
                return Err(at(format!(
                    "{path}: version {version} is not supported, only 3"
                )));
            }
            check_body(map, &path).map_err(at)?;
        }
        return Ok(());
    }
    let Some(mappings) = &head.mappings else {
        return Err(at(
            "not a source map: neither \"mappings\" nor \"sections\"".into(),
        ));
    };
    let count = |list: &Option<Vec<IgnoredAny>>| list.as_ref().map_or(0, Vec::len);
    mappings::check(mappings, count(&head.sources), count(&head.names))
        .map_err(|error| at(error.to_string()))
}

/// The map as the resolver reads it: an index map flattened into one.
pub fn decode(map: &[u8]) -> Result<SourceMap, String> {
    match sourcemap::decode_slice(map) {
        Ok(DecodedMap::Regular(map)) => Ok(map),
        Ok(DecodedMap::Index(index)) => index
            .flatten()
            .map_err(|error| format!("its sections cannot be joined: {error}")),
        Ok(DecodedMap::Hermes(_)) => Err("React Native (Hermes) maps are not supported".into()),
        Err(error) => Err(format!("not readable as a source map: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(map: &str) -> Result<Option<Uuid>, String> {
        let id = check(map.as_bytes())?;
        decode(map.as_bytes())?;
        Ok(id)
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sourcemaps");

    #[test]
    fn real_bundler_output_passes() {
        for file in [
            "app.min.js.map",
            "build-b/app-b.min.js.map",
            "webpack/app.webpack.js.map",
        ] {
            let map = std::fs::read(format!("{FIXTURES}/{file}"))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(check(&map), Ok(None), "{file}");
            assert!(decode(&map).is_ok(), "{file}");
        }
    }

    #[test]
    fn index_maps_are_checked_section_by_section() {
        let section = |offset: u32, map: &str| {
            format!(r#"{{"offset":{{"line":{offset},"column":0}},"map":{map}}}"#)
        };
        let good = r#"{"version":3,"sources":["a.js"],"names":["f"],"mappings":"AAAAA"}"#;
        let index = |second: &str| {
            format!(
                r#"{{"version":3,"sections":[{},{}]}}"#,
                section(0, good),
                section(10, second)
            )
        };
        assert_eq!(both(&index(good)), Ok(None));
        // Without a version inside: as the resolver reads it.
        assert_eq!(
            both(&index(
                r#"{"sources":["b.js"],"names":[],"mappings":"AAAA"}"#
            )),
            Ok(None)
        );
        // Nested index maps.
        assert_eq!(
            both(&index(&format!(
                r#"{{"version":3,"sections":[{}]}}"#,
                section(0, good)
            ))),
            Ok(None)
        );
        let broken = index(r#"{"version":3,"sources":["b.js"],"names":[],"mappings":"AAAA,AC"}"#);
        assert_eq!(
            both(&broken),
            Err("sections[1].map: mappings invalid at generated line 1, segment 2 (byte 6 of \"mappings\"): a segment of 2 fields (1, 4 or 5 expected)".into())
        );
        let by_url = format!(
            r#"{{"version":3,"sections":[{},{{"offset":{{"line":9,"column":0}},"url":"b.js.map"}}]}}"#,
            section(0, good)
        );
        assert!(
            both(&by_url)
                .is_err_and(|e| e
                    .starts_with("sections[1] has no \"map\": sections that point to a \"url\"")),
            "{by_url}"
        );
        assert!(
            both(&index(r#"{"version":2,"mappings":""}"#))
                .is_err_and(|e| e == "sections[1].map: version 2 is not supported, only 3")
        );
        assert!(both(&index(r#"{"version":3}"#)).is_err_and(
            |e| e == "sections[1].map: not a source map: neither \"mappings\" nor \"sections\""
        ));
    }

    #[test]
    fn what_the_resolver_cannot_read_is_refused_too() {
        // `sources` of numbers: read here as a list, refused by the resolver's parser.
        assert!(
            both(r#"{"version":3,"sources":[1],"names":[],"mappings":"AAAA"}"#)
                .is_err_and(|e| e.starts_with("not readable as a source map: ")),
        );
        assert_eq!(
            both(
                r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","x_facebook_sources":[null]}"#
            ),
            Err("React Native (Hermes) maps are not supported".into())
        );
    }

    #[test]
    fn mappings_are_checked_against_sources_and_names() {
        assert!(
            both(r#"{"version":3,"sources":["a.js"],"mappings":"AAAAA"}"#)
                .is_err_and(|e| e.ends_with("name index 0 is out of range (\"names\" has 0)"))
        );
        assert!(
            both(r#"{"version":3,"names":["f"],"mappings":"AAAA"}"#)
                .is_err_and(|e| e.ends_with("source index 0 is out of range (\"sources\" has 0)"))
        );
        // Escaped characters in the JSON string are read as what they stand for.
        assert_eq!(
            both(r#"{"version":3,"sources":["a.js"],"mappings":"AA\u0041A"}"#),
            Ok(None)
        );
    }
}
