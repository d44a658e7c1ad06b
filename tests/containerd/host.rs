//! Looking at (and giving back) host state: network namespaces, links, the
//! iptables nat table, processes, mounts, cgroups, libcni's result cache.
//! Every tool call has a deadline (see [`crate::cmd`]).

use crate::cmd::{Cmd, Out};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[path = "../common/host.rs"]
mod common;
pub use common::{
    chain_of, ip, link_exists, mounts_below, nat_rules, remove_shared_chains_if_unused, restore,
    shared_chains_exist, target_of, unmount_below, SHARED_CHAINS,
};

pub const NETNS_DIR: &str = "/var/run/netns";
/// libcni's cache (containerd does not set another): one file per
/// attachment, `<network>-<container id>-<ifname>`.
pub const LIBCNI_RESULTS: &str = "/var/lib/cni/results";
/// `ARGS` run inside the network namespace at `netns` (a path).
pub fn in_netns(netns: &str, args: &[&str]) -> Out {
    Cmd::new("nsenter")
        .arg(format!("--net={netns}"))
        .args(args)
        .run()
}

/// The `cni-*` entries in /var/run/netns (where containerd puts pod network
/// namespaces unless `netns_mounts_under_state_dir` is set).
pub fn cni_netns() -> BTreeSet<String> {
    std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cni-"))
        .collect()
}

/// The links enslaved to `master` (a bridge's ports).
pub fn links_of(master: &str) -> Vec<String> {
    if !link_exists(master) {
        return Vec::new();
    }
    ip(&["-o", "link", "show", "master", master])
        .stdout
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The ifindex of host link `name`.
pub fn ifindex(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The IPv4 addresses (`a.b.c.d/len`) on `dev` inside the netns at `netns`.
pub fn addrs_in(netns: &str, dev: &str) -> Vec<String> {
    common::parse_inet(&in_netns(netns, &["ip", "-4", "-o", "addr", "show", "dev", dev]).stdout)
}

/// `ip -o -d link show dev DEV` inside the netns.
pub fn link_in(netns: &str, dev: &str) -> String {
    in_netns(netns, &["ip", "-o", "-d", "link", "show", "dev", dev]).stdout
}

/// Whether a rule matches destination port `port` (`--dport P`,
/// `--dports P,Q`).
fn names_port(line: &str, ports: &[u16]) -> bool {
    let t: Vec<&str> = line.split_whitespace().collect();
    t.windows(2).any(|w| {
        (w[0] == "--dport" || w[0] == "--dports")
            && w[1]
                .split(',')
                .any(|p| ports.iter().any(|q| p == q.to_string()))
    })
}

/// portmap's per-container DNAT chain for network `name` and container
/// `id`: `CNI-DN-` and the first 21 hex digits of sha512(name + id), as
/// portmap names it.
pub fn portmap_chain(name: &str, id: &str) -> String {
    let out = Cmd::new("sha512sum").stdin(format!("{name}{id}")).run();
    format!("CNI-DN-{}", out.stdout.get(..21).unwrap_or("?"))
}

/// The nat rules and chains that belong to a test: rules containing one of
/// `markers` (subnet prefixes such as `10.151.201.`) or matching one of
/// `ports`; the per-container `CNI-*` chains holding such a rule and the
/// `known` chains (portmap's chains of the test's containers, found also
/// when empty); every rule in those chains and the jumps to them. Returns
/// (what to report: rules, and `chain NAME (empty)` for an empty one; the
/// chains).
pub fn nat_rules_of(
    nat: &str,
    markers: &[String],
    ports: &[u16],
    known: &[String],
) -> (Vec<String>, Vec<String>) {
    let rules: Vec<&str> = nat.lines().filter(|l| l.starts_with("-A ")).collect();
    let hit = |l: &str| markers.iter().any(|m| l.contains(m.as_str())) || names_port(l, ports);
    let mut chains: Vec<String> = rules
        .iter()
        .filter(|l| hit(l))
        .map(|l| chain_of(l).to_string())
        .filter(|c| c.starts_with("CNI-") && !SHARED_CHAINS.contains(&c.as_str()))
        .chain(
            known
                .iter()
                .filter(|c| nat.lines().any(|l| l.starts_with(&format!(":{c} "))))
                .cloned(),
        )
        .collect();
    chains.sort();
    chains.dedup();
    let mut ours: Vec<String> = rules
        .iter()
        .filter(|l| {
            hit(l)
                || chains.iter().any(|c| c == chain_of(l))
                || target_of(l).is_some_and(|t| chains.iter().any(|c| c == t))
        })
        .map(|l| l.to_string())
        .collect();
    for c in &chains {
        if !rules.iter().any(|l| chain_of(l) == c) {
            ours.push(format!("chain {c} (empty)"));
        }
    }
    (ours, chains)
}

/// Remove what [`nat_rules_of`] finds. Returns problems (empty: done).
pub fn remove_nat_rules(markers: &[String], ports: &[u16], known: &[String]) -> Vec<String> {
    let nat = nat_rules();
    let (rules, chains) = nat_rules_of(&nat, markers, ports, known);
    if rules.is_empty() {
        return Vec::new();
    }
    let mut script = String::from("*nat\n");
    for r in rules.iter().filter(|r| r.starts_with("-A ")) {
        if !chains.iter().any(|c| c == chain_of(r)) {
            script.push_str(&format!("-D{}\n", &r[2..]));
        }
    }
    for c in &chains {
        script.push_str(&format!("-F {c}\n-X {c}\n"));
    }
    script.push_str("COMMIT\n");
    restore(&script)
}

/// One process, from /proc.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Zombie (`Z`): gone but not yet reaped; holds nothing.
    pub zombie: bool,
    /// Arguments joined with spaces.
    pub cmdline: String,
}

impl Proc {
    /// Its environment (NUL-separated entries), if readable.
    pub fn environ(&self) -> Vec<String> {
        std::fs::read(format!("/proc/{}/environ", self.pid))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|e| !e.is_empty())
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Its cgroup paths (`/proc/PID/cgroup`).
    pub fn cgroups(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid)).unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        format!("pid {} (parent {}): {}", self.pid, self.ppid, self.cmdline)
    }
}

