//! Minified stack frames resolved through uploaded source maps before grouping: a native
//! error's stack string and a Sentry event's frames, matched by release and file or by debug
//! id; two builds with different minified names are one issue; a broken map is reported on
//! the event, which is stored all the same.
//!
//! The maps are real esbuild output (`tests/fixtures/sourcemaps/`), written to the
//! `sourcemaps` table as the upload API would.

use serde_json::{Value, json};
use shared::event::{Detail, Event, Exception, Level, StackFrame};
use shared::testing::{TestEnv, eventually};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sourcemaps");
const DEBUG_ID: &str = "6d1f3c2a-4b5e-4f60-8a7b-9c0d1e2f3a4b";
const OTHER_BUILD: &str = "0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn upload(
    db: &PgPool,
    release: &str,
    name: &str,
    debug_id: Option<&str>,
    map: &[u8],
    minified: Option<&[u8]>,
) {
    sqlx::query(
        "INSERT INTO sourcemaps (project_id, release, name, debug_id, map, minified, size_bytes)
         VALUES (1, $1, $2, $3, $4, $5, $6)",
    )
    .bind(release)
    .bind(name)
    .bind(debug_id.map(|id| id.parse::<Uuid>().expect("a uuid")))
    .bind(map)
    .bind(minified)
    .bind(map.len() as i64)
    .execute(db)
    .await
    .expect("inserted");
}

/// What Chrome prints for `window.pay()` of a build, its file at `url`.
fn chrome_stack(url: &str, frames: [(&str, u32); 3]) -> String {
    let mut stack = "TypeError: Cannot read properties of undefined (reading 'percent')".to_owned();
    for (function, column) in frames {
        stack.push_str(&format!("\n    at {function} ({url}:1:{column})"));
    }
    stack
}

fn native(release: &str, stack: String) -> Event {
    Event {
        message: Some("TypeError: Cannot read properties of undefined (reading 'percent')".into()),
        stack: Some(stack),
        release: Some(release.into()),
        ..event(Detail::Error {}, now())
    }
}

/// The same error as a Sentry SDK sends it: frames outermost first.
fn sentry(release: Option<&str>, url: &str, frames: [(&str, u32); 3]) -> Event {
    Event {
        message: Some("TypeError: Cannot read properties of undefined (reading 'percent')".into()),
        release: release.map(str::to_owned),
        level: Some(Level::Error),
        exceptions: vec![Exception {
            kind: Some("TypeError".into()),
            value: Some("Cannot read properties of undefined (reading 'percent')".into()),
            frames: frames
                .iter()
                .rev()
                .map(|(function, column)| StackFrame {
                    function: Some((*function).into()),
                    filename: Some(url.into()),
                    abs_path: Some(url.into()),
                    lineno: Some(1),
                    colno: Some(*column),
                    in_app: Some(true),
                    ..StackFrame::default()
                })
                .collect(),
            ..Exception::default()
        }],
        ..event(Detail::Error {}, now())
    }
}

const BUILD_A: [(&str, u32); 3] = [("i", 157), ("e", 120), ("window.pay", 198)];
const BUILD_B: [(&str, u32); 3] = [("u", 251), ("c", 214), ("window.pay", 291)];

/// Where [`corrupted`] breaks the map: a digit of the first line's 10th segment.
const BROKEN_AT: usize = 50;
const BROKEN_SEGMENT: usize = 10;

/// A map with the digit at [`BROKEN_AT`] of its mappings made `!`.
fn corrupted(map: &[u8]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(map).expect("a map");
    let mappings = value["mappings"].as_str().expect("mappings");
    assert_eq!(
        mappings[..BROKEN_AT].matches(',').count() + 1,
        BROKEN_SEGMENT,
        "{mappings}"
    );
    assert!(mappings.as_bytes()[BROKEN_AT].is_ascii_alphanumeric());
    let mut broken = mappings.to_owned();
    broken.replace_range(BROKEN_AT..=BROKEN_AT, "!");
    value["mappings"] = Value::from(broken);
    serde_json::to_vec(&value).expect("JSON")
}

