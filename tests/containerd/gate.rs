//! The gate every test passes first: can this machine run a private
//! containerd with the CRI plugin and the reference plugins? A missing
//! piece skips the test loudly, or fails it under
//! `META_CNI_REQUIRE_REAL=1` (`tests/common/gate.rs`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[path = "../common/gate.rs"]
mod common;
pub use common::PLUGIN_DIR;

/// The reference plugins the suite uses (`loopback`: containerd's CRI
/// plugin sets up `lo` with it before the pod's own network).
pub const PLUGINS: &[&str] = &["bridge", "host-local", "portmap", "macvlan", "loopback"];
/// Overrides where `cri-client` and the pause image are looked for.
pub const TOOLS_VAR: &str = "META_CNI_CRI_TOOLS";

/// What `scripts/build-cri-tools.sh` made.
pub struct Tools {
    pub cri_client: PathBuf,
    pub pause_tar: PathBuf,
    /// The name the pause image is imported under (`pause-image.ref`).
    pub pause_ref: String,
}

/// Whether `test` can run here. Skips loudly or (when required) panics.
pub fn ready(test: &str) -> bool {
    common::verdict(test, base())
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

/// What this machine lacks (empty: nothing), checked once per process.
fn base() -> &'static [String] {
    static BASE: OnceLock<Vec<String>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut missing = Vec::new();
        if !common::is_root() {
            missing.push("not running as root".to_string());
        }
        missing.extend(common::missing_programs(&[
            "containerd",
            "containerd-shim-runc-v2",
            "ctr",
            "runc",
            "ip",
            "nsenter",
            "iptables-save",
            "iptables-restore",
        ]));
        missing.extend(common::missing_plugins(PLUGINS));
        let t = tools();
        let built = t.cri_client.is_file() && t.pause_tar.is_file() && !t.pause_ref.is_empty();
        if !built {
            missing.push(format!(
                "{} / {} not built (run `sh scripts/build-cri-tools.sh`)",
                t.cri_client.display(),
                t.pause_tar.display()
            ));
        }
        missing
    })
}
