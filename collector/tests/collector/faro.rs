//! Grafana Faro's web SDK on `/collect`: what `@grafana/faro-web-sdk` 2.12.1 really sent
//! (`tests/faro/`, recorded in Chromium), accepted with Alloy's `202 ok` on every path form,
//! authenticated by `x-api-key` or `?key=`, preflighted, deduplicated by `Idempotency-Key`,
//! and refused with a JSON reason when it is not a Faro batch.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::{Value, json};
use shared::testing::{OTHER_KEY, TEST_KEY, TestEnv};

use crate::support::{Running, http, json_body, take_messages};

/// The page load's batch: two vitals, a session start and a page view.
const LOAD: &str = include_str!("../faro/faro-2.12.1-1.json");
/// The uncaught error's batch (and the LCP that went with it).
const ERROR: &str = include_str!("../faro/faro-2.12.1-3.json");
/// What the SDK sends with every batch, as recorded.
const ORIGIN: &str = "http://127.0.0.1:43043";

fn ids(messages: &[Value]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|m| m["event_id"].as_str().expect("an id").to_owned())
        .collect()
}

fn types(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["type"].as_str().expect("a type"))
        .collect()
}

/// POSTs `body` as the SDK does: JSON, the key in `x-api-key`, its session and batch ids.
fn faro_post(url: String, body: &str, idempotency_key: &str) -> reqwest::RequestBuilder {
    http()
        .post(url)
        .header("content-type", "application/json")
        .header("origin", ORIGIN)
        .header("x-api-key", TEST_KEY)
        .header("x-faro-session-id", "97B0DTJFpi")
        .header("idempotency-key", idempotency_key)
        .body(body.to_owned())
}

#[tokio::test]
async fn a_faro_batch_is_answered_202_ok_on_every_path_form() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let queue = env.topology().processor.name;

    let response = faro_post(format!("{}/collect/1", app.base), LOAD, "batch-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        ORIGIN,
        "the page can read the answer"
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.expect("a body"), "ok");
    // The 202 came after the broker's confirms.
    let messages = take_messages(&env, &queue).await;
    assert_eq!(types(&messages), ["vital", "vital", "session", "pageview"]);
    for message in &messages {
        assert_eq!(message["project_id"], 1);
        assert_eq!(message["release"], "shop@1.4.2");
        assert_eq!(message["environment"], "test");
        assert_eq!(message["user"]["email"], "u1@example.com");
        assert_eq!(message["client"]["ip"], "127.0.0.1");
    }
    assert_eq!(messages[3]["url"], format!("{ORIGIN}/"));

    // The key in the query string, the project by its key, a path prefix.
    let forms = [
        http()
            .post(format!("{}/collect/1?key={TEST_KEY}", app.base))
            .header("content-type", "application/json")
            .body(ERROR),
        http()
            .post(format!("{}/rum/v1/collect/1", app.base))
            .header("x-api-key", TEST_KEY)
            .body(ERROR),
        http()
            .post(format!("{}/collect", app.base))
            .header("x-api-key", TEST_KEY)
            .body(ERROR),
        http()
            .post(format!(
                "{}/rum/collect?key={TEST_KEY}&other=ignored",
                app.base
            ))
            .body(ERROR),
    ];
    for (index, form) in forms.into_iter().enumerate() {
        let response = form.send().await.expect("sent");
        assert_eq!(response.status(), 202, "form {index}");
        let messages = take_messages(&env, &queue).await;
        assert_eq!(types(&messages), ["error", "vital"], "form {index}");
        assert_eq!(messages[0]["project_id"], 1);
        assert_eq!(messages[0]["exceptions"][0]["type"], "TypeError");
        assert_eq!(
            messages[0]["exceptions"][0]["frames"][1]["function"],
            "renderCart"
        );
    }

    // Without a project in the path, the key says which: project 2's key, its project, from
    // an origin it allows.
    let response = http()
        .post(format!("{}/collect", app.base))
        .header("x-api-key", OTHER_KEY)
        .header("origin", "https://shop.example")
        .body(ERROR)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let messages = take_messages(&env, &queue).await;
    assert!(
        messages.iter().all(|m| m["project_id"] == 2),
        "{messages:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn preflights_allow_the_headers_the_sdk_sends() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    for path in ["/collect/1", "/collect", "/rum/collect/2"] {
        let response = http()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.base))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,idempotency-key,x-api-key,x-faro-session-id",
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 204, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], ORIGIN);
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .expect("text")
                .contains("POST")
        );
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .expect("text")
            .to_ascii_lowercase();
        for header in [
            "content-type",
            "x-api-key",
            "x-faro-session-id",
            "idempotency-key",
        ] {
            assert!(allowed.contains(header), "{path}: {allowed}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_retried_batch_gets_the_same_ids_and_one_without_a_key_new_ones() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let queue = env.topology().processor.name;
    let url = format!("{}/collect/1", app.base);

    let mut sent = Vec::new();
    for _ in 0..2 {
        let response = faro_post(url.clone(), LOAD, "xsEuadwWDAaT2pYVgKXh")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 202);
        sent.push(ids(&take_messages(&env, &queue).await));
    }
    assert_eq!(sent[0].len(), 4);
    assert_eq!(sent[0], sent[1], "a retry has the ids of the first attempt");

    // Another batch (another key) of the same content is other events.
    let response = faro_post(url.clone(), LOAD, "AjMFHVFozqWfAq8SWc2G")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let other = ids(&take_messages(&env, &queue).await);
    assert!(other.is_disjoint(&sent[0]));

    // Without the header (Faro before 2.12), every request is new events.
    let mut without = Vec::new();
    for _ in 0..2 {
        let response = http()
            .post(url.clone())
            .header("x-api-key", TEST_KEY)
            .body(LOAD)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 202);
        without.push(ids(&take_messages(&env, &queue).await));
    }
    assert!(without[0].is_disjoint(&without[1]));
    app.stop().await;
}

