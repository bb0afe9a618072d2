//! The `frontmon-admin` binary's command line: `--help` at every level, and a wrong argument
//! answered with the usage and exit status 2. No broker, processor or configuration needed.

use std::process::Output;

fn admin(args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_frontmon-admin"));
    command.env_remove("FRONTMON_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("FRONTMON__") {
            command.env_remove(key);
        }
    }
    command.args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_command_answers_help_with_its_usage() {
    for (args, usage, mentions) in [
        (
            &["--help"][..],
            "frontmon-admin [OPTIONS] [COMMAND]",
            &["queues", "replay", "sourcemaps"][..],
        ),
        (&["help"], "frontmon-admin [OPTIONS] [COMMAND]", &["queues"]),
        (
            &["queues", "--help"],
            "frontmon-admin queues",
            &["--config"],
        ),
        (
            &["replay", "--help"],
            "frontmon-admin replay",
            &["processor", "alerter", "unroutable", "--limit"],
        ),
        (
            &["sourcemaps", "--help"],
            "frontmon-admin sourcemaps",
            &["upload", "list", "delete"],
        ),
        (
            &["sourcemaps", "upload", "--help"],
            "frontmon-admin sourcemaps upload",
            &[
                "--release",
                "--url-prefix",
                "--api",
                "--token",
                "--project",
                "<DIR>",
            ],
        ),
        (
            &["sourcemaps", "list", "--help"],
            "frontmon-admin sourcemaps list",
            &["--release", "--debug-id"],
        ),
        (
            &["sourcemaps", "delete", "--help"],
            "frontmon-admin sourcemaps delete",
            &["--release", "--id"],
        ),
        (
            &["help", "sourcemaps", "upload"],
            "frontmon-admin sourcemaps upload",
            &["--url-prefix"],
        ),
    ] {
        let output = admin(args);
        let stdout = text(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        assert!(
            stdout.contains(&format!("Usage: {usage}")),
            "{args:?}: {stdout}"
        );
        for word in mentions {
            assert!(
                stdout.contains(word),
                "{args:?} does not mention {word}: {stdout}"
            );
        }
    }
    // Without a command: the usage, and no error.
    let output = admin(&[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(text(&output.stdout).contains("Usage: frontmon-admin"));
}

#[test]
fn a_wrong_argument_prints_the_usage_and_exits_2() {
    for (args, complaint) in [
        (&["frobnicate"][..], "frobnicate"),
        (&["queues", "extra"], "extra"),
        (&["replay"], "<SOURCE>"),
        (&["replay", "nowhere"], "nowhere"),
        (&["replay", "processor", "--limit", "many"], "many"),
        (&["sourcemaps"], "sourcemaps"),
        (&["sourcemaps", "frobnicate"], "frobnicate"),
        (&["sourcemaps", "upload"], "<DIR>"),
        (&["sourcemaps", "upload", "--release"], "--release"),
        (
            &["sourcemaps", "upload", "--release", "", "dist"],
            "--release",
        ),
        (&["sourcemaps", "upload", "--bogus", "1", "dist"], "--bogus"),
        (&["sourcemaps", "list"], "--release"),
        (
            &["sourcemaps", "list", "--release", "1", "--debug-id", "x"],
            "--debug-id",
        ),
        (&["sourcemaps", "delete", "--id", "x"], "--id"),
    ] {
        let output = admin(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(
            stderr.contains("Usage: frontmon-admin"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(complaint),
            "{args:?} does not name {complaint}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
    }
}
