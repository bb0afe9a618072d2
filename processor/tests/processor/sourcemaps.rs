//! Uploading, listing and deleting source maps through the API: what is stored, what is
//! refused, and that the maps themselves are never served back.

use processor::artifacts::{ArtifactName, ArtifactStore, NewSourceMap};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use shared::testing::{ADMIN_TOKEN, TestEnv};

use crate::support::{TestApp, database, http, json, project};

const DEBUG_ID: &str = "c5b0ae1d-2f4e-4a8b-9d4f-3c1e7a9b2d10";
/// In every map's `sourcesContent`: it must never appear in an answer.
const SECRET: &str = "SECRET_SOURCE_TEXT";

fn map(extra: &str) -> Vec<u8> {
    format!(
        r#"{{"version":3,"file":"app.js","sources":["src/app.ts"],"sourcesContent":["const {SECRET} = 1;"],"names":["checkout"],"mappings":"AAAA,SAASA"{extra}}}"#
    )
    .into_bytes()
}

fn minified(trailer: &str) -> Vec<u8> {
    format!(
        "function e(){{throw new Error(\"x\")}}e();\n{trailer}//# sourceMappingURL=app.js.map\n"
    )
    .into_bytes()
}

fn form(name: &str, sourcemap: Vec<u8>, minified: Option<Vec<u8>>) -> Form {
    let form = Form::new()
        .text("name", name.to_owned())
        .part("sourcemap", Part::bytes(sourcemap).file_name("app.js.map"));
    match minified {
        Some(minified) => form.part("minified", Part::bytes(minified).file_name("app.js")),
        None => form,
    }
}

/// POSTs `form` to `path` with the admin token.
async fn post(app: &TestApp, path: &str, form: Form) -> (u16, Value) {
    let response = http()
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    json(response).await
}

/// POSTs a raw body with `content_type`.
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &'static str,
) -> (u16, Value) {
    let response = http()
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    json(response).await
}

