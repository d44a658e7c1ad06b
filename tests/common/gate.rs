//! What the gates of the root-only suites have in common (each suite's
//! `gate.rs` includes this file as `#[path = "../common/gate.rs"] mod
//! common;` and lists what its own tests need; it uses `crate::cmd`, the
//! shared `tests/common/cmd.rs`).
//!
//! A test whose needs are missing is skipped with a loud `SKIPPED (...)`
//! line written straight to the process's stderr (not through
//! `eprintln!`, which the test harness captures and hides for passing
//! tests), unless `META_CNI_REQUIRE_REAL=1`, where it fails.

use crate::cmd::which;
use std::io::Write;
use std::path::Path;

/// Where the reference plugins live.
pub const PLUGIN_DIR: &str = "/usr/lib/cni";
/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "META_CNI_REQUIRE_REAL";

/// Whether `META_CNI_REQUIRE_REAL=1` is set.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Whether `test` can run, given what is `missing` (empty: all there).
/// Skips loudly or (when required) panics.
pub fn verdict(test: &str, missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let reason = missing.join("; ");
    if required() {
        panic!("{REQUIRE_VAR}=1 but this machine cannot run {test}: {reason}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED {test} ({reason}); set {REQUIRE_VAR}=1 to make this a failure !!!!!"
    );
    false
}

/// `<prog> not found` for each of `progs` not in the children's `PATH`.
pub fn missing_programs(progs: &[&str]) -> Vec<String> {
    progs
        .iter()
        .filter(|p| which(p).is_none())
        .map(|p| format!("{p} not found"))
        .collect()
}

/// `<path> missing` for each of `plugins` not in [`PLUGIN_DIR`].
pub fn missing_plugins(plugins: &[&str]) -> Vec<String> {
    plugins
        .iter()
        .map(|p| Path::new(PLUGIN_DIR).join(p))
        .filter(|p| !p.is_file())
        .map(|p| format!("{} missing", p.display()))
        .collect()
}

/// Effective uid 0, from /proc (no libc call needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
