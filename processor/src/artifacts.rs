//! Build artifacts: the source maps (and minified files) that builds upload, kept in PostgreSQL
//! (`sourcemaps`) until deleted, to resolve minified stack frames ([`crate::symbolicate`]).
//! Never served back: listings carry names and sizes only.
//!
//! An upload is checked once, at the edge ([`NewSourceMap::new`]): the name is a URL or a
//! `~/path`; the map is a version 3 source map the resolver can read, every segment of its
//! mappings decoded ([`check`]: a broken map is refused saying where, rather than found out
//! when the first error needs it; milliseconds per megabyte, once per upload); the minified
//! file is UTF-8; the debug id is read from the map or from the minified file's
//! `//# debugId=` comment. A map is replaced by a later upload of the same project, release
//! and name.
//!
//! Every committed change bumps a [generation](ArtifactStore::generation), which the resolver
//! reads to forget what it cached, including the frames it found no map for. The statements
//! are in [`crate::db::sourcemaps`].
//!
//! Start at [`NewSourceMap::new`], then [`ArtifactStore::upload`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::event::ProjectId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::StoreError;
pub use crate::db::sourcemaps::SourceMapInfo;
use crate::db::sourcemaps::{self as table, Upload};

mod check;
mod mappings;

pub use check::{check as check_map, decode as decode_map};

/// The longest name: frames' URLs are cut at 2 KiB by the collector.
pub const MAX_NAME_BYTES: usize = 2048;
/// The longest release: events' releases are cut at 256 bytes by the collector.
pub const MAX_RELEASE_BYTES: usize = 256;
/// How far from the end of a minified file its `//# debugId=` comment is looked for.
const DEBUG_ID_TAIL_BYTES: usize = 4096;

/// What is wrong with an upload; each names the part the client has to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("name: {0}")]
    Name(&'static str),
    #[error("release: {0}")]
    Release(&'static str),
    #[error("sourcemap: {0}")]
    Map(String),
    #[error("minified: {0}")]
    Minified(&'static str),
    #[error(
        "minified: not UTF-8 (byte {0}): original function names are read from it as UTF-8 JavaScript"
    )]
    MinifiedNotUtf8(usize),
    #[error(
        "no debug id: a map uploaded without a release needs a debugId in the map or a //# debugId= comment at the end of the minified file"
    )]
    NoDebugId,
    #[error("the map's debugId {map} differs from the minified file's {minified}")]
    DebugIdMismatch { map: Uuid, minified: Uuid },
}

/// The name a minified file is matched by: its absolute URL, or `~` and its path for any
/// host, as frames name it (without query or fragment, which frames are matched without).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactName(String);

