//! Source maps end to end: two real minified builds of the same shop code, made by the test
//! with the pinned esbuild (`e2e/browser/build-bundles.mjs`), their maps uploaded through the
//! processor's API, the error thrown in headless Chromium and sent through `@sentry/browser`
//! (8.x and the newest major) and through the native endpoint. The stored events name the
//! original file, line, column and function; the two builds, whose minifier named the
//! functions differently, are one issue; a corrupt map is refused at upload, saying where it
//! is broken, and an error of that release is stored with its minified frames, saying why
//! they were not resolved. The alerter announces each issue once, as the processor grouped
//! it: a build that renamed the minified functions is not a new issue there either.
//!
//! `e2e/browser/drive.mjs --scenario bundle` runs the page; `scripts/test` installs Chromium and
//! the npm packages first (`scripts/lib/browser.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use shared::testing::receiver::Receiver;
use shared::testing::{ADMIN_TOKEN, TEST_KEY, TestEnv, eventually};

use crate::support::*;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// What frames call the bundle (`http://127.0.0.1:PORT/static/app.min.js`), on any host.
const NAME: &str = "~/static/app.min.js";
const TITLE: &str = "TypeError: Cannot read properties of undefined (reading 'percent')";

/// A directory of this test's own, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "frontmon-bundles-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `node` with `args` off the async workers; its stdout's last line, as JSON.
/// How the page sends the error.
enum Via {
    Sdk(&'static str),
    Native,
}

/// Runs the bundle scenario of `drive.mjs`: `bundle` served as `/static/app.min.js`, its
/// `window.pay()` thrown and sent `via` the SDK or the native endpoint. Returns the stored
/// event's id, once every request was answered 200.
async fn throw_from(via: Via, bundle: &Path, release: &str, collector: &Service) -> String {
    let dsn = format!(
        "http://{TEST_KEY}@{}/1",
        collector.base.trim_start_matches("http://")
    );
    let mut args: Vec<String> = vec![
        format!("{ROOT}/e2e/browser/drive.mjs"),
        "--scenario".into(),
        "bundle".into(),
        "--bundle".into(),
        bundle.to_string_lossy().into_owned(),
        "--release".into(),
        release.into(),
        "--dsn".into(),
        dsn,
    ];
    match via {
        Via::Sdk(sdk) => {
            args.extend(["--mode".into(), "sentry".into(), "--sdk".into(), sdk.into()])
        }
        Via::Native => args.extend(["--mode".into(), "native".into()]),
    }
    let report = node_report(args).await;
    let requests = report["requests"].as_array().expect("requests");
    assert!(!requests.is_empty(), "{report:#}");
    for request in requests {
        assert_eq!(request["status"], 200, "{request:#}");
    }
    let ids = report["captured_ids"].as_array().expect("captured ids");
    assert_eq!(ids.len(), 1, "one error sent: {report:#}");
    simple_id(&ids[0])
}

/// An event id as 32 lower-case hex digits, however it was written.
fn simple_id(id: &Value) -> String {
    id.as_str()
        .expect("an id")
        .replace('-', "")
        .to_ascii_lowercase()
}

/// Uploads `map` (and `minified`) under [`NAME`] for `release`, as `frontmon-admin
/// sourcemaps upload --url-prefix '~/static'` does: the processor's multipart API.
async fn upload(
    processor: &Service,
    release: &str,
    map: Vec<u8>,
    minified: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let mut form = Form::new()
        .text("name", NAME)
        .part("sourcemap", Part::bytes(map).file_name("app.min.js.map"));
    if let Some(minified) = minified {
        form = form.part("minified", Part::bytes(minified).file_name("app.min.js"));
    }
    let response = http()
        .post(format!(
            "{}/api/projects/1/releases/{release}/sourcemaps",
            processor.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload_build(processor: &Service, release: &str, build: &Value) {
    let read = |key: &str| {
        let path = build[key].as_str().expect("a path");
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let (status, stored) = upload(processor, release, read("map"), Some(read("minified"))).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["name"], NAME);
    assert_eq!(stored["release"], release);
    assert_eq!(stored["has_minified"], true);
}

/// The frames (`frames` or `raw_frames`) of the exception thrown last, innermost last.
fn frames<'a>(event: &'a Value, which: &str) -> &'a [Value] {
    event["exceptions"]
        .as_array()
        .and_then(|exceptions| exceptions.last())
        .and_then(|exception| exception[which].as_array())
        .filter(|frames| frames.len() >= 2)
        .unwrap_or_else(|| panic!("no {which}: {event:#}"))
}

/// Where `build-bundles.mjs` saw a build throw: the innermost minified frame's function and
/// column (`i@1:157` → (`i`, 157)).
fn thrown_at(build: &Value) -> (String, u64) {
    let frame = build["frames"][0].as_str().expect("a frame");
    let (function, position) = frame.split_once("@1:").expect("function@1:column");
    (function.to_owned(), position.parse().expect("a column"))
}

/// `event` was resolved to `build`'s sources: `applyDiscount` in `src/cart.js` at `line`
/// (build B's cart.js has one function more above it), with its source line, called from
/// `checkout`; the minified frames it was thrown from kept beside as `raw_frames`.
fn assert_resolved(event: &Value, build: &Value, line: u64) {
    assert_eq!(event["processing_errors"], Value::Null, "{event:#}");
    let resolved = frames(event, "frames");
    let thrown = &resolved[resolved.len() - 1];
    assert_eq!(thrown["function"], "applyDiscount", "{thrown:#}");
    let filename = thrown["filename"].as_str().expect("a filename");
    assert!(filename.ends_with("src/cart.js"), "{thrown:#}");
    assert_eq!(thrown["lineno"], line, "{thrown:#}");
    // The `percent` that was read, of `  return coupon.percent / 100;`.
    assert_eq!(thrown["colno"], 17, "{thrown:#}");
    let context = thrown["context_line"].as_str().expect("a context line");
    assert!(context.contains("coupon.percent"), "{thrown:#}");
    assert_eq!(
        thrown["pre_context"]
            .as_array()
            .and_then(|lines| lines.last()),
        Some(&Value::from("function applyDiscount(coupon) {")),
        "{thrown:#}"
    );
    assert_eq!(thrown["in_app"], true, "{thrown:#}");
    let caller = &resolved[resolved.len() - 2];
    assert_eq!(caller["function"], "checkout", "{caller:#}");

    let raw = frames(event, "raw_frames");
    let raw = &raw[raw.len() - 1];
    let (function, column) = thrown_at(build);
    assert_eq!(raw["function"], function.as_str(), "{raw:#}");
    let url = raw["abs_path"]
        .as_str()
        .or(raw["filename"].as_str())
        .expect("a URL");
    assert!(url.ends_with("/static/app.min.js"), "{raw:#}");
    assert_eq!(raw["lineno"], 1, "{raw:#}");
    assert_eq!(raw["colno"], column, "{raw:#}");
}

#[tokio::test]
async fn minified_errors_are_resolved_grouped_across_builds_and_a_broken_map_is_refused() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    let processor = Service::processor(&env.settings).await;
    let alerter = Service::alerter(&env.settings).await;
    let collector = Service::collector(&env.settings).await;

    // Two builds of the same code, by the real minifier, with different minified names.
    let scratch = ScratchDir::new();
    let built = node_report(vec![
        format!("{ROOT}/e2e/browser/build-bundles.mjs"),
        scratch.0.to_string_lossy().into_owned(),
    ])
    .await;
    let (a, b) = (&built["builds"]["a"], &built["builds"]["b"]);
    let bundle_a = PathBuf::from(a["minified"].as_str().expect("a path"));
    let bundle_b = PathBuf::from(b["minified"].as_str().expect("a path"));

    upload_build(&processor, "shop@a", a).await;
    upload_build(&processor, "shop@b", b).await;
    // A map cut short is refused at upload, saying why.
    let (status, refusal) = upload(
        &processor,
        "shop@broken",
        br#"{"version":3,"mappings":"!!!""#.to_vec(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refusal}");
    assert!(refusal.to_string().contains("EOF"), "{refusal}");
    // So is build A's map with one digit of its mappings corrupted, saying where.
    let mut corrupt: Value =
        serde_json::from_slice(&std::fs::read(a["map"].as_str().expect("a path")).expect("read"))
            .expect("a map");
    let mut mappings = corrupt["mappings"].as_str().expect("mappings").to_owned();
    let at = mappings.find(',').expect("two segments") + 1;
    let line = mappings[..at].matches(';').count() + 1;
    let segment = mappings[..at]
        .rsplit(';')
        .next()
        .map_or(0, |l| l.matches(',').count())
        + 1;
    mappings.replace_range(at..=at, "!");
    corrupt["mappings"] = Value::from(mappings);
    let (status, refusal) = upload(
        &processor,
        "shop@broken",
        serde_json::to_vec(&corrupt).expect("JSON"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refusal}");
    let expected = format!(
        "sourcemap: mappings invalid at generated line {line}, segment {segment} (byte {} of \"mappings\"): invalid base64 VLQ digit '!'",
        at + 1
    );
    assert_eq!(refusal["error"], expected.as_str(), "{refusal}");

    let sdk_8 = throw_from(Via::Sdk("8"), &bundle_a, "shop@a", &collector).await;
    let sdk_latest = throw_from(Via::Sdk("latest"), &bundle_b, "shop@b", &collector).await;
    let native = throw_from(Via::Native, &bundle_a, "shop@a", &collector).await;
    let broken = throw_from(Via::Native, &bundle_a, "shop@broken", &collector).await;

    let events: BTreeMap<String, Value> = eventually("the four errors stored", WAIT, || async {
        let body = project_get(&processor, "events?kind=error&limit=50").await?;
        let events: BTreeMap<String, Value> = body["events"]
            .as_array()?
            .iter()
            .map(|event| (simple_id(&event["event_id"]), event.clone()))
            .collect();
        [&sdk_8, &sdk_latest, &native, &broken]
            .iter()
            .all(|id| events.contains_key(*id))
            .then_some(events)
    })
    .await;
    assert_eq!(events.len(), 4, "{events:#?}");

    assert_resolved(&events[&sdk_8], a, 19);
    assert_resolved(&events[&sdk_latest], b, 24);
    assert_resolved(&events[&native], a, 19);

    // The release whose map was refused: the event is stored with its minified frames, in
    // the shape of resolved ones (without `raw_frames`), and says why.
    let corrupt = &events[&broken];
    let errors = corrupt["processing_errors"].as_array().expect("errors");
    // One per file of the page's own: the bundle's, and the page's script's.
    assert!(
        errors
            .iter()
            .any(|error| error["kind"] == "sourcemap_missing"
                && error["detail"]
                    .as_str()
                    .is_some_and(|detail| detail.contains(
                        "/static/app.min.js: no source map uploaded for release shop@broken"
                    ))),
        "{corrupt:#}"
    );
    let minified = frames(corrupt, "frames");
    let thrown = &minified[minified.len() - 1];
    let (function, column) = thrown_at(a);
    assert_eq!(thrown["function"], function.as_str(), "{thrown:#}");
    assert_eq!(
        (&thrown["lineno"], &thrown["colno"]),
        (&Value::from(1), &Value::from(column)),
        "{thrown:#}"
    );
    assert!(
        thrown["abs_path"]
            .as_str()
            .is_some_and(|url| url.ends_with("/static/app.min.js")),
        "{thrown:#}"
    );
    let exception = corrupt["exceptions"].as_array().and_then(|e| e.last());
    assert!(
        exception.is_some_and(|e| e.get("raw_frames").is_none()),
        "{corrupt:#}"
    );
    assert!(
        corrupt["stack"]
            .as_str()
            .is_some_and(|stack| stack.contains(&format!("/static/app.min.js:1:{column}"))),
        "{corrupt:#}"
    );
    assert!(corrupt["issue_id"].is_i64(), "{corrupt:#}");

    // One issue for the two builds, the two SDKs and the native endpoint; the broken one, whose
    // frames are the minified ones, is a problem of its own.
    let issue = &events[&sdk_8]["issue_id"];
    assert!(issue.is_i64(), "{:#}", events[&sdk_8]);
    assert_eq!(
        &events[&sdk_latest]["issue_id"], issue,
        "{:#}",
        events[&sdk_latest]
    );
    assert_ne!(&corrupt["issue_id"], issue, "{corrupt:#}");
    let native = &events[&native];
    assert_eq!(
        &native["issue_id"], issue,
        "the native event is another issue; its resolved exception: type {}, value {}",
        native["exceptions"][0]["type"], native["exceptions"][0]["value"]
    );
    let issue = project_get(&processor, &format!("issues/{issue}"))
        .await
        .expect("the issue");
    assert_eq!(issue["count"], 3, "{issue:#}");
    assert_eq!(issue["culprit"], "applyDiscount (cart.js)", "{issue:#}");
    assert_eq!(issue["title"], TITLE, "{issue:#}");
    let issues = project_get(&processor, "issues?limit=100")
        .await
        .expect("issues");
    assert_eq!(
        issues["issues"].as_array().map(Vec::len),
        Some(2),
        "{issues:#}"
    );

    // The alerter (default rules: new issues, to the webhook) says "new issue" once per issue
    // the processor made, with its id and fingerprint; not once per minified build. Then a
    // marker error, sent long after, proves nothing else was on its way.
    let new_issues = |ids: &[i64]| {
        let ids = ids.to_vec();
        let receiver = &receiver;
        async move {
            let notified: BTreeMap<i64, Value> = receiver
                .delivered("/ops")
                .iter()
                .map(|request| request.json())
                .filter_map(|body| Some((body["issue"]["id"].as_i64()?, body)))
                .collect();
            ids.iter()
                .all(|id| notified.contains_key(id))
                .then_some(notified)
        }
    };
    let issue_id = issue["id"].as_i64().expect("an id");
    let corrupt_issue = corrupt["issue_id"].as_i64().expect("an id");
    let notified = eventually("both issues notified", WAIT, || {
        new_issues(&[issue_id, corrupt_issue])
    })
    .await;
    assert_eq!(notified[&issue_id]["kind"], "new_issue");
    assert_eq!(
        notified[&issue_id]["issue"]["fingerprint"], issue["fingerprint"],
        "{:#}",
        notified[&issue_id]
    );
    assert_eq!(notified[&issue_id]["issue"]["title"], TITLE);
    let marker = post(
        &http(),
        &collector,
        &serde_json::json!({"type": "error", "message": "marker"}),
    )
    .await;
    let marker: shared::event::EventId = marker[0].parse().expect("an id");
    receiver.wait_for("/ops", &[marker]).await;
    let delivered = receiver.delivered("/ops");
    assert_eq!(
        delivered.len(),
        3,
        "two issues and the marker: {:#?}",
        delivered.iter().map(|r| r.json()).collect::<Vec<_>>()
    );

    collector.stop().await;
    alerter.stop().await;
    processor.stop().await;
    receiver.stop().await;
}
