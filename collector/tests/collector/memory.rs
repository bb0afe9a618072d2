//! The memory budget, measured on the binary as deployed: the hostile table's big cases, many
//! at once, and the collector's peak resident memory (`VmHWM`) stays under 200 MB.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use shared::config::DEMO_PUBLIC_KEY;
use shared::testing::TestEnv;

use crate::support::{Binary, assert_healthy, raw};

const LIMIT_MB: u64 = 200;
/// `collector.max_body_bytes`, the default.
const MAX_BODY: usize = 1024 * 1024;
/// How many requests of each kind are in flight at once.
const CONCURRENT: usize = 64;
/// What any of them may get besides its own answer: shed for lack of budget (503), too slow
/// to arrive while the two workers parse the others (408; debug builds parse slowly), or
/// either of those and the connection closed before the client had sent its whole body
/// (counted as 0).
const OVERLOAD: [u16; 3] = [408, 503, 0];

/// Peak resident set size of `pid`, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A custom event whose `data` is as close to `size` bytes of tiny JSON values as fits: the
/// most expensive body to parse (each `0,` becomes a 32-byte value).
fn dense_data(size: usize, event_id: &str) -> Vec<u8> {
    let head = format!(r#"{{"type":"custom","name":"dense","event_id":"{event_id}","data":["#);
    let tail = "0]}";
    let count = (size - head.len() - tail.len()) / 2;
    let mut body = head.into_bytes();
    body.extend(std::iter::repeat_n(&b"0,"[..], count).flatten());
    body.extend_from_slice(tail.as_bytes());
    assert!(body.len() <= size);
    body
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(bytes).expect("gzip");
    gzip.finish().expect("gzip")
}

#[tokio::test]
async fn peak_memory_stays_under_200_mb_through_the_hostile_table() {
    let env = TestEnv::new();
    let binary = Binary::start(&env, &[]).await;
    let base = binary.base();
    let url = format!("{base}/api/1/events?key={DEMO_PUBLIC_KEY}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        // A fresh connection per request: no race with the server closing an idle one.
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let baseline = peak_rss_kb(binary.pid());

    // Valid JSON to the last byte, refused once parsed (an invalid event id): the whole body
    // is parsed, nothing is published.
    let refused_dense = dense_data(MAX_BODY, "not-a-uuid");
    // Accepted and published: a maximal event waits for its confirm.
    let accepted_dense = dense_data(MAX_BODY, "6f1c0a6e-0b8e-4f6e-9a61-3c2b1a0f9e8d");
    let bomb = gzip(&vec![b' '; 64 * MAX_BODY]);
    let gzipped_dense = gzip(&refused_dense);
    let deep = format!(
        "{}{}",
        "[".repeat(MAX_BODY / 2 - 1),
        "]".repeat(MAX_BODY / 2 - 1)
    );
    let deep_data = format!(
        r#"{{"type":"custom","name":"x","data":{}}}"#,
        &deep[..deep.len() - 64]
    );
    let tiny_batch = format!(
        "[{}]",
        vec![r#"{"type":"click"}"#; MAX_BODY / 17 - 1].join(",")
    );
    let huge_strings = serde_json::to_vec(&json!({
        "type": "error", "message": "m".repeat(MAX_BODY / 3), "stack": "s".repeat(MAX_BODY / 3),
        "event_id": "not-a-uuid",
    }))
    .expect("JSON");
    let over_limit = vec![b' '; MAX_BODY + 1];

    let cases: Vec<(&str, Vec<u8>, Option<&str>, u16)> = vec![
        ("dense data, refused", refused_dense, None, 400),
        ("dense data, gzipped", gzipped_dense, Some("gzip"), 400),
        ("gzip bomb", bomb, Some("gzip"), 413),
        ("nested to the limit", deep.into_bytes(), None, 400),
        ("nested in data", deep_data.into_bytes(), None, 400),
        ("60,000 tiny events", tiny_batch.into_bytes(), None, 413),
        ("huge strings", huge_strings, None, 400),
        ("over the limit", over_limit, None, 413),
        ("dense data, accepted", accepted_dense, None, 200),
    ];
    let mut overloaded = 0;
    for round in 0..2 {
        for (name, body, encoding, expected) in &cases {
            let requests = (0..CONCURRENT).map(|_| {
                let mut request = client.post(&url).body(body.clone());
                if let Some(encoding) = encoding {
                    request = request.header("content-encoding", *encoding);
                }
                request.send()
            });
            let mut statuses = BTreeMap::new();
            for response in join_all(requests).await {
                let status = match response {
                    Ok(response) => response.status().as_u16(),
                    Err(error) if error.is_request() && !error.is_timeout() => 0,
                    Err(error) => panic!("{name}: {error:?}"),
                };
                assert!(
                    status == *expected || OVERLOAD.contains(&status),
                    "{name} (round {round}): {status}"
                );
                *statuses.entry(status).or_insert(0) += 1;
                overloaded += usize::from(status != *expected);
            }
            let peak = peak_rss_kb(binary.pid()) / 1024;
            eprintln!("{name} (round {round}): {statuses:?}, peak RSS so far {peak} MB");
        }
    }
    // Header floods: 127 KiB heads, many at once.
    let head = format!(
        "POST /api/1/events HTTP/1.1\r\nHost: c\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(127 * 1024)
    );
    let addr = format!("127.0.0.1:{}", binary.port);
    let floods =
        (0..4 * CONCURRENT).map(|_| raw(&addr, head.as_bytes(), false, Duration::from_secs(10)));
    join_all(floods).await;

    assert_healthy(&base, DEMO_PUBLIC_KEY).await;
    let peak = peak_rss_kb(binary.pid());
    eprintln!(
        "collector peak RSS: {} MB (at start {} MB); {overloaded} requests shed (408, 503 or closed)",
        peak / 1024,
        baseline / 1024
    );
    assert!(
        peak < LIMIT_MB * 1024,
        "peak RSS {} MB is over {LIMIT_MB} MB",
        peak / 1024
    );
    let status = binary.terminate().await;
    assert!(status.success(), "exit status {status:?}");
}
