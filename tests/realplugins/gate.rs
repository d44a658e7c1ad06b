//! The gate every test passes first: is this a machine where the suite can
//! run (root, working `ip netns`, cnitool, the reference plugins; podman,
//! runc and a static busybox for the podman test)?
//!
//! Missing pieces skip the test with a loud `SKIPPED (...)` line written
//! straight to the process's stderr (not through `eprintln!`, which the test
//! harness captures and hides for passing tests), unless
//! `META_CNI_REQUIRE_REAL=1`, where they fail it.

use crate::cmd::{which, Cmd};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the reference plugins live.
pub const PLUGIN_DIR: &str = "/usr/lib/cni";
/// The plugins every test needs.
pub const PLUGINS: &[&str] = &["bridge", "host-local", "portmap", "bandwidth"];
/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "META_CNI_REQUIRE_REAL";

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

pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Whether `test` can run here. Skips loudly or (when required) panics.
pub fn ready(test: &str, needs: &[Need]) -> bool {
    let mut missing: Vec<String> = Vec::new();
    if let Err(why) = base() {
        missing.push(why.clone());
    }
    for n in needs {
        if let Err(why) = extra(*n) {
            missing.push(why);
        }
    }
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

/// The base requirements, checked once per process.
fn base() -> &'static Result<(), String> {
    static BASE: OnceLock<Result<(), String>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut missing = Vec::new();
        if !is_root() {
            missing.push("not running as root".to_string());
        }
        if !cnitool().is_file() {
            missing.push(format!(
                "cnitool not found at {} (scripts/install-test-tools.sh builds it)",
                cnitool().display()
            ));
        }
        for p in PLUGINS {
            let path = Path::new(PLUGIN_DIR).join(p);
            if !path.is_file() {
                missing.push(format!("{} missing", path.display()));
            }
        }
        if which("ip").is_none() || which("iptables-save").is_none() || which("tc").is_none() {
            missing.push("ip, tc or iptables-save not found".to_string());
        } else if is_root() {
            if let Err(why) = netns_works() {
                missing.push(why);
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        }
    })
}

fn extra(n: Need) -> Result<(), String> {
    match n {
        Need::Macvlan => {
            let p = Path::new(PLUGIN_DIR).join("macvlan");
            if p.is_file() {
                Ok(())
            } else {
                Err(format!("{} missing", p.display()))
            }
        }
        Need::Podman => {
            let mut missing = Vec::new();
            for prog in ["podman", "runc"] {
                if which(prog).is_none() {
                    missing.push(format!("{prog} not found"));
                }
            }
            match static_busybox() {
                Some(_) => {}
                None => missing.push("no statically linked busybox (busybox-static)".to_string()),
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(missing.join("; "))
            }
        }
    }
}

/// Effective uid 0, from /proc (no libc call needed).
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
