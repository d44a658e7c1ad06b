//! The gate every test passes first: can this machine run a private
//! containerd with the CRI plugin and the reference plugins?
//!
//! Missing pieces skip the test with a loud `SKIPPED (...)` line written
//! straight to the process's stderr (not through `eprintln!`, which the test
//! harness captures for passing tests), unless `META_CNI_REQUIRE_REAL=1`,
//! where they fail it.

use crate::cmd::which;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the reference plugins live.
pub const PLUGIN_DIR: &str = "/usr/lib/cni";
/// The reference plugins the suite uses (`loopback`: containerd's CRI
/// plugin sets up `lo` with it before the pod's own network).
pub const PLUGINS: &[&str] = &["bridge", "host-local", "portmap", "macvlan", "loopback"];
/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "META_CNI_REQUIRE_REAL";
/// Overrides where `cri-client` and the pause image are looked for.
pub const TOOLS_VAR: &str = "META_CNI_CRI_TOOLS";

/// What `scripts/build-cri-tools.sh` made.
pub struct Tools {
    pub cri_client: PathBuf,
    pub pause_tar: PathBuf,
    /// The name the pause image is imported under (`pause-image.ref`).
    pub pause_ref: String,
}

fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Whether `test` can run here. Skips loudly or (when required) panics.
pub fn ready(test: &str) -> bool {
    match base() {
        Ok(()) => true,
        Err(reason) if required() => {
            panic!("{REQUIRE_VAR}=1 but this machine cannot run {test}: {reason}")
        }
        Err(reason) => {
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED {test} ({reason}); set {REQUIRE_VAR}=1 to make this a failure !!!!!"
            );
            false
        }
    }
}

/// The built tools; only valid after [`ready`] returned true.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let dir = tools_dir();
        let pause_ref = std::fs::read_to_string(dir.join("pause-image.ref"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Tools {
            cri_client: dir.join("cri-client"),
            pause_tar: dir.join("pause-image.tar"),
            pause_ref,
        }
    })
}

/// `$META_CNI_CRI_TOOLS`, else `cri-tools` in the target dir that holds the
/// meta-cni binary under test (`<target>/debug/meta-cni`, or
/// `<target>/<triple>/debug/meta-cni`), else `target/cri-tools` in the
/// repository.
fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(TOOLS_VAR) {
        return PathBuf::from(d);
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_meta-cni"));
    let candidates = [
        exe.parent().and_then(Path::parent),
        exe.parent().and_then(Path::parent).and_then(Path::parent),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|t| t.join("cri-tools"))
        .find(|d| d.join("cri-client").is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cri-tools"))
}

/// The requirements, checked once per process.
fn base() -> Result<(), String> {
    static BASE: OnceLock<Result<(), String>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut missing = Vec::new();
        if !is_root() {
            missing.push("not running as root".to_string());
        }
        for prog in [
            "containerd",
            "containerd-shim-runc-v2",
            "ctr",
            "runc",
            "ip",
            "nsenter",
            "iptables-save",
            "iptables-restore",
        ] {
            if which(prog).is_none() {
                missing.push(format!("{prog} not found"));
            }
        }
        for p in PLUGINS {
            let path = Path::new(PLUGIN_DIR).join(p);
            if !path.is_file() {
                missing.push(format!("{} missing", path.display()));
            }
        }
        let t = tools();
        let built = t.cri_client.is_file() && t.pause_tar.is_file() && !t.pause_ref.is_empty();
        if !built {
            missing.push(format!(
                "{} / {} not built (run `sh scripts/build-cri-tools.sh`)",
                t.cri_client.display(),
                t.pause_tar.display()
            ));
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        }
    })
    .clone()
}

/// Effective uid 0, from /proc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
