//! `frontmon-admin projects` and `keys` against the real PostgreSQL, the binary as an operator
//! runs it, on the tables a real processor created and seeded from `[[projects]]`.

use std::path::PathBuf;

use shared::config::PublicKey;
use shared::testing::spawned::Spawned;
use shared::testing::{ADMIN_TOKEN, OTHER_KEY, TEST_KEY, TestEnv};

use crate::sourcemaps::{Processor, admin, stdout};

/// A configuration file naming only the test's database and a collector port, removed when
/// dropped.
struct Config(PathBuf);

impl Config {
    fn write(env: &TestEnv) -> Self {
        let path = std::env::temp_dir().join(format!("{}-admin.toml", env.prefix));
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{}\"\n[collector]\nlisten = \"0.0.0.0:8099\"\n",
                env.settings.database.url.expose()
            ),
        )
        .unwrap();
        Self(path)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value after `word ` on the line that starts with it.
fn field<'a>(text: &'a str, word: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{word} ")))
        .unwrap_or_else(|| panic!("no {word} line in {text}"))
}

/// The line of `list` that names `key`.
fn line<'a>(list: &'a str, key: &str) -> &'a str {
    list.lines()
        .find(|line| line.contains(key))
        .unwrap_or_else(|| panic!("{key} not listed: {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_and_keys_are_created_listed_added_and_revoked() {
    let env = TestEnv::new();
    let config = Config::write(&env);
    let config = Some(config.0.as_path());

    // Before any processor made the tables: said so, with what to do.
    let output = admin(config, &["projects", "list"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("start the processor once"),
        "{}",
        stderr(&output)
    );

    // The processor's start creates the tables and seeds them from [[projects]].
    Processor::start(&env).await.stop().await;
    let output = admin(config, &["projects", "list"]).await;
    assert!(output.status.success(), "{output:?}");
    let list = stdout(&output);
    assert!(list.contains("1  test  origins: *"), "{list}");
    assert!(
        list.contains(&format!("dsn http://{TEST_KEY}@127.0.0.1:8099/1")),
        "{list}"
    );
    assert!(
        list.contains("2  shop  origins: https://shop.example"),
        "{list}"
    );
    assert!(list.contains(OTHER_KEY), "{list}");

    // A second key, then the first revoked: a rotation.
    let output = admin(config, &["keys", "add", "1", "--label", "2026 rotation"]).await;
    assert!(output.status.success(), "{output:?}");
    let added = stdout(&output);
    let key = field(&added, "key").to_owned();
    assert!(PublicKey::parse(&key).is_ok(), "{added}");
    assert_eq!(
        field(&added, "dsn"),
        format!("http://{key}@127.0.0.1:8099/1")
    );
    let output = admin(config, &["keys", "revoke", "1", TEST_KEY]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("revoked"), "{output:?}");
    let list = stdout(&admin(config, &["projects", "list"]).await);
    assert!(line(&list, TEST_KEY).contains("REVOKED"), "{list}");
    assert!(line(&list, &key).contains("(2026 rotation)"), "{list}");
    assert!(line(&list, &key).contains("dsn http://"), "{list}");

    // Again: nothing to do, and said so; wrong project or key: refused, naming them.
    let output = admin(config, &["keys", "revoke", "1", TEST_KEY]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("revoked already"), "{output:?}");
    let output = admin(config, &["keys", "revoke", "2", &key]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains(&format!("project 2 has no key {key}")));
    // A given key (one already in pages): taken ones refused, revoked ones included.
    let output = admin(config, &["keys", "add", "2", "--key", TEST_KEY]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("that key exists already"),
        "{output:?}"
    );
    let given = PublicKey::generate();
    let output = admin(config, &["keys", "add", "2", "--key", given.as_str()]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(field(&stdout(&output), "key"), given.as_str());
    let output = admin(config, &["keys", "add", "2", "--key", "not-a-key"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = admin(config, &["keys", "add", "9"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("there is no project 9"));

    // A new project: the next id, with a key and its DSN at the address given.
    let output = admin(
        config,
        &[
            "projects",
            "create",
            "--name",
            "blog",
            "--origin",
            "https://blog.example",
            "--rate-limit",
            "600",
            "--route",
            "/posts/:slug",
            "--collector-url",
            "https://in.example",
        ],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let created = stdout(&output);
    assert!(created.contains("created project 3 (blog)"), "{created}");
    let blog_key = field(&created, "key");
    assert_eq!(
        field(&created, "dsn"),
        format!("https://{blog_key}@in.example/3")
    );
    let list = stdout(&admin(config, &["projects", "list"]).await);
    assert!(
        list.contains("3  blog  origins: https://blog.example  rate limit: 600/min"),
        "{list}"
    );
    let output = admin(config, &["projects", "create", "--name", "x", "--id", "3"]).await;
    assert!(
        stderr(&output).contains("project 3 exists already"),
        "{output:?}"
    );
    let output = admin(
        config,
        &["projects", "create", "--name", "x", "--route", "a"],
    )
    .await;
    assert!(
        stderr(&output).contains("route pattern \"a\""),
        "{output:?}"
    );

    // The configuration only seeds: a processor started again with another key for project 1
    // leaves the database's keys as they are (the revoked one stays revoked). It takes its
    // projects from the database: the read API knows project 3, which no configuration names.
    let mut changed = env.settings.clone();
    let other = PublicKey::generate();
    changed.projects[0].public_keys = vec![other.clone()];
    changed.projects[0].name = "renamed".into();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let app = processor::Application::build(changed, shutdown.clone())
        .await
        .unwrap();
    let running = Spawned::spawn("processor", app.port(), shutdown, app.run_until_stopped());
    let events = |project: u32| {
        reqwest::Client::new()
            .get(format!("{}/api/projects/{project}/events", running.base()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(events(3).await.unwrap().status(), 200);
    assert_eq!(events(4).await.unwrap().status(), 404);
    running
        .stop_within(std::time::Duration::from_secs(30))
        .await;
    let list = stdout(&admin(config, &["projects", "list"]).await);
    assert!(!list.contains(other.as_str()), "{list}");
    assert!(list.contains("1  test  "), "{list}");
    assert!(line(&list, TEST_KEY).contains("REVOKED"), "{list}");
}
