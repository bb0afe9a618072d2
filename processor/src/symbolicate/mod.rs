//! Source maps: minified stack frames resolved to the original file, line, column and
//! function, before an event is grouped and stored.
//!
//! A frame is matched to an uploaded map ([`crate::artifacts`]) by the build's debug id (a
//! Sentry event's `debug_meta.images`), else by the event's release and the frame's file: its
//! URL, or `~` and its path for any host. Native errors have only a `stack` string: its frames
//! are parsed (Chrome, Firefox and Safari formats) and resolved the same way, and become the
//! event's exception. The resolved frames replace `frames`, the ones sent are kept as
//! `raw_frames`, and a few lines of the original source come along when the map carries
//! `sourcesContent`. Grouping then runs on the resolved frames, so two builds of the same code
//! with different minified names are one issue.
//!
//! A map that cannot be read, or has no mapping for a frame, is recorded on the event
//! (`processing_errors`) and the frame kept as sent: never a crash, never a lost event.
//!
//! Cost on events without maps: one set lookup per event, the projects that have maps at all
//! being known in memory. Lookups by name are cached (negatively too) until a map is uploaded
//! or deleted, or for [`INDEX_TTL`] (uploads through another processor); parsed maps are
//! kept within `processor.sourcemap_cache_bytes`.

mod cache;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::event::{Detail, Event, Exception, ProcessingError, StackFrame};
use shared::grouping::{native_type_and_value, stack_frames};
use sourcemap::{DecodedMap, SourceView};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use cache::{MapCache, ParsedMap};

/// How many times the uploaded maps changed (uploads and deletes through this process): a
/// change drops what is cached.
pub type Generation = Box<dyn Fn() -> u64 + Send + Sync>;

/// How long what is known of the uploaded maps is trusted without a local upload or delete:
/// the time a map uploaded through another processor instance may take to be used here.
const INDEX_TTL: Duration = Duration::from_secs(10);
/// Lookups remembered at most (then forgotten all at once and asked again).
const MAX_INDEX_ENTRIES: usize = 10_000;
/// Lines of original source kept before and after a frame's line.
const CONTEXT_LINES: usize = 5;
/// The longest source line kept in a frame's context.
const MAX_CONTEXT_LINE: usize = 256;

pub struct Symbolicator {
    pool: PgPool,
    generation: Generation,
    index: Mutex<Index>,
    maps: Mutex<MapCache>,
}

/// What is known of the uploaded maps, as of a generation of the artifact store.
struct Index {
    generation: u64,
    loaded: Option<Instant>,
    /// Projects with at least one map: the others are skipped without a query.
    projects: HashSet<i64>,
    /// Where a frame's map was looked for → the map's id, or none uploaded.
    found: HashMap<LookupKey, Option<i64>>,
}

/// (project, release, the frame's URL, the build's debug id).
type LookupKey = (i64, String, String, Option<Uuid>);

/// Where a frame's map is looked for.
struct Wanted {
    project: i64,
    release: String,
    names: [String; 2],
    debug_id: Option<Uuid>,
}

impl Symbolicator {
    pub fn new(pool: PgPool, generation: Generation, cache_bytes: usize) -> Self {
        Self {
            pool,
            generation,
            index: Mutex::new(Index {
                generation: u64::MAX,
                loaded: None,
                projects: HashSet::new(),
                found: HashMap::new(),
            }),
            maps: Mutex::new(MapCache::new(cache_bytes)),
        }
    }

    /// Resolves the frames of `events` that have maps. Returns, for each event, whether it
    /// changed. Fails only when the database does: the caller retries the batch.
    pub async fn resolve(&self, events: &mut [&mut Event]) -> Result<Vec<bool>, sqlx::Error> {
        let mut changed = vec![false; events.len()];
        self.refresh().await?;
        let candidates: Vec<usize> = {
            let index = self.lock_index();
            events
                .iter()
                .enumerate()
                .filter(|(_, event)| {
                    index.projects.contains(&i64::from(event.project_id.get())) && has_frames(event)
                })
                .map(|(at, _)| at)
                .collect()
        };
        if candidates.is_empty() {
            return Ok(changed);
        }
        for at in candidates {
            let event = &mut *events[at];
            changed[at] = self.resolve_event(event).await?;
        }
        Ok(changed)
    }

