//! What scrubbing costs per event, beside what parsing and serializing the same event cost:
//! `cargo run --release -p collector --example scrub_cost`. A typical error (a stack, ten
//! breadcrumbs, tags, extra) without a secret, the common case, and the same event leaking
//! five.

#![allow(clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use chrono::Utc;
use collector::payload::{self, Context};
use collector::scrub;
use serde_json::json;
use shared::config::Project;
use shared::event::{Client, ProjectId};

const ROUNDS: u32 = 200_000;

fn body(leaky: bool) -> String {
    let secret = |clean: &str, leak: &str| {
        if leaky {
            leak.to_owned()
        } else {
            clean.to_owned()
        }
    };
    let breadcrumbs: Vec<_> = (0..10)
        .map(|i| match i % 3 {
            0 => json!({"category": "click", "message": format!("button#add-to-cart-{i}")}),
            1 => json!({"category": "fetch", "data": {
                "url": secret("https://api.shop.example/cart?item=812&qty=1", "https://api.shop.example/cart?token=abcdef123456"),
                "method": "POST", "status_code": 200}}),
            _ => json!({"category": "navigation", "data": {"from": "/product/812", "to": "/cart"}}),
        })
        .collect();
    json!({
        "type": "error",
        "message": secret("TypeError: Cannot read properties of undefined (reading 'price')", "Payment failed for 4111 1111 1111 1111"),
        "stack": "TypeError: Cannot read properties of undefined (reading 'price')\n    at total (https://shop.example/assets/app.3f9a1c.js:1:20431)\n    at render (https://shop.example/assets/app.3f9a1c.js:1:18822)\n    at https://shop.example/assets/vendor.91bd0e.js:2:99120",
        "url": secret("https://shop.example/cart?utm_source=newsletter&step=2", "https://shop.example/cart?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"),
        "release": "shop@1.4.2",
        "environment": "production",
        "user": {"id": "u-1842"},
        "session_id": "5f2c1a9e7b3d4c60",
        "visitor_id": "0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
        "tags": {"checkout": "v2", "locale": "de-DE", "plan": "pro"},
        "breadcrumbs": breadcrumbs,
        "extra": {"cart": {"items": 3, "total": 129.9}, "api_key": secret("", "sk_live_123")},
    })
    .to_string()
}

fn main() {
    let project: Project = serde_json::from_value(json!({
        "id": 1, "name": "shop", "public_key": "0123456789abcdef0123456789abcdef",
    }))
    .expect("a project");
    let context = Context {
        project_id: ProjectId::new(1).expect("not zero"),
        received_at: Utc::now(),
        client: Client::default(),
        max_batch: 100,
    };
    for (name, leaky) in [("clean", false), ("leaky", true)] {
        let body = body(leaky);
        let parsed = payload::parse(body.as_bytes(), &context).expect("parses");
        if std::env::var_os("SCRUB_ONLY").is_some() {
            // For a profiler: scrubbing alone.
            let mut events = parsed.events.clone();
            for _ in 0..ROUNDS * 5 {
                scrub::events(black_box(&mut events), &project);
            }
            continue;
        }

        let started = Instant::now();
        for _ in 0..ROUNDS {
            black_box(payload::parse(black_box(body.as_bytes()), &context).expect("parses"));
        }
        let parse = started.elapsed() / ROUNDS;

        let started = Instant::now();
        for _ in 0..ROUNDS {
            black_box(serde_json::to_vec(black_box(&parsed.events)).expect("serializes"));
        }
        let serialize = started.elapsed() / ROUNDS;

        // Scrubbed once, the events have nothing left to replace: scrubbing them again costs
        // what scanning a clean event costs, without a clone to take off.
        let mut events = parsed.events.clone();
        let started = Instant::now();
        scrub::events(&mut events, &project);
        let first = started.elapsed();
        let started = Instant::now();
        for _ in 0..ROUNDS {
            scrub::events(black_box(&mut events), &project);
        }
        let scrub = started.elapsed() / ROUNDS;
        assert_eq!(leaky, events != parsed.events);
        println!(
            "{name}: {} bytes; parse {parse:?}, scrub {scrub:?} (the first time {first:?}), serialize {serialize:?} per event",
            body.len()
        );
    }
}
