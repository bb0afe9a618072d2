//! The dashboard in headless Chromium and over plain HTTP, against the real services: an
//! error posted through the collector is listed, opened, resolved and leaves the list; an
//! admin and a member sign in, and the member is refused the other project's pages and JSON;
//! signing out and an expired session lead back to the sign-in page; a state change without
//! the session's CSRF token is refused; an event whose every field is hostile runs nothing,
//! sends nothing and leaves the layout whole; axe-core finds no serious or critical
//! violation on any screen. Every screen is saved, in English and 简体中文, on a desktop and a
//! phone, under `target/dashboard-screens/`.
//!
//! `e2e/browser/dashboard.mjs` drives the browser.

use serde_json::{Value, json};
use shared::testing::{TestEnv, eventually};

use crate::support::*;

pub(crate) const PASSWORD: &str = "a long enough password";
pub(crate) const ADMIN: &str = "admin@example.test";
pub(crate) const MEMBER: &str = "member@example.test";

/// Every string field of an error, hostile: script and attribute injections, a `javascript:`
/// URL, a long unbroken string, a right-to-left override and zero-width characters.
fn injection_event(now_ms: i64) -> Value {
    let script = "<script>window.__pwned=true</script>";
    let attribute = "\"><img src=x onerror=\"window.__pwned=true\">";
    let long = "W".repeat(3000);
    json!({
        "type": "error",
        "message": format!("Injected {script}{attribute} \u{202E}gnp.exe\u{200B}\u{200C}\u{200D}\u{FEFF} {long}"),
        "stack": format!("Error: {script}\n    at {attribute} (javascript:window.__pwned=true:1:1)\n    at \u{202E}evil\u{200B} (https://shop.example/{long}.js:1:1)"),
        "url": "javascript:window.__pwned=true",
        "release": script,
        "environment": attribute,
        "user": {"id": attribute},
        "tags": {"<b>k</b>": attribute, "rtl": "\u{202E}gnp.exe", "zw": "a\u{200B}b\u{200C}c\u{200D}d\u{FEFF}", "js": "javascript:alert(1)"},
        "breadcrumbs": [
            {"timestamp": now_ms - 1500, "category": script, "message": attribute},
            {"timestamp": now_ms - 500, "category": "navigation", "message": format!("javascript:alert(1) {long}")}
        ]
    })
}

/// The admin's and the member's pages sent no request to another origin, opened no dialog
/// and threw no error.
pub(crate) fn nothing_left_the_page(report: &Value) {
    for who in ["admin_seen", "member_seen"] {
        let seen = &report[who];
        assert_eq!(seen["foreign"], json!([]), "{who}: {seen:#}");
        assert_eq!(seen["dialogs"], json!([]), "{who}: {seen:#}");
        assert_eq!(seen["errors"], json!([]), "{who}: {seen:#}");
    }
}

