//! Hostile HTTP that a well-behaved client cannot even send, over raw TCP: lying
//! `Content-Length`s, chunked bodies, header floods, huge URLs, slowloris. Every answer is a
//! clean 4xx or a closed connection within a bounded time, never a hang, and the collector
//! keeps serving.

use std::time::Duration;

use collector::body::BODY_TIMEOUT;
use shared::testing::{TEST_KEY, TestEnv, eventually};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{Exchange, Running, assert_healthy, http, raw, read_until_closed};

const LIMIT: usize = 4096;
/// Slack on top of a server-side timeout, for a loaded test machine.
const SLACK: Duration = Duration::from_secs(4);
/// actix's head timeout as set in `startup` (5 s).
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

fn post_head(extra: &str) -> String {
    format!(
        "POST /api/1/events?key={TEST_KEY} HTTP/1.1\r\nHost: collector\r\n\
         Content-Type: application/json\r\n{extra}\r\n"
    )
}

fn assert_json_error(exchange: &Exchange, status: u16, message: &str) {
    assert_eq!(exchange.status, Some(status), "{exchange:?}");
    let body = exchange.json();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(message),
        "{error:?} should mention {message:?}"
    );
}

async fn start() -> (TestEnv, Running) {
    let mut env = TestEnv::new();
    env.settings.collector.max_body_bytes = LIMIT.try_into().expect("not zero");
    let app = Running::start(env.settings.clone()).await;
    (env, app)
}

#[tokio::test]
async fn a_lying_content_length_gets_a_clean_answer_never_a_hang() {
    let (env, app) = start().await;
    let event = r#"{"type":"click"}"#;

    // Declares less than it sends: the first 10 bytes are the body, the rest garbage.
    let request = format!("{}{event}", post_head("Content-Length: 10\r\n"));
    let exchange = raw(app.addr(), request.as_bytes(), false, HEAD_TIMEOUT + SLACK).await;
    assert_json_error(&exchange, 400, "malformed JSON");
    assert!(
        exchange.closed,
        "the garbage after it ends the connection: {exchange:?}"
    );

    // Declares more and closes its side: the body is incomplete.
    let request = format!("{}{event}", post_head("Content-Length: 100\r\n"));
    let exchange = raw(app.addr(), request.as_bytes(), true, SLACK).await;
    assert_json_error(&exchange, 400, "the body ended before its declared end");
    assert!(exchange.closed, "{exchange:?}");

    // Declares more and waits: answered 408 once the body timeout has passed.
    let exchange = raw(app.addr(), request.as_bytes(), false, BODY_TIMEOUT + SLACK).await;
    assert_json_error(&exchange, 408, "body not received within 10 s");
    assert!(exchange.closed, "{exchange:?}");
    assert!(
        exchange.elapsed >= BODY_TIMEOUT - Duration::from_secs(1),
        "{exchange:?}"
    );

    // Declares more than the limit: refused before reading, with nothing sent.
    let request = post_head("Content-Length: 10485760\r\n");
    let exchange = raw(app.addr(), request.as_bytes(), false, SLACK).await;
    assert_json_error(&exchange, 413, "larger than 4096 bytes");
    assert!(exchange.elapsed < SLACK, "{exchange:?}");

    // Not a number at all: actix refuses the head.
    let request = format!("{}{event}", post_head("Content-Length: ten\r\n"));
    let exchange = raw(app.addr(), request.as_bytes(), false, SLACK).await;
    assert_eq!(exchange.status, Some(400), "{exchange:?}");

    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 0);
    assert_healthy(&app.base, TEST_KEY).await;
    app.stop().await;
}

