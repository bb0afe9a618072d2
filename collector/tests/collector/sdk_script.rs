//! The browser SDK's script, served by the collector: headers a CDN and a browser need,
//! revalidation, and the compressed files chosen by `Accept-Encoding`.

use std::io::Read;

use shared::testing::{TEST_KEY, TestEnv};

use crate::support::{Running, http};

const SCRIPT: &[u8] = include_bytes!("../../../sdk/dist/frontmon.min.js");

fn sdk_version() -> String {
    let package: serde_json::Value =
        serde_json::from_str(include_str!("../../../sdk/package.json")).expect("package.json");
    package["version"].as_str().expect("a version").to_owned()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("text")
}

#[tokio::test]
async fn the_script_is_served_with_cache_and_cors_headers() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let versioned = format!("/sdk/{}/frontmon.min.js", sdk_version());
    for (path, cache) in [
        ("/sdk/v1/frontmon.min.js", "public, max-age=3600"),
        (versioned.as_str(), "public, max-age=31536000, immutable"),
    ] {
        let response = http()
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&response, "cache-control"), cache, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), "*");
        assert_eq!(header(&response, "vary"), "Accept-Encoding");
        assert!(response.headers().get("content-encoding").is_none());
        let etag = header(&response, "etag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
            "a strong ETag: {etag}"
        );
        assert_eq!(response.bytes().await.expect("body"), SCRIPT, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_current_copy_is_revalidated_with_304() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}/sdk/v1/frontmon.min.js", app.base);
    let first = http().get(&url).send().await.expect("sent");
    let etag = header(&first, "etag").to_owned();

    let again = http()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(header(&again, "cache-control"), "public, max-age=3600");
    assert!(again.bytes().await.expect("body").is_empty());

    let stale = http()
        .get(&url)
        .header("if-none-match", "\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(stale.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn brotli_or_gzip_when_the_client_accepts_it() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}/sdk/v1/frontmon.min.js", app.base);
    let mut etags = Vec::new();
    for (accept, encoding) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip, deflate", Some("gzip")),
        ("br;q=0, gzip", Some("gzip")),
        ("identity", None),
    ] {
        let response = http()
            .get(&url)
            .header("accept-encoding", accept)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().expect("text").to_owned())
                .as_deref(),
            encoding,
            "{accept}"
        );
        assert_eq!(header(&response, "vary"), "Accept-Encoding");
        etags.push(header(&response, "etag").to_owned());
        let body = response.bytes().await.expect("body");
        let mut decoded = Vec::new();
        // Decodes our own, known-size script, not a body from the internet.
        #[allow(clippy::disallowed_types)]
        match encoding {
            Some("br") => brotli_decompressor::Decompressor::new(&body[..], 4096)
                .read_to_end(&mut decoded)
                .map(|_| ())
                .expect("brotli"),
            Some(_) => flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut decoded)
                .map(|_| ())
                .expect("gzip"),
            None => decoded = body.to_vec(),
        }
        assert_eq!(decoded, SCRIPT, "{accept}");
    }
    // Other bytes, other strong ETags.
    assert_ne!(etags[0], etags[1]);
    assert_ne!(etags[1], etags[3]);
    app.stop().await;
}

#[tokio::test]
async fn head_other_versions_and_other_methods() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let url = format!("{}/sdk/v1/frontmon.min.js", app.base);

    let head = http().head(&url).send().await.expect("sent");
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), SCRIPT.len().to_string());
    assert_eq!(
        header(&head, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(head.bytes().await.expect("body").is_empty());

    let unknown = http()
        .get(format!("{}/sdk/0.0.0-nope/frontmon.min.js", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(unknown.status(), 404);

    let post = http().post(&url).body("x").send().await.expect("sent");
    assert_eq!(post.status(), 405);
    assert_eq!(header(&post, "allow"), "GET, HEAD");
    app.stop().await;
}

/// The SDK reads how long to wait after a 429 or 503 from another origin: the headers that
/// say so are exposed to it.
#[tokio::test]
async fn the_events_answer_exposes_its_retry_headers() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let response = http()
        .post(format!("{}?key={TEST_KEY}", app.events_url(1)))
        .header("origin", "https://shop.example")
        .header("content-type", "text/plain")
        .body(r#"{"type":"pageview"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let exposed = header(&response, "access-control-expose-headers").to_ascii_lowercase();
    assert!(
        exposed.contains("retry-after") && exposed.contains("x-sentry-rate-limits"),
        "{exposed}"
    );
    app.stop().await;
}