    async fn resolve_event(&self, event: &mut Event) -> Result<bool, sqlx::Error> {
        let project = i64::from(event.project_id.get());
        let release = event.release.clone().unwrap_or_default();
        let debug_ids = debug_ids(event);
        // Native errors: the frames of the stack string, made an exception if any resolves.
        let native = event.exceptions.is_empty();
        let mut exceptions: Vec<Exception> = if native {
            let stack = event.stack.as_deref().unwrap_or_default();
            let message = event.message.as_deref().unwrap_or_default();
            let (kind, value) = native_type_and_value(message, Some(stack));
            vec![Exception {
                kind: kind.map(str::to_owned),
                value: Some(value.to_owned()),
                frames: stack_frames(stack),
                ..Exception::default()
            }]
        } else {
            event.exceptions.clone()
        };
        let mut errors = Vec::new();
        let mut any_resolved = false;
        for exception in &mut exceptions {
            if exception.frames.is_empty() || !exception.raw_frames.is_empty() {
                continue;
            }
            let mut resolved = Vec::with_capacity(exception.frames.len());
            let mut exception_resolved = false;
            for frame in &exception.frames {
                let Some(path) = frame.abs_path.as_deref().or(frame.filename.as_deref()) else {
                    resolved.push(frame.clone());
                    continue;
                };
                let wanted = Wanted {
                    project,
                    release: release.clone(),
                    names: names(path),
                    debug_id: debug_ids.get(path).copied(),
                };
                let Some(map) = self.map_for(&wanted).await? else {
                    resolved.push(frame.clone());
                    continue;
                };
                match resolve_frame(&map, frame) {
                    Ok(frame) => {
                        exception_resolved = true;
                        resolved.push(frame);
                    }
                    Err(error) => {
                        if !errors.contains(&error) {
                            errors.push(error);
                        }
                        resolved.push(frame.clone());
                    }
                }
            }
            if exception_resolved {
                any_resolved = true;
                exception.raw_frames = std::mem::replace(&mut exception.frames, resolved);
            }
        }
        let changed = any_resolved || !errors.is_empty();
        if any_resolved && (!native || matches!(event.detail, Detail::Error {})) {
            event.exceptions = exceptions;
        }
        event.processing_errors.extend(errors);
        Ok(changed)
    }

    /// The parsed map for a frame, from the cache or the database.
    async fn map_for(&self, wanted: &Wanted) -> Result<Option<Arc<ParsedMap>>, sqlx::Error> {
        let Some(id) = self.lookup(wanted).await? else {
            return Ok(None);
        };
        if let Some(map) = self.lock_maps().get(id) {
            return Ok(Some(map));
        }
        let row = sqlx::query("SELECT name, map, minified FROM sourcemaps WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            // Deleted since it was looked up.
            return Ok(None);
        };
        let name: String = row.try_get("name")?;
        let map: Vec<u8> = row.try_get("map")?;
        let minified: Option<Vec<u8>> = row.try_get("minified")?;
        // Parsing a large map takes milliseconds of CPU: off the async workers.
        let parsed = tokio::task::spawn_blocking(move || parse(name, &map, minified))
            .await
            .map_err(|error| sqlx::Error::Protocol(format!("source map parser: {error}")))?;
        let parsed = Arc::new(parsed);
        self.lock_maps().insert(id, parsed.clone());
        Ok(Some(parsed))
    }

