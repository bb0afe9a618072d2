//! Grouping: which errors are "the same problem". One function, used by the processor (issues)
//! and the alerter (cooldown), versioned so a future change does not regroup history.
//!
//! Version 2, in order of preference:
//! 1. the SDK's own `fingerprint`, where `{{ default }}` stands for what follows;
//! 2. the stack's frames of the application's own code ([`frames`]: not the browser's
//!    built-ins, not a dependency's, not a monitoring SDK's wrappers; all located frames but
//!    the SDK's if none is the application's): those with a name, each as its module or
//!    lowercased file name (build hashes removed) and its function name after the last `.`,
//!    without line or column (they change with every deploy), recursion collapsed; if none
//!    has a name (anonymous callbacks, minified names), their file and source line where a
//!    source map gave the source;
//! 3. the exception type and message with the variable parts (numbers, hex, UUIDs, URLs,
//!    e-mail addresses) replaced by placeholders;
//! 4. the message template, likewise.
//!
//! A failed resource groups by element and URL, a failed API call by method, host, path
//! ([`endpoint`]) and status class, a white screen by its page: the route, else the URL's
//! path, ids collapsed as in an API path.
//!
//! Version 1 differed in: SDK wrapper frames, engine frames (`JSON.parse (<anonymous>)`) and
//! minified names counted as named in-app frames; anonymous frames never counted; an API
//! call's absolute URL was one placeholder, whatever the host and path. Where version 2 groups
//! by the same parts as version 1 did, [`Grouping::previous`] is the version 1 fingerprint, so
//! the issue continues.

mod endpoint;
mod frames;

use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::event::{Detail, Event, StackFrame};

/// Stored with every issue: grouping under another version never merges into it.
pub const GROUPING_VERSION: u32 = 2;

/// The version before: its issues are continued by groups made of the same parts.
pub const PREVIOUS_GROUPING_VERSION: u32 = 1;

/// One stack frame, as far as grouping cares: borrowed from the event, since every error is
/// grouped (twice: by the processor and by the alerter) and most of grouping's cost was
/// copying frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub function: Option<&'a str>,
    /// The module (when the SDK knows it) or the file URL or path.
    pub module: Option<&'a str>,
    pub filename: Option<&'a str>,
    /// As the SDK said, else by its path; [`frames`] overrules it for engine, dependency and
    /// SDK frames.
    pub in_app: bool,
    pub lineno: Option<u32>,
    /// The frame's source line, when a source map gave the source.
    pub context_line: Option<&'a str>,
}

impl<'a> Frame<'a> {
    /// A Sentry SDK's frame. Without the SDK's `in_app`, a frame is in-app unless it comes
    /// from `node_modules` or an extension, as for native stacks.
    pub fn from_sentry(frame: &'a StackFrame) -> Self {
        let filename = frame.abs_path.as_deref().or(frame.filename.as_deref());
        Frame {
            function: frame.function.as_deref(),
            module: frame.module.as_deref(),
            filename,
            in_app: frame
                .in_app
                .unwrap_or_else(|| filename.is_some_and(is_in_app_path)),
            lineno: frame.lineno,
            context_line: frame.context_line.as_deref(),
        }
    }
}

/// What grouping looks at. Built from a native event or a Sentry event.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    pub exception_type: Option<&'a str>,
    pub exception_value: Option<&'a str>,
    /// Outermost call first or last does not matter for the hash's stability, only that a
    /// source is consistent: frames here are as the stack lists them.
    pub frames: &'a [Frame<'a>],
    pub message: Option<&'a str>,
    pub fingerprint: Option<&'a [String]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// 32 hex characters.
    pub fingerprint: String,
    pub version: u32,
    /// `TypeError: x is undefined`, or the message.
    pub title: String,
    /// Where it happened: the innermost frame of the application's code, `function (file)`,
    /// or `file:line` for an anonymous function.
    pub culprit: Option<String>,
    /// What the fingerprint hashes, kept for [`Grouping::previous`]; empty when unknown.
    pub components: Vec<String>,
}

impl Grouping {
    /// The fingerprint of the same parts under the previous grouping version: an issue stored
    /// under it is this group's, from before the upgrade. Computed when asked for, not with
    /// the grouping: only an error whose issue is not found under this version needs it.
    pub fn previous(&self) -> Option<String> {
        (!self.components.is_empty()).then(|| hash(PREVIOUS_GROUPING_VERSION, &self.components))
    }
}

/// Groups one error.
pub fn group(input: &Input<'_>) -> Grouping {
    let default = default_components(input);
    let components: Vec<String> = match input.fingerprint {
        Some(custom) if !custom.is_empty() => custom
            .iter()
            .flat_map(|part| {
                if is_default_marker(part) {
                    default.clone()
                } else {
                    vec![format!("custom:{part}")]
                }
            })
            .collect(),
        _ => default,
    };
    Grouping {
        fingerprint: hash(GROUPING_VERSION, &components),
        version: GROUPING_VERSION,
        title: title(input),
        culprit: culprit(input.frames),
        components,
    }
}

/// 32 hex characters. Versions hash alike: the same parts give the same fingerprint but for
/// the version, which is what lets a version find its predecessor's issues.
fn hash(version: u32, components: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(version.to_be_bytes());
    for component in components {
        hasher.update(component.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..16])
}

fn is_default_marker(part: &str) -> bool {
    part.trim_start_matches('{').trim_end_matches('}').trim() == "default"
}