#[tokio::test]
async fn what_is_not_a_faro_batch_gets_a_json_reason_and_nothing_is_queued() {
    let mut env = TestEnv::new();
    env.settings.collector.max_body_bytes = (64 * 1024).try_into().expect("not zero");
    env.settings.collector.max_batch = 10.try_into().expect("not zero");
    let app = Running::start(env.settings.clone()).await;
    let url = |path: &str| format!("{}{path}", app.base);
    let post = |path: &str| http().post(url(path)).header("x-api-key", TEST_KEY);
    let too_many = json!({"meta": {}, "logs": vec![json!({"message": "m"}); 11]}).to_string();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (http().post(url("/collect/1")).body(LOAD), 401, "x-api-key"),
        (
            http()
                .post(url("/collect/1"))
                .header("x-api-key", OTHER_KEY)
                .body(LOAD),
            403,
            "wrong project key",
        ),
        (
            http()
                .post(url("/collect"))
                .header("x-api-key", "00000000000000000000000000000000")
                .body(LOAD),
            403,
            "wrong project key",
        ),
        (post("/collect/99").body(LOAD), 404, "unknown project 99"),
        (post("/collect/x").body(LOAD), 404, "unknown project x"),
        (
            http()
                .post(url("/collect"))
                .header("x-api-key", OTHER_KEY)
                .header("origin", "https://evil.example")
                .body(LOAD),
            403,
            "origin https://evil.example is not allowed",
        ),
        (post("/collect/1").body("{\"meta\":"), 400, "malformed JSON"),
        (post("/collect/1").body("[]"), 400, "must be a JSON object"),
        (
            post("/collect/1").body(r#"{"exceptions": [{"value": 42}]}"#),
            400,
            "exceptions[0].value",
        ),
        (
            post("/collect/1").body(too_many),
            413,
            "over the limit of 10",
        ),
        (
            post("/collect/1").body(format!(
                "{{\"logs\": [{{\"message\": \"{}\"}}]}}",
                "x".repeat(70_000)
            )),
            413,
            "larger than 65536 bytes",
        ),
        (
            post("/collect/1")
                .header("content-type", "application/xml")
                .body(LOAD),
            415,
            "unsupported Content-Type",
        ),
        (
            post("/collect/1")
                .header("content-encoding", "gzip")
                .body("not gzip"),
            400,
            "invalid gzip",
        ),
        (http().get(url("/collect/1")), 405, "method GET not allowed"),
    ];
    for (index, (request, status, reason)) in cases.into_iter().enumerate() {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), status, "case {index}");
        assert!(
            response
                .headers()
                .contains_key("access-control-allow-origin"),
            "case {index}: the page can read why"
        );
        let body = json_body(response).await;
        let error = body["error"].as_str().expect("a JSON reason");
        assert!(error.contains(reason), "case {index}: {error}");
    }
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 0);

    // gzip, as the SDK's `requestCompression` sends; the spans are counted and dropped.
    let mut batch: Value = serde_json::from_str(LOAD).expect("JSON");
    batch["traces"] = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{}, {}, {}]}]}]});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(batch.to_string().as_bytes()).expect("gzip");
    let response = post("/collect/1")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip.finish().expect("gzip"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 4);
    let metrics = app.metrics().await;
    for line in [
        "frontmon_collector_faro_items_total{signal=\"traces\",outcome=\"dropped\"} 3",
        "frontmon_collector_faro_items_total{signal=\"events\",outcome=\"accepted\"} 2",
        "frontmon_collector_faro_items_total{signal=\"measurements\",outcome=\"accepted\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_key_shared_by_projects_needs_the_project_in_the_path() {
    let mut env = TestEnv::new();
    let mut three = env.settings.projects[0].clone();
    three.id = shared::event::ProjectId::new(3).expect("non-zero");
    three.name = "same key".into();
    let mut projects = env.settings.projects.to_vec();
    projects.push(three);
    env.settings.projects = shared::config::Projects::parse(projects).expect("projects");
    let app = Running::start(env.settings.clone()).await;
    let response = faro_post(format!("{}/collect", app.base), ERROR, "k1")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let error = json_body(response).await["error"].to_string();
    assert!(error.contains("/collect/{project_id}"), "{error}");

    let response = faro_post(format!("{}/collect/3", app.base), ERROR, "k1")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let messages = take_messages(&env, &env.topology().processor.name).await;
    assert!(
        messages.iter().all(|m| m["project_id"] == 3),
        "{messages:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn over_the_rate_limit_the_sdk_gets_429_and_how_long_to_wait() {
    let mut env = TestEnv::new();
    env.settings.projects[0].rate_limit_per_minute = std::num::NonZeroU32::new(5);
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}/collect/1", app.base);
    let first = faro_post(url.clone(), LOAD, "k1")
        .send()
        .await
        .expect("sent");
    assert_eq!(first.status(), 202, "4 events of 5");
    let second = faro_post(url, LOAD, "k2").send().await.expect("sent");
    assert_eq!(second.status(), 429, "4 more are over the limit");
    let headers = second.headers();
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    assert!(
        headers["access-control-expose-headers"]
            .to_str()
            .expect("text")
            .contains("retry-after"),
        "the SDK can read how long to wait"
    );
    app.stop().await;
}
