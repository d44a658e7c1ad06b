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