fn default_components(input: &Input<'_>) -> Vec<String> {
    let frames = grouping_frames(input.frames);
    if !frames.is_empty() {
        let mut components = vec![format!("type:{}", input.exception_type.unwrap_or(""))];
        components.extend(frames);
        return components;
    }
    if input.exception_type.is_some() || input.exception_value.is_some() {
        return vec![
            format!("type:{}", input.exception_type.unwrap_or("")),
            format!("value:{}", normalize(input.exception_value.unwrap_or(""))),
        ];
    }
    vec![format!(
        "message:{}",
        normalize(input.message.unwrap_or(""))
    )]
}

/// The frames that identify the problem: the named ones as `module|function`; if none has a
/// name, the anonymous ones whose source is known as `module|code:<source line>` (Sentry
/// groups such frames by their context line too); empty if neither.
fn grouping_frames(frames: &[Frame<'_>]) -> Vec<String> {
    let any_app = frames.iter().any(frames::is_app);
    let candidates = || {
        frames.iter().filter(move |f| {
            if any_app {
                frames::is_app(f)
            } else {
                frames::is_located(f)
            }
        })
    };
    let mut parts: Vec<String> = Vec::new();
    for frame in candidates() {
        let Some(function) = frame.function.and_then(frames::function_name) else {
            continue;
        };
        let mut part = String::with_capacity(64);
        if let Some(path) = frame.module.or(frame.filename) {
            push_file_key(&mut part, path);
        }
        part.push('|');
        part.push_str(function);
        // Recursion: the same frame many times over is one frame.
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    if !parts.is_empty() {
        return parts;
    }
    for frame in candidates() {
        let Some(line) = frames::context_line(frame) else {
            continue;
        };
        let mut part = String::with_capacity(64 + line.len());
        if let Some(path) = frame.module.or(frame.filename) {
            push_file_key(&mut part, path);
        }
        part.push_str("|code:");
        part.push_str(&line);
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    parts
}

/// A file's name without its directory, query, or build hash, lowercased: `app.3f2a1b9c.js`
/// and `app.77be01aa.js` are the same file in two deploys.
fn file_key(path: &str) -> String {
    let mut key = String::with_capacity(path.len().min(64));
    push_file_key(&mut key, path);
    key
}

/// [`file_key`], appended to `out`.
fn push_file_key(out: &mut String, path: &str) {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let start = out.len();
    let mut first = true;
    for part in base.split('.').filter(|part| !looks_like_hash(part)) {
        if !first {
            out.push('.');
        }
        first = false;
        out.push_str(part);
    }
    out[start..].make_ascii_lowercase();
}

fn looks_like_hash(part: &str) -> bool {
    part.len() >= 6
        && part.bytes().any(|b| b.is_ascii_digit())
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

static PLACEHOLDERS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\x22)>]+", "<url>"),
        (r"[\w.+-]+@[\w-]+\.[\w.-]+", "<email>"),
        (r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", "<uuid>"),
        (r"(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b", "<hex>"),
        (r"\d+(\.\d+)?", "<int>"),
    ]
    .into_iter()
    .filter_map(|(pattern, placeholder)| Regex::new(pattern).ok().map(|re| (re, placeholder)))
    .collect()
});

/// The message with its variable parts replaced, so `Order 12 failed` and `Order 13 failed`
/// are one problem.
pub fn normalize(message: &str) -> String {
    let mut text = message.trim().to_owned();
    for (pattern, placeholder) in PLACEHOLDERS.iter() {
        text = pattern.replace_all(&text, *placeholder).into_owned();
    }
    text
}

fn title(input: &Input<'_>) -> String {
    let text = match (input.exception_type, input.exception_value) {
        (Some(kind), Some(value)) if !value.is_empty() => format!("{kind}: {value}"),
        (Some(kind), _) => kind.to_owned(),
        (None, Some(value)) => value.to_owned(),
        (None, None) => input.message.unwrap_or("<unlabeled event>").to_owned(),
    };
    let first_line = text.lines().next().unwrap_or_default();
    first_line.chars().take(200).collect()
}