    /// The id of the map for a frame: by debug id first, then by release and URL, then by
    /// release and `~/path`.
    async fn lookup(&self, wanted: &Wanted) -> Result<Option<i64>, sqlx::Error> {
        let key: LookupKey = (
            wanted.project,
            wanted.release.clone(),
            wanted.names[0].clone(),
            wanted.debug_id,
        );
        if let Some(found) = self.lock_index().found.get(&key) {
            return Ok(*found);
        }
        let rows = sqlx::query(
            "SELECT id, release, name, debug_id FROM sourcemaps
             WHERE project_id = $1
               AND ((release = $2 AND name = ANY($3)) OR debug_id = $4)",
        )
        .bind(wanted.project)
        .bind(&wanted.release)
        .bind(&wanted.names[..])
        .bind(wanted.debug_id)
        .fetch_all(&self.pool)
        .await?;
        // Best first: the debug id, the URL, the path.
        let mut best: Option<(usize, i64)> = None;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let release: String = row.try_get("release")?;
            let name: String = row.try_get("name")?;
            let debug_id: Option<Uuid> = row.try_get("debug_id")?;
            let rank = if debug_id.is_some() && debug_id == wanted.debug_id {
                0
            } else if release == wanted.release && name == wanted.names[0] {
                1
            } else if release == wanted.release && name == wanted.names[1] {
                2
            } else {
                continue;
            };
            if best.is_none_or(|(best_rank, _)| rank < best_rank) {
                best = Some((rank, id));
            }
        }
        let found = best.map(|(_, id)| id);
        let mut index = self.lock_index();
        if index.found.len() >= MAX_INDEX_ENTRIES {
            index.found.clear();
        }
        index.found.insert(key, found);
        Ok(found)
    }

    /// Reloads what is known when a map was uploaded or deleted here, or when it is older
    /// than [`INDEX_TTL`].
    async fn refresh(&self) -> Result<(), sqlx::Error> {
        let generation = (self.generation)();
        {
            let index = self.lock_index();
            if index.generation == generation
                && index.loaded.is_some_and(|at| at.elapsed() < INDEX_TTL)
            {
                return Ok(());
            }
        }
        let projects: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT project_id FROM sourcemaps")
            .fetch_all(&self.pool)
            .await?;
        let mut index = self.lock_index();
        if index.generation != generation {
            // Maps were replaced or deleted: what was parsed may be stale.
            self.lock_maps().clear();
        }
        index.generation = generation;
        index.loaded = Some(Instant::now());
        index.projects = projects.into_iter().collect();
        index.found.clear();
        Ok(())
    }

    // Neither lock guards an invariant a panic could break halfway.
    fn lock_index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_maps(&self) -> MutexGuard<'_, MapCache> {
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether an event has frames a map could resolve.
fn has_frames(event: &Event) -> bool {
    if event.exceptions.is_empty() {
        matches!(event.detail, Detail::Error {}) && event.stack.is_some()
    } else {
        event
            .exceptions
            .iter()
            .any(|e| !e.frames.is_empty() && e.raw_frames.is_empty())
    }
}

/// The names a frame's file may have been uploaded under: its URL without query or
/// fragment, and `~` with its path (any host).
fn names(path: &str) -> [String; 2] {
    let url = path.split(['?', '#']).next().unwrap_or(path);
    let tilde = match url.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or("~/".to_owned(), |at| format!("~{}", &rest[at..])),
        None if url.starts_with('/') => format!("~{url}"),
        None => format!("~/{url}"),
    };
    [url.to_owned(), tilde]
}

