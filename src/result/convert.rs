//! What a conversion to an older version loses, for logging.
//!
//! The conversion itself is just "print the hub in that version's form"
//! (see `emit.rs`); this only describes the difference so the engine can say
//! what a delegate or the runtime will not see.

use super::CniResult;
use crate::version::Version;

pub(crate) fn losses(r: &CniResult, version: Version) -> Vec<String> {
    let mut out = Vec::new();
    let routes_with_v11 = r
        .routes
        .iter()
        .filter(|rt| {
            rt.mtu.is_some()
                || rt.advmss.is_some()
                || rt.priority.is_some()
                || rt.table.is_some()
                || rt.scope.is_some()
        })
        .count();
    let ifaces_with_v11 = r
        .interfaces
        .iter()
        .filter(|i| i.mtu.is_some() || i.socket_path.is_some() || i.pci_id.is_some())
        .count();
    if version < Version::V1_1_0 && routes_with_v11 > 0 {
        out.push(format!(
            "{routes_with_v11} route(s) lose mtu/advmss/priority/table/scope (1.1.0 only)"
        ));
    }
    if version <= Version::V0_2_0 {
        if !r.interfaces.is_empty() {
            out.push(format!(
                "{} interface(s) dropped ({version} has no interfaces)",
                r.interfaces.len()
            ));
        }
        let v4 = r
            .ips
            .iter()
            .filter(|ip| ip.address.addr().is_ipv4())
            .count();
        let v6 = r.ips.len() - v4;
        if v4 > 1 {
            out.push(format!(
                "{} of {v4} IPv4 addresses dropped ({version} keeps the first)",
                v4 - 1
            ));
        }
        if v6 > 1 {
            out.push(format!(
                "{} of {v6} IPv6 addresses dropped ({version} keeps the first)",
                v6 - 1
            ));
        }
        let orphan_routes = r
            .routes
            .iter()
            .filter(|rt| {
                if rt.dst.addr().is_ipv4() {
                    v4 == 0
                } else {
                    v6 == 0
                }
            })
            .count();
        if orphan_routes > 0 {
            out.push(format!(
                "{orphan_routes} route(s) dropped: no address of their family to attach them to"
            ));
        }
        if r.ips.is_empty() {
            out.push(format!("no IP address: {version} results normally carry ip4 or ip6 (libcni refuses this conversion)"));
        }
    } else if version < Version::V1_1_0 && ifaces_with_v11 > 0 {
        out.push(format!(
            "{ifaces_with_v11} interface(s) lose mtu/socketPath/pciID (1.1.0 only)"
        ));
    }
    out
}
