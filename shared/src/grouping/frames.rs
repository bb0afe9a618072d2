//! Which stack frames say where an error happened: the application's own code, not the
//! browser's (engine and built-in frames), not a dependency's, not a monitoring SDK's.
//!
//! A browser SDK marks nearly every frame in-app (the Sentry SDK marks all of them, even
//! `JSON.parse (<anonymous>)`), so these rules overrule what the SDK said, as Sentry's own
//! server does with its grouping enhancements (`path:**/node_modules/** -app`, low-quality
//! `<anonymous>` and `[native code]` frames ignored).

use super::Frame;

/// A frame of the application's own code: in-app as sent (or by its path), and not the
/// engine's, a dependency's or a monitoring SDK's.
pub(super) fn is_app(frame: &Frame<'_>) -> bool {
    frame.in_app
        && !is_engine(frame)
        && !is_sdk(frame)
        && !frame.filename.is_some_and(is_dependency_path)
}

/// A frame that may group when no frame is the application's: anything with a location,
/// except a monitoring SDK's own frames.
pub(super) fn is_located(frame: &Frame<'_>) -> bool {
    !is_engine(frame) && !is_sdk(frame)
}

/// The browser's own code: built-ins (`JSON.parse (<anonymous>)`, `Array.forEach (native)`,
/// Safari's `[native code]`, `Promise.all (index 0)`), `eval`, and frames without a file.
/// They are the same wherever the error comes from, so they never identify it.
fn is_engine(frame: &Frame<'_>) -> bool {
    if frame
        .function
        .is_some_and(|f| f.trim() == "eval" || f.trim_start().starts_with("eval "))
    {
        return true;
    }
    if frame.module.is_some_and(|m| !m.is_empty()) {
        return false;
    }
    let Some(file) = frame.filename.map(str::trim) else {
        return true;
    };
    file.is_empty()
        || file.starts_with('<')
        || matches!(
            file,
            "?" | "native" | "[native code]" | "native code" | "eval code" | "eval"
        )
        || file
            .strip_prefix("index ")
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// A monitoring SDK's own frame: Sentry's (its `sentryWrapped` around timer callbacks and
/// event listeners, its packages when a source map or an unbundled dev server shows them,
/// its CDN bundles), and frontmon's own SDK's: function names starting `__frontmon`, files of
/// `@frontmon/*` packages.
fn is_sdk(frame: &Frame<'_>) -> bool {
    if let Some(function) = frame.function {
        // The Sentry SDK recognises its wrapper the same way (`/sentryWrapped/`), and drops it
        // only when it is the outermost frame.
        let last = function.rsplit('.').next().unwrap_or(function).trim();
        if function.contains("sentryWrapped") || last.starts_with("__frontmon") {
            return true;
        }
    }
    if frame.module.is_some_and(|m| {
        ["@sentry/", "@sentry-internal/", "@frontmon/"]
            .iter()
            .any(|p| m.starts_with(p))
    }) {
        return true;
    }
    frame.filename.is_some_and(|path| {
        path.split(['/', '\\']).any(|segment| {
            matches!(segment, "@sentry" | "@sentry-internal" | "@frontmon")
                // Vite's pre-bundled dependencies: `node_modules/.vite/deps/@sentry_browser.js`.
                || segment.starts_with("@sentry_")
                || segment.ends_with(".sentry-cdn.com")
        })
    })
}

/// Code the application ships but did not write: packages and browser extensions.
pub(super) fn is_dependency_path(path: &str) -> bool {
    path.contains("/node_modules/")
        || path.starts_with("node_modules/")
        || path.starts_with("chrome-extension://")
        || path.starts_with("moz-extension://")
        || path.starts_with("safari-extension://")
        || path.starts_with("safari-web-extension://")
}

/// The name that identifies a function: `Object.checkout` → `checkout`. None for anonymous
/// functions (`<anonymous>`, `?`, Firefox's `outer/<`), and for names a minifier made (one or
/// two characters: `r`, `HTMLButtonElement.Qe`), which change with every build and which a
/// bundled SDK's wrapper gets too.
pub(super) fn function_name(function: &str) -> Option<&str> {
    let function = function.trim();
    let function = function.strip_prefix("async ").unwrap_or(function);
    let function = function.strip_prefix("new ").unwrap_or(function);
    let name = function.rsplit('.').next().unwrap_or(function).trim();
    if name.ends_with('<') || looks_minified(name) {
        return None;
    }
    match name {
        ""
        | "?"
        | "<anonymous>"
        | "anonymous"
        | "<anonymous function>"
        | "Anonymous function"
        | "global code"
        | "eval code"
        | "module code" => None,
        name => Some(name),
    }
}

fn looks_minified(name: &str) -> bool {
    name.len() <= 2
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// The frame's source line, whitespace collapsed, when its source is known (from a source
/// map's `sourcesContent`) and short enough to be code rather than a minified blob (Sentry
/// discards lines over 120 characters too).
pub(super) fn context_line(frame: &Frame<'_>) -> Option<String> {
    let line = frame.context_line?;
    if line.len() > 120 {
        return None;
    }
    let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}
