//! Every project-scoped route refuses a member of another project, through the pages and the
//! JSON API, with a session and with a personal API token.
//!
//! The routes are not listed here: they are read from the route tables' source
//! (`processor/src/**` and `dashboard/src/**`, every string literal that starts with
//! `/api/projects/{project}` or `/projects/{project}`), so a route added tomorrow is checked
//! without anyone remembering to add it. Each is asked for project 2 by a member of project 1
//! with every method: a `GET` must answer 404 (or 405), exactly as for a project that does not
//! exist, and no method may succeed. The control: the admin's `GET` of the same route answers
//! 200 for the routes that take only the project, and so does the member's for project 1, so
//! the 404s come from the access check and not from a path the harness got wrong.

use std::collections::BTreeSet;
use std::path::Path;

use shared::testing::TestEnv;

use crate::dashboard::{ADMIN, MEMBER, PASSWORD, csrf, no_redirects, sign_in};
use crate::support::*;

/// The screens only an admin sees, whoever's project it is.
const ADMIN_ONLY: &[&str] = &["/projects/{project}/settings"];

/// Every project-scoped route pattern in the source of the processor and the dashboard.
fn project_routes() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut routes = BTreeSet::new();
    for crate_dir in ["processor/src", "dashboard/src"] {
        let mut files = vec![root.join(crate_dir)];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                let entries = std::fs::read_dir(&path).expect("a source directory");
                files.extend(entries.map(|entry| entry.expect("an entry").path()));
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let source = std::fs::read_to_string(&path).expect("a source file");
                routes.extend(literals(&source));
            }
        }
    }
    routes
}

/// The route patterns quoted in `source`: from `"/api/projects/{project}` or
/// `"/projects/{project}` to the closing quote (found by their opening, so that escaped
/// quotes elsewhere in the file cannot pair quotes up wrongly).
fn literals(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["\"/api/projects/{project}", "\"/projects/{project}"] {
        for (at, _) in source.match_indices(prefix) {
            let text = &source[at + 1..];
            if let Some(end) = text.find('"') {
                let route = &text[..end];
                if !route.contains(char::is_whitespace) && !route.contains('\\') {
                    found.push(route.to_owned());
                }
            }
        }
    }
    found
}

/// The pattern with `{project}` set and every other parameter given a plausible value.
fn path_for(pattern: &str, project: u32) -> String {
    let mut path = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closed parameter") + open;
        path.push_str(&match &rest[open + 1..close] {
            "project" => project.to_string(),
            "event_id" => "0123456789abcdef0123456789abcdef".to_owned(),
            "release" => "shop%401.0.0".to_owned(),
            "user" => "u1".to_owned(),
            _ => "1".to_owned(),
        });
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

fn takes_only_the_project(pattern: &str) -> bool {
    pattern.matches('{').count() == 1
}

/// How a request is authenticated.
enum As<'a> {
    Session { cookie: &'a str, csrf: &'a str },
    Token(&'a str),
}

/// The answer's status; a redirect to the sign-in page (what a page answers a request that
/// carries no session, such as one with only an API token) counts as 401.
async fn ask(processor: &Service, method: reqwest::Method, path: &str, who: &As<'_>) -> u16 {
    let mut request = no_redirects()
        .request(method, format!("{}{path}", processor.base))
        // The processor's own origin: the CSRF check must not be what refuses.
        .header("origin", processor.base.as_str());
    request = match who {
        As::Session { cookie, csrf } => request
            .header("cookie", *cookie)
            .header("x-csrf-token", *csrf),
        As::Token(token) => request.bearer_auth(token),
    };
    let response = request.send().await.expect("sent");
    let to_sign_in = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.starts_with("/login"));
    match response.status().as_u16() {
        303 if to_sign_in => 401,
        status => status,
    }
}