/// Runs a browser driver against the processor as the admin and the member of project 1
/// (project 2 is another's), with screenshots under `target/dashboard-screens`: its report.
async fn drive<const N: usize>(
    script: &str,
    processor: &Service,
    extra: [(&str, i64); N],
) -> Value {
    let shots = format!("{}/../target/dashboard-screens", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![browser_script(script)];
    for (name, value) in [
        ("--base", processor.base.as_str()),
        ("--admin", ADMIN),
        ("--member", MEMBER),
        ("--password", PASSWORD),
        ("--project", "1"),
        ("--other-project", "2"),
        ("--shots", &shots),
    ] {
        args.extend([name.to_owned(), value.to_owned()]);
    }
    for (name, value) in extra {
        args.extend([name.to_owned(), value.to_string()]);
    }
    node_report(args).await
}

/// Signs in over HTTP: the session cookie's `name=value`.
pub(crate) async fn sign_in(processor: &Service, email: &str) -> String {
    let body = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let response = no_redirects()
        .post(format!("{}/login", processor.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    cookie.split(';').next().expect("name=value").to_owned()
}

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

pub(crate) async fn get(processor: &Service, path: &str, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}{path}", processor.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("sent")
}

/// The CSRF token of a page (its logout form's hidden field).
pub(crate) async fn csrf(processor: &Service, cookie: &str) -> String {
    let html = get(processor, "/projects", cookie)
        .await
        .text()
        .await
        .expect("a page");
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_owned()
}

pub(crate) async fn issue_id(processor: &Service, title_part: &str) -> i64 {
    eventually(&format!("issue {title_part:?}"), WAIT, || async {
        let issues = project_get(processor, "issues?status=all").await?;
        issues["issues"]
            .as_array()?
            .iter()
            .find(|i| i["title"].as_str().is_some_and(|t| t.contains(title_part)))
            .and_then(|i| i["id"].as_i64())
    })
    .await
}

#[tokio::test]
async fn people_sign_in_see_an_error_resolve_it_and_nothing_hostile_runs() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;
    admin::users::create(&env.settings, ADMIN, PASSWORD, true, &[])
        .await
        .expect("the admin");
    admin::users::create(&env.settings, MEMBER, PASSWORD, false, &[1])
        .await
        .expect("the member");

    // Project 1 is empty: its list teaches the snippet.
    let admin_cookie = sign_in(&processor, ADMIN).await;
    let empty = get(&processor, "/projects/1/issues", &admin_cookie).await;
    assert_eq!(empty.status(), 200);
    let html = empty.text().await.expect("a page");
    assert!(
        html.contains("frontmon.init({ dsn: &#34;https://"),
        "{html}"
    );

    let now_ms = chrono::Utc::now().timestamp_millis();
    let client = http();
    post(
        &client,
        &collector,
        &json!({"type": "error", "message": "TypeError: cart is undefined",
                "stack": "TypeError: cart is undefined\n    at checkout (https://shop.example/app.js:10:5)\n    at pay (https://shop.example/app.js:20:3)",
                "url": "https://shop.example/cart", "release": "shop@1.2.3",
                "user": {"id": "u-1"}, "tags": {"plan": "pro"},
                "breadcrumbs": [{"timestamp": now_ms - 2000, "category": "click", "message": "button#pay"}]}),
    )
    .await;
    post(&client, &collector, &injection_event(now_ms)).await;
    // A Sentry SDK's event carries its frames' source lines, as a resolved frame has them.
    let stored = client
        .post(format!(
            "{}/api/1/store/?sentry_key={}",
            collector.base,
            shared::testing::TEST_KEY
        ))
        .json(&json!({
            "event_id": "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c",
            "platform": "javascript",
            "level": "error",
            "exception": {"values": [{"type": "RangeError", "value": "Invalid array length",
                "stacktrace": {"frames": [{
                    "filename": "src/list.js", "function": "render", "lineno": 12, "colno": 10,
                    "in_app": true,
                    "pre_context": ["function render(items) {"],
                    "context_line": "  return new Array(items.length - 1);",
                    "post_context": ["}"]}]}}]}
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(stored.status(), 200);
    let issue = issue_id(&processor, "cart is undefined").await;
    let injection = issue_id(&processor, "Injected").await;
    let sourced = issue_id(&processor, "Invalid array length").await;

    // Every page carries the security headers; assets are immutable under hashed names.
    let page = get(&processor, "/projects/1/issues", &admin_cookie).await;
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("text");
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "default-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let html = page.text().await.expect("a page");
    assert!(!html.contains("<script>window.__pwned"), "escaped");
    let asset = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script")
        .to_owned();
    let asset = get(&processor, &asset, "").await;
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    // A state change without the session's CSRF token, or with another's, is refused.
    let status_path = format!("/projects/1/issues/{injection}/status");
    for body in [
        "status=ignored".to_owned(),
        format!("status=ignored&csrf={}", "0".repeat(64)),
    ] {
        let refused = no_redirects()
            .post(format!("{}{status_path}", processor.base))
            .header("cookie", &admin_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), 403);
    }
    // ... and from another origin even with it.
    let token = csrf(&processor, &admin_cookie).await;
    let cross = no_redirects()
        .post(format!("{}{status_path}", processor.base))
        .header("cookie", &admin_cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("status=ignored&csrf={token}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(cross.status(), 403);
    let still = project_get(&processor, &format!("issues/{injection}"))
        .await
        .expect("the issue");
    assert_eq!(still["status"], "unresolved");

    // The member: project 1's pages and JSON, never project 2's (404, as for no project).
    let member_cookie = sign_in(&processor, MEMBER).await;
    for path in [
        "/projects/1/issues",
        &format!("/projects/1/issues/{issue}"),
        "/api/projects/1/issues",
    ] {
        assert_eq!(
            get(&processor, path, &member_cookie).await.status(),
            200,
            "{path}"
        );
    }
    for path in [
        "/projects/2/issues",
        "/projects/2/issues/1",
        "/projects/2",
        "/api/projects/2/issues",
        "/api/projects/2/events",
        "/api/projects/2/stats",
    ] {
        assert_eq!(
            get(&processor, path, &member_cookie).await.status(),
            404,
            "{path}"
        );
    }
    // A personal API token, created on its page, reads what the member sees, and nothing once
    // revoked; it changes nothing (only the admin token may).
    let token = csrf(&processor, &member_cookie).await;
    let created = no_redirects()
        .post(format!("{}/account/tokens", processor.base))
        .header("cookie", &member_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&name=ci"))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 200);
    let html = created.text().await.expect("a page");
    let at = html.find("fmt_").expect("the new token");
    let api_token = html[at..at + 68].to_owned();
    let with_token = |path: String| {
        http()
            .get(format!("{}{path}", processor.base))
            .bearer_auth(&api_token)
            .send()
    };
    assert_eq!(
        with_token("/api/projects/1/issues".into())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        with_token("/api/projects/2/issues".into())
            .await
            .unwrap()
            .status(),
        404
    );
    let patch = http()
        .patch(format!(
            "{}/api/projects/1/issues/{injection}",
            processor.base
        ))
        .bearer_auth(&api_token)
        .json(&json!({"status": "ignored"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(patch.status(), 403);
    let page = get(&processor, "/account/tokens", &member_cookie)
        .await
        .text()
        .await
        .unwrap();
    let at = page
        .find("name=\"revoke\" value=\"")
        .expect("a revoke button")
        + 21;
    let id: String = page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let revoked = no_redirects()
        .post(format!("{}/account/tokens", processor.base))
        .header("cookie", &member_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&revoke={id}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(revoked.status(), 303);
    assert_eq!(
        with_token("/api/projects/1/issues".into())
            .await
            .unwrap()
            .status(),
        403
    );

    // Without a session, the pages lead to the sign-in page and the JSON API wants a token.
    let anonymous = get(&processor, "/projects/1/issues", "").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        get(&processor, "/api/projects/1/issues", "").await.status(),
        401
    );

    // An expired session is no session.
    let database = env.settings.database.url.expose().to_owned();
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&database)
        .await
        .expect("the database");
    sqlx::query("UPDATE dashboard.sessions SET expires_at = now() - interval '1 second'")
        .execute(&mut connection)
        .await
        .expect("expired");
    let expired = get(&processor, "/projects/1/issues", &member_cookie).await;
    assert_eq!(expired.status(), 303);
    assert!(
        expired.headers()["location"]
            .to_str()
            .expect("text")
            .starts_with("/login?next=")
    );
    assert_eq!(
        get(&processor, "/api/projects/1/issues", &member_cookie)
            .await
            .status(),
        401
    );

    // The browser.
    let report = drive(
        "dashboard.mjs",
        &processor,
        [
            ("--issue", issue),
            ("--injection", injection),
            ("--sourced", sourced),
        ],
    )
    .await;

    assert_eq!(report["listed_before"], 1, "{report:#}");
    assert_eq!(report["listed_sorted"], 1, "{report:#}");
    assert!(
        report["detail_title"]
            .as_str()
            .is_some_and(|t| t.contains("cart is undefined")),
        "{report:#}"
    );
    assert_eq!(report["detail_frames"], 2, "{report:#}");
    assert_eq!(report["detail_status_after"], 1, "{report:#}");
    // The frame's own line, numbered, among its neighbours.
    assert_eq!(
        report["sourced_line"], "12   return new Array(items.length - 1);",
        "{report:#}"
    );
    assert_eq!(report["sourced_context_lines"], 3, "{report:#}");
    assert_eq!(
        report["listed_after"], 0,
        "resolved leaves the list: {report:#}"
    );
    assert_eq!(report["listed_resolved"], 1, "{report:#}");
    assert_eq!(report["zh_tab"], "未解决", "{report:#}");
    let resolved = project_get(&processor, &format!("issues/{issue}"))
        .await
        .expect("the issue");
    assert_eq!(resolved["status"], "resolved");

    // The injection corpus ran nothing and sent nothing.
    assert_eq!(report["injection"]["pwned"], 0, "{report:#}");
    assert_eq!(report["injection"]["links_to_javascript"], 0, "{report:#}");
    nothing_left_the_page(&report);

    // Every screen: the layout holds (no wider than the viewport) and axe-core finds no
    // serious or critical violation.
    let screens = report["screens"].as_object().expect("screens");
    assert!(screens.len() >= 15, "{report:#}");
    for (name, screen) in screens {
        assert_eq!(
            screen["overflow"], 0,
            "{name} is wider than its viewport: {screen:#}"
        );
        if let Some(violations) = screen.get("axe") {
            assert_eq!(violations, &json!([]), "{name}: {screen:#}");
        }
    }
    assert_eq!(report["screens"]["issues-zh"]["lang"], "zh-CN");
    assert_eq!(report["screens"]["issues-en"]["lang"], "en");

    // Signed out; the member sees their project only.
    assert_eq!(report["after_logout"], "/login", "{report:#}");
    assert_eq!(report["member_projects"], 1, "{report:#}");
    assert_eq!(report["member_other_status"], 404, "{report:#}");
    assert_eq!(report["member_own_status"], 200, "{report:#}");

    collector.stop().await;
    processor.stop().await;
}

const CHROME_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
/// A page name an attacker chose (the SDK's `route` is the page's to send).
const HOSTILE_ROUTE: &str = "/<img src=x onerror=window.__pwned=true>";

/// Posts a batch as a desktop Chrome would send it (the User-Agent names its browser, OS and
/// device class).
async fn post_from_chrome(collector: &Service, body: &Value) {
    let response = http()
        .post(format!(
            "{}/api/1/events?key={}",
            collector.base,
            shared::testing::TEST_KEY
        ))
        .header("content-type", "text/plain")
        .header("user-agent", CHROME_UA)
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "{body}");
}

/// Three visits: two pages and two sets of good vitals; a hostile page with poor ones; a
/// bounce with middling ones (4 of each vital: p50 and p75 differ). All in one environment
/// and release.
fn visits() -> Value {
    let base = |session: &str, visitor: &str| json!({"session_id": session, "visitor_id": visitor, "environment": "production", "release": "shop@2.0.0"});
    let with = |mut event: Value, fields: Value| {
        for (key, value) in fields.as_object().expect("fields") {
            event[key] = value.clone();
        }
        event
    };
    let mut batch = Vec::new();
    let first = base("s-1", "v-1");
    batch.push(with(first.clone(), json!({"type": "pageview", "url": "https://shop.example/", "referrer": "https://search.example/q"})));
    for (name, value) in [
        ("LCP", 1800.0),
        ("INP", 120.0),
        ("CLS", 0.05),
        ("FCP", 900.0),
        ("TTFB", 300.0),
        ("LCP", 1000.0),
        ("INP", 80.0),
        ("CLS", 0.01),
        ("FCP", 600.0),
        ("TTFB", 150.0),
    ] {
        batch.push(with(
            first.clone(),
            json!({"type": "vital", "name": name, "value": value, "url": "https://shop.example/"}),
        ));
    }
    batch.push(with(
        first,
        json!({"type": "pageview", "url": "https://shop.example/cart"}),
    ));
    let second = base("s-2", "v-2");
    batch.push(with(
        second.clone(),
        json!({"type": "pageview", "url": "https://shop.example/x", "route": HOSTILE_ROUTE}),
    ));
    for (name, value) in [
        ("LCP", 5200.0),
        ("INP", 650.0),
        ("CLS", 0.3),
        ("FCP", 3500.0),
        ("TTFB", 2000.0),
    ] {
        batch.push(with(second.clone(), json!({"type": "vital", "name": name, "value": value, "url": "https://shop.example/x", "route": HOSTILE_ROUTE})));
    }
    let third = base("s-3", "v-3");
    batch.push(with(
        third.clone(),
        json!({"type": "pageview", "url": "https://shop.example/"}),
    ));
    for (name, value) in [
        ("LCP", 3000.0),
        ("INP", 300.0),
        ("CLS", 0.15),
        ("FCP", 2000.0),
        ("TTFB", 1000.0),
    ] {
        batch.push(with(
            third.clone(),
            json!({"type": "vital", "name": name, "value": value, "url": "https://shop.example/"}),
        ));
    }
    Value::Array(batch)
}

/// A release whose name is an injection, with a `/` and spaces in it (its page's path must
/// hold it as one segment).
const HOSTILE_RELEASE: &str = "app/1.9 <img src=x onerror=window.__pwned=true>";

/// The release before the visits': one session with a page view, an LCP and an INP, an
/// error its browser's `onerror` caught (the session crashed), failed API calls on two
/// endpoints, failed resources (one URL an injection), a white screen.
fn older_release() -> Value {
    let base = json!({"session_id": "s-0", "visitor_id": "v-0", "environment": "production",
                      "release": HOSTILE_RELEASE, "url": "https://shop.example/checkout"});
    let with = |fields: Value| {
        let mut event = base.clone();
        for (key, value) in fields.as_object().expect("fields") {
            event[key] = value.clone();
        }
        event
    };
    let pay = json!({"type": "api_error", "target": "https://shop.example/api/pay", "method": "POST", "status": 502, "duration_ms": 812.5});
    let order = json!({"type": "api_error", "target": "https://shop.example/api/order/12", "method": "GET", "status": 500, "duration_ms": 300.0});
    let script = json!({"type": "resource_error", "target": "https://cdn.example/<script>window.__pwned=true</script>.js?v=1", "tag_name": "script"});
    let logo = json!({"type": "resource_error", "target": "https://cdn.example/logo.png", "tag_name": "img"});
    Value::Array(vec![
        with(json!({"type": "pageview"})),
        with(json!({"type": "vital", "name": "LCP", "value": 2200.0})),
        with(json!({"type": "vital", "name": "INP", "value": 150.0})),
        with(
            json!({"type": "error", "message": "ReferenceError: gone in 1.9", "mechanism": "onerror",
                    "stack": "ReferenceError: gone in 1.9\n    at pay (https://shop.example/app.js:9:1)"}),
        ),
        with(pay.clone()),
        with(pay),
        with(order),
        with(script),
        with(logo.clone()),
        with(logo),
        with(json!({"type": "white_screen", "empty_ratio": 1, "points": 18})),
    ])
}

/// A JSON number as the page writes it in `data-value` (empty for none).
fn exact(value: &Value) -> Value {
    if value.is_number() {
        Value::String(value.to_string())
    } else {
        Value::String(String::new())
    }
}

/// The rows of an answer's table as the page's table holds them: the name, then each
/// column's exact value.
fn rows(answer: &Value, key: &str, name: &str, columns: &[&str]) -> Value {
    answer[key]
        .as_array()
        .expect("a table")
        .iter()
        .map(|row| {
            let mut cells = vec![row[name].clone()];
            cells.extend(columns.iter().map(|column| exact(&row[*column])));
            Value::Array(cells)
        })
        .collect()
}

#[tokio::test]
async fn the_analytics_screens_show_the_apis_numbers_and_charts_to_those_who_may_see_them() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;
    admin::users::create(&env.settings, ADMIN, PASSWORD, true, &[])
        .await
        .expect("the admin");
    admin::users::create(&env.settings, MEMBER, PASSWORD, false, &[1])
        .await
        .expect("the member");

    // The older release first: it is first seen before the visits' (or in the same hour,
    // and its name sorts first), so it is the previous release of theirs.
    post_from_chrome(&collector, &older_release()).await;
    post_from_chrome(&collector, &visits()).await;
    // An issue that is new, and one that is new, resolved and back: regressed.
    let error = |message: &str| json!({"type": "error", "message": message, "stack": format!("{message}\n    at pay (https://shop.example/app.js:20:3)"), "environment": "production", "release": "shop@2.0.0"});
    post_from_chrome(&collector, &error("TypeError: basket is empty")).await;
    post_from_chrome(&collector, &error("RangeError: only new")).await;
    let back = issue_id(&processor, "basket is empty").await;
    issue_id(&processor, "only new").await;
    let resolved = http()
        .patch(format!("{}/api/projects/1/issues/{back}", processor.base))
        .bearer_auth(shared::testing::ADMIN_TOKEN)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resolved.status(), 200);
    post_from_chrome(&collector, &error("TypeError: basket is empty")).await;
    eventually("the regression", WAIT, || async {
        let issue = project_get(&processor, &format!("issues/{back}")).await?;
        issue["regressed_at"].is_string().then_some(())
    })
    .await;
    eventually("the visits counted", WAIT, || async {
        let traffic = project_get(&processor, "traffic").await?;
        let vitals = project_get(&processor, "vitals").await?;
        let errors = project_get(&processor, "errors").await?;
        let health = project_get(&processor, "api-health").await?;
        let blank = project_get(&processor, "white-screens").await?;
        (traffic["totals"]["pageviews"]["value"] == 5
            && traffic["totals"]["sessions"]["value"] == 4
            && vitals["summary"]["TTFB"]["count"] == 4
            && errors["totals"]["errors"]["value"] == 4
            && health["totals"]["api_failures"]["value"] == 3
            && health["totals"]["resource_failures"]["value"] == 3
            && blank["totals"]["white_screens"]["value"] == 1)
            .then_some(())
    })
    .await;

    let report = drive("dashboard-analytics.mjs", &processor, []).await;

    // The JSON API's answers for the period the pages showed.
    let overview = &report["screens"]["overview-en"];
    let since = overview["since"].as_str().expect("the period").to_owned();
    let until = overview["until"].as_str().expect("the period").to_owned();
    let window = format!("since={since}&until={until}&interval=1h");
    let traffic = project_get(&processor, &format!("traffic?{window}"))
        .await
        .expect("traffic");
    let vitals = project_get(&processor, &format!("vitals?{window}&metric=LCP"))
        .await
        .expect("vitals");
    let errors = project_get(&processor, &format!("errors?{window}"))
        .await
        .expect("errors");
    let health = project_get(&processor, &format!("api-health?{window}"))
        .await
        .expect("api health");
    let blank = project_get(&processor, &format!("white-screens?{window}"))
        .await
        .expect("white screens");
    let releases = project_get(&processor, &format!("releases?{window}&limit=100"))
        .await
        .expect("releases");
    let issues = project_get(&processor, "issues?status=all&limit=100")
        .await
        .expect("issues");
    let within = |at: &Value| {
        at.as_str()
            .is_some_and(|at| since.as_str() <= at && at < until.as_str())
    };
    let issue_list = issues["issues"].as_array().expect("issues");
    let title = |i: &Value| i["title"].clone();
    let mut new_titles: Vec<Value> = issue_list
        .iter()
        .filter(|i| within(&i["first_seen"]))
        .map(title)
        .collect();
    new_titles.sort_by_key(|t| t.to_string());
    let new = new_titles.len();
    let regressed = issue_list
        .iter()
        .filter(|i| within(&i["regressed_at"]))
        .count();
    // Three errors, two failing endpoints, two failing resources and a white screen: each
    // its issue, all new; one error came back.
    assert_eq!((new, regressed), (8, 1), "{issues:#}");
    let p75 = |name: &str| exact(&vitals["summary"][name]["p75"]);
    let total = |key: &str| exact(&traffic["totals"][key]["value"]);
    let error_total = |key: &str| exact(&errors["totals"][key]["value"]);
    let problems = |answer: &Value, key: &str| exact(&answer["totals"][key]["value"]);
    let endpoints: Value = health["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            json!([
                format!(
                    "{} {}",
                    e["method"].as_str().expect("a method"),
                    e["path"].as_str().expect("a path")
                ),
                exact(&e["failures"]),
                exact(&e["previous"]),
                exact(&e["p75_ms"]),
                exact(&e["p95_ms"])
            ])
        })
        .collect();
    let release_rows = releases["releases"].as_array().expect("releases");
    // Each release's row: its adoption, sessions, crash-free sessions, error rate, new and
    // regressed issues, the p75 of LCP, INP and CLS; and the previous release's p75s.
    let release_table: Value = release_rows
        .iter()
        .map(|r| {
            let mut cells = vec![r["release"].clone()];
            for key in [
                "adoption",
                "sessions",
                "crash_free_sessions",
                "error_rate",
                "new_issues",
                "regressed_issues",
            ] {
                cells.push(exact(&r[key]));
            }
            for vital in ["LCP", "INP", "CLS"] {
                cells.push(exact(&r["vitals_p75"][vital]));
            }
            Value::Array(cells)
        })
        .collect();
    let release_previous: Value = release_rows
        .iter()
        .map(|r| {
            ["LCP", "INP", "CLS"]
                .iter()
                .map(|vital| exact(&r["previous"]["vitals_p75"][*vital]))
                .collect::<Value>()
        })
        .collect();

    for lang in ["en", "zh"] {
        let screen = |name: &str| &report["screens"][format!("{name}-{lang}")];
        assert_eq!(
            screen("overview")["figures"],
            json!({"errors": error_total("errors"), "affected_users": error_total("affected_users"),
                   "crash_free_sessions": error_total("crash_free_sessions"),
                   "new_issues": new.to_string(), "regressed_issues": regressed.to_string(),
                   "pageviews": total("pageviews"), "visitors": total("visitors"), "sessions": total("sessions"),
                   "LCP": p75("LCP"), "INP": p75("INP"), "CLS": p75("CLS")}),
            "{lang}: {report:#}"
        );
        assert_eq!(
            screen("overview")["lists"]["top-regressed"],
            json!(["TypeError: basket is empty"]),
            "{report:#}"
        );
        assert_eq!(
            screen("performance")["figures"],
            json!({"LCP": p75("LCP"), "INP": p75("INP"), "CLS": p75("CLS"), "FCP": p75("FCP"), "TTFB": p75("TTFB"),
                   "api_failures": problems(&health, "api_failures"),
                   "resource_failures": problems(&health, "resource_failures"),
                   "white_screens": problems(&blank, "white_screens")}),
            "{lang}: {report:#}"
        );
        // What failed, the most first, as the endpoints sort it; the injected URL as text.
        let failures = &screen("performance")["tables"];
        assert_eq!(failures["api-endpoints"], endpoints, "{lang}: {report:#}");
        assert_eq!(
            failures["failed-resources"],
            rows(&health, "resources", "url", &["failures", "previous"]),
            "{lang}: {report:#}"
        );
        assert_eq!(
            failures["white-screens"],
            rows(
                &blank,
                "pages",
                "page",
                &["white_screens", "rate", "previous"]
            ),
            "{lang}: {report:#}"
        );
        // Every release, newest first, with the previous release's vitals beneath its own.
        assert_eq!(
            screen("releases")["tables"]["releases"],
            release_table,
            "{lang}: {report:#}"
        );
        assert_eq!(
            screen("releases")["previous"]["releases"],
            release_previous,
            "{lang}: {report:#}"
        );
        // Each release's page, reached by its link: its figures and its new issues.
        for (i, row) in release_rows.iter().enumerate() {
            let page = screen(&format!("release-{i}"));
            assert_eq!(page["subject"], row["release"], "{lang}: {page:#}");
            let mut figures = json!({});
            for key in [
                "pageviews",
                "adoption",
                "sessions",
                "crash_free_sessions",
                "errors",
                "error_rate",
                "new_issues",
                "regressed_issues",
            ] {
                figures[key] = exact(&row[key]);
            }
            for vital in ["LCP", "INP", "CLS", "FCP", "TTFB"] {
                figures[vital] = exact(&row["vitals_p75"][vital]);
            }
            assert_eq!(page["figures"], figures, "{lang}: {page:#}");
            let mut listed: Vec<Value> = page["lists"]["release-new-issues"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            listed.sort_by_key(|t| t.to_string());
            let mut first_seen_in: Vec<Value> = issue_list
                .iter()
                .filter(|issue| issue["first_release"] == row["release"])
                .map(title)
                .collect();
            first_seen_in.sort_by_key(|t| t.to_string());
            assert_eq!(listed, first_seen_in, "{lang}: {page:#}");
            assert_eq!(
                page["issue_links"].as_array().map(Vec::len),
                Some(first_seen_in.len()),
                "{page:#}"
            );
            for link in page["issue_links"].as_array().expect("links") {
                assert!(
                    link.as_str()
                        .is_some_and(|l| l.starts_with("/projects/1/issues/")),
                    "{link}"
                );
            }
        }
        // The worst page first, as the API sorts it, with its shares.
        assert_eq!(
            screen("performance")["tables"]["vital-pages"],
            rows(
                &vitals,
                "pages",
                "page",
                &["p75", "count", "good", "needs_improvement", "poor"]
            ),
            "{lang}: {report:#}"
        );
        assert_eq!(
            screen("traffic")["figures"],
            json!({"pageviews": total("pageviews"), "visitors": total("visitors"), "sessions": total("sessions"),
                   "bounce_rate": total("bounce_rate"), "session_seconds": total("session_seconds")}),
            "{lang}: {report:#}"
        );
        let tables = &screen("traffic")["tables"];
        assert_eq!(
            tables["top-pages"],
            rows(
                &traffic,
                "pages",
                "page",
                &["pageviews", "visitors", "previous"]
            ),
            "{report:#}"
        );
        assert_eq!(
            tables["entry-pages"],
            rows(
                &traffic,
                "entry_pages",
                "page",
                &["sessions", "bounce_rate", "session_seconds", "previous"]
            ),
            "{report:#}"
        );
        for (id, key, name) in [
            ("referrers", "referrers", "host"),
            ("browsers", "browsers", "name"),
            ("os", "os", "name"),
            ("devices", "devices", "name"),
        ] {
            assert_eq!(
                tables[id],
                rows(&traffic, key, name, &["pageviews", "previous"]),
                "{id}: {report:#}"
            );
        }
        // The tabs list the issues of the period.
        let mut listed = screen("issues-new")["rows"]
            .as_array()
            .expect("rows")
            .clone();
        listed.sort_by_key(|t| t.to_string());
        assert_eq!(listed, new_titles, "{report:#}");
        assert_eq!(
            screen("issues-regressed")["rows"],
            json!(["TypeError: basket is empty"]),
            "{report:#}"
        );
    }
    // Something real was measured, and every chart drew it.
    assert_eq!(traffic["totals"]["pageviews"]["value"], 5, "{traffic:#}");
    assert_eq!(
        (
            &errors["totals"]["errors"]["value"],
            &errors["totals"]["sessions"]["value"],
            &errors["totals"]["crash_free_sessions"]["value"]
        ),
        (&json!(4), &json!(4), &json!(0.75)),
        "{errors:#}"
    );
    assert_eq!(
        (
            &health["endpoints"][0]["path"],
            &health["endpoints"][0]["failures"]
        ),
        (&json!("/api/pay"), &json!(2)),
        "{health:#}"
    );
    assert_eq!(
        health["resources"][0]["url"], "https://cdn.example/logo.png",
        "{health:#}"
    );
    assert_eq!(blank["pages"][0]["page"], "/checkout", "{blank:#}");
    let names: Vec<&Value> = release_rows.iter().map(|r| &r["release"]).collect();
    assert_eq!(
        names,
        [&json!("shop@2.0.0"), &json!(HOSTILE_RELEASE)],
        "{releases:#}"
    );
    assert_eq!(release_rows[0]["previous"]["release"], HOSTILE_RELEASE);
    assert!(
        release_rows[0]["previous"]["vitals_p75"]["LCP"].is_number(),
        "{releases:#}"
    );
    assert_eq!(report["screens"]["release-0-zh"]["h1"], "版本");
    // With nothing measured, each table says what would appear in it.
    let empty = &report["empty_performance"]["empty"];
    for id in [
        "api-endpoints-empty",
        "failed-resources-empty",
        "white-screens-empty",
    ] {
        assert!(
            empty[id].as_str().is_some_and(|text| text.len() > 40),
            "{id}: {report:#}"
        );
    }
    assert!(
        report["empty_releases"]["empty"]["releases-empty"]
            .as_str()
            .is_some_and(|text| text.contains("frontmon.init")),
        "{report:#}"
    );
    assert_eq!(vitals["pages"][0]["page"], HOSTILE_ROUTE, "{vitals:#}");
    assert_eq!(
        traffic["referrers"][0]["host"], "search.example",
        "{traffic:#}"
    );
    for (name, screen) in report["screens"].as_object().expect("screens") {
        let charts = screen["charts"].as_array().expect("charts");
        let expected = match name.trim_start_matches("phone-") {
            n if n.starts_with("performance") => 5,
            n if n.starts_with("overview") || n.starts_with("traffic") => 1,
            _ => 0,
        };
        assert_eq!(charts.len(), expected, "{name}: {screen:#}");
        for chart in charts {
            assert!(
                chart["painted"].as_u64() > Some(0),
                "{name}: a blank canvas: {chart}"
            );
            assert!(
                chart["points"].as_u64() > Some(0),
                "{name}: nothing plotted: {chart}"
            );
        }
        // The hostile page name is text; the layout holds, on a phone too.
        assert_eq!(screen["pwned"], 0, "{name}");
        assert_eq!(screen["overflow"], 0, "{name} is wider than its viewport");
        if let Some(violations) = screen.get("axe") {
            assert_eq!(violations, &json!([]), "{name}: {screen:#}");
        }
    }
    assert_eq!(report["screens"]["overview-zh"]["lang"], "zh-CN");
    assert_eq!(report["screens"]["overview-zh"]["h1"], "概览");
    assert_eq!(report["screens"]["traffic-en"]["h1"], "Traffic");
    assert_eq!(
        report["project_lands_on"], "/projects/1/overview",
        "{report:#}"
    );
    // A boosted link (htmx swaps the page in, dropping its scripts) still draws its chart.
    assert!(
        report["boosted_traffic"]["charts"][0]["points"].as_u64() > Some(0),
        "{report:#}"
    );

    // The member: their project's screens, the same numbers; the other project's: 404.
    for (name, seen) in report["member"].as_object().expect("the member") {
        assert_eq!(seen["status"], 200, "{name}: {seen:#}");
        assert_eq!(seen["other_status"], 404, "{name}: {seen:#}");
    }
    assert_eq!(report["member_other_release_status"], 404, "{report:#}");
    assert_eq!(
        report["member"]["traffic"]["figures"],
        report["screens"]["traffic-en"]["figures"]
    );
    nothing_left_the_page(&report);
    // Over HTTP: no session, no screen; a bad period is a 400.
    assert_eq!(
        get(&processor, "/projects/1/traffic", "").await.status(),
        303
    );
    let cookie = sign_in(&processor, MEMBER).await;
    assert_eq!(
        get(&processor, "/projects/2/performance", &cookie)
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&processor, "/projects/1/traffic?range=1y", &cookie)
            .await
            .status(),
        400
    );
    let page = get(&processor, "/projects/1/performance", &cookie).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    collector.stop().await;
    processor.stop().await;
}
