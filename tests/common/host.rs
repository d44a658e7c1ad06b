//! Host-state helpers the root-only suites share (each suite's `host.rs`
//! includes this file as `#[path = "../common/host.rs"] mod common;` and
//! re-exports it). Every tool call goes through `crate::cmd` (the shared
//! `tests/common/cmd.rs`), with its deadline.

use crate::cmd::{Cmd, Out};
use std::path::Path;

pub fn ip(args: &[&str]) -> Out {
    Cmd::new("ip").args(args).run()
}

pub fn link_exists(name: &str) -> bool {
    ip(&["link", "show", "dev", name]).ok()
}

/// `iptables-save -t nat`.
pub fn nat_rules() -> String {
    Cmd::new("iptables-save").args(["-t", "nat"]).run().stdout
}

/// `inet X/len` fields of `ip -o addr` output.
pub fn parse_inet(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.by_ref().find(|t| *t == "inet")?;
            it.next().map(str::to_string)
        })
        .collect()
}

/// Mount points at or below `root`, deepest first.
pub fn mounts_below(root: &Path) -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let prefix = root.display().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    points
}

/// Lazily unmount everything at or below `root` (podman's storage and
/// containerd's sandboxes can leave overlay or shm mounts there), deepest
/// first. Returns problems (empty: done).
pub fn unmount_below(root: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    for p in mounts_below(root) {
        let o = Cmd::new("umount").args(["-l", &p]).run();
        if !o.ok() {
            notes.push(format!("umount {p}: {}", o.describe()));
        }
    }
    notes
}

/// portmap's chains shared by every container on the host.
pub const SHARED_CHAINS: &[&str] = &[
    "CNI-HOSTPORT-DNAT",
    "CNI-HOSTPORT-SETMARK",
    "CNI-HOSTPORT-MASQ",
];

/// The chain an `iptables-save` rule line (`-A CHAIN ...`) is in.
pub fn chain_of(rule: &str) -> &str {
    rule.split_whitespace().nth(1).unwrap_or("")
}

/// The chain or target an `iptables-save` rule line jumps to.
pub fn target_of(rule: &str) -> Option<&str> {
    let mut it = rule.split_whitespace();
    it.by_ref().find(|t| *t == "-j" || *t == "-g")?;
    it.next()
}

/// Whether portmap's shared chains exist.
pub fn shared_chains_exist() -> bool {
    nat_rules().lines().any(|l| {
        SHARED_CHAINS
            .iter()
            .any(|c| l.starts_with(&format!(":{c} ")))
    })
}

/// Remove portmap's shared chains and the jumps to them, if no container
/// has a rule in them any more (`CNI-HOSTPORT-DNAT` is empty). Callers
/// call it only when the chains did not exist before their first test.
pub fn remove_shared_chains_if_unused() -> Vec<String> {
    let nat = nat_rules();
    if !nat.lines().any(|l| l.starts_with(":CNI-HOSTPORT-")) {
        return Vec::new();
    }
    if nat.lines().any(|l| l.starts_with("-A CNI-HOSTPORT-DNAT ")) {
        return vec!["portmap's shared chains still hold container rules: kept".to_string()];
    }
    let mut script = String::from("*nat\n");
    for l in nat.lines().filter(|l| l.starts_with("-A ")) {
        let c = chain_of(l);
        let jumps_to_shared = target_of(l).is_some_and(|t| SHARED_CHAINS.contains(&t));
        if jumps_to_shared && !c.starts_with("CNI-HOSTPORT-") {
            script.push_str(&format!("-D{}\n", &l[2..]));
        }
    }
    for c in SHARED_CHAINS {
        if nat.lines().any(|l| l.starts_with(&format!(":{c} "))) {
            script.push_str(&format!("-F {c}\n-X {c}\n"));
        }
    }
    script.push_str("COMMIT\n");
    restore(&script)
}

pub fn restore(script: &str) -> Vec<String> {
    let out = Cmd::new("iptables-restore")
        .args(["-w", "5", "--noflush"])
        .stdin(script.to_string())
        .run();
    if out.ok() {
        Vec::new()
    } else {
        vec![format!(
            "iptables-restore: {}\nscript:\n{script}",
            out.describe()
        )]
    }
}
