//! `scripts/import-cycles`: no crate's modules import each other round a loop (the style
//! guide's one-way imports), and the check itself fails on a loop, so it can hold the line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check(tree: &Path) -> Output {
    Command::new(root().join("scripts/import-cycles"))
        .arg(tree)
        .output()
        .unwrap()
}

#[test]
fn no_crate_of_the_workspace_has_an_import_cycle() {
    let output = check(&root());
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn a_handler_taking_its_state_from_startup_is_a_cycle() {
    let tree =
        std::env::temp_dir().join(format!("frontmon-import-cycles-{}", uuid::Uuid::new_v4()));
    for (path, text) in [
        ("Cargo.toml", "[package]\nname = \"toy\"\n"),
        ("src/lib.rs", "pub mod ingest;\npub mod startup;\n"),
        (
            "src/startup.rs",
            "use crate::ingest;\npub struct State;\npub fn run() { ingest::routes(); }\n",
        ),
        (
            "src/ingest.rs",
            "use crate::startup::State;\npub fn routes() {}\n",
        ),
    ] {
        let path = tree.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let output = check(&tree);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();

    // The state in its own module breaks the loop.
    std::fs::write(
        tree.join("src/lib.rs"),
        "pub mod ingest;\npub mod startup;\npub mod state;\n",
    )
    .unwrap();
    std::fs::write(tree.join("src/state.rs"), "pub struct State;\n").unwrap();
    std::fs::write(
        tree.join("src/startup.rs"),
        "use crate::ingest;\npub fn run() { ingest::routes(); }\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("src/ingest.rs"),
        "use crate::state::State;\npub fn routes() {}\n",
    )
    .unwrap();
    let fixed = check(&tree);
    std::fs::remove_dir_all(&tree).unwrap();

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout.contains("import cycle ingest -> startup -> ingest"),
        "{stdout}"
    );
    assert!(fixed.status.success(), "{fixed:?}");
}

#[test]
fn scripts_test_checks_the_imports_before_clippy() {
    let output = Command::new("bash")
        .arg(root().join("scripts/test"))
        .arg("--plan")
        .output()
        .unwrap();
    let steps = String::from_utf8(output.stdout).unwrap();
    let check = steps.find("scripts/import-cycles\n");
    let clippy = steps.find("cargo clippy");
    assert!(check.is_some() && check < clippy, "{steps}");
    assert!(
        steps.contains("scripts/import-cycles --self-test\n"),
        "{steps}"
    );
}