impl ArtifactName {
    pub fn parse(name: &str) -> Result<Self, ArtifactError> {
        if name.len() > MAX_NAME_BYTES {
            return Err(ArtifactError::Name("at most 2048 bytes"));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ArtifactError::Name(
                "no whitespace or control characters (percent-encode them)",
            ));
        }
        if name.contains(['?', '#']) {
            return Err(ArtifactError::Name(
                "no query or fragment: frames are matched without them",
            ));
        }
        let rest = name
            .strip_prefix("~/")
            .or_else(|| host_and_path(name, "http://"))
            .or_else(|| host_and_path(name, "https://"));
        match rest {
            Some(rest) if !rest.is_empty() => Ok(Self(name.to_owned())),
            _ => Err(ArtifactError::Name(
                "an absolute http(s) URL (https://shop.example/static/app.js) or ~ and a path (~/static/app.js)",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `https://host/path` → `host/path`, if the host is not empty.
fn host_and_path<'a>(name: &'a str, scheme: &str) -> Option<&'a str> {
    let rest = name
        .get(..scheme.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
        .map(|_| &name[scheme.len()..])?;
    (!rest.is_empty() && !rest.starts_with('/')).then_some(rest)
}

/// A source map ready to be stored: named, read as a version 3 map, its debug id found.
#[derive(Debug)]
pub struct NewSourceMap {
    release: String,
    name: ArtifactName,
    debug_id: Option<Uuid>,
    map: Vec<u8>,
    minified: Option<Vec<u8>>,
}

impl NewSourceMap {
    /// `release` is `""` for a map matched by its debug id only, which it then must have.
    pub fn new(
        release: &str,
        name: ArtifactName,
        map: Vec<u8>,
        minified: Option<Vec<u8>>,
    ) -> Result<Self, ArtifactError> {
        if release.len() > MAX_RELEASE_BYTES {
            return Err(ArtifactError::Release("at most 256 bytes"));
        }
        if release.chars().any(char::is_control) {
            return Err(ArtifactError::Release("no control characters"));
        }
        let in_map = check::check(&map).map_err(ArtifactError::Map)?;
        // The resolver's own reading, so that nothing is stored that it would refuse.
        check::decode(&map).map_err(ArtifactError::Map)?;
        if let Some(minified) = &minified {
            std::str::from_utf8(minified)
                .map_err(|error| ArtifactError::MinifiedNotUtf8(error.valid_up_to() + 1))?;
        }
        let in_minified = minified.as_deref().map(minified_debug_id).transpose()?;
        let debug_id = match (in_map, in_minified.flatten()) {
            (Some(map), Some(minified)) if map != minified => {
                return Err(ArtifactError::DebugIdMismatch { map, minified });
            }
            (map, minified) => map.or(minified),
        };
        if release.is_empty() && debug_id.is_none() {
            return Err(ArtifactError::NoDebugId);
        }
        Ok(Self {
            release: release.to_owned(),
            name,
            debug_id,
            map,
            minified,
        })
    }

    pub fn debug_id(&self) -> Option<Uuid> {
        self.debug_id
    }

    /// The bytes stored: the map and the minified file together.
    pub fn size_bytes(&self) -> usize {
        self.map.len() + self.minified.as_ref().map_or(0, Vec::len)
    }
}

/// The `//# debugId=<uuid>` comment among the last lines of a minified file, if any.
fn minified_debug_id(minified: &[u8]) -> Result<Option<Uuid>, ArtifactError> {
    let tail = &minified[minified.len().saturating_sub(DEBUG_ID_TAIL_BYTES)..];
    let Some(id) = tail
        .split(|&b| b == b'\n')
        .rev()
        .find_map(|line| line.trim_ascii().strip_prefix(b"//# debugId="))
    else {
        return Ok(None);
    };
    std::str::from_utf8(id)
        .ok()
        .and_then(|id| id.trim().parse::<Uuid>().ok())
        .map(Some)
        .ok_or(ArtifactError::Minified(
            "its //# debugId= comment is not a UUID",
        ))
}

/// What an upload did.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub sourcemap: SourceMapInfo,
    /// An earlier upload of the same project, release and name was replaced.
    pub replaced: bool,
}

#[derive(Clone)]
pub struct ArtifactStore {
    pool: PgPool,
    generation: Arc<AtomicU64>,
}

impl ArtifactStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many uploads and deletes this process has committed: what the resolver caches is
    /// valid for one generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Stores `map`, replacing the one of the same project, release and name (without a
    /// release: of the same debug id and name).
    pub async fn upload(
        &self,
        project: ProjectId,
        map: NewSourceMap,
    ) -> Result<Uploaded, StoreError> {
        let size_bytes = i64::try_from(map.size_bytes()).unwrap_or(i64::MAX);
        let (sourcemap, replaced) = table::upsert(
            &self.pool,
            &Upload {
                project,
                release: &map.release,
                name: map.name.as_str(),
                debug_id: map.debug_id,
                map: &map.map,
                minified: map.minified.as_deref(),
                size_bytes,
            },
        )
        .await?;
        self.changed();
        Ok(Uploaded {
            sourcemap,
            replaced,
        })
    }

    /// The maps of a release, by name.
    pub async fn list_release(
        &self,
        project: ProjectId,
        release: &str,
    ) -> Result<Vec<SourceMapInfo>, StoreError> {
        Ok(table::list_release(&self.pool, project, release).await?)
    }

    /// The maps with a debug id, whatever their release.
    pub async fn list_debug_id(
        &self,
        project: ProjectId,
        debug_id: Uuid,
    ) -> Result<Vec<SourceMapInfo>, StoreError> {
        Ok(table::list_debug_id(&self.pool, project, debug_id).await?)
    }

    /// Deletes one map of `project`; false if it has none with that id.
    pub async fn delete(&self, project: ProjectId, id: i64) -> Result<bool, StoreError> {
        let deleted = table::delete(&self.pool, project, id).await?;
        if deleted > 0 {
            self.changed();
        }
        Ok(deleted > 0)
    }

    /// Deletes every map of a release; returns how many there were.
    pub async fn delete_release(
        &self,
        project: ProjectId,
        release: &str,
    ) -> Result<u64, StoreError> {
        let deleted = table::delete_release(&self.pool, project, release).await?;
        if deleted > 0 {
            self.changed();
        }
        Ok(deleted)
    }

    /// Deletes the maps past their retention (`retention.sourcemaps_days`, except a
    /// project's newest `keep_releases` releases); returns how many.
    pub async fn expire(
        &self,
        keep_releases: u16,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, sqlx::Error> {
        let deleted = table::delete_expired(&self.pool, i64::from(keep_releases), before).await?;
        if deleted > 0 {
            self.changed();
            tracing::info!(deleted, %before, "Expired source maps deleted.");
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c5b0ae1d-2f4e-4a8b-9d4f-3c1e7a9b2d10";

    fn name(text: &str) -> Result<ArtifactName, ArtifactError> {
        ArtifactName::parse(text)
    }

    fn new(
        release: &str,
        map: &str,
        minified: Option<&str>,
    ) -> Result<NewSourceMap, ArtifactError> {
        NewSourceMap::new(
            release,
            name("~/app.js").unwrap_or_else(|e| panic!("{e}")),
            map.as_bytes().to_vec(),
            minified.map(|m| m.as_bytes().to_vec()),
        )
    }

    #[test]
    fn names_are_urls_or_tilde_paths() {
        for good in [
            "~/static/app.3f9a.js",
            "https://shop.example/static/app.js",
            "HTTP://shop.example:8080/app.js",
            "https://shop.example/a%20b.js",
        ] {
            assert_eq!(name(good).map(|n| n.0), Ok(good.to_owned()), "{good}");
        }
        for bad in [
            "",
            "~",
            "~/",
            "app.js",
            "/static/app.js",
            "static/app.js",
            "ftp://shop.example/app.js",
            "https://",
            "https:///app.js",
            "~/app.js?v=3",
            "https://shop.example/app.js#top",
            "~/a b.js",
            "~/a\nb.js",
        ] {
            assert!(name(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(name(&format!("~/{}", "a".repeat(MAX_NAME_BYTES))).is_err());
    }

    #[test]
    fn a_map_is_a_version_3_object_with_mappings_or_sections() {
        assert!(
            new(
                "1",
                r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#,
                None
            )
            .is_ok()
        );
        assert!(
            new(
                "1",
                r#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"mappings":""}}]}"#,
                None
            )
            .is_ok()
        );
        assert!(new("1", ")]}'\n{\"version\":3,\"mappings\":\"\"}", None).is_ok());
        for (map, says) in [
            ("not json", "not a source map"),
            ("[3, \"AAAA\"]", "not a JSON object"),
            (r#"{"mappings":"AAAA"}"#, "no \"version\""),
            (
                r#"{"version":2,"mappings":"AAAA"}"#,
                "version 2 is not supported",
            ),
            (
                r#"{"version":"3","mappings":"AAAA"}"#,
                "version \"3\" is not supported",
            ),
            (r#"{"version":3}"#, "neither \"mappings\" nor \"sections\""),
            (r#"{"version":3,"mappings":5}"#, "expected a string"),
            (
                r#"{"version":3,"mappings":"","debugId":"nope"}"#,
                "debugId is not a UUID",
            ),
            (r#"{"version":3,"mappings":"AAAA""#, "EOF"),
        ] {
            let error = new("1", map, None).expect_err(map).to_string();
            assert!(error.starts_with("sourcemap: "), "{map}: {error}");
            assert!(error.contains(says), "{map}: {error}");
        }
    }

    #[test]
    fn the_debug_id_comes_from_the_map_or_the_minified_file() {
        let id: Uuid = ID.parse().unwrap_or_else(|e| panic!("{e}"));
        let with = format!(r#"{{"version":3,"mappings":"","debugId":"{ID}"}}"#);
        let snake = format!(
            r#"{{"version":3,"mappings":"","debug_id":"{}"}}"#,
            ID.to_uppercase()
        );
        let without = r#"{"version":3,"mappings":""}"#;
        let minified = format!("x();\n//# debugId={ID}\n//# sourceMappingURL=app.js.map\n");
        assert_eq!(new("", &with, None).map(|m| m.debug_id()), Ok(Some(id)));
        assert_eq!(new("", &snake, None).map(|m| m.debug_id()), Ok(Some(id)));
        assert_eq!(
            new("", without, Some(&minified)).map(|m| m.debug_id()),
            Ok(Some(id))
        );
        assert_eq!(
            new("1", without, Some("x();")).map(|m| m.debug_id()),
            Ok(None)
        );
        assert_eq!(
            new("", without, Some("x();")).err(),
            Some(ArtifactError::NoDebugId)
        );
        assert_eq!(
            new("", without, Some("x();\n//# debugId=zzz\n")).err(),
            Some(ArtifactError::Minified(
                "its //# debugId= comment is not a UUID"
            ))
        );
        let other = "0e4b3f0c-1111-4222-8333-944455556666";
        assert!(matches!(
            new("1", &with, Some(&format!("//# debugId={other}"))),
            Err(ArtifactError::DebugIdMismatch { .. })
        ));
    }

    #[test]
    fn broken_mappings_and_minified_files_are_refused_saying_where() {
        let error = new(
            "1",
            r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA;AAAA,AC!A"}"#,
            None,
        )
        .expect_err("broken mappings")
        .to_string();
        assert_eq!(
            error,
            "sourcemap: mappings invalid at generated line 2, segment 2 (byte 13 of \"mappings\"): invalid base64 VLQ digit '!'"
        );
        let map = r#"{"version":3,"mappings":""}"#;
        assert_eq!(
            new("1", map, Some("var a=\"\u{e9}\";")).map(|m| m.debug_id()),
            Ok(None)
        );
        let mut latin1 = b"var a=\"".to_vec();
        latin1.push(0xe9);
        let error = NewSourceMap::new(
            "1",
            name("~/app.js").unwrap_or_else(|e| panic!("{e}")),
            map.as_bytes().to_vec(),
            Some(latin1),
        )
        .expect_err("not UTF-8");
        assert_eq!(error, ArtifactError::MinifiedNotUtf8(8));
        assert!(
            error
                .to_string()
                .starts_with("minified: not UTF-8 (byte 8)")
        );
    }

    #[test]
    fn releases_are_bounded_like_the_events_they_match() {
        let map = r#"{"version":3,"mappings":""}"#;
        assert!(new(&"r".repeat(MAX_RELEASE_BYTES), map, None).is_ok());
        assert!(new(&"r".repeat(MAX_RELEASE_BYTES + 1), map, None).is_err());
    }
}
