//! `frontmon-admin sourcemaps` against a processor running in this process: the binary as an
//! operator or a build runs it.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use shared::testing::spawned::Spawned;
use shared::testing::{ADMIN_TOKEN, TEST_KEY, TestEnv};
use tokio_util::sync::CancellationToken;

const APP_DEBUG_ID: &str = "7d1c2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";

pub(crate) struct Processor(pub(crate) Spawned);

impl Processor {
    pub(crate) async fn start(env: &TestEnv) -> Self {
        let shutdown = CancellationToken::new();
        let app = processor::Application::build(env.settings.clone(), shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot build the processor: {e:#}"));
        let port = app.port();
        Self(Spawned::spawn(
            "processor",
            port,
            shutdown,
            app.run_until_stopped(),
        ))
    }

    pub(crate) fn api(&self) -> String {
        self.0.base()
    }

    /// The API's listing at `path`.
    async fn list(&self, path: &str) -> Vec<Value> {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.api()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["sourcemaps"].as_array().unwrap().clone()
    }

    pub(crate) async fn stop(self) {
        self.0.stop_within(std::time::Duration::from_secs(30)).await;
    }
}

/// A build directory, removed when dropped.
struct Dist(PathBuf);

impl Drop for Dist {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two small builds' worth of files: `js/app.3f9a.js` next to its map (which has a debug
/// id), and `js/vendor.c0ff.js`, whose map is in `maps/` and named by its comment.
fn dist(env: &TestEnv) -> Dist {
    let root = std::env::temp_dir().join(format!("frontmon-admin-{}", env.prefix));
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "js/app.3f9a.js",
        "function c(){throw new Error(\"x\")}c();\n//# sourceMappingURL=app.3f9a.js.map\n",
    );
    write(
        "js/app.3f9a.js.map",
        &format!(
            r#"{{"version":3,"file":"app.3f9a.js","sources":["../src/app.ts"],"names":["checkout"],"mappings":"AAAA,SAASA","debugId":"{APP_DEBUG_ID}"}}"#
        ),
    );
    write(
        "js/vendor.c0ff.js",
        "var v=1;\n//# sourceMappingURL=../maps/vendor.js.map\n",
    );
    write(
        "maps/vendor.js.map",
        r#"{"version":3,"sources":["../node_modules/v/index.js"],"names":[],"mappings":"AAAA"}"#,
    );
    write("index.html", "<script src=/static/js/app.3f9a.js></script>");
    Dist(root)
}

/// Runs `frontmon-admin` with `args`, with no configuration but `config`.
pub(crate) async fn admin(config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_frontmon-admin"));
    command.env_remove("FRONTMON_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("FRONTMON__") {
            command.env_remove(key);
        }
    }
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn names(maps: &[Value]) -> Vec<&str> {
    maps.iter().map(|m| m["name"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_directory_is_uploaded_listed_and_deleted_by_release() {
    let env = TestEnv::new();
    let processor = Processor::start(&env).await;
    let dist = dist(&env);
    let dir = dist.0.to_str().unwrap();
    // The API's address and token come from the configuration, as on a processor's host.
    let config = dist.0.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "[processor]\nlisten = \"127.0.0.1:{}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n\
             [[projects]]\nid = 1\nname = \"test\"\npublic_key = \"{TEST_KEY}\"\n",
            processor.0.port
        ),
    )
    .unwrap();
    let release = "2.0.1+build/7";

    let output = admin(
        Some(&config),
        &[
            "sourcemaps",
            "upload",
            "--release",
            release,
            "--url-prefix",
            "~/static/",
            dir,
        ],
    )
    .await;
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert!(
        text.contains(
            "uploaded  ~/static/js/app.3f9a.js  (js/app.3f9a.js.map, with js/app.3f9a.js"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "uploaded  ~/static/js/vendor.c0ff.js  (maps/vendor.js.map, with js/vendor.c0ff.js"
        ),
        "{text}"
    );
    assert!(text.contains(APP_DEBUG_ID), "{text}");
    assert!(
        text.ends_with("2 source map(s) uploaded (0 replaced), 0 failed\n"),
        "{text}"
    );

    let path = "/api/projects/1/releases/2.0.1%2Bbuild%2F7/sourcemaps";
    let stored = processor.list(path).await;
    assert_eq!(
        names(&stored),
        ["~/static/js/app.3f9a.js", "~/static/js/vendor.c0ff.js"]
    );
    assert!(
        stored
            .iter()
            .all(|m| m["release"] == release && m["has_minified"] == true)
    );
    assert_eq!(stored[0]["debug_id"], APP_DEBUG_ID);

    // Again: the same names are replaced, not added.
    let api = processor.api();
    let connection = ["--api", &api, "--token", ADMIN_TOKEN, "--project", "1"];
    let mut args = vec![
        "sourcemaps",
        "upload",
        "--release",
        release,
        "--url-prefix",
        "~/static",
    ];
    args.extend(connection);
    args.push(dir);
    let output = admin(None, &args).await;
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert!(text.contains("replaced  ~/static/js/app.3f9a.js"), "{text}");
    assert!(
        text.ends_with("2 source map(s) uploaded (2 replaced), 0 failed\n"),
        "{text}"
    );
    assert_eq!(processor.list(path).await.len(), 2);

    let mut args = vec!["sourcemaps", "list", "--release", release];
    args.extend(connection);
    let output = admin(None, &args).await;
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("~/static/js/vendor.c0ff.js"), "{text}");
    assert!(text.ends_with("2 source map(s)\n"), "{text}");

    let mut args = vec!["sourcemaps", "delete", "--release", release];
    args.extend(connection);
    let output = admin(None, &args).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "2 source map(s) deleted\n");
    assert!(processor.list(path).await.is_empty());
    let _ = std::fs::remove_file(&config);
    processor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_release_maps_without_a_debug_id_fail() {
    let env = TestEnv::new();
    let processor = Processor::start(&env).await;
    let dist = dist(&env);
    let dir = dist.0.to_str().unwrap();
    let api = processor.api();
    let connection = [
        "--api",
        api.as_str(),
        "--token",
        ADMIN_TOKEN,
        "--project",
        "1",
    ];

    let mut args = vec!["sourcemaps", "upload"];
    args.extend(connection);
    args.push(dir);
    let output = admin(None, &args).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text.contains("uploaded  ~/js/app.3f9a.js"), "{text}");
    assert!(
        text.contains("FAILED    ~/js/vendor.c0ff.js  (maps/vendor.js.map): the processor answered 400: no debug id"),
        "{text}"
    );
    assert!(
        text.ends_with("1 source map(s) uploaded (0 replaced), 1 failed\n"),
        "{text}"
    );
    let found = processor
        .list(&format!(
            "/api/projects/1/sourcemaps?debug_id={APP_DEBUG_ID}"
        ))
        .await;
    assert_eq!(names(&found), ["~/js/app.3f9a.js"]);
    assert_eq!(found[0]["release"], "");

    let mut args = vec!["sourcemaps", "list", "--debug-id", APP_DEBUG_ID];
    args.extend(connection);
    let output = admin(None, &args).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).ends_with("1 source map(s)\n"));

    // A wrong token fails every upload, and says so.
    let args = [
        "sourcemaps",
        "upload",
        "--api",
        &api,
        "--token",
        "wrong",
        "--project",
        "1",
        dir,
    ];
    let output = admin(None, &args).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text.contains("answered 403: wrong admin token"), "{text}");
    assert!(
        text.ends_with("0 source map(s) uploaded (0 replaced), 2 failed\n"),
        "{text}"
    );

    // A directory without maps is an error, and so is a bad command line.
    let empty = Dist(dist.0.join("empty"));
    std::fs::create_dir_all(&empty.0).unwrap();
    let args = [
        "sourcemaps",
        "upload",
        "--api",
        &api,
        "--project",
        "1",
        empty.0.to_str().unwrap(),
    ];
    let output = admin(None, &args).await;
    assert!(!output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no *.map file under"));
    let output = admin(None, &["sourcemaps", "upload"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    processor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_map_fails_with_where_it_is_broken() {
    let env = TestEnv::new();
    let processor = Processor::start(&env).await;
    let dist = dist(&env);
    // vendor.js's map, one digit of its mappings not Base64.
    std::fs::write(
        dist.0.join("maps/vendor.js.map"),
        r#"{"version":3,"sources":["../node_modules/v/index.js"],"names":[],"mappings":"AAAA;AA!A"}"#,
    )
    .unwrap();
    let api = processor.api();
    let args = [
        "sourcemaps",
        "upload",
        "--release",
        "1.0",
        "--api",
        &api,
        "--token",
        ADMIN_TOKEN,
        "--project",
        "1",
        dist.0.to_str().unwrap(),
    ];
    let output = admin(None, &args).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text.contains("uploaded  ~/js/app.3f9a.js"), "{text}");
    assert!(
        text.contains(
            "FAILED    ~/js/vendor.c0ff.js  (maps/vendor.js.map): the processor answered 400: \
             sourcemap: mappings invalid at generated line 2, segment 1 (byte 8 of \"mappings\"): \
             invalid base64 VLQ digit '!'\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("1 source map(s) uploaded (0 replaced), 1 failed\n"),
        "{text}"
    );
    let stored = processor
        .list("/api/projects/1/releases/1.0/sourcemaps")
        .await;
    assert_eq!(names(&stored), ["~/js/app.3f9a.js"]);
    processor.stop().await;
}
