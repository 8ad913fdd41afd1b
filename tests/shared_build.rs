//! The README's two commands share one build of the dependency tree: `cargo run` (the `prov9`
//! package alone) must resolve every dependency with the same features as
//! `cargo test --workspace` (every member, with dev-dependencies). A dev-dependency that turns on
//! one more feature of a crate deep in the tree (sqllogictest's `md-5/std` under DataFusion)
//! makes the second command rebuild everything above that crate, which cost newcomers minutes.
//! The fix lives in the root Cargo.toml ("workspace hack" dependencies); this test keeps it true.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// `package version` → the feature sets it is built with, for every crate `cargo tree` lists
/// (a crate built both for the host, as a build dependency, and for the target can have two).
fn resolved_features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "--prefix",
            "none",
            "--format",
            "{p}|{f}",
        ])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut resolved: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
    {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // "name vX.Y.Z (/path)" for workspace members; keep name and version only.
        let package = package.split(" (").next().unwrap_or(package).trim();
        let features = features.trim_end_matches(" (*)").trim();
        resolved
            .entry(package.to_string())
            .or_default()
            .insert(features.to_string());
    }
    resolved
}

#[test]
fn cargo_run_and_cargo_test_resolve_the_same_features() {
    let run = resolved_features(&["--package", "prov9", "--edges", "normal,build"]);
    let test = resolved_features(&["--workspace", "--edges", "normal,build,dev"]);
    assert!(
        run.len() > 100,
        "cargo tree listed only {} crates",
        run.len()
    );
    let drifted: Vec<String> = run
        .iter()
        .filter_map(|(package, run_features)| {
            let test_features = test.get(package)?;
            (test_features != run_features).then(|| {
                format!("{package}: cargo run {run_features:?}, cargo test {test_features:?}")
            })
        })
        .collect();
    assert!(
        drifted.is_empty(),
        "the tests turn on features `cargo run` does not, so the second README command rebuilds \
         these and everything above them; turn them on in the root Cargo.toml's workspace-hack \
         dependencies:\n{}",
        drifted.join("\n")
    );
}