async fn delete(app: &TestApp, path: &str) -> reqwest::Response {
    http()
        .delete(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
}

/// The listing at `path`; also checks that it names no map's contents.
async fn list(app: &TestApp, path: &str) -> Vec<Value> {
    let response = app.get_with(path, Some(ADMIN_TOKEN)).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    assert!(!text.contains(SECRET), "map contents served: {text}");
    assert!(!text.contains("mappings"), "map contents served: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["sourcemaps"].as_array().unwrap().clone()
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {body}"))
}

const RELEASE_PATH: &str = "/api/projects/1/releases/1.4.2/sourcemaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_replace_list_and_delete() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;

    let (status, app_js) = post(
        &app,
        RELEASE_PATH,
        form("~/static/js/app.js", map(""), Some(minified(""))),
    )
    .await;
    assert_eq!(status, 201, "{app_js}");
    let size = (map("").len() + minified("").len()) as u64;
    assert_eq!(app_js["name"], "~/static/js/app.js");
    assert_eq!(app_js["release"], "1.4.2");
    assert_eq!(app_js["debug_id"], Value::Null);
    assert_eq!(app_js["size_bytes"], size);
    assert_eq!(app_js["has_minified"], true);
    let id = app_js["id"].as_i64().unwrap();

    let vendor = "https://shop.example/static/js/vendor.js";
    let (status, body) = post(&app, RELEASE_PATH, form(vendor, map(""), None)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["has_minified"], false);
    assert_eq!(body["size_bytes"], map("").len() as u64);

    // The same name again replaces the map, its debug id and its minified file.
    let replacement = map(&format!(r#","debugId":"{DEBUG_ID}""#));
    let (status, body) = post(
        &app,
        RELEASE_PATH,
        form("~/static/js/app.js", replacement.clone(), None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id);
    assert_eq!(body["debug_id"], DEBUG_ID);
    assert_eq!(body["has_minified"], false);
    assert_eq!(body["size_bytes"], replacement.len() as u64);
    let db = database(&env).await;
    let (stored, minified_stored): (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT map, minified FROM sourcemaps WHERE id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(stored, replacement);
    assert_eq!(minified_stored, None);

    let listed = list(&app, RELEASE_PATH).await;
    let names: Vec<&str> = listed.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "https://shop.example/static/js/vendor.js",
            "~/static/js/app.js"
        ]
    );
    for entry in &listed {
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "debug_id",
                "has_minified",
                "id",
                "name",
                "release",
                "size_bytes",
                "uploaded_at"
            ]
        );
    }
    assert!(
        list(&app, "/api/projects/1/releases/1.4.3/sourcemaps")
            .await
            .is_empty()
    );
    // Another project sees none of them.
    assert!(
        list(&app, "/api/projects/2/releases/1.4.2/sourcemaps")
            .await
            .is_empty()
    );
    // There is no way to read a map back.
    let response = app
        .get_with(
            &format!("/api/projects/1/sourcemaps/{id}"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_ne!(response.status(), 200);
    assert!(!response.text().await.unwrap().contains(SECRET));

    // Deleting one: only through its own project.
    let response = delete(&app, &format!("/api/projects/2/sourcemaps/{id}")).await;
    assert_eq!(response.status(), 404);
    let response = delete(&app, &format!("/api/projects/1/sourcemaps/{id}")).await;
    assert_eq!(response.status(), 204);
    let (status, body) =
        json(delete(&app, &format!("/api/projects/1/sourcemaps/{id}")).await).await;
    assert_eq!(status, 404, "{body}");
    assert!(error_of(&body).contains("no source map"), "{body}");
    let (status, _) = json(delete(&app, "/api/projects/1/sourcemaps/abc").await).await;
    assert_eq!(status, 400);
    assert_eq!(list(&app, RELEASE_PATH).await.len(), 1);

    // Deleting a release.
    let (status, body) = json(delete(&app, RELEASE_PATH).await).await;
    assert_eq!((status, body), (200, json!({ "deleted": 1 })));
    let (status, body) = json(delete(&app, RELEASE_PATH).await).await;
    assert_eq!((status, body), (200, json!({ "deleted": 0 })));
    assert!(list(&app, RELEASE_PATH).await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_by_debug_id_and_lookup() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;
    let path = "/api/projects/1/sourcemaps";

    // The debug id from the map.
    let (status, body) = post(
        &app,
        path,
        form(
            "~/app.js",
            map(&format!(r#","debugId":"{DEBUG_ID}""#)),
            None,
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["release"], "");
    assert_eq!(body["debug_id"], DEBUG_ID);

    // From the minified file's comment, here uppercase: stored as a UUID.
    let other = "0e4b3f0c-1111-4222-8333-944455556666";
    let (status, body) = post(
        &app,
        path,
        form(
            "~/chunk.js",
            map(""),
            Some(minified(&format!("//# debugId={}\n", other.to_uppercase()))),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["debug_id"], other);

    // Uploaded with a release, it is found by its debug id too.
    let (status, body) = post(
        &app,
        RELEASE_PATH,
        form(
            "~/app.js",
            map(&format!(r#","debug_id":"{DEBUG_ID}""#)),
            None,
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let found = list(&app, &format!("{path}?debug_id={DEBUG_ID}")).await;
    let releases: Vec<&str> = found
        .iter()
        .map(|m| m["release"].as_str().unwrap())
        .collect();
    assert_eq!(releases, ["", "1.4.2"]);
    assert!(
        found
            .iter()
            .all(|m| m["debug_id"] == DEBUG_ID && m["name"] == "~/app.js")
    );
    assert_eq!(
        list(&app, &format!("{path}?debug_id={other}")).await.len(),
        1
    );
    assert!(
        list(
            &app,
            &format!("{path}?debug_id=9a9b1c2d-0000-4000-8000-000000000000")
        )
        .await
        .is_empty()
    );

    // Another build's ~/app.js, by its own debug id: kept beside the first, whose events may
    // still arrive; the same debug id again replaces.
    let build_b = "7f3e2d1c-2222-4333-8444-a55566667777";
    let (status, body) = post(
        &app,
        path,
        form("~/app.js", map(&format!(r#","debugId":"{build_b}""#)), None),
    )
    .await;
    assert_eq!(
        (status, body["debug_id"].as_str()),
        (201, Some(build_b)),
        "{body}"
    );
    let (status, _) = post(
        &app,
        path,
        form("~/app.js", map(&format!(r#","debugId":"{build_b}""#)), None),
    )
    .await;
    assert_eq!(status, 200, "replaced");
    assert_eq!(
        list(&app, &format!("{path}?debug_id={DEBUG_ID}"))
            .await
            .len(),
        2
    );
    assert_eq!(
        list(&app, &format!("{path}?debug_id={build_b}"))
            .await
            .len(),
        1
    );

    // Without a release, a map needs a debug id.
    let (status, body) = post(&app, path, form("~/old.js", map(""), Some(minified("")))).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("no debug id"), "{body}");
    // A lookup needs one.
    let (status, body) = app.get(&format!("{path}?debug_id=nope")).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("debug_id"), "{body}");
    let (status, body) = app.get(path).await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_say_what_is_wrong() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;
    let name = "~/app.js";

    for (sourcemap, says) in [
        (
            b"<html>not found</html>".to_vec(),
            "sourcemap: not a source map",
        ),
        (
            b"[1, 2]".to_vec(),
            "sourcemap: not a source map: not a JSON object",
        ),
        (
            br#"{"version":2,"mappings":""}"#.to_vec(),
            "sourcemap: version 2",
        ),
        (
            br#"{"version":3,"sources":[]}"#.to_vec(),
            "neither \"mappings\" nor \"sections\"",
        ),
        (map(r#","debugId":"not-a-uuid""#), "debugId is not a UUID"),
    ] {
        let (status, body) = post(&app, RELEASE_PATH, form(name, sourcemap, None)).await;
        assert_eq!(status, 400, "{body}");
        assert!(error_of(&body).contains(says), "{says}: {body}");
    }
    for bad_name in [
        "app.js",
        "/static/app.js",
        "ftp://shop.example/app.js",
        "~/app.js?v=2",
        "",
    ] {
        let (status, body) = post(&app, RELEASE_PATH, form(bad_name, map(""), None)).await;
        assert_eq!(status, 400, "{bad_name}: {body}");
        assert!(error_of(&body).starts_with("name: "), "{body}");
    }
    let forms = [
        (
            Form::new().part("sourcemap", Part::bytes(map(""))),
            "missing field name",
        ),
        (Form::new().text("name", name), "missing file sourcemap"),
        (
            form(name, map(""), None).text("release", "1.0"),
            "unknown field \"release\"",
        ),
        (
            form(name, map(""), None).text("name", "~/other.js"),
            "field name given twice",
        ),
    ];
    for (form, says) in forms {
        let (status, body) = post(&app, RELEASE_PATH, form).await;
        assert_eq!(status, 400, "{body}");
        assert!(error_of(&body).contains(says), "{says}: {body}");
    }
    // Not multipart, or cut short.
    let (status, body) = post_raw(&app, RELEASE_PATH, "application/json", "{}").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).starts_with("invalid multipart body"),
        "{body}"
    );
    let (status, body) = post_raw(
        &app,
        RELEASE_PATH,
        "multipart/form-data; boundary=XYZ",
        "--XYZ\r\ncontent-disposition: form-data; name=\"name\"\r\n\r\n~/app.js",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).starts_with("invalid multipart body"),
        "{body}"
    );

    // An unknown project, like every endpoint.
    let (status, body) = post(
        &app,
        "/api/projects/9/releases/1/sourcemaps",
        form(name, map(""), None),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(list(&app, RELEASE_PATH).await.is_empty());
    app.stop().await;
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sourcemaps");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `map` with the byte `at` of its `mappings` replaced by `digit`, and where that is: the
/// byte (from 1), its generated line and the segment on that line.
fn corrupted(map: &[u8], at: usize, digit: char) -> (Vec<u8>, [usize; 3]) {
    let mut value: Value = serde_json::from_slice(map).unwrap();
    let mut mappings = value["mappings"].as_str().unwrap().to_owned();
    let before = &mappings[..at];
    let line = before.matches(';').count() + 1;
    let segment = before.rsplit(';').next().unwrap().matches(',').count() + 1;
    mappings.replace_range(at..at + 1, &digit.to_string());
    value["mappings"] = Value::from(mappings);
    (serde_json::to_vec(&value).unwrap(), [at + 1, line, segment])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bundler_output_is_accepted() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;
    for (name, map, minified) in [
        ("~/app.min.js", "app.min.js.map", "app.min.js"),
        (
            "~/app-b.min.js",
            "build-b/app-b.min.js.map",
            "build-b/app-b.min.js",
        ),
        (
            "~/app.webpack.js",
            "webpack/app.webpack.js.map",
            "webpack/app.webpack.js",
        ),
    ] {
        let (status, body) = post(
            &app,
            RELEASE_PATH,
            form(name, fixture(map), Some(fixture(minified))),
        )
        .await;
        assert_eq!(status, 201, "{map}: {body}");
    }
    // As `sentry-cli sourcemaps inject` leaves them: a debugId in the map, a comment at the
    // end of the minified file.
    let mut map: Value = serde_json::from_slice(&fixture("app.min.js.map")).unwrap();
    map["debugId"] = Value::from(DEBUG_ID);
    let mut minified = fixture("app.min.js");
    minified.extend_from_slice(format!("\n//# debugId={DEBUG_ID}\n").as_bytes());
    let (status, body) = post(
        &app,
        "/api/projects/1/sourcemaps",
        form(
            "~/assets/main.js",
            serde_json::to_vec(&map).unwrap(),
            Some(minified),
        ),
    )
    .await;
    assert_eq!(
        (status, &body["debug_id"]),
        (201, &Value::from(DEBUG_ID)),
        "{body}"
    );
    assert_eq!(list(&app, RELEASE_PATH).await.len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_maps_are_refused_saying_where() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;
    let with_mappings = |mappings: &str| {
        format!(r#"{{"version":3,"sources":["a.js"],"names":["f"],"mappings":"{mappings}"}}"#)
            .into_bytes()
    };
    let invalid = |rest: &str| format!("sourcemap: mappings invalid at {rest}");
    // Real esbuild output with one digit changed, deep in its mappings.
    let real = fixture("app.min.js.map");
    let (broken_real, [byte, line, segment]) = corrupted(&real, 102, '!');
    let cases = [
        (
            with_mappings("AAAA;AAAA,AC!A"),
            invalid(
                "generated line 2, segment 2 (byte 13 of \"mappings\"): invalid base64 VLQ digit '!'",
            ),
        ),
        (
            broken_real,
            invalid(&format!(
                "generated line {line}, segment {segment} (byte {byte} of \"mappings\"): invalid base64 VLQ digit '!'"
            )),
        ),
        (
            with_mappings("AAAA,AC"),
            invalid(
                "generated line 1, segment 2 (byte 6 of \"mappings\"): a segment of 2 fields (1, 4 or 5 expected)",
            ),
        ),
        (
            with_mappings("AAAg"),
            invalid(
                "generated line 1, segment 1 (byte 4 of \"mappings\"): a VLQ value cut short (its last digit says more follow)",
            ),
        ),
        (
            with_mappings("AAAA;ACAA"),
            invalid(
                "generated line 2, segment 1 (byte 6 of \"mappings\"): source index 1 is out of range (\"sources\" has 1)",
            ),
        ),
        (
            with_mappings("AAAAC"),
            invalid(
                "generated line 1, segment 1 (byte 1 of \"mappings\"): name index 1 is out of range (\"names\" has 1)",
            ),
        ),
        (
            with_mappings("AAAD"),
            invalid(
                "generated line 1, segment 1 (byte 1 of \"mappings\"): original column -1 is out of range",
            ),
        ),
        (
            format!(
                r#"{{"version":3,"sections":[{{"offset":{{"line":0,"column":0}},"map":{}}}]}}"#,
                String::from_utf8(with_mappings("AAAA,ACAA")).unwrap()
            )
            .into_bytes(),
            "sourcemap: sections[0].map: mappings invalid at generated line 1, segment 2 (byte 6 of \"mappings\"): source index 1 is out of range (\"sources\" has 1)".to_owned(),
        ),
        (
            br#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"app.js.map"}]}"#
                .to_vec(),
            "sourcemap: sections[0] has no \"map\": sections that point to a \"url\" are not supported, put the map inline".to_owned(),
        ),
        (
            br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","x_facebook_sources":[null]}"#
                .to_vec(),
            "sourcemap: React Native (Hermes) maps are not supported".to_owned(),
        ),
        (
            br#"{"version":3,"sources":[7],"names":[],"mappings":"AAAA"}"#.to_vec(),
            "sourcemap: not readable as a source map: bad json: invalid type: integer `7`".to_owned(),
        ),
    ];
    for (map, says) in cases {
        let (status, body) = post(&app, RELEASE_PATH, form("~/app.js", map, None)).await;
        assert_eq!(status, 400, "{says}: {body}");
        assert!(
            error_of(&body).starts_with(&says),
            "expected {says}\n got {body}"
        );
    }
    // A minified file that is not UTF-8: its function names could not be read.
    let mut latin1 = fixture("app.min.js");
    latin1.splice(10..10, [0xe9]);
    let (status, body) = post(
        &app,
        RELEASE_PATH,
        form("~/app.min.js", real.clone(), Some(latin1)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).starts_with("minified: not UTF-8 (byte 11)"),
        "{body}"
    );
    assert!(list(&app, RELEASE_PATH).await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_over_the_limit_are_refused_with_413() {
    let mut env = TestEnv::new();
    env.settings.processor.sourcemap_max_bytes = 4096.try_into().expect("not zero");
    let app = TestApp::start(&env.settings).await;

    let padded = |size: usize| {
        let mut map = map("");
        let padding = size - map.len();
        map.splice(
            1..1,
            format!(r#""x":"{}","#, "p".repeat(padding - 7)).into_bytes(),
        );
        assert_eq!(map.len(), size);
        map
    };
    // Exactly the limit is fine.
    let (status, body) = post(&app, RELEASE_PATH, form("~/a.js", padded(4096), None)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&app, RELEASE_PATH, form("~/b.js", padded(4097), None)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        error_of(&body).starts_with("sourcemap: larger than 4096 bytes"),
        "{body}"
    );
    let (status, body) = post(
        &app,
        RELEASE_PATH,
        form("~/c.js", map(""), Some(vec![b';'; 5000])),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        error_of(&body).starts_with("minified: larger than"),
        "{body}"
    );
    // A much larger one is cut off as it arrives, and answered all the same.
    let (status, body) = post(
        &app,
        RELEASE_PATH,
        form("~/d.js", vec![b' '; 2 * 1024 * 1024], None),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    // Two files within the limit each: the limit is per file.
    let (status, body) = post(
        &app,
        RELEASE_PATH,
        form("~/e.js", padded(4000), Some(vec![b';'; 4000])),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let names: Vec<String> = list(&app, RELEASE_PATH)
        .await
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["~/a.js", "~/e.js"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_needs_the_admin_token() {
    let env = TestEnv::new();
    let app = TestApp::start(&env.settings).await;
    let client = http();
    // Built anew for each try: a multipart body cannot be sent twice.
    let request = |which: usize| match which {
        0 => client
            .post(app.url(RELEASE_PATH))
            .multipart(form("~/a.js", map(""), None)),
        1 => client
            .post(app.url("/api/projects/1/sourcemaps"))
            .multipart(form(
                "~/a.js",
                map(&format!(r#","debugId":"{DEBUG_ID}""#)),
                None,
            )),
        2 => client.get(app.url(RELEASE_PATH)),
        3 => client.get(app.url(&format!("/api/projects/1/sourcemaps?debug_id={DEBUG_ID}"))),
        4 => client.delete(app.url(RELEASE_PATH)),
        _ => client.delete(app.url("/api/projects/1/sourcemaps/1")),
    };
    for which in 0..6 {
        let response = request(which).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let (status, body) = json(response).await;
        assert_eq!(status, 401, "{which}: {body}");
        let response = request(which).bearer_auth("wrong").send().await.unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, 403, "{which}: {body}");
    }
    assert!(list(&app, RELEASE_PATH).await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_bumps_the_generation() {
    let env = TestEnv::new();
    // Started for its migrations.
    let app = TestApp::start(&env.settings).await;
    let store = ArtifactStore::new(database(&env).await);
    let new = |release: &str| {
        let name = ArtifactName::parse("~/app.js").unwrap();
        NewSourceMap::new(release, name, map(""), None).unwrap()
    };
    assert_eq!(store.generation(), 0);
    let first = store.upload(project(1), new("1")).await.unwrap();
    assert!(!first.replaced);
    assert_eq!(store.generation(), 1);
    assert!(store.upload(project(1), new("1")).await.unwrap().replaced);
    assert_eq!(store.generation(), 2);
    // Nothing deleted, nothing changed.
    assert!(!store.delete(project(2), first.sourcemap.id).await.unwrap());
    assert_eq!(store.delete_release(project(1), "2").await.unwrap(), 0);
    assert_eq!(store.generation(), 2);
    assert!(store.delete(project(1), first.sourcemap.id).await.unwrap());
    assert_eq!(store.generation(), 3);
    // Clones share the counter, as the API and the resolver do.
    let clone = store.clone();
    clone.upload(project(1), new("2")).await.unwrap();
    assert_eq!(clone.delete_release(project(1), "2").await.unwrap(), 1);
    assert_eq!(store.generation(), 5);
    app.stop().await;
}