#[tokio::test]
async fn chunked_bodies_are_limited_while_streaming() {
    let (env, app) = start().await;
    let chunked = post_head("Transfer-Encoding: chunked\r\n");

    let event = r#"{"type":"click"}"#;
    let request = format!("{chunked}{:x}\r\n{event}\r\n0\r\n\r\n", event.len());
    let exchange = raw(app.addr(), request.as_bytes(), true, SLACK).await;
    assert_eq!(exchange.status, Some(200), "{exchange:?}");

    // Over the limit and never finished: answered 413 while the client is still sending.
    let chunk = " ".repeat(1000);
    let mut request = chunked.clone();
    for _ in 0..5 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    let exchange = raw(app.addr(), request.as_bytes(), false, SLACK).await;
    assert_json_error(&exchange, 413, "larger than 4096 bytes");
    assert!(exchange.closed, "{exchange:?}");

    // A chunk size that is not hex, or absurd: a 4xx or a close.
    for size in ["zz", "ffffffffffffffffffff"] {
        let request = format!("{chunked}{size}\r\nabc\r\n");
        let exchange = raw(app.addr(), request.as_bytes(), false, SLACK).await;
        assert!(exchange.closed, "{size}: {exchange:?}");
        assert!(
            exchange
                .status
                .is_none_or(|status| (400..500).contains(&status)),
            "{size}: {exchange:?}"
        );
    }

    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 1);
    assert_healthy(&app.base, TEST_KEY).await;
    app.stop().await;
}

#[tokio::test]
async fn header_floods_and_huge_urls_are_refused_and_the_collector_survives() {
    let (_env, app) = start().await;
    let many_headers: String = (0..200).map(|i| format!("X-Flood-{i}: {i}\r\n")).collect();
    let long_header = format!("X-Long: {}\r\n", "a".repeat(200 * 1024));
    let huge_url = format!(
        "GET /api/1/events?key={TEST_KEY}&pad={} HTTP/1.1\r\nHost: c\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let cases = [
        ("200 headers", post_head(&many_headers)),
        ("a 200 KiB header", post_head(&long_header)),
        ("a 200 KiB URL", huge_url),
        ("not HTTP", "\u{0}\u{1}\u{2} garbage\r\n\r\n".to_owned()),
        ("bad request line", "POST\r\n\r\n".to_owned()),
    ];
    // Several at once, as a flood would come.
    let mut floods = Vec::new();
    for (name, request) in cases {
        for _ in 0..4 {
            let addr = app.addr().to_owned();
            let request = request.clone();
            floods.push(tokio::spawn(async move {
                (
                    name,
                    raw(&addr, request.as_bytes(), false, HEAD_TIMEOUT + SLACK).await,
                )
            }));
        }
    }
    for flood in floods {
        let (name, exchange) = flood.await.expect("joined");
        assert!(exchange.closed, "{name}: {exchange:?}");
        assert!(
            exchange
                .status
                .is_none_or(|status| [400, 408, 414, 431].contains(&status)),
            "{name}: {exchange:?}"
        );
    }

    // A long URL still within actix's 128 KiB head is routed, and answered in JSON.
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let exchange = raw(app.addr(), long.as_bytes(), false, SLACK).await;
    assert_json_error(&exchange, 404, "no such endpoint");

    assert_healthy(&app.base, TEST_KEY).await;
    app.stop().await;
}

/// Sends `request` a byte a second while reading what comes back.
async fn slowly(addr: &str, request: Vec<u8>, wait: Duration) -> Exchange {
    let stream = TcpStream::connect(addr).await.expect("connected");
    let (reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in request {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        writer
    });
    let exchange = read_until_closed(reader, wait).await;
    trickle.abort();
    exchange
}

