//! Source maps: minified stack frames resolved to the original file, line, column and
//! function, before an event is grouped and stored.
//!
//! Every native error's `stack` string is first parsed into the exception a Sentry SDK would
//! have sent ([`parse_native`], Chrome, Firefox and Safari formats), once per event, maps or
//! not: every stored error has its frames in `exceptions[].frames`, resolved or not.
//!
//! A frame is matched to an uploaded map ([`crate::artifacts`]) by the build's debug id (a
//! Sentry event's `debug_meta.images`), else by the event's release and the frame's file: its
//! URL, or `~` and its path for any host. The resolved frames replace `frames`, the ones sent
//! are kept as `raw_frames` (only then: an exception without `raw_frames` has its frames as
//! sent), and a few lines of the original source come along when the map carries
//! `sourcesContent`. Grouping then runs on the resolved frames, so two builds of the same code
//! with different minified names are one issue.
//!
//! In a project with maps, frames that are not resolved say why on the event
//! (`processing_errors`): a map that cannot be read or has no mapping at a frame's position,
//! always; no release and no debug id, or no map uploaded for a file of the application's
//! own, when nothing of the event was resolved (beside resolved frames, a file without a map
//! is mostly code that was not minified). The frame is kept as sent: never a crash, never a
//! lost event.
//!
//! Cost on events of projects without maps: parsing a native stack, and one set lookup per
//! event, the projects that have maps at all being known in memory. Lookups by name are
//! cached (negatively too) until a map is uploaded or deleted, or for [`INDEX_TTL`] (uploads
//! through another processor); parsed maps are kept within `processor.sourcemap_cache_bytes`.

mod cache;
mod native;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::event::{Event, ProcessingError, StackFrame};
use sourcemap::SourceView;
use sqlx::PgPool;
use uuid::Uuid;

use crate::artifacts::{check_map, decode_map};
use crate::db::sourcemaps::{self, Candidate, Contents};
use cache::{MapCache, ParsedMap};

pub use native::{parse as parse_native, prepend_exceptions};

/// What processing did to an event, which decides how its JSON is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing: stored as it came (and enriched).
    Unchanged,
    /// A native error given the exception parsed from its stack, and nothing else: the JSON
    /// as it came takes `exceptions` in front ([`prepend_exceptions`]).
    Parsed,
    /// Frames resolved, or processing errors recorded: written out whole.
    Resolved,
}

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

/// What the frames of one event are resolved with.
struct EventContext {
    project: i64,
    release: String,
    /// File → the build's debug id (a Sentry event's `debug_meta`).
    debug_ids: HashMap<String, Uuid>,
}

