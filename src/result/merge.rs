//! Merging one result into another (behaviour.md section 6).
//!
//! Linear in the size of both results: every duplicate check is a hash
//! lookup, so merging results with thousands of addresses stays cheap.

use super::{CniResult, Dns, Interface, IpConfig, Route};
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

pub(crate) fn merge(into: &mut CniResult, other: &CniResult) {
    let remap = merge_interfaces(&mut into.interfaces, &other.interfaces);
    merge_ips(&mut into.ips, &other.ips, &remap);
    merge_routes(&mut into.routes, &other.routes);
    merge_dns(&mut into.dns, &other.dns);
}

/// Interfaces are the same when `(name, sandbox)` are. A repeated interface
/// keeps its place and values; fields it lacks are filled from the later
/// copy (a `mac` or 1.1.0 `mtu` that an older-version delegate dropped comes
/// back from whoever still had it). Returns, for each of `other`'s
/// interfaces, its index in the merged list.
fn merge_interfaces(into: &mut Vec<Interface>, other: &[Interface]) -> Vec<usize> {
    let mut seen: HashMap<(String, Option<String>), usize> =
        HashMap::with_capacity(into.len() + other.len());
    for (i, itf) in into.iter().enumerate() {
        seen.entry((itf.name.clone(), itf.sandbox.clone()))
            .or_insert(i);
    }
    let mut remap = Vec::with_capacity(other.len());
    for itf in other {
        let key = (itf.name.clone(), itf.sandbox.clone());
        match seen.get(&key) {
            Some(&j) => {
                fill_gaps(&mut into[j], itf);
                remap.push(j);
            }
            None => {
                seen.insert(key, into.len());
                remap.push(into.len());
                into.push(itf.clone());
            }
        }
    }
    remap
}

fn fill_gaps(have: &mut Interface, later: &Interface) {
    fn fill<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
        if a.is_none() {
            a.clone_from(b);
        }
    }
    fill(&mut have.mac, &later.mac);
    fill(&mut have.mtu, &later.mtu);
    fill(&mut have.socket_path, &later.socket_path);
    fill(&mut have.pci_id, &later.pci_id);
}

/// IPs are appended in order after remapping `interface`, skipping one that
/// is already there. "Already there" means the same address and gateway and
/// either the same interface or none: a delegate that got `prevResult` in
/// 0.2.0 hands its addresses back without interface indexes, and they must
/// not be doubled. An index `other` cannot have (past its interfaces) is
/// dropped rather than pointed at an unrelated interface.
fn merge_ips(into: &mut Vec<IpConfig>, other: &[IpConfig], remap: &[usize]) {
    let mut by_addr: HashMap<IpNet, Vec<usize>> = HashMap::with_capacity(into.len() + other.len());
    for (i, ip) in into.iter().enumerate() {
        by_addr.entry(ip.address).or_default().push(i);
    }
    for ip in other {
        let ip = IpConfig {
            interface: ip.interface.and_then(|i| remap.get(i).copied()),
            ..ip.clone()
        };
        let known = by_addr.entry(ip.address).or_default();
        let dup = known.iter().any(|&j| {
            let have = &into[j];
            have.gateway == ip.gateway && (ip.interface.is_none() || ip.interface == have.interface)
        });
        if !dup {
            known.push(into.len());
            into.push(ip);
        }
    }
}

/// Routes are appended in order, skipping one already there: same `dst` and
/// `gw`, and every 1.1.0 field the new one sets equal to the existing one's
/// (a route that came back through a pre-1.1.0 delegate without its `mtu`
/// is the same route, not a second one).
fn merge_routes(into: &mut Vec<Route>, other: &[Route]) {
    let mut by_key: HashMap<(IpNet, Option<IpAddr>), Vec<usize>> =
        HashMap::with_capacity(into.len() + other.len());
    for (i, r) in into.iter().enumerate() {
        by_key.entry((r.dst, r.gw)).or_default().push(i);
    }
    for r in other {
        let known = by_key.entry((r.dst, r.gw)).or_default();
        let dup = known.iter().any(|&j| route_covers(&into[j], r));
        if !dup {
            known.push(into.len());
            into.push(r.clone());
        }
    }
}

fn route_covers(have: &Route, r: &Route) -> bool {
    fn ok<T: PartialEq>(have: &Option<T>, new: &Option<T>) -> bool {
        new.is_none() || new == have
    }
    ok(&have.mtu, &r.mtu)
        && ok(&have.advmss, &r.advmss)
        && ok(&have.priority, &r.priority)
        && ok(&have.table, &r.table)
        && ok(&have.scope, &r.scope)
}

/// `domain` from the later result when it has one; the lists are unioned,
/// keeping first-seen order.
fn merge_dns(into: &mut Dns, other: &Dns) {
    if other.domain.as_deref().is_some_and(|d| !d.is_empty()) {
        into.domain.clone_from(&other.domain);
    }
    union(&mut into.nameservers, &other.nameservers);
    union(&mut into.search, &other.search);
    union(&mut into.options, &other.options);
}

fn union(into: &mut Vec<String>, other: &[String]) {
    if other.is_empty() {
        return;
    }
    let mut seen: HashSet<String> = into.iter().cloned().collect();
    for s in other {
        if seen.insert(s.clone()) {
            into.push(s.clone());
        }
    }
}
