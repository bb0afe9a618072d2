//! Anyone can POST anything: every hostile body, header and path gets the right 4xx with a JSON
//! body saying what is wrong, nothing of it is published, and the collector stays healthy.
//! What arrives over raw TCP (lying lengths, slowloris, floods) is in `raw`.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};
use shared::testing::{OTHER_KEY, TEST_KEY, TestEnv};

use crate::support::{Running, assert_healthy, http, json_body, take_messages};

const LIMIT: usize = 64 * 1024;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(bytes).expect("gzip");
    gzip.finish().expect("gzip")
}

fn deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn every_hostile_request_gets_a_json_4xx_and_nothing_is_published() {
    let mut env = TestEnv::new();
    env.settings.collector.max_body_bytes = LIMIT.try_into().expect("not zero");
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}?key={TEST_KEY}", app.events_url(1));
    let post = |body: Vec<u8>| {
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
    };
    let json = |value: Value| post(value.to_string().into_bytes());
    let text = |text: &str| post(text.as_bytes().to_vec());
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let click = json!({"type": "click"});
    let not_an_event = "must be an event (a JSON object) or an array of events";

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        // The body's JSON.
        (
            "malformed",
            text(r#"{"type":"error","message":"x"#),
            400,
            "at line 1 column",
        ),
        (
            "malformed in a batch",
            text(r#"[{"type":"click"},{"type":"error","message":"x"#),
            400,
            "[1]: EOF while parsing a string at line 1 column",
        ),
        (
            "trailing",
            text(r#"{"type":"click"} {"#),
            400,
            "trailing characters at line 1",
        ),
        ("empty body", text(""), 400, "empty body"),
        ("a number", text("42"), 400, not_an_event),
        ("a string", text(r#""x""#), 400, not_an_event),
        ("null", text("null"), 400, not_an_event),
        ("garbage", text("nul"), 400, "malformed JSON"),
        (
            "not an event in a batch",
            text("[1]"),
            400,
            "[0]: invalid type: integer `1`, expected an event",
        ),
        (
            "wrong type",
            json(json!({"type": "error", "message": 5})),
            400,
            "message: invalid type: integer `5`, expected a string",
        ),
        (
            "type not a string",
            json(json!({"type": 7})),
            400,
            "type: invalid type: integer `7`",
        ),
        (
            "unknown type",
            json(json!({"type": "teleport"})),
            400,
            "type: unknown type \"teleport\"",
        ),
        (
            "missing type",
            json(json!({"message": "x"})),
            400,
            "missing field `type`",
        ),
        (
            "invalid event_id",
            json(json!({"type": "click", "event_id": "not-a-uuid"})),
            400,
            "event_id: must be a UUID",
        ),
        (
            "negative timestamp",
            json(json!({"type": "click", "timestamp": -5})),
            400,
            "timestamp: must be a positive number",
        ),
        (
            "invalid UTF-8",
            post(b"{\"type\":\"error\",\"message\":\"\xc3\x28\"}".to_vec()),
            400,
            "malformed JSON",
        ),
        (
            "lone surrogate",
            text(r#"{"type":"error","message":"\ud800"}"#),
            400,
            "malformed JSON",
        ),
        ("nested 10,000 deep", text(&deep(10_000)), 400, "invalid"),
        (
            "nested 10,000 deep in data",
            text(&format!(
                r#"{{"type":"custom","name":"x","data":{}}}"#,
                deep(10_000)
            )),
            400,
            "malformed JSON: data[0][0][0]",
        ),
        (
            "objects nested 10,000 deep in data",
            text(&format!(
                r#"{{"type":"custom","name":"x","data":{deep_objects}}}"#
            )),
            400,
            "recursion limit exceeded",
        ),
        (
            "1e400",
            text(r#"{"type":"vital","name":"LCP","value":1e400}"#),
            400,
            "number out of range",
        ),
        (
            "1e400 in data",
            text(r#"{"type":"custom","name":"x","data":[1e400]}"#),
            400,
            "number out of range",
        ),
        (
            "huge status",
            text(r#"{"type":"api_error","target":"/x","status":123456789012345678901234567890}"#),
            400,
            "status: invalid type: floating point",
        ),
        (
            "huge timestamp",
            text(r#"{"type":"click","timestamp":-1e400}"#),
            400,
            "number out of range",
        ),
        // Batches whose every event is invalid, each named by its index (a batch with valid
        // events among them is accepted in part: `partial.rs`).
        (
            "every event bad",
            json(
                json!([{"type": "vital", "name": "LCP", "value": "fast"}, {"type": "vital", "name": "FID", "value": 1}]),
            ),
            400,
            "[0].value: invalid type: string \"fast\"",
        ),
        (
            "every event untyped",
            json(json!([{"message": "x"}, {"message": "y"}])),
            400,
            "[1]: missing field `type`",
        ),
        ("empty batch", text("[]"), 400, "empty batch"),
        (
            "over max_batch",
            json(Value::Array(vec![click.clone(); 101])),
            413,
            "batch of 101 events is over the limit of 100",
        ),
        // Sizes and encodings.
        (
            "over max_body_bytes",
            text(&format!("[{}]", " ".repeat(LIMIT))),
            413,
            "larger than 65536 bytes",
        ),
        (
            "gzip bomb",
            post(gzip(&vec![b' '; 64 * LIMIT])).header("content-encoding", "gzip"),
            413,
            "larger than 65536 bytes",
        ),
        (
            "corrupt gzip",
            post(b"\x1f\x8b\x08\x00garbage".to_vec()).header("content-encoding", "gzip"),
            400,
            "invalid gzip",
        ),
        (
            "truncated gzip",
            post(gzip(click.to_string().as_bytes())[..12].to_vec())
                .header("content-encoding", "gzip"),
            400,
            "invalid gzip",
        ),
        (
            "media type",
            http()
                .post(&url)
                .header("content-type", "application/xml")
                .body(click.to_string()),
            415,
            "unsupported Content-Type \"application/xml\"",
        ),
        (
            "brotli that is not",
            post(click.to_string().into_bytes()).header("content-encoding", "br"),
            400,
            "invalid brotli",
        ),
        (
            "encoding",
            post(click.to_string().into_bytes()).header("content-encoding", "zstd"),
            415,
            "unsupported Content-Encoding \"zstd\"",
        ),
        // Who sends, and where.
        (
            "project not a number",
            http()
                .post(format!("{}/api/abc/events?key={TEST_KEY}", app.base))
                .body(click.to_string()),
            404,
            "unknown project abc",
        ),
        (
            "project not configured",
            http()
                .post(format!("{}?key={TEST_KEY}", app.events_url(99)))
                .body(click.to_string()),
            404,
            "unknown project 99",
        ),
        (
            "project id overflow",
            http()
                .post(format!(
                    "{}/api/99999999999999999999/events?key={TEST_KEY}",
                    app.base
                ))
                .body(click.to_string()),
            404,
            "unknown project 99999999999999999999",
        ),
        (
            "no key",
            http().post(app.events_url(1)).body(click.to_string()),
            401,
            "missing project key",
        ),
        (
            "another project's key",
            http()
                .post(format!("{}?key={OTHER_KEY}", app.events_url(1)))
                .body(click.to_string()),
            403,
            "wrong project key",
        ),
        (
            "origin not allowed",
            http()
                .post(format!("{}?key={OTHER_KEY}", app.events_url(2)))
                .header("origin", "https://evil.example")
                .body(click.to_string()),
            403,
            "origin https://evil.example is not allowed",
        ),
        (
            "query twice",
            http()
                .post(format!("{url}&key={TEST_KEY}"))
                .body(click.to_string()),
            400,
            "invalid query string",
        ),
        (
            "a parameter the endpoint does not support",
            http()
                .post(format!("{url}&url=https://shop.example/"))
                .body(click.to_string()),
            400,
            r#"unknown query parameter "url" (supported: key)"#,
        ),
        (
            "a parameter on a health route",
            http().get(format!("{}/readyz?verbose=1", app.base)),
            400,
            r#"unknown query parameter "verbose" (supported: none)"#,
        ),
        // Methods and paths.
        (
            "GET",
            http().get(&url),
            405,
            "method GET not allowed: send events with POST",
        ),
        (
            "PUT",
            http().put(&url).body(click.to_string()),
            405,
            "method PUT not allowed",
        ),
        (
            "DELETE",
            http().delete(&url),
            405,
            "method DELETE not allowed",
        ),
        (
            "unknown path",
            http().post(format!("{}/api/1/event", app.base)),
            404,
            "no such endpoint",
        ),
        ("root", http().get(&app.base), 404, "no such endpoint"),
    ];
    for (name, request, status, message) in cases {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status().as_u16(), status, "{name}: status");
        if status == 405 {
            let allow = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert_eq!(allow, "POST, OPTIONS", "{name}");
        }
        let body = json_body(response).await;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{name}: {error:?} should mention {message:?}"
        );
    }
    // Errors may quote the input, but never echo it back by the megabyte.
    let huge = "x".repeat(60 * 1024);
    for body in [
        json!({"type": huge}),
        json!({"type": "api_error", "target": "/", "status": huge}),
        json!({"type": "click", "tags": {huge.as_str(): 1}}),
    ] {
        let response = json(body).send().await.expect("sent");
        assert_eq!(response.status(), 400);
        let error = json_body(response).await["error"].to_string();
        assert!(error.len() < 1100, "{} bytes", error.len());
    }
    // HEAD has no body to say it in; the status says it.
    let head = http()
        .request(Method::HEAD, &url)
        .send()
        .await
        .expect("sent");
    assert_eq!(head.status(), 405);

    // None of it reached the queue.
    let processor = env.topology().processor.name;
    assert_eq!(env.queue_depth(&processor).await, 0);
    assert_healthy(&app.base, TEST_KEY).await;
    assert_eq!(env.queue_depth(&processor).await, 1);
    app.stop().await;
}

/// What is odd but not wrong is accepted and cleaned: NUL characters go (PostgreSQL refuses
/// them), oversize text is cut with a marker, tags past 64 are dropped, a far-future
/// timestamp is clamped, deep nesting in a field we do not read is skipped.
#[tokio::test]
async fn odd_but_valid_events_are_kept_cleaned_and_bounded() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let tags: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("t{i:03}\u{0}"), Value::from("v".repeat(1000))))
        .collect();
    let stack = format!(
        "RangeError: too much recursion\n{}",
        "    at f (https://shop.example/app.js:1:1)\n".repeat(5_000)
    );
    let body = json!([
        {"type": "error", "message": "boom\u{0}!", "stack": stack, "tags": tags,
         "url": format!("https://shop.example/{}", "a".repeat(10_000)),
         "user": {"id": 123456789012345678901234567890_f64}, "timestamp": 1e300},
        {"type": "custom", "name": "checkout\u{0}", "data": {"k\u{0}ey": ["\u{0}", {"deep": "v\u{0}"}], "n": 1.5}},
    ])
    .to_string();
    let unknown_and_deep = format!(r#"{{"type":"pageview","unknown":{}}}"#, deep(10_000));
    let url = format!("{}?key={TEST_KEY}", app.events_url(1));
    for body in [body, unknown_and_deep] {
        let response = http().post(&url).body(body).send().await.expect("sent");
        assert_eq!(response.status(), 200);
    }

    let messages = take_messages(&env, &env.topology().processor.name).await;
    assert_eq!(messages.len(), 3);
    let raw = serde_json::to_string(&messages).expect("JSON");
    assert!(!raw.contains("\\u0000"), "no NUL survives: {raw}");
    let error = &messages[0];
    assert_eq!(error["message"], "boom!");
    let stack = error["stack"].as_str().expect("stack");
    assert_eq!(stack.len(), collector::payload::MAX_STACK);
    assert!(stack.starts_with("RangeError: too much recursion\n"));
    assert!(stack.ends_with(collector::payload::TRUNCATED));
    let url = error["url"].as_str().expect("url");
    assert!(
        url.len() <= collector::payload::MAX_URL && url.ends_with(collector::payload::TRUNCATED)
    );
    let tags = error["tags"].as_object().expect("tags");
    assert_eq!(tags.len(), 64);
    assert!(tags.contains_key("t000") && tags.contains_key("t063") && !tags.contains_key("t064"));
    assert!(
        tags.values()
            .all(|v| v.as_str().is_some_and(|v| v.len() <= 256))
    );
    assert_eq!(error["user"]["id"], "1.2345678901234568e+29");
    assert_eq!(
        error["timestamp"], error["received_at"],
        "clamped to the receive time"
    );
    let custom = &messages[1];
    assert_eq!(custom["name"], "checkout");
    assert_eq!(
        custom["data"],
        json!({"key": ["", {"deep": "v"}], "n": 1.5})
    );
    assert_eq!(messages[2]["type"], "pageview");
    assert!(messages[2].get("unknown").is_none());
    app.stop().await;
}
