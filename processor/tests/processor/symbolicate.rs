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
    upload(
        &db,
        "shop@3",
        "~/static/broken.js",
        None,
        b"{\"version\":3,\"mappings\":",
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
    let all = [
        from_native.clone(),
        from_sentry.clone(),
        by_debug_id.clone(),
        broken.clone(),
        unmapped.clone(),
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

    let event = stored(&app, &from_sentry).await;
    assert_eq!(
        event["exceptions"][0]["frames"][2]["function"],
        "applyDiscount"
    );
    assert_eq!(event["exceptions"][0]["raw_frames"][2]["function"], "u");
    let event = stored(&app, &by_debug_id).await;
    assert_eq!(event["exceptions"][0]["frames"][2]["lineno"], 19);

    // A broken map: reported on the event, frames as sent, event stored.
    let event = stored(&app, &broken).await;
    assert_eq!(
        event["processing_errors"][0]["kind"], "sourcemap_invalid",
        "{event:#}"
    );
    assert!(event.get("exceptions").is_none(), "{event:#}");
    // No map for the release: as sent, no error.
    let event = stored(&app, &unmapped).await;
    assert!(event.get("exceptions").is_none() && event.get("processing_errors").is_none());

    // Two builds with different minified names, native and Sentry, matched by release or
    // debug id: one issue, titled and placed by the original code.
    let (_, body) = app.get("/api/projects/1/issues?limit=100").await;
    let issues = body["issues"].as_array().expect("issues").clone();
    let resolved: Vec<&Value> = issues
        .iter()
        .filter(|issue| issue["culprit"] == "applyDiscount (cart.js)")
        .collect();
    assert_eq!(resolved.len(), 1, "{issues:#?}");
    assert_eq!(resolved[0]["count"], 3);
    // The broken and the unmapped ones group on their minified frames and files: one issue
    // each (broken.js, app.min.js).
    assert_eq!(issues.len(), 3, "{issues:#?}");
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
    assert!(event.get("exceptions").is_none(), "no map yet");
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
        event.get("exceptions").is_some().then_some(event)
    })
    .await;
    assert_eq!(
        resolved["exceptions"][0]["frames"][2]["function"],
        "applyDiscount"
    );
    publisher.close().await;
    app.stop().await;
}