#[tokio::test]
async fn every_project_route_refuses_a_member_of_another_project() {
    let routes = project_routes();
    for expected in [
        "/api/projects/{project}/issues",
        "/api/projects/{project}/vitals",
        "/projects/{project}/issues",
    ] {
        assert!(routes.contains(expected), "{expected} in {routes:?}");
    }

    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    admin::users::create(&env.settings, ADMIN, PASSWORD, true, &[])
        .await
        .expect("the admin");
    admin::users::create(&env.settings, MEMBER, PASSWORD, false, &[1])
        .await
        .expect("the member");
    let admin_cookie = sign_in(&processor, ADMIN).await;
    let admin_csrf = csrf(&processor, &admin_cookie).await;
    let admin = As::Session {
        cookie: &admin_cookie,
        csrf: &admin_csrf,
    };
    let member_cookie = sign_in(&processor, MEMBER).await;
    let member_csrf = csrf(&processor, &member_cookie).await;
    let member = As::Session {
        cookie: &member_cookie,
        csrf: &member_csrf,
    };
    // The member's personal API token, made on its page.
    let created = no_redirects()
        .post(format!("{}/account/tokens", processor.base))
        .header("cookie", &member_cookie)
        .header("origin", processor.base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={member_csrf}&name=access"))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 200, "token created");
    let html = created.text().await.expect("a page");
    let at = html.find("fmt_").expect("the new token");
    let token = html[at..at + 68].to_owned();
    let member_token = As::Token(&token);

    let mut controlled = 0;
    for pattern in &routes {
        let theirs = path_for(pattern, 2);
        for who in [&member, &member_token] {
            let status = ask(&processor, reqwest::Method::GET, &theirs, who).await;
            assert!(
                matches!(status, 404 | 405) || (status == 401 && matches!(who, As::Token(_))),
                "GET {theirs} by a member of project 1: {status}"
            );
            for method in [
                reqwest::Method::POST,
                reqwest::Method::PATCH,
                reqwest::Method::PUT,
                reqwest::Method::DELETE,
            ] {
                let status = ask(&processor, method.clone(), &theirs, who).await;
                assert!(
                    matches!(status, 400 | 401 | 403 | 404 | 405 | 415),
                    "{method} {theirs} by a member of project 1: {status}"
                );
            }
        }
        if takes_only_the_project(pattern)
            && ask(&processor, reqwest::Method::GET, &theirs, &admin).await == 200
        {
            let ours = path_for(pattern, 1);
            // An admin-only screen is refused to a member of its own project too.
            let own = if ADMIN_ONLY.contains(&pattern.as_str()) {
                404
            } else {
                200
            };
            assert_eq!(
                ask(&processor, reqwest::Method::GET, &ours, &member).await,
                own,
                "GET {ours} by its member"
            );
            assert_eq!(
                ask(&processor, reqwest::Method::GET, &theirs, &member).await,
                404,
                "GET {theirs}: the admin reads it, the member must not"
            );
            controlled += 1;
        }
    }
    // Issues, events, stats, the analytics endpoints and the screens at least.
    assert!(
        controlled >= 10,
        "only {controlled} of {} routes were readable by the admin",
        routes.len()
    );
    println!(
        "access: {} project routes, {controlled} controlled by the admin's 200",
        routes.len()
    );
}

/// An alert about an event links to `/projects/{p}/events/{id}`: the page of the issue the
/// event was grouped into, once the processor has stored it; 404 before that.
#[tokio::test]
async fn an_alerts_event_link_leads_to_the_events_issue() {
    let env = TestEnv::new();
    let processor = Service::processor(&env.settings).await;
    let collector = Service::collector(&env.settings).await;
    admin::users::create(&env.settings, ADMIN, PASSWORD, true, &[])
        .await
        .expect("the admin");
    let cookie = sign_in(&processor, ADMIN).await;
    let csrf = csrf(&processor, &cookie).await;
    let admin = As::Session {
        cookie: &cookie,
        csrf: &csrf,
    };
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        ask(
            &processor,
            reqwest::Method::GET,
            &format!("/projects/1/events/{unknown}"),
            &admin
        )
        .await,
        404
    );
    let ids = post(
        &http(),
        &collector,
        &serde_json::json!({"type": "error", "message": "TypeError: the linked one"}),
    )
    .await;
    let event = ids[0].clone();
    let stored = shared::testing::eventually("the event's issue", WAIT, || async {
        let stored = project_get(&processor, &format!("events/{event}")).await?;
        stored["issue_id"].as_i64()
    })
    .await;
    let response = no_redirects()
        .get(format!("{}/projects/1/events/{event}", processor.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok()),
        Some(format!("/projects/1/issues/{stored}").as_str())
    );
    // The event belongs to project 1: project 2 has no such event.
    assert_eq!(
        ask(
            &processor,
            reqwest::Method::GET,
            &format!("/projects/2/events/{event}"),
            &admin
        )
        .await,
        404
    );
}

#[test]
fn route_literals_are_found_and_filled() {
    let source = r#"cfg.route("/api/projects/{project}/issues/{issue}", x); let s = "/projects/{}/x"; "/projects/{project}""#;
    assert_eq!(
        literals(source),
        [
            "/api/projects/{project}/issues/{issue}",
            "/projects/{project}"
        ]
    );
    // An escaped quote before a route does not hide it.
    assert_eq!(
        literals(r#"f("\"", "/projects/{project}/x")"#),
        ["/projects/{project}/x"]
    );
    assert_eq!(
        path_for("/api/projects/{project}/issues/{issue}/events", 2),
        "/api/projects/2/issues/1/events"
    );
    assert!(takes_only_the_project("/projects/{project}/traffic"));
    assert!(!takes_only_the_project(
        "/projects/{project}/issues/{issue}"
    ));
}
