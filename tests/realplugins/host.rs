//! Looking at (and cleaning up) host state: links, namespaces, addresses,
//! qdiscs, the iptables nat table. All through the real tools, each with a
//! deadline.

use crate::cmd::{Cmd, Out};
use std::sync::{Mutex, MutexGuard};

#[path = "../common/host.rs"]
mod common;
pub use common::{
    ip, link_exists, nat_rules, parse_inet, remove_shared_chains_if_unused, shared_chains_exist,
    unmount_below,
};

/// Held around everything that changes the host's nat table or runs
/// plugins that do (cnitool, the podman container's ADD and DEL, the
/// guard's rule removal). portmap creates its shared chains
/// (`CNI-HOSTPORT-*`) check-then-create: two ADDs at once on a host that
/// does not have them yet can fail or insert the jump rules twice (seen
/// here: 9 and 12 `CNI` lines instead of 8). Tests still run in parallel;
/// only these steps take turns.
pub fn net_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether portmap's shared chains were on the host before this suite's
/// first fixture: if not, each fixture removes them once no container uses
/// them, so that the suite leaves the nat table as it found it. Asked first
/// by [`crate::fixture::Fixture::new`], before any plugin ran.
pub fn shared_chains_were_there() -> bool {
    static THERE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *THERE.get_or_init(|| {
        let _turn = net_lock();
        shared_chains_exist()
    })
}

/// `ip netns exec NS ARGS...`
pub fn in_netns(ns: &str, args: &[&str]) -> Out {
    Cmd::new("ip").args(["netns", "exec", ns]).args(args).run()
}

pub fn link_exists_in(ns: &str, name: &str) -> bool {
    in_netns(ns, &["ip", "link", "show", "dev", name]).ok()
}

pub fn netns_exists(ns: &str) -> bool {
    std::path::Path::new("/var/run/netns").join(ns).exists()
}

/// The IPv4 addresses (`a.b.c.d/len`) on `dev` inside `ns`.
pub fn addrs_in(ns: &str, dev: &str) -> Vec<String> {
    let out = in_netns(ns, &["ip", "-4", "-o", "addr", "show", "dev", dev]);
    parse_inet(&out.stdout)
}

/// `tc qdisc show dev DEV`, one qdisc per entry, reduced to what a
/// differential comparison can use: kind, parent/root, rate and burst (no
/// handles, refcounts or device names).
pub fn qdiscs(dev: &str) -> Vec<String> {
    let out = Cmd::new("tc").args(["qdisc", "show", "dev", dev]).run();
    let mut v: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("qdisc "))
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let mut s = t.get(1).copied().unwrap_or("").to_string();
            if t.contains(&"root") {
                s.push_str(" root");
            }
            for key in ["rate", "burst"] {
                if let Some(i) = t.iter().position(|x| *x == key) {
                    s.push_str(&format!(" {key} {}", t.get(i + 1).copied().unwrap_or("")));
                }
            }
            s
        })
        .collect();
    v.sort();
    v
}

/// Whether `ip6tables -t nat -S OUTPUT` works: what portmap 1.1.1's
/// `maybeGetIptables(true)` probes. When it does, portmap 1.1.1's CHECK
/// looks for the container's DNAT chain in the IPv6 nat table as well, even
/// for an IPv4-only container, and fails because ADD only created it in the
/// IPv4 table ("could not check ipv6 dnat: chain CNI-DN-... not found").
/// Upstream fixed it after 1.1.1 ("Only check ipv6 when an IPv6 is
/// configured"); Debian 12 ships 1.1.1. iptables-nft makes this probe succeed
/// even when no `ip6 nat` table exists in nftables.
pub fn ipv6_nat_listable() -> bool {
    Cmd::new("ip6tables")
        .args(["-w", "5", "-t", "nat", "-S", "OUTPUT"])
        .run()
        .ok()
}