/// The innermost frame of the application's code (the last one in the list), as
/// `function (file)`, or `file:line` for an anonymous function (a handler, a callback).
fn culprit(frames: &[Frame<'_>]) -> Option<String> {
    let frame = frames.iter().rev().find(|f| frames::is_app(f))?;
    let file = frame.filename.or(frame.module).map(file_key);
    match (frame.function.and_then(frames::function_name), file) {
        (Some(function), Some(file)) => Some(format!("{function} ({file})")),
        (Some(function), None) => Some(function.to_owned()),
        (None, Some(file)) => Some(match frame.lineno {
            Some(line) => format!("{file}:{line}"),
            None => file,
        }),
        (None, None) => None,
    }
}

/// Groups a native error event; `None` for events that are not errors.
///
/// A JavaScript error groups by its stack, else its message. A resource that failed to load
/// is its own problem whatever page asked for it: it groups by element and URL (without the
/// query). A failed API call groups by method, host, path (ids normalized; a relative target
/// resolved against the page's URL) and status class. A white screen groups by its page
/// ([`Event::page`], ids normalized): one blank checkout is one problem, whatever the order
/// id in its address.
pub fn group_event(event: &Event) -> Option<Grouping> {
    let message = event.message.as_deref().unwrap_or_default();
    let fingerprint = Some(event.fingerprint.as_slice()).filter(|f| !f.is_empty());
    match &event.detail {
        // A Sentry error: the exception thrown last (the chain lists causes first). A synthetic
        // one (SDK 9+ attach one to `captureMessage`) is a message, not an exception.
        Detail::Error {} if event.exceptions.iter().any(|e| !e.is_synthetic()) => {
            let exception = event.exceptions.iter().rfind(|e| !e.is_synthetic())?;
            let frames: Vec<Frame> = exception.frames.iter().map(Frame::from_sentry).collect();
            Some(group(&Input {
                exception_type: exception.kind.as_deref(),
                exception_value: exception.value.as_deref(),
                frames: &frames,
                message: Some(message),
                fingerprint,
            }))
        }
        // A Sentry message at level error: its template (`Order %s failed`) when the SDK sent
        // one, so the parameters do not split it.
        Detail::Error {} if event.stack.is_none() && event.level.is_some() => {
            let template = event
                .sentry
                .get("logentry")
                .and_then(|entry| entry.get("message"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or(message);
            let mut grouping = group(&Input {
                message: Some(template),
                fingerprint,
                ..Input::default()
            });
            // Grouped by the template, titled by what happened.
            grouping.title = title(&Input {
                message: Some(message),
                ..Input::default()
            });
            Some(grouping)
        }
        Detail::Error {} => {
            let (kind, value) = native_type_and_value(message, event.stack.as_deref());
            let frames = event.stack.as_deref().map(parse_stack).unwrap_or_default();
            Some(group(&Input {
                exception_type: kind,
                exception_value: Some(value),
                frames: &frames,
                message: Some(message),
                fingerprint,
            }))
        }
        Detail::ResourceError {
            target, tag_name, ..
        } => {
            let fingerprint = [
                "resource_error".to_owned(),
                tag_name.clone().unwrap_or_default(),
                without_query(target).to_owned(),
            ];
            Some(group(&Input {
                message: Some(message),
                fingerprint: Some(&fingerprint),
                ..Input::default()
            }))
        }
        Detail::ApiError {
            target,
            method,
            status,
            ..
        } => {
            let (host, path) = endpoint::endpoint(target, event.url.as_deref());
            let fingerprint = [
                "api_error".to_owned(),
                method
                    .as_deref()
                    .map_or_else(|| "GET".to_owned(), str::to_ascii_uppercase),
                host,
                path,
                status.map_or_else(|| "no response".to_owned(), |s| format!("{}xx", s / 100)),
            ];
            Some(group(&Input {
                message: Some(message),
                fingerprint: Some(&fingerprint),
                ..Input::default()
            }))
        }
        Detail::WhiteScreen { .. } => {
            let page = event
                .page()
                .map_or_else(|| "/".to_owned(), endpoint::page_path);
            let fingerprint = ["white_screen".to_owned(), page];
            let mut grouping = group(&Input {
                message: Some(message),
                fingerprint: Some(&fingerprint),
                ..Input::default()
            });
            // Titled by the group, not by whichever address of it came first; bounded as
            // every title is.
            grouping.title = title(&Input {
                message: Some(&format!("White screen on {}", fingerprint[1])),
                ..Input::default()
            });
            Some(grouping)
        }
        _ => None,
    }
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Frames from a browser's `error.stack` string: V8 (`at fn (url:1:2)`), Firefox and
/// Safari (`fn@url:1:2`). Returned innermost last, the order Sentry SDKs use, so both
/// sources group alike.
pub fn parse_stack(stack: &str) -> Vec<Frame<'_>> {
    let mut frames: Vec<Frame<'_>> = stack
        .lines()
        .filter_map(parse_location)
        .map(|location| Frame {
            function: location.function,
            module: None,
            filename: Some(location.filename),
            in_app: is_in_app_path(location.filename),
            lineno: location.lineno,
            context_line: None,
        })
        .collect();
    // Browsers print the innermost call first.
    frames.reverse();
    frames
}

/// The frames of a browser's `error.stack` string with their positions, in the shape of a
/// Sentry SDK's frames (innermost last), so source maps resolve both alike.
pub fn stack_frames(stack: &str) -> Vec<StackFrame> {
    let mut frames: Vec<StackFrame> = stack.lines().filter_map(parse_line).collect();
    // Browsers print the innermost call first.
    frames.reverse();
    frames
}

fn parse_line(line: &str) -> Option<StackFrame> {
    let location = parse_location(line)?;
    Some(StackFrame {
        function: location.function.map(str::to_owned),
        abs_path: Some(location.filename.to_owned()),
        lineno: location.lineno,
        colno: location.colno,
        in_app: Some(is_in_app_path(location.filename)),
        ..StackFrame::default()
    })
}

/// One line of a browser's `error.stack`, borrowed from it.
struct Location<'a> {
    function: Option<&'a str>,
    filename: &'a str,
    lineno: Option<u32>,
    colno: Option<u32>,
}

fn parse_location(line: &str) -> Option<Location<'_>> {
    let line = line.trim();
    let (function, location) = if let Some(rest) = line.strip_prefix("at ") {
        // V8: `at fn (location)` or `at location`.
        match rest.rsplit_once(" (") {
            Some((function, location)) => (
                Some(function),
                location.strip_suffix(')').unwrap_or(location),
            ),
            None => (None, rest),
        }
    } else if let Some((function, location)) = line.split_once('@') {
        // Firefox and Safari: `fn@location`, `@location` for anonymous code.
        (Some(function).filter(|f| !f.is_empty()), location)
    } else {
        return None;
    };
    let (filename, lineno, colno) = split_position(location);
    Some(Location {
        function,
        filename,
        lineno,
        colno,
    })
}

/// Whether code at this URL or path is the application's own: not a dependency, not a
/// browser extension, not a built-in (`at async Promise.all (index 0)` and `[native code]`
/// have no URL or path).
fn is_in_app_path(filename: &str) -> bool {
    filename.contains('/')
        && !frames::is_dependency_path(filename)
        && !filename.starts_with("<anonymous>")
}

/// `https://x/app.js:10:5` → (`https://x/app.js`, 10, 5).
fn split_position(location: &str) -> (&str, Option<u32>, Option<u32>) {
    let numeric = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match location.rsplit_once(':') {
        Some((head, last)) if numeric(last) => match head.rsplit_once(':') {
            Some((file, line)) if numeric(line) => (file, line.parse().ok(), last.parse().ok()),
            _ => (head, last.parse().ok(), None),
        },
        _ => (location, None, None),
    }
}

/// The exception type and value of a native error: from its message (`TypeError: x`), else
/// its type from the stack's first line, since a page's `error.message` has no type and V8's
/// `error.stack` starts with `TypeError: …`.
pub fn native_type_and_value<'a>(
    message: &'a str,
    stack: Option<&'a str>,
) -> (Option<&'a str>, &'a str) {
    match split_error_message(message) {
        (None, value) => {
            let first_line = stack.and_then(|s| s.lines().next()).unwrap_or_default();
            (split_error_message(first_line).0, value)
        }
        typed => typed,
    }
}

