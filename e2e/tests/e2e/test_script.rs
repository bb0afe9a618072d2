//! `scripts/test` and `.ci/run`, asked for their plan (`--plan` runs nothing): the
//! broker-fault tests, which restart the shared RabbitMQ, run only when asked for, and
//! always in CI.

use std::path::Path;

const FAULT_TESTS: &str = "cargo test -p e2e -- --ignored --test-threads=1 --skip cluster::";
const CLUSTER_TEST: &str = "cargo test -p e2e --test e2e cluster -- --ignored --nocapture";

/// The steps `script --plan` prints, with only `env` of the FRONTMON_ variables set.
fn plan(script: &str, env: &[(&str, &str)]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = std::process::Command::new("bash");
    command.arg(root.join(script)).arg("--plan");
    for (key, _) in std::env::vars() {
        if key.starts_with("FRONTMON_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{script}: {output:?}");
    let steps = String::from_utf8(output.stdout).unwrap();
    assert!(
        steps.contains("cargo test --workspace"),
        "{script}: {steps}"
    );
    steps
}

#[test]
fn the_broker_fault_tests_are_opt_in_and_always_run_in_ci() {
    let steps = plan("scripts/test", &[]);
    assert!(!steps.contains("--ignored"), "{steps}");
    let steps = plan("scripts/test", &[("FRONTMON_BROKER_FAULTS", "1")]);
    assert!(steps.ends_with(&format!("{FAULT_TESTS}\n")), "{steps}");
    // The old opt-out still leaves them out.
    let steps = plan(
        "scripts/test",
        &[
            ("FRONTMON_BROKER_FAULTS", "1"),
            ("FRONTMON_SKIP_BROKER_FAULTS", "1"),
        ],
    );
    assert!(!steps.contains("--ignored"), "{steps}");

    for env in [&[][..], &[("FRONTMON_SKIP_BROKER_FAULTS", "1")]] {
        let steps = plan(".ci/run", env);
        assert!(
            steps.ends_with(&format!("{FAULT_TESTS}\n")),
            "{env:?}: {steps}"
        );
    }
}

/// The three-node cluster test starts a cluster of its own (minutes): never with the broker
/// faults, only when asked for, and last.
#[test]
fn the_cluster_test_is_opt_in() {
    for env in [&[][..], &[("FRONTMON_BROKER_FAULTS", "1")]] {
        let steps = plan("scripts/test", env);
        assert!(!steps.contains(CLUSTER_TEST), "{env:?}: {steps}");
    }
    let steps = plan("scripts/test", &[("FRONTMON_CLUSTER_TESTS", "1")]);
    assert!(steps.ends_with(&format!("{CLUSTER_TEST}\n")), "{steps}");
}

/// The browser SDK's build check (the committed `sdk/dist` is a fresh build of `sdk/src`),
/// its size budget and its unit tests are steps of every run.
#[test]
fn the_sdk_is_checked_before_the_rust_tests() {
    let steps = plan("scripts/test", &[]);
    let sdk = steps.find("npm --prefix sdk test").expect("the SDK's step");
    assert!(
        sdk < steps.find("cargo test --workspace").unwrap(),
        "{steps}"
    );
}