/// The per-container portmap DNAT chain (`CNI-DN-...`) for container `cid`,
/// found through the jump rule whose comment names the container.
pub fn dnat_chain_for(nat: &str, cid: &str) -> Option<String> {
    let marker = format!("id: \\\"{cid}\\\"");
    nat.lines()
        .filter(|l| l.starts_with("-A CNI-HOSTPORT-DNAT ") && l.contains(&marker))
        .find_map(|l| {
            let mut it = l.split_whitespace();
            it.by_ref().find(|t| *t == "-j")?;
            it.next().map(str::to_string)
        })
}

/// The nat rules that involve one attachment (its DNAT chain, jumps to it,
/// anything naming its container IP), with every generated or per-fixture
/// name replaced by a placeholder, sorted: the same rules from two fixtures
/// compare equal.
pub fn nat_shape(
    nat: &str,
    cid: &str,
    ip: &str,
    subnet: &str,
    port: u16,
    names: &[&str],
) -> Vec<String> {
    let chain = dnat_chain_for(nat, cid);
    let mut v: Vec<String> = nat
        .lines()
        .filter(|l| {
            mentions_ip(l, ip) || l.contains(cid) || chain.as_deref().is_some_and(|c| l.contains(c))
        })
        .map(|l| {
            let mut s = l.to_string();
            if let Some(c) = &chain {
                s = s.replace(c.as_str(), "<CHAIN>");
            }
            s = s
                .replace(cid, "<CID>")
                .replace(ip, "<IP>")
                .replace(subnet, "<SUBNET>")
                .replace(&port.to_string(), "<PORT>");
            for n in names {
                s = s.replace(&format!("\\\"{n}\\\""), "\\\"<NAME>\\\"");
            }
            s
        })
        .collect();
    v.sort();
    v
}

/// Whether a rule names address `ip` itself (`10.1.1.2`, `10.1.1.2:80`,
/// `10.1.1.2/32`), not merely a longer one (`10.1.1.25`).
pub fn mentions_ip(line: &str, ip: &str) -> bool {
    line.split_whitespace().any(|t| {
        t.strip_prefix(ip)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
    })
}

/// Remove every nat rule and chain that belongs to this test: rules whose
/// text contains one of `markers` (container IDs, subnet prefixes such as
/// `10.201.3.`), the non-shared `CNI-*` chains holding such rules, and the
/// jumps to those chains. Shared chains (`CNI-HOSTPORT-*`) and rules of
/// other tenants are left alone. Returns what was removed (for the log).
pub fn remove_nat_leftovers(markers: &[String]) -> Vec<String> {
    let nat = nat_rules();
    let hit = |l: &str| {
        markers
            .iter()
            .any(|m| !m.is_empty() && l.contains(m.as_str()))
    };
    let rules: Vec<&str> = nat.lines().filter(|l| l.starts_with("-A ")).collect();
    let chain_of = |l: &str| l.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut ours: Vec<String> = rules
        .iter()
        .filter(|l| hit(l))
        .map(|l| chain_of(l))
        .filter(|c| c.starts_with("CNI-") && !c.starts_with("CNI-HOSTPORT-"))
        .collect();
    ours.sort();
    ours.dedup();
    let jumps_to_ours = |l: &str| {
        let mut it = l.split_whitespace();
        it.by_ref().find(|t| *t == "-j" || *t == "-g").is_some()
            && it.next().is_some_and(|t| ours.iter().any(|c| c == t))
    };
    let mut script = String::from("*nat\n");
    let mut removed = Vec::new();
    for l in &rules {
        let c = chain_of(l);
        if ours.contains(&c) {
            continue; // flushed below
        }
        if hit(l) || jumps_to_ours(l) {
            script.push_str(&format!("-D{}\n", &l[2..]));
            removed.push(l.to_string());
        }
    }
    for c in &ours {
        script.push_str(&format!("-F {c}\n-X {c}\n"));
        removed.push(format!("chain {c}"));
    }
    script.push_str("COMMIT\n");
    if removed.is_empty() {
        return removed;
    }
    let _turn = net_lock();
    let out = Cmd::new("iptables-restore")
        .arg("--noflush")
        .stdin(script.clone())
        .run();
    if !out.ok() {
        removed.push(format!("FAILED: {}\nscript:\n{script}", out.describe()));
    }
    removed
}
