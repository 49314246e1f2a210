//! The `off` feature of `staso` (issue 17, item 5): the examples build with it, instrumented code
//! built with it records nothing and misused attributes still fail at their token
//! (`tests/off-check`, whose tests need the feature), and the workspace's own build never turns
//! it on.
//!
//! The builds run a nested `cargo` with its own target directory (`<target>/off-feature`), so they
//! do not wait on the lock of the build running this test. The first run compiles the dependencies
//! once more; later runs reuse them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The nested builds share one target directory: one at a time, rather than waiting on its lock.
static BUILD: Mutex<()> = Mutex::new(());

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
}

/// `<target>/off-feature`, where `<target>` is the target directory of this test's own build.
fn off_target_dir() -> PathBuf {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("off-feature")
}

fn cargo(args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", off_target_dir())
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo {args:?}: {e}"))
}

fn assert_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "`cargo {}` failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_examples_build_with_tracing_compiled_out() {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let args = [
        "build",
        "-p",
        "staso-examples",
        "--examples",
        "--features",
        "off",
    ];
    let out = cargo(&args);
    assert_success(&args, &out);
}

#[test]
fn instrumented_code_built_with_off_records_nothing() {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let args = ["test", "-p", "staso-off-check", "--features", "off"];
    let out = cargo(&args);
    assert_success(&args, &out);
    // The tests really ran (a target skipped for a missing feature would pass with none).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ran: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(ran >= 5, "expected the off-check tests to run:\n{stdout}");
}

#[test]
fn the_workspace_build_does_not_turn_off_on() {
    // What `cargo build/test --workspace` enables (feature unification over all members): a member
    // depending on staso with `features = ["off"]` would switch tracing off for all of them.
    let args = ["tree", "--workspace", "-e", "features", "-i", "staso-core"];
    let out = cargo(&args);
    assert_success(&args, &out);
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("staso-core feature"), "{tree}");
    assert!(
        !tree.contains("feature \"off\""),
        "the workspace build enables `off` somewhere:\n{tree}"
    );
}
