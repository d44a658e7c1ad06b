//! The gate every test passes first: is this a machine where the suite can
//! run (root, working `ip netns`, cnitool, the reference plugins; podman,
//! runc and a static busybox for the podman test)? A missing piece skips
//! the test loudly, or fails it under `META_CNI_REQUIRE_REAL=1`
//! (`tests/common/gate.rs`).

use crate::cmd::{which, Cmd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[path = "../common/gate.rs"]
mod common;
pub use common::PLUGIN_DIR;

/// The plugins every test needs.
pub const PLUGINS: &[&str] = &["bridge", "host-local", "portmap", "bandwidth"];

/// Extra things a test needs beyond the base set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The `macvlan` reference plugin.
    Macvlan,
    /// podman, runc and a statically linked /bin/busybox.
    Podman,
}

/// Where cnitool is: `$CNITOOL` if set, else `/usr/local/bin/cnitool`, else
/// `cnitool` in PATH. It is the libcni driver in `tests/tools/cnitool`, which
/// `scripts/install-test-tools.sh` builds and installs (at `$CNITOOL` or
/// `/usr/local/bin/cnitool`).
pub fn cnitool() -> PathBuf {
    if let Some(p) = std::env::var_os("CNITOOL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let fixed = Path::new("/usr/local/bin/cnitool");
    if fixed.is_file() {
        return fixed.to_path_buf();
    }
    which("cnitool").unwrap_or_else(|| fixed.to_path_buf())
}

/// Whether `test` can run here. Skips loudly or (when required) panics.
pub fn ready(test: &str, needs: &[Need]) -> bool {
    let mut missing = base().to_vec();
    for n in needs {
        missing.extend(extra(*n));
    }
    common::verdict(test, &missing)
}

/// What this machine lacks for every test (empty: nothing), checked once
/// per process.
fn base() -> &'static [String] {
    static BASE: OnceLock<Vec<String>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut missing = Vec::new();
        let root = common::is_root();
        if !root {
            missing.push("not running as root".to_string());
        }
        if !cnitool().is_file() {
            missing.push(format!(
                "cnitool not found at {} (scripts/install-test-tools.sh builds it)",
                cnitool().display()
            ));
        }
        missing.extend(common::missing_plugins(PLUGINS));
        let tools = common::missing_programs(&["ip", "iptables-save", "tc"]);
        let probe = tools.is_empty() && root;
        missing.extend(tools);
        if probe {
            if let Err(why) = netns_works() {
                missing.push(why);
            }
        }
        missing
    })
}

/// What this machine lacks for `n` (empty: nothing).
fn extra(n: Need) -> Vec<String> {
    match n {
        Need::Macvlan => common::missing_plugins(&["macvlan"]),
        Need::Podman => {
            let mut missing = common::missing_programs(&["podman", "runc"]);
            if static_busybox().is_none() {
                missing.push("no statically linked busybox (busybox-static)".to_string());
            }
            missing
        }
    }
}

/// Really add and delete a namespace: `ip netns list` alone proves nothing.
fn netns_works() -> Result<(), String> {
    let name = format!("mcni-{}-probe", std::process::id());
    let add = Cmd::new("ip").args(["netns", "add", &name]).run();
    let del = Cmd::new("ip").args(["netns", "del", &name]).run();
    if add.ok() && del.ok() {
        Ok(())
    } else {
        Err(format!(
            "`ip netns add` does not work here: {}",
            if add.ok() { del.stderr } else { add.stderr }.trim()
        ))
    }
}

/// `/bin/busybox` (or busybox in PATH) if it is a static ELF: it has no
/// `PT_INTERP` program header. A dynamic busybox would not run in the
/// library-less rootfs the podman test builds.
pub fn static_busybox() -> Option<PathBuf> {
    let path = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| which("busybox"))?;
    let bytes = std::fs::read(&path).ok()?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None; // not a little-endian ELF64
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().ok()?) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        if p_type == 3 {
            return None; // PT_INTERP: dynamically linked
        }
    }
    Some(path)
}