#[tokio::test]
async fn slowloris_connections_are_closed_by_read_timeouts() {
    let (_env, app) = start().await;

    // A head at a byte a second: actix's head timeout answers 408 and closes.
    let head = tokio::spawn({
        let addr = app.addr().to_owned();
        async move {
            slowly(
                &addr,
                post_head("Content-Length: 16\r\n").into_bytes(),
                HEAD_TIMEOUT + SLACK,
            )
            .await
        }
    });
    // A body at a byte a second: our body timeout answers 408 in JSON and closes.
    let body = tokio::spawn({
        let addr = app.addr().to_owned();
        async move {
            let mut stream = TcpStream::connect(&addr).await.expect("connected");
            stream
                .write_all(post_head("Content-Length: 100\r\n").as_bytes())
                .await
                .expect("head sent");
            let (reader, mut writer) = stream.into_split();
            let trickle = tokio::spawn(async move {
                for _ in 0..100 {
                    if writer.write_all(b" ").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            let exchange = read_until_closed(reader, BODY_TIMEOUT + SLACK).await;
            trickle.abort();
            exchange
        }
    });
    // Meanwhile everyone else is served.
    assert_healthy(&app.base, TEST_KEY).await;

    let head = head.await.expect("joined");
    assert!(head.closed, "{head:?}");
    assert!(head.status.is_none_or(|status| status == 408), "{head:?}");
    let body = body.await.expect("joined");
    assert!(body.closed, "{body:?}");
    assert_json_error(&body, 408, "body not received within 10 s");

    assert_healthy(&app.base, TEST_KEY).await;
    app.stop().await;
}

/// Bodies in flight are bounded all together, not only one by one: past the budget (16 MiB
/// with the default 1 MiB limit) requests are shed with 503 and `Retry-After`, and served
/// again once the bodies holding it are gone.
#[tokio::test]
async fn the_body_budget_sheds_load_with_503_instead_of_growing() {
    let env = TestEnv::new();
    let app = Running::start(env.settings.clone()).await;
    let limit = env.settings.collector.max_body_bytes.get();
    // The budget for 1 MiB bodies is 16 MiB (docs/sending-events.md): as many holders as
    // fill it exactly, so none of them is shed (which would give its share back and leave
    // room), and 16 bytes stay free.
    assert_eq!(
        limit,
        1024 * 1024,
        "the test assumes the default body limit"
    );
    let holders_count = 16 * 1024 * 1024 / (limit - 1);
    // Each sends all but the last byte of a maximal body, and waits.
    let head = post_head(&format!("Content-Length: {limit}\r\n"));
    let almost = vec![b' '; limit - 1];
    let mut holders = Vec::new();
    for _ in 0..holders_count {
        let mut stream = TcpStream::connect(app.addr()).await.expect("connected");
        stream.write_all(head.as_bytes()).await.expect("head sent");
        stream.write_all(&almost).await.expect("body sent");
        holders.push(stream);
    }
    // Once the collector has read them all (on a loaded machine that can take seconds),
    // nothing bigger than 16 bytes fits.
    let held = (holders_count * (limit - 1)) as f64;
    eventually(
        "the holders' bodies to be held",
        BODY_TIMEOUT - Duration::from_secs(2),
        || async { (body_bytes_held(&app).await == held).then_some(()) },
    )
    .await;
    let url = format!("{}?key={TEST_KEY}", app.events_url(1));
    let event = format!(r#"{{"type":"click"}}{}"#, " ".repeat(1024));
    let shed = http()
        .post(&url)
        .body(event.clone())
        .send()
        .await
        .expect("answered");
    assert_eq!(shed.status(), 503);
    assert_eq!(
        shed.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body = shed.json::<serde_json::Value>().await.expect("JSON");
    assert_eq!(body["error"], "too many requests in flight; retry later");

    drop(holders);
    eventually("the budget to be given back", BODY_TIMEOUT, || async {
        (body_bytes_held(&app).await == 0.0).then_some(())
    })
    .await;
    let response = http()
        .post(&url)
        .body(event)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    app.stop().await;
}

/// `frontmon_collector_body_bytes_held`, from `/metrics`.
async fn body_bytes_held(app: &Running) -> f64 {
    let text = app.metrics().await;
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(name, _)| *name == "frontmon_collector_body_bytes_held")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no body_bytes_held in /metrics: {text}"))
}