/// The exception type and value of a native error message: `TypeError: x` → (`TypeError`, `x`).
pub fn split_error_message(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((kind, value))
            if !kind.is_empty()
                && kind.len() <= 64
                && kind
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') =>
        {
            (Some(kind), value)
        }
        _ => (None, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "TypeError: Cannot read properties of undefined (reading 'total')
    at Object.checkout (https://shop.example/static/app.3f2a1b9c.js:10:5)
    at https://shop.example/static/app.3f2a1b9c.js:20:1
    at render (https://shop.example/node_modules/react-dom/index.js:1:2)
    at async Promise.all (index 0)";

    const FIREFOX: &str = "checkout@https://shop.example/static/app.77be01aa.js:11:7
@https://shop.example/static/app.77be01aa.js:21:3
render@https://shop.example/node_modules/react-dom/index.js:1:2";

    fn native(message: &str, stack: &str) -> Grouping {
        let (kind, value) = split_error_message(message);
        let frames = parse_stack(stack);
        group(&Input {
            exception_type: kind,
            exception_value: Some(value),
            frames: &frames,
            message: Some(message),
            fingerprint: None,
        })
    }

    #[test]
    fn stacks_parse_in_every_browser_format() {
        let chrome = parse_stack(CHROME);
        assert_eq!(chrome.len(), 4);
        assert!(!chrome[0].in_app, "a built-in is not in-app");
        let innermost = chrome.last().expect("frames");
        assert_eq!(innermost.function, Some("Object.checkout"));
        assert_eq!(
            innermost.filename,
            Some("https://shop.example/static/app.3f2a1b9c.js")
        );
        assert!(innermost.in_app);
        assert!(!chrome[1].in_app, "node_modules is not in-app");

        let firefox = parse_stack(FIREFOX);
        assert_eq!(firefox.len(), 3);
        assert_eq!(firefox[2].function, Some("checkout"));
        assert_eq!(firefox[1].function, None);
    }

    #[test]
    fn the_same_error_groups_alike_across_browsers_deploys_and_lines() {
        let chrome = native(
            "TypeError: Cannot read properties of undefined (reading 'total')",
            CHROME,
        );
        let firefox = native(
            "TypeError: can't access property \"total\", cart is undefined",
            FIREFOX,
        );
        assert_eq!(
            chrome.fingerprint, firefox.fingerprint,
            "stack-based: messages differ per browser"
        );
        assert_eq!(chrome.fingerprint.len(), 32);
        assert_eq!(
            chrome.title,
            "TypeError: Cannot read properties of undefined (reading 'total')"
        );
        assert_eq!(chrome.culprit.as_deref(), Some("checkout (app.js)"));
        let elsewhere = native(
            "TypeError: x",
            "at pay (https://shop.example/static/pay.js:3:1)",
        );
        assert_ne!(chrome.fingerprint, elsewhere.fingerprint);
    }

    #[test]
    fn recursion_collapses_and_anonymous_frames_are_skipped() {
        let once = native(
            "RangeError: too deep",
            "at walk (https://x/a.js:1:1)\nat main (https://x/a.js:9:1)",
        );
        let deep = native(
            "RangeError: too deep",
            "at walk (https://x/a.js:1:1)\nat walk (https://x/a.js:1:1)\nat walk (https://x/a.js:1:1)\nat https://x/a.js:5:5\nat main (https://x/a.js:9:1)",
        );
        assert_eq!(once.fingerprint, deep.fingerprint);
    }

    #[test]
    fn without_a_stack_the_normalized_message_groups() {
        let a = native(
            "Error: order 1234 failed for bob@shop.example at https://shop.example/o/1234",
            "",
        );
        let b = native(
            "Error: order 98 failed for ann@shop.example at https://shop.example/o/98",
            "",
        );
        let c = native("Error: payment declined", "");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(
            normalize("user 6f1c0a6e-0b8e-4f6e-9a61-3c2b1a0f9e8d hit 0xdeadbeef after 3.5s"),
            "user <uuid> hit <hex> after <int>s"
        );
    }

    #[test]
    fn the_sdk_fingerprint_overrides_or_extends_the_default() {
        let frames = parse_stack(CHROME);
        let base = Input {
            exception_type: Some("TypeError"),
            exception_value: Some("x"),
            frames: &frames,
            message: None,
            fingerprint: None,
        };
        let default = group(&base);
        let custom = ["checkout-flow".to_owned()];
        let overridden = group(&Input {
            fingerprint: Some(&custom),
            ..base.clone()
        });
        let extended_parts = ["{{ default }}".to_owned(), "tenant-7".to_owned()];
        let extended = group(&Input {
            fingerprint: Some(&extended_parts),
            ..base.clone()
        });
        let just_default = ["{{default}}".to_owned()];
        let same = group(&Input {
            fingerprint: Some(&just_default),
            ..base.clone()
        });
        assert_ne!(overridden.fingerprint, default.fingerprint);
        assert_ne!(extended.fingerprint, default.fingerprint);
        assert_ne!(extended.fingerprint, overridden.fingerprint);
        assert_eq!(same.fingerprint, default.fingerprint);
    }

    #[test]
    fn white_screens_group_by_page_with_ids_collapsed() {
        let blank = |url: &str, route: Option<&str>| {
            let mut event = sample(
                Detail::WhiteScreen {
                    empty_ratio: 1.0,
                    points: Some(18),
                },
                "whatever the page said",
                None,
            );
            event.url = Some(url.to_owned());
            event.route = route.map(str::to_owned);
            group_event(&event).expect("grouped")
        };
        let order_12 = blank("https://shop.example/orders/12?x=1", None);
        let order_13 = blank("https://shop.example/orders/13#top", None);
        assert_eq!(order_12.fingerprint, order_13.fingerprint);
        assert_eq!(order_12.title, "White screen on /orders/<int>");
        let checkout = blank("https://shop.example/#/checkout", Some("/checkout"));
        assert_eq!(checkout.title, "White screen on /checkout");
        assert_ne!(checkout.fingerprint, order_12.fingerprint);
        // The same page, named by its route or by its address.
        assert_eq!(
            blank("https://shop.example/checkout", None).fingerprint,
            checkout.fingerprint
        );
        // Not a JavaScript error of the same text.
        let error = group_event(&sample(Detail::Error {}, "White screen on /checkout", None));
        assert_ne!(error.map(|g| g.fingerprint), Some(checkout.fingerprint));
    }

    fn sample(detail: Detail, message: &str, stack: Option<&str>) -> Event {
        let json = serde_json::json!({
            "event_id": "6f1c0a6e0b8e4f6e9a613c2b1a0f9e8d",
            "project_id": 1,
            "timestamp": 1_750_000_000_000_i64,
            "received_at": 1_750_000_000_000_i64,
            "type": "error",
        });
        let mut event: Event = serde_json::from_value(json).expect("event");
        event.detail = detail;
        event.message = Some(message.to_owned());
        event.stack = stack.map(str::to_owned);
        event
    }

    #[test]
    fn native_events_group_by_kind() {
        let a = sample(Detail::Error {}, "TypeError: x", Some(CHROME));
        let b = sample(Detail::Error {}, "TypeError: y", Some(CHROME));
        assert_eq!(
            group_event(&a).map(|g| g.fingerprint),
            group_event(&b).map(|g| g.fingerprint)
        );

        let script = |target: &str| Detail::ResourceError {
            target: target.into(),
            tag_name: Some("script".into()),
            selector: None,
        };
        let first =
            group_event(&sample(script("https://cdn/x.js?v=1"), "m", None)).expect("grouped");
        let again =
            group_event(&sample(script("https://cdn/x.js?v=2"), "m", None)).expect("grouped");
        let other = group_event(&sample(script("https://cdn/y.js"), "m", None)).expect("grouped");
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_ne!(first.fingerprint, other.fingerprint);

        let api = |target: &str, status| Detail::ApiError {
            target: target.into(),
            method: Some("POST".into()),
            status,
            duration_ms: None,
        };
        let order_12 =
            group_event(&sample(api("/api/orders/12", Some(502)), "m", None)).expect("grouped");
        let order_13 =
            group_event(&sample(api("/api/orders/13", Some(503)), "m", None)).expect("grouped");
        let offline =
            group_event(&sample(api("/api/orders/13", None), "m", None)).expect("grouped");
        assert_eq!(order_12.fingerprint, order_13.fingerprint);
        assert_ne!(order_12.fingerprint, offline.fingerprint);

        let vital = Detail::Vital {
            name: crate::event::VitalName::Lcp,
            value: 1.0,
            rating: crate::event::Rating::Good,
            navigation_type: None,
            attribution: None,
        };
        assert_eq!(group_event(&sample(vital, "m", None)), None);
    }

    /// The frames a Sentry SDK sends for [`CHROME`]'s stack: outermost first.
    fn sentry_frames() -> Vec<crate::event::StackFrame> {
        let frame = |function: Option<&str>, file: &str, in_app| crate::event::StackFrame {
            function: function.map(str::to_owned),
            filename: Some(file.to_owned()),
            abs_path: Some(file.to_owned()),
            lineno: Some(10),
            colno: Some(5),
            in_app: Some(in_app),
            ..Default::default()
        };
        vec![
            frame(
                Some("render"),
                "https://shop.example/node_modules/react-dom/index.js",
                false,
            ),
            frame(None, "https://shop.example/static/app.3f2a1b9c.js", true),
            frame(
                Some("Object.checkout"),
                "https://shop.example/static/app.3f2a1b9c.js",
                true,
            ),
        ]
    }

    fn sentry_error(value: &str, frames: Vec<crate::event::StackFrame>) -> Event {
        let mut event = sample(Detail::Error {}, &format!("TypeError: {value}"), None);
        event.level = Some(crate::event::Level::Error);
        event.exceptions = vec![crate::event::Exception {
            kind: Some("TypeError".into()),
            value: Some(value.into()),
            frames,
            ..Default::default()
        }];
        event
    }

    /// Issues are keyed on fingerprints already stored: within a grouping version, the same
    /// input must hash to the same fingerprint in every release of frontmon. These were
    /// computed by version 2 as first released; a change here is a new grouping version.
    /// Version 1 grouped these inputs by the same parts, so `previous` must be what version 1
    /// computed, as first released: that is how their issues carry on after an upgrade.
    #[test]
    fn fingerprints_are_stable_within_the_grouping_version() {
        let fingerprint = |event: &Event| {
            let grouping = group_event(event).expect("grouped");
            let previous = grouping.previous().unwrap_or_default();
            (grouping.fingerprint, previous)
        };
        let message = "TypeError: Cannot read properties of undefined (reading 'total')";
        let recursive = "RangeError: Maximum call stack size exceeded
    at Walk.Visit (https://x.example/Assets/Tree.Min.9f8e7d6c.JS?v=3:1:10)
    at Walk.Visit (https://x.example/Assets/Tree.Min.9f8e7d6c.JS?v=3:1:10)
    at new Walker (C:\\app\\walker..js:2:3)
    at async run (webpack:///./src/run.ts:4:5)
    at <anonymous>:1:1";
        let actual = [
            fingerprint(&sample(Detail::Error {}, message, Some(CHROME))),
            fingerprint(&sample(Detail::Error {}, "checkout failed", Some(FIREFOX))),
            fingerprint(&sample(Detail::Error {}, "too deep", Some(recursive))),
            fingerprint(&sentry_error("x", sentry_frames())),
            fingerprint(&sample(
                Detail::Error {},
                "Order 12 failed for a@b.example",
                None,
            )),
        ];
        let (current, previous): (Vec<String>, Vec<String>) = actual.into_iter().unzip();
        assert_eq!(
            current,
            [
                "95dc37afd391aea3daae384b2c00f482",
                "fbed684a0903c00fbeba8272b23ed3b3",
                "f6cb0052c68e92e32d3187d4f48b3500",
                // The Sentry SDK's frames of the first case's stack: the same issue.
                "95dc37afd391aea3daae384b2c00f482",
                "2a4815b7a0f69e7d69a4f95353b856f3",
            ]
        );
        assert_eq!(
            previous,
            [
                "001b555669b080477018dfd79c94ada2",
                "9dd56d6d9a9584476a99f51923d45557",
                "ae0375668e0640e23538ca97b517680d",
                "001b555669b080477018dfd79c94ada2",
                "bffe79f6f8502ccba2ff8ca50808dc26",
            ]
        );
        assert_eq!(
            file_key("https://x.example/Assets/Tree.Min.9f8e7d6c.JS?v=3"),
            "tree.min.js"
        );
        assert_eq!(file_key("C:\\app\\Walker..js#top"), "walker..js");
        assert_eq!(file_key(".hidden.a1b2c3d4"), ".hidden");
        assert_eq!(
            split_position("https://x/app.js:10:5"),
            ("https://x/app.js", Some(10), Some(5))
        );
        assert_eq!(
            split_position("https://x/app.js:10"),
            ("https://x/app.js", Some(10), None)
        );
        assert_eq!(split_position("<anonymous>"), ("<anonymous>", None, None));
    }

    #[test]
    fn sentry_and_native_errors_with_the_same_stack_are_one_issue() {
        let native = group_event(&sample(
            Detail::Error {},
            "TypeError: Cannot read properties of undefined (reading 'total')",
            Some(CHROME),
        ))
        .expect("grouped");
        let sentry = group_event(&sentry_error(
            "Cannot read properties of undefined (reading 'total')",
            sentry_frames(),
        ))
        .expect("grouped");
        assert_eq!(native.fingerprint, sentry.fingerprint);
        assert_eq!(sentry.culprit.as_deref(), Some("checkout (app.js)"));
        assert_eq!(
            sentry.title,
            "TypeError: Cannot read properties of undefined (reading 'total')"
        );

        // Another message from the same place is the same problem; another place is not.
        let other_value =
            group_event(&sentry_error("x is undefined", sentry_frames())).expect("grouped");
        assert_eq!(other_value.fingerprint, sentry.fingerprint);
        let mut moved = sentry_frames();
        moved[2].function = Some("pay".into());
        let other_place = group_event(&sentry_error("x", moved)).expect("grouped");
        assert_ne!(other_place.fingerprint, sentry.fingerprint);

        // Without a stack: the type and the normalized value.
        let order = |n: u32| {
            group_event(&sentry_error(&format!("order {n} failed"), Vec::new()))
                .expect("grouped")
                .fingerprint
        };
        assert_eq!(order(12), order(13));
        assert_ne!(order(12), other_value.fingerprint);
    }

    #[test]
    fn the_sdk_s_fingerprint_and_message_templates() {
        let mut custom = sentry_error("x", sentry_frames());
        custom.fingerprint = vec!["payments".into()];
        let mut also_custom = sentry_error("y", Vec::new());
        also_custom.fingerprint = vec!["payments".into()];
        assert_eq!(
            group_event(&custom),
            group_event(&also_custom).map(|g| Grouping {
                title: "TypeError: x".into(),
                culprit: Some("checkout (app.js)".into()),
                ..g
            })
        );

        let message = |formatted: &str| {
            let mut event = sample(Detail::Error {}, formatted, None);
            event.level = Some(crate::event::Level::Error);
            event.sentry.insert(
                "logentry".into(),
                serde_json::json!({"message": "quota %s exceeded for %s", "formatted": formatted}),
            );
            group_event(&event).expect("grouped")
        };
        let a = message("quota 7 exceeded for ann");
        let b = message("quota 9 exceeded for bob");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.title, "quota 7 exceeded for ann");
    }

    #[test]
    fn error_messages_split_into_type_and_value() {
        assert_eq!(
            split_error_message("TypeError: x is undefined"),
            (Some("TypeError"), "x is undefined")
        );
        assert_eq!(
            split_error_message("Script error."),
            (None, "Script error.")
        );
        assert_eq!(
            split_error_message("Failed to load: https://x"),
            (None, "Failed to load: https://x")
        );
    }

    /// A Sentry error of `kind: value` with frames as the SDK sent them (JSON, outermost first).
    fn recorded(kind: &str, value: &str, frames: serde_json::Value) -> Event {
        let mut event = sentry_error(value, serde_json::from_value(frames).expect("frames"));
        event.exceptions[0].kind = Some(kind.into());
        event
    }

    fn grouped(event: &Event) -> Grouping {
        group_event(event).expect("grouped")
    }

    /// `@sentry/browser` bundled and minified into the page's own script (esbuild, as a site's
    /// build does): the SDK cannot recognise its `sentryWrapped`, now named `r`, and leaves it
    /// as the outermost frame, in-app and named. Recorded in Chromium from SDK 8.55.2 and
    /// 11.12.0: an error thrown in a `setTimeout` arrow function, and a
    /// `Promise.reject(new Error(…))` in a click listener; the 11.12.0 build's file renamed as
    /// another deploy's (hashed) file would be.
    fn bundled_sdk_errors() -> [(Event, Event); 2] {
        let app = "http://127.0.0.1:45513/app.js";
        let sdk_8 = (
            recorded(
                "Error",
                "boom uncaught",
                serde_json::json!([
                    {"filename": app, "function": "r", "in_app": true, "lineno": 16, "colno": 5854},
                    {"filename": app, "function": "?", "in_app": true, "lineno": 16, "colno": 24327},
                ]),
            ),
            recorded(
                "Error",
                "boom rejection",
                serde_json::json!([
                    {"filename": app, "function": "HTMLButtonElement.r", "in_app": true, "lineno": 16, "colno": 5854},
                    {"filename": app, "function": "HTMLButtonElement.<anonymous>", "in_app": true, "lineno": 16, "colno": 24434},
                ]),
            ),
        );
        let app = "http://127.0.0.1:32933/static/app.9c1e77f2.js";
        let sdk_11 = (
            recorded(
                "Error",
                "boom uncaught",
                serde_json::json!([
                    {"filename": app, "function": "r", "in_app": true, "lineno": 18, "colno": 18182},
                    {"filename": app, "function": "?", "in_app": true, "lineno": 18, "colno": 34915},
                ]),
            ),
            recorded(
                "Error",
                "boom rejection",
                serde_json::json!([
                    {"filename": app, "function": "HTMLButtonElement.r", "in_app": true, "lineno": 18, "colno": 18182},
                    {"filename": app, "function": "HTMLButtonElement.<anonymous>", "in_app": true, "lineno": 18, "colno": 35022},
                ]),
            ),
        );
        [sdk_8, sdk_11]
    }

    #[test]
    fn a_bundled_sdk_s_wrapper_does_not_make_errors_one_issue() {
        let [(uncaught_8, rejection_8), (uncaught_11, rejection_11)] = bundled_sdk_errors();
        assert_ne!(
            grouped(&uncaught_8).fingerprint,
            grouped(&rejection_8).fingerprint,
            "two errors from two places"
        );
        assert_ne!(
            grouped(&uncaught_11).fingerprint,
            grouped(&rejection_11).fingerprint
        );
        // The same error from the same place, in another build (other lines, columns, file
        // hash and minified names): the same issue.
        assert_eq!(
            grouped(&uncaught_8).fingerprint,
            grouped(&uncaught_11).fingerprint
        );
        assert_eq!(
            grouped(&rejection_8).fingerprint,
            grouped(&rejection_11).fingerprint
        );
        // Where: the anonymous callback, not the wrapper.
        assert_eq!(grouped(&uncaught_8).culprit.as_deref(), Some("app.js:16"));
        assert_eq!(grouped(&rejection_11).culprit.as_deref(), Some("app.js:18"));
    }

    #[test]
    fn sdk_frames_never_identify_an_error() {
        let app = "https://shop.example/static/app.js";
        let frame = |function: &str, file: &str| serde_json::json!({"filename": file, "function": function, "in_app": true, "lineno": 3});
        let alone = grouped(&recorded(
            "TypeError",
            "x is undefined",
            serde_json::json!([frame("pay", app)]),
        ));
        // Sentry's wrapper by name, wherever it is (the SDK drops it only when outermost);
        // Sentry's packages, as a source map or a dev server shows them; its CDN bundle; and
        // frontmon's own SDK's reserved names and package.
        for (function, file) in [
            ("HTMLButtonElement.sentryWrapped", app),
            (
                "wrap",
                "webpack://shop/node_modules/@sentry/browser/build/npm/esm/helpers.js",
            ),
            (
                "wrap",
                "../node_modules/@sentry-internal/browser-utils/build/esm/index.js",
            ),
            (
                "n",
                "https://shop.example/node_modules/.vite/deps/@sentry_browser.js?v=3f2a",
            ),
            (
                "captureError",
                "https://browser.sentry-cdn.com/8.55.0/bundle.min.js",
            ),
            ("__frontmonWrapped", app),
            ("Object.__frontmonListener", app),
            (
                "wrap",
                "webpack://shop/node_modules/@frontmon/browser/dist/index.js",
            ),
        ] {
            let wrapped = grouped(&recorded(
                "TypeError",
                "x is undefined",
                serde_json::json!([frame("main", app), frame(function, file), frame("pay", app)]),
            ));
            let main_then_pay = grouped(&recorded(
                "TypeError",
                "x is undefined",
                serde_json::json!([frame("main", app), frame("pay", app)]),
            ));
            assert_eq!(
                wrapped.fingerprint, main_then_pay.fingerprint,
                "{function} {file}"
            );
            assert_ne!(wrapped.fingerprint, alone.fingerprint);
            // Innermost: an SDK frame is never the culprit.
            let thrown_in_sdk = grouped(&recorded(
                "TypeError",
                "x is undefined",
                serde_json::json!([frame("pay", app), frame(function, file)]),
            ));
            assert_eq!(
                thrown_in_sdk.fingerprint, alone.fingerprint,
                "{function} {file}"
            );
            assert_eq!(thrown_in_sdk.culprit.as_deref(), Some("pay (app.js)"));
        }
    }

    #[test]
    fn engine_frames_are_never_in_app_and_anonymous_handlers_are_culprits() {
        // `JSON.parse('{oops')` in an anonymous click listener, as SDK 8 sent it (in-app!).
        let app = "http://127.0.0.1:36591/app.js";
        let parse = recorded(
            "SyntaxError",
            "Expected property name or '}' in JSON at position 1 (line 1 column 2)",
            serde_json::json!([
                {"filename": app, "function": "HTMLButtonElement.<anonymous>", "in_app": true, "lineno": 85, "colno": 10},
                {"filename": "<anonymous>", "function": "JSON.parse", "in_app": true},
            ]),
        );
        let parse = grouped(&parse);
        assert_eq!(parse.culprit.as_deref(), Some("app.js:85"));
        // The same from a native stack, and from a handler that throws itself.
        let native = grouped(&sample(
            Detail::Error {},
            "SyntaxError: Unexpected token o in JSON at position 1",
            Some(
                "SyntaxError: Unexpected token o in JSON at position 1\n    at JSON.parse (<anonymous>)\n    at HTMLButtonElement.<anonymous> (https://shop.example/app.js:85:10)",
            ),
        ));
        assert_eq!(native.culprit.as_deref(), Some("app.js:85"));
        let thrown = grouped(&recorded(
            "Error",
            "anon handler",
            serde_json::json!([
                {"filename": app, "function": "HTMLButtonElement.<anonymous>", "in_app": true, "lineno": 90, "colno": 11},
            ]),
        ));
        assert_eq!(thrown.culprit.as_deref(), Some("app.js:90"));
        // Another parse error from another place, in a named function: another issue, not
        // one of every `JSON.parse` failure.
        let elsewhere = grouped(&recorded(
            "SyntaxError",
            "Unexpected end of JSON input",
            serde_json::json!([
                {"filename": app, "function": "loadCart", "in_app": true, "lineno": 12, "colno": 3},
                {"filename": "<anonymous>", "function": "JSON.parse", "in_app": true},
            ]),
        ));
        assert_eq!(elsewhere.culprit.as_deref(), Some("loadCart (app.js)"));
        assert_ne!(elsewhere.fingerprint, parse.fingerprint);
        for built_in in ["[native code]", "native", "index 0"] {
            let frames = serde_json::json!([
                {"filename": app, "function": "loadCart", "in_app": true, "lineno": 12},
                {"filename": built_in, "function": "Array.forEach", "in_app": true},
            ]);
            let grouping = grouped(&recorded("TypeError", "x", frames));
            assert_eq!(
                grouping.culprit.as_deref(),
                Some("loadCart (app.js)"),
                "{built_in}"
            );
        }
    }

    #[test]
    fn anonymous_frames_group_by_their_source_when_a_map_gave_it() {
        let mapped = |line: u32, code: &str| {
            let mut event = recorded(
                "TypeError",
                "Cannot read properties of undefined (reading 'percent')",
                serde_json::json!([
                    {"abs_path": "../src/cart.js", "function": "?", "in_app": true, "lineno": line, "context_line": code},
                ]),
            );
            event.exceptions[0].frames[0].filename = None;
            grouped(&event).fingerprint
        };
        let discount = mapped(19, "    const rate = coupon.percent / 100;");
        // The same line of code elsewhere in the file after an edit, indented otherwise.
        assert_eq!(
            discount,
            mapped(24, "  const rate  = coupon.percent / 100;")
        );
        // Another line of code, with the same message: another place, another issue.
        assert_ne!(discount, mapped(19, "return coupon.percent;"));
    }

    #[test]
    fn api_errors_group_by_method_host_path_and_status_class() {
        let api = |method: &str, target: &str, status: u16| {
            let mut event = sample(
                Detail::ApiError {
                    target: target.into(),
                    method: Some(method.into()),
                    status: Some(status),
                    duration_ms: None,
                },
                &format!("{method} {target} {status}"),
                None,
            );
            event.url = Some("https://shop.example/checkout".into());
            grouped(&event).fingerprint
        };
        let reproduced = [
            api("GET", "https://api.other.example/v2/search", 500),
            api("GET", "https://shop.example/api/cart", 504),
            api("GET", "/api/cart", 500),
            api("GET", "/v2/search", 500),
        ];
        assert_ne!(reproduced[0], reproduced[1]);
        assert_ne!(reproduced[0], reproduced[3], "another host");
        assert_ne!(reproduced[1], reproduced[3], "another path");
        assert_eq!(
            reproduced[1], reproduced[2],
            "relative and absolute on the page's own origin, both 5xx"
        );
        assert_ne!(
            api("POST", "https://shop.example/api/pay", 502),
            api("POST", "https://shop.example/api/orders", 502)
        );
        assert_eq!(
            api("POST", "https://shop.example/api/orders/12", 502),
            api("post", "/api/orders/13?retry=1", 503)
        );
    }
}