/// `event`'s stack, not resolved, stored as the frames of its exception, in the shape of
/// resolved ones: the minified functions and positions at `url`, innermost last, without
/// `raw_frames` (frames are as sent).
fn assert_minified(event: &Value, url: &str) {
    let exception = &event["exceptions"][0];
    assert_eq!(exception["type"], "TypeError", "{event:#}");
    assert_eq!(
        exception["value"],
        "Cannot read properties of undefined (reading 'percent')"
    );
    let frames: Vec<(&str, &str, u64, u64)> = exception["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("no frames: {event:#}"))
        .iter()
        .map(|frame| {
            (
                frame["function"].as_str().unwrap_or_default(),
                frame["abs_path"].as_str().unwrap_or_default(),
                frame["lineno"].as_u64().unwrap_or_default(),
                frame["colno"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        frames,
        [
            ("window.pay", url, 1, 198),
            ("e", url, 1, 120),
            ("i", url, 1, 157)
        ],
        "{event:#}"
    );
    assert!(exception.get("raw_frames").is_none(), "{event:#}");
    assert!(
        event["stack"]
            .as_str()
            .is_some_and(|s| s.contains(":1:157"))
    );
}

async fn stored(app: &TestApp, event: &Event) -> Value {
    app.wait_for_events(&[event.event_id]).await;
    app.event(event.event_id).await.expect("stored")
}

#[tokio::test]
async fn minified_frames_are_resolved_before_grouping() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let db = database(&env).await;
    upload(
        &db,
        "shop@1",
        "~/static/app.min.js",
        None,
        &fixture("app.min.js.map"),
        Some(&fixture("app.min.js")),
    )
    .await;
    upload(
        &db,
        "shop@2",
        "https://shop.example/static/app-b.min.js",
        None,
        &fixture("build-b/app-b.min.js.map"),
        Some(&fixture("build-b/app-b.min.js")),
    )
    .await;
    // Uploaded by a bundler plugin: no release, matched by the build's debug id.
    upload(
        &db,
        "",
        "~/assets/main.js",
        Some(DEBUG_ID),
        &fixture("app.min.js.map"),
        Some(&fixture("app.min.js")),
    )
    .await;
    // Stored before uploads were checked (the API refuses it now): one digit of real esbuild
    // output changed.
    upload(
        &db,
        "shop@3",
        "~/static/broken.js",
        None,
        &corrupted(&fixture("app.min.js.map")),
        None,
    )
    .await;

    let publisher = publisher(&env).await;
    // As a page sends it: `error.message` without the type, which only the stack names.
    let mut from_native = native(
        "shop@1",
        chrome_stack("https://shop.example/static/app.min.js?v=1", BUILD_A),
    );
    from_native.message = Some("Cannot read properties of undefined (reading 'percent')".into());
    let from_sentry = sentry(
        Some("shop@2"),
        "https://shop.example/static/app-b.min.js",
        BUILD_B,
    );
    let mut by_debug_id = sentry(None, "https://cdn.example/assets/main.js", BUILD_A);
    by_debug_id.sentry.insert(
        "debug_meta".into(),
        json!({"images": [{"type": "sourcemap", "code_file": "https://cdn.example/assets/main.js", "debug_id": DEBUG_ID}]}),
    );
    let broken = native(
        "shop@3",
        chrome_stack("https://shop.example/static/broken.js", BUILD_A),
    );
    let unmapped = native(
        "shop@9",
        chrome_stack("https://shop.example/static/app.min.js", BUILD_A),
    );
    // No release and no debug id: the map uploaded without a release under this file's
    // path belongs to one build among any number, so it is not taken.
    let mut no_release = native(
        "",
        chrome_stack("https://cdn.example/assets/main.js", BUILD_A),
    );
    no_release.release = None;
    // Another build's debug id, whose maps were not uploaded: not the map of the build that
    // was, though it has the same name.
    let mut other_build = sentry(None, "https://cdn.example/assets/main.js", BUILD_A);
    other_build.sentry.insert(
        "debug_meta".into(),
        json!({"images": [{"type": "sourcemap", "code_file": "https://cdn.example/assets/main.js", "debug_id": OTHER_BUILD}]}),
    );
    // Called from the page's own script, which has no map (it is not minified).
    let from_page = native(
        "shop@1",
        chrome_stack("https://shop.example/static/app.min.js", BUILD_A)
            + "\n    at HTMLButtonElement.onclick (https://shop.example/checkout:12:5)",
    );
    let all = [
        from_page.clone(),
        from_native.clone(),
        from_sentry.clone(),
        by_debug_id.clone(),
        broken.clone(),
        unmapped.clone(),
        no_release.clone(),
        other_build.clone(),
    ];
    publish(&publisher, &all).await;

    // The native stack string became a resolved exception, the minified frames kept.
    let event = stored(&app, &from_native).await;
    let exception = &event["exceptions"][0];
    assert_eq!(exception["type"], "TypeError");
    let thrown = &exception["frames"][2];
    assert_eq!(thrown["function"], "applyDiscount", "{exception:#}");
    assert_eq!(thrown["filename"], "src/cart.js");
    assert_eq!(thrown["lineno"], 19);
    assert_eq!(thrown["context_line"], "  return coupon.percent / 100;");
    assert_eq!(exception["frames"][1]["function"], "checkout");
    assert_eq!(exception["raw_frames"][2]["function"], "i");
    assert_eq!(exception["raw_frames"][2]["colno"], 157);
    // The stack string stays as it came.
    assert!(
        event["stack"]
            .as_str()
            .unwrap()
            .contains("app.min.js?v=1:1:157")
    );

    // Beside resolved frames, a file without a map is not worth an error.
    let event = stored(&app, &from_page).await;
    let frames = event["exceptions"][0]["frames"].as_array().expect("frames");
    assert_eq!(frames[0]["abs_path"], "https://shop.example/checkout");
    assert_eq!(frames[0]["colno"], 5);
    assert_eq!(frames[3]["function"], "applyDiscount", "{event:#}");
    assert!(event.get("processing_errors").is_none(), "{event:#}");

    let event = stored(&app, &from_sentry).await;
    assert_eq!(
        event["exceptions"][0]["frames"][2]["function"],
        "applyDiscount"
    );
    assert_eq!(event["exceptions"][0]["raw_frames"][2]["function"], "u");
    let event = stored(&app, &by_debug_id).await;
    assert_eq!(event["exceptions"][0]["frames"][2]["lineno"], 19);

    // Not resolved: the frames as sent, in the shape of resolved ones, and why not.
    let event = stored(&app, &broken).await;
    assert_minified(&event, "https://shop.example/static/broken.js");
    assert_eq!(
        event["processing_errors"],
        json!([{
            "kind": "sourcemap_invalid",
            "detail": format!("~/static/broken.js: mappings invalid at generated line 1, segment {BROKEN_SEGMENT} (byte {} of \"mappings\"): invalid base64 VLQ digit '!'", BROKEN_AT + 1),
        }]),
        "{event:#}"
    );
    let event = stored(&app, &unmapped).await;
    assert_minified(&event, "https://shop.example/static/app.min.js");
    assert_eq!(
        event["processing_errors"],
        json!([{
            "kind": "sourcemap_missing",
            "detail": "https://shop.example/static/app.min.js: no source map uploaded for release shop@9 as https://shop.example/static/app.min.js or ~/static/app.min.js",
        }]),
        "{event:#}"
    );
    let event = stored(&app, &no_release).await;
    assert_minified(&event, "https://cdn.example/assets/main.js");
    assert_eq!(
        event["processing_errors"],
        json!([{
            "kind": "sourcemap_no_release",
            "detail": "https://cdn.example/assets/main.js: the event has no release and the file no debug id, so no map can be matched",
        }]),
        "{event:#}"
    );
    let event = stored(&app, &other_build).await;
    assert_eq!(
        event["exceptions"][0]["frames"][2]["colno"], 157,
        "{event:#}"
    );
    assert!(
        event["exceptions"][0].get("raw_frames").is_none(),
        "{event:#}"
    );
    assert_eq!(
        event["processing_errors"],
        json!([{
            "kind": "sourcemap_missing",
            "detail": format!("https://cdn.example/assets/main.js: no source map uploaded with debug id {OTHER_BUILD}"),
        }]),
        "{event:#}"
    );

    // Two builds with different minified names, native and Sentry, matched by release or
    // debug id: one issue, titled and placed by the original code.
    let (_, body) = app.get("/api/projects/1/issues?limit=100").await;
    let issues = body["issues"].as_array().expect("issues").clone();
    // (The one called from the page has a frame more: an issue of its own.)
    let mut resolved: Vec<&Value> = issues
        .iter()
        .filter(|issue| issue["culprit"] == "applyDiscount (cart.js)")
        .collect();
    resolved.sort_by_key(|issue| issue["count"].as_i64());
    assert_eq!(resolved.len(), 2, "{issues:#?}");
    assert_eq!(
        (&resolved[0]["count"], &resolved[1]["count"]),
        (&json!(1), &json!(3))
    );
    // The others group on their minified frames and files: one issue each (broken.js,
    // app.min.js, and main.js for the two without a release, native and Sentry alike).
    assert_eq!(issues.len(), 5, "{issues:#?}");
    publisher.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_map_uploaded_later_applies_once_the_index_is_refreshed() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let before = native(
        "shop@1",
        chrome_stack("https://shop.example/static/app.min.js", BUILD_A),
    );
    publish(&publisher, std::slice::from_ref(&before)).await;
    let event = stored(&app, &before).await;
    assert_minified(&event, "https://shop.example/static/app.min.js");
    // A project without maps: nothing to explain.
    assert!(event.get("processing_errors").is_none(), "{event:#}");
    // Written to the table behind this processor's back (as another instance would): used
    // within the index's lifetime, without a restart.
    let db = database(&env).await;
    upload(
        &db,
        "shop@1",
        "~/static/app.min.js",
        None,
        &fixture("app.min.js.map"),
        Some(&fixture("app.min.js")),
    )
    .await;
    let resolved: Value = eventually("a later event to be resolved", WAIT, || async {
        let after = native(
            "shop@1",
            chrome_stack("https://shop.example/static/app.min.js", BUILD_A),
        );
        publish(&publisher, std::slice::from_ref(&after)).await;
        let event = stored(&app, &after).await;
        event["exceptions"][0]
            .get("raw_frames")
            .is_some()
            .then_some(event)
    })
    .await;
    assert_eq!(
        resolved["exceptions"][0]["frames"][2]["function"],
        "applyDiscount"
    );
    publisher.close().await;
    app.stop().await;
}

/// A native error with `message` and `stack`, in a project without maps.
fn native_error(message: &str, stack: &str) -> Event {
    Event {
        message: Some(message.into()),
        stack: Some(stack.into()),
        ..event(Detail::Error {}, now())
    }
}

#[tokio::test]
async fn native_stacks_are_stored_as_frames_and_group_as_before() {
    let env = TestEnv::new();
    let app = TestApp::ready(&env.settings).await;
    let publisher = publisher(&env).await;
    let minified = native(
        "shop@1",
        chrome_stack("https://shop.example/static/app.min.js", BUILD_A),
    );
    let firefox = native_error(
        "TypeError: coupon is undefined",
        "applyDiscount@https://shop.example/static/cart.js:19:17\n\
         checkout@https://shop.example/static/cart.js:13:10\n\
         @https://shop.example/static/main.js:3:3\n",
    );
    // Frames of dependencies, extensions and built-ins, which grouping weighs differently.
    let mixed = native_error(
        "Error: request failed",
        "Error: request failed\n    \
         at settle (https://shop.example/node_modules/axios/lib/core/settle.js:19:12)\n    \
         at Array.forEach (<anonymous>)\n    \
         at inject (chrome-extension://abcdef/content.js:1:99)\n    \
         at loadCart (https://shop.example/static/cart.js:40:7)",
    );
    // A stack without a frame line, and an SDK's own fingerprint around ours.
    let bare = native_error("boom", "Error: boom");
    let custom = Event {
        fingerprint: vec!["{{ default }}".into(), "checkout".into()],
        ..native_error(
            "TypeError: x is undefined",
            "TypeError: x is undefined\n    at pay (https://shop.example/static/main.js:3:3)",
        )
    };
    let all = [minified, firefox, mixed, bare, custom];
    publish(&publisher, &all).await;

    for sent in &all {
        let event = stored(&app, sent).await;
        let stack = sent.stack.as_deref().expect("a stack");
        // One exception, whose frames are the stack's as sent: no `raw_frames` (nothing was
        // resolved), and nothing to explain in a project without maps.
        let exceptions = event["exceptions"].as_array().expect("exceptions");
        assert_eq!(exceptions.len(), 1, "{event:#}");
        let frames: Vec<StackFrame> =
            serde_json::from_value(exceptions[0]["frames"].clone()).unwrap_or_default();
        assert_eq!(frames, shared::grouping::stack_frames(stack), "{event:#}");
        assert!(exceptions[0].get("raw_frames").is_none(), "{event:#}");
        assert!(event.get("processing_errors").is_none(), "{event:#}");
        assert_eq!(event["stack"], stack);

        // Grouped as the event sent (which the alerter groups) is.
        let expected = shared::grouping::group_event(sent).expect("an error");
        let issue = event["issue_id"].as_i64().expect("an issue");
        let (status, issue) = app.get(&format!("/api/projects/1/issues/{issue}")).await;
        assert_eq!(status, 200, "{issue}");
        assert_eq!(issue["fingerprint"], expected.fingerprint, "{event:#}");
        assert_eq!(issue["title"], expected.title, "{event:#}");
        assert_eq!(
            issue["culprit"].as_str(),
            expected.culprit.as_deref(),
            "{event:#}"
        );
    }
    publisher.close().await;
    app.stop().await;
}