/// A Sentry event's `debug_meta.images` of type `sourcemap`: file → debug id.
fn debug_ids(event: &Event) -> HashMap<String, Uuid> {
    event
        .sentry
        .get("debug_meta")
        .and_then(|meta| meta.get("images"))
        .and_then(Value::as_array)
        .map(|images| {
            images
                .iter()
                .filter(|image| image.get("type").and_then(Value::as_str) == Some("sourcemap"))
                .filter_map(|image| {
                    let file = image.get("code_file")?.as_str()?;
                    let id = image.get("debug_id")?.as_str()?.parse::<Uuid>().ok()?;
                    Some((file.to_owned(), id))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an uploaded map (an index map is flattened) and its minified file.
fn parse(name: String, map: &[u8], minified: Option<Vec<u8>>) -> ParsedMap {
    let bytes = map.len() + minified.as_ref().map_or(0, Vec::len);
    let map = match sourcemap::decode_slice(map) {
        Ok(DecodedMap::Regular(map)) => Ok(map),
        Ok(DecodedMap::Index(index)) => index.flatten().map_err(|e| e.to_string()),
        Ok(DecodedMap::Hermes(_)) => Err("React Native (Hermes) maps are not supported".into()),
        Err(error) => Err(error.to_string()),
    };
    let minified = minified
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(SourceView::from_string);
    ParsedMap {
        name,
        map,
        minified,
        bytes,
    }
}

/// A frame resolved through `map`, or the processing error that says why not.
fn resolve_frame(map: &ParsedMap, frame: &StackFrame) -> Result<StackFrame, ProcessingError> {
    let sourcemap = map.map.as_ref().map_err(|error| ProcessingError {
        kind: "sourcemap_invalid".into(),
        detail: format!("{}: {error}", map.name),
    })?;
    let no_mapping = || ProcessingError {
        kind: "sourcemap_no_mapping".into(),
        detail: format!(
            "{}: no mapping for line {}, column {}",
            map.name,
            frame.lineno.unwrap_or(0),
            frame.colno.unwrap_or(0)
        ),
    };
    // Frames count from 1, source maps from 0.
    let (Some(line), Some(column)) = (
        frame.lineno.and_then(|l| l.checked_sub(1)),
        frame.colno.and_then(|c| c.checked_sub(1)),
    ) else {
        return Err(no_mapping());
    };
    let token = sourcemap
        .lookup_token(line, column)
        .filter(|token| token.get_dst_line() == line)
        .ok_or_else(no_mapping)?;
    let source = token.get_source().ok_or_else(no_mapping)?;
    let minified_function = frame
        .function
        .as_deref()
        .map(|f| f.rsplit('.').next().unwrap_or(f));
    let function = match (&map.minified, minified_function) {
        (Some(view), Some(name)) => sourcemap
            .get_original_function_name(line, column, name, view)
            .map(str::to_owned),
        _ => None,
    }
    .or_else(|| frame.function.clone());
    let mut resolved = StackFrame {
        function,
        module: frame.module.clone(),
        filename: Some(display_path(source)),
        abs_path: Some(source.to_owned()),
        lineno: Some(token.get_src_line() + 1),
        colno: Some(token.get_src_col() + 1),
        in_app: Some(!source.contains("/node_modules/") && !source.contains("webpack/bootstrap")),
        ..StackFrame::default()
    };
    if let Some(view) = sourcemap.get_source_view(token.get_src_id()) {
        let at = token.get_src_line() as usize;
        resolved.context_line = source_line(view, at);
        resolved.pre_context = (at.saturating_sub(CONTEXT_LINES)..at)
            .filter_map(|index| source_line(view, index))
            .collect();
        resolved.post_context = (at + 1..=at + CONTEXT_LINES)
            .filter_map(|index| source_line(view, index))
            .collect();
    }
    Ok(resolved)
}

/// Line `index` (from 0) of an original source, cut to [`MAX_CONTEXT_LINE`] characters.
fn source_line(view: &SourceView, index: usize) -> Option<String> {
    view.get_line(u32::try_from(index).ok()?)
        .map(|text| text.chars().take(MAX_CONTEXT_LINE).collect())
}

/// `webpack://shop/./src/cart.js` → `src/cart.js`; `../src/cart.ts` → `src/cart.ts`.
fn display_path(source: &str) -> String {
    let path = source.split_once("://").map_or(source, |(_, rest)| {
        rest.split_once('/').map_or(rest, |(_, path)| path)
    });
    path.trim_start_matches("./")
        .trim_start_matches("../")
        .trim_start_matches("./")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_matched_by_url_or_by_path_on_any_host() {
        assert_eq!(
            names("https://shop.example/static/app.3f9a.js?v=2#x"),
            [
                "https://shop.example/static/app.3f9a.js".to_owned(),
                "~/static/app.3f9a.js".to_owned()
            ]
        );
        assert_eq!(names("/static/app.js")[1], "~/static/app.js");
        assert_eq!(names("app.js")[1], "~/app.js");
    }

    #[test]
    fn original_paths_are_shown_without_bundler_prefixes() {
        assert_eq!(display_path("webpack://shop/./src/cart.js"), "src/cart.js");
        assert_eq!(display_path("../src/cart.ts"), "src/cart.ts");
        assert_eq!(display_path("src/cart.ts"), "src/cart.ts");
    }

    /// A real esbuild bundle (`tests/fixtures/sourcemaps/`).
    fn parsed(minified: bool) -> ParsedMap {
        parse(
            "~/app.min.js".into(),
            include_bytes!("../../tests/fixtures/sourcemaps/app.min.js.map"),
            minified.then(|| include_bytes!("../../tests/fixtures/sourcemaps/app.min.js").to_vec()),
        )
    }

    fn minified_frame(function: &str, column: u32) -> StackFrame {
        StackFrame {
            function: Some(function.into()),
            abs_path: Some("https://shop.example/app.min.js".into()),
            lineno: Some(1),
            colno: Some(column),
            ..StackFrame::default()
        }
    }

    #[test]
    fn a_frame_resolves_to_the_original_file_line_column_and_function() {
        let map = parsed(true);
        let thrown = resolve_frame(&map, &minified_frame("i", 157)).expect("resolved");
        assert_eq!(thrown.filename.as_deref(), Some("src/cart.js"));
        assert_eq!(thrown.abs_path.as_deref(), Some("../src/cart.js"));
        assert_eq!(thrown.lineno, Some(19));
        assert_eq!(thrown.function.as_deref(), Some("applyDiscount"));
        assert_eq!(
            thrown.context_line.as_deref(),
            Some("  return coupon.percent / 100;")
        );
        assert_eq!(thrown.pre_context.len(), 5);
        assert_eq!(thrown.pre_context[4], "function applyDiscount(coupon) {");
        assert_eq!(thrown.post_context[0], "}");
        assert_eq!(thrown.in_app, Some(true));

        let caller = resolve_frame(&map, &minified_frame("e", 120)).expect("resolved");
        assert_eq!(
            (caller.function.as_deref(), caller.lineno),
            (Some("checkout"), Some(13))
        );
        let outer = resolve_frame(&map, &minified_frame("window.pay", 198)).expect("resolved");
        assert_eq!(outer.filename.as_deref(), Some("src/main.js"));
        assert_eq!(outer.lineno, Some(3));

        // Without the minified file, the function keeps its minified name.
        let unnamed = resolve_frame(&parsed(false), &minified_frame("i", 157)).expect("resolved");
        assert_eq!(unnamed.function.as_deref(), Some("i"));
        assert_eq!(unnamed.lineno, Some(19));
    }

    #[test]
    fn broken_maps_and_missing_mappings_are_errors_not_panics() {
        let broken = parse("~/app.js".into(), b"{not json", None);
        let frame = StackFrame {
            abs_path: Some("https://x/app.js".into()),
            lineno: Some(1),
            colno: Some(1),
            ..StackFrame::default()
        };
        assert_eq!(
            resolve_frame(&broken, &frame).expect_err("broken").kind,
            "sourcemap_invalid"
        );
        let far = StackFrame {
            lineno: Some(900),
            colno: Some(4),
            ..frame.clone()
        };
        // A frame of another build: a line the map does not have.
        assert_eq!(
            resolve_frame(&parsed(true), &far)
                .expect_err("no mapping")
                .kind,
            "sourcemap_no_mapping"
        );
        let zero = StackFrame {
            lineno: Some(0),
            ..frame
        };
        assert!(resolve_frame(&parsed(true), &zero).is_err());
    }
}