/// One frame: resolved, or kept as sent and why.
enum FrameOutcome {
    Resolved(StackFrame),
    /// No map for its file: why, for the application's own frames that a map could place.
    Unmatched(Option<ProcessingError>),
    /// A map that could not place it: broken, or without a mapping at its position.
    Failed(ProcessingError),
}

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

    /// Resolves the frames of `events` that have maps, and says on each why the frames that
    /// could not be were not; marks in `outcomes` the events it changed. An event already
    /// marked [`Outcome::Resolved`] is not looked at again, so a batch can be retried. Fails
    /// only when the database does: the caller retries the batch.
    pub async fn resolve(
        &self,
        events: &mut [&mut Event],
        outcomes: &mut [Outcome],
    ) -> Result<(), sqlx::Error> {
        self.refresh().await?;
        let candidates: Vec<usize> = {
            let index = self.lock_index();
            events
                .iter()
                .zip(outcomes.iter())
                .enumerate()
                .filter(|(_, (event, outcome))| {
                    **outcome != Outcome::Resolved
                        && index.projects.contains(&i64::from(event.project_id.get()))
                        && has_unresolved_frames(event)
                })
                .map(|(at, _)| at)
                .collect()
        };
        for at in candidates {
            if self.resolve_event(events[at]).await? {
                outcomes[at] = Outcome::Resolved;
            }
        }
        Ok(())
    }

    /// Whether `event` changed: frames resolved, or errors recorded saying why not. The
    /// event is changed only once every lookup succeeded, so that a retry after a database
    /// error starts from the event as it came.
    async fn resolve_event(&self, event: &mut Event) -> Result<bool, sqlx::Error> {
        let context = EventContext {
            project: i64::from(event.project_id.get()),
            release: event.release.clone().unwrap_or_default(),
            debug_ids: debug_ids(event),
        };
        // A map that fails is always worth saying; a file without a map only when nothing of
        // the event was resolved: beside resolved frames, it is code that was not minified
        // (the page's own script) more often than a map not uploaded.
        let mut failures: Vec<ProcessingError> = Vec::new();
        let mut unmatched: Vec<ProcessingError> = Vec::new();
        let mut resolved: Vec<Option<Vec<StackFrame>>> = Vec::with_capacity(event.exceptions.len());
        for exception in &event.exceptions {
            if exception.frames.is_empty() || !exception.raw_frames.is_empty() {
                resolved.push(None);
                continue;
            }
            let mut frames = Vec::with_capacity(exception.frames.len());
            let mut any_resolved = false;
            for frame in &exception.frames {
                let why = match self.resolve_one(&context, frame).await? {
                    FrameOutcome::Resolved(frame) => {
                        any_resolved = true;
                        frames.push(frame);
                        continue;
                    }
                    FrameOutcome::Unmatched(why) => why.map(|why| (&mut unmatched, why)),
                    FrameOutcome::Failed(why) => Some((&mut failures, why)),
                };
                if let Some((list, error)) = why
                    && !list.contains(&error)
                {
                    list.push(error);
                }
                frames.push(frame.clone());
            }
            resolved.push(any_resolved.then_some(frames));
        }
        let any_resolved = resolved.iter().any(Option::is_some);
        let mut errors = failures;
        if !any_resolved {
            errors.append(&mut unmatched);
        }
        let changed = any_resolved || !errors.is_empty();
        for (exception, frames) in event.exceptions.iter_mut().zip(resolved) {
            if let Some(frames) = frames {
                exception.raw_frames = std::mem::replace(&mut exception.frames, frames);
            }
        }
        event.processing_errors.extend(errors);
        Ok(changed)
    }

    /// One frame resolved, or kept as sent and why.
    async fn resolve_one(
        &self,
        context: &EventContext,
        frame: &StackFrame,
    ) -> Result<FrameOutcome, sqlx::Error> {
        let path = frame.abs_path.as_deref().or(frame.filename.as_deref());
        // Nothing a map could place: built-ins (`at Array.map (<anonymous>)`), eval'd code.
        let (Some(path), Some(_), Some(_)) = (path, frame.lineno, frame.colno) else {
            return Ok(FrameOutcome::Unmatched(None));
        };
        // A dependency's or an extension's frame without a map is as expected: only the
        // application's own say why not.
        let explain = frame.in_app != Some(false);
        let debug_id = context.debug_ids.get(path).copied();
        if context.release.is_empty() && debug_id.is_none() {
            return Ok(FrameOutcome::Unmatched(explain.then(|| ProcessingError {
                kind: "sourcemap_no_release".into(),
                detail: format!(
                    "{path}: the event has no release and the file no debug id, so no map can be matched"
                ),
            })));
        }
        let wanted = Wanted {
            project: context.project,
            release: context.release.clone(),
            names: names(path),
            debug_id,
        };
        let Some(map) = self.map_for(&wanted).await? else {
            return Ok(FrameOutcome::Unmatched(
                explain.then(|| missing(path, &wanted)),
            ));
        };
        Ok(match resolve_frame(&map, frame) {
            Ok(frame) => FrameOutcome::Resolved(frame),
            Err(error) => FrameOutcome::Failed(error),
        })
    }

    /// The parsed map for a frame, from the cache or the database.
    async fn map_for(&self, wanted: &Wanted) -> Result<Option<Arc<ParsedMap>>, sqlx::Error> {
        let Some(id) = self.lookup(wanted).await? else {
            return Ok(None);
        };
        if let Some(map) = self.lock_maps().get(id) {
            return Ok(Some(map));
        }
        let Some(Contents {
            name,
            map,
            minified,
        }) = sourcemaps::contents(&self.pool, id).await?
        else {
            // Deleted since it was looked up.
            return Ok(None);
        };
        // Parsing a large map takes milliseconds of CPU: off the async workers.
        let parsed = tokio::task::spawn_blocking(move || parse(name, &map, minified))
            .await
            .map_err(|error| sqlx::Error::Protocol(format!("source map parser: {error}")))?;
        let parsed = Arc::new(parsed);
        self.lock_maps().insert(id, parsed.clone());
        Ok(Some(parsed))
    }

    /// The id of the map for a frame: by debug id first, then by release and URL, then by
    /// release and `~/path`. Maps uploaded without a release are found by debug id only:
    /// under one name there is one per build.
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
        let candidates = sourcemaps::candidates(
            &self.pool,
            wanted.project,
            &wanted.release,
            &wanted.names[..],
            wanted.debug_id,
        )
        .await?;
        // Best first: the debug id, the URL, the path.
        let mut best: Option<(usize, i64)> = None;
        for Candidate {
            id,
            release,
            name,
            debug_id,
        } in candidates
        {
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
        let projects = sourcemaps::projects(&self.pool).await?;
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

/// Whether an event has frames that were not resolved yet.
fn has_unresolved_frames(event: &Event) -> bool {
    event
        .exceptions
        .iter()
        .any(|e| !e.frames.is_empty() && e.raw_frames.is_empty())
}

/// Why no map was found for a frame's file, saying where it was looked for.
fn missing(path: &str, wanted: &Wanted) -> ProcessingError {
    let [url, tilde] = &wanted.names;
    let release = &wanted.release;
    let detail = match wanted.debug_id {
        Some(id) if release.is_empty() => {
            format!("{path}: no source map uploaded with debug id {id}")
        }
        Some(id) => format!(
            "{path}: no source map uploaded with debug id {id}, nor for release {release} as {url} or {tilde}"
        ),
        None => format!("{path}: no source map uploaded for release {release} as {url} or {tilde}"),
    };
    ProcessingError {
        kind: "sourcemap_missing".into(),
        detail,
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

/// Reads an uploaded map (an index map is flattened) and its minified file. The map is
/// checked as at upload first: one stored before uploads were checked may be broken, and
/// the check says where.
fn parse(name: String, map: &[u8], minified: Option<Vec<u8>>) -> ParsedMap {
    let bytes = map.len() + minified.as_ref().map_or(0, Vec::len);
    let map = check_map(map).and_then(|_| decode_map(map));
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