/// Every process but this one.
pub fn processes() -> Vec<Proc> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) S ppid ...`: comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = after.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        v.push(Proc {
            pid,
            ppid,
            zombie: state == "Z",
            cmdline,
        });
    }
    v
}

/// SIGKILL `pid` and, first, every process below it.
pub fn kill_tree(pid: i32, all: &[Proc]) {
    for child in all.iter().filter(|p| p.ppid == pid) {
        kill_tree(child.pid, all);
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The network namespace inodes processes are in.
fn netns_inodes_in_use() -> BTreeSet<u64> {
    let mut s = BTreeSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(l) = std::fs::read_link(e.path().join("ns/net")) {
            let l = l.to_string_lossy().into_owned();
            if let Some(n) = l
                .strip_prefix("net:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                s.insert(n);
            }
        }
    }
    s
}

/// Delete the named namespaces under /var/run/netns, except one that a
/// process is still in (it is not ours: ours have no processes left by the
/// time this runs). Returns problems.
pub fn remove_netns(names: &BTreeSet<String>) -> Vec<String> {
    let in_use = netns_inodes_in_use();
    let mut notes = Vec::new();
    for n in names {
        let path = Path::new(NETNS_DIR).join(n);
        let Ok(md) = std::fs::metadata(&path) else {
            continue;
        };
        if in_use.contains(&md.ino()) {
            notes.push(format!("netns {n}: a process is in it; left alone"));
            continue;
        }
        let o = ip(&["netns", "del", n]);
        if !o.ok() {
            notes.push(format!("netns {n}: {}", o.describe()));
        }
    }
    notes
}

/// The cgroup directories named `parent` (an absolute cgroup path such as
/// `/mcd-123-1`) in every hierarchy: `/sys/fs/cgroup/<controller>/<parent>`
/// on cgroup v1, `/sys/fs/cgroup/<parent>` on v2.
pub fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let rel = parent.trim_start_matches('/');
    let base = Path::new("/sys/fs/cgroup");
    let mut v: Vec<PathBuf> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(rel))
        .chain(std::iter::once(base.join(rel)))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// rmdir the cgroup `parent` and everything below it in every hierarchy
/// (only empty cgroups can go: one with a process left fails and is
/// reported).
pub fn remove_cgroups(parent: &str) -> Vec<String> {
    let mut notes = Vec::new();
    for top in cgroup_dirs(parent) {
        let mut dirs = Vec::new();
        collect_dirs(&top, &mut dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            if let Err(e) = std::fs::remove_dir(&d) {
                notes.push(format!("rmdir {}: {e}", d.display()));
            }
        }
    }
    notes
}

fn collect_dirs(d: &Path, out: &mut Vec<PathBuf>) {
    out.push(d.to_path_buf());
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&e.path(), out);
        }
    }
}

/// libcni cache files whose names start with one of `prefixes`.
pub fn libcni_cache(prefixes: &[String]) -> Vec<PathBuf> {
    std::fs::read_dir(LIBCNI_RESULTS)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            prefixes.iter().any(|p| n.starts_with(p.as_str()))
        })
        .map(|e| e.path())
        .collect()
}
