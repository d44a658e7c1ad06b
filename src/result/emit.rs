//! Printing the hub model in the wire form of any CNI version.
//!
//! Key order follows libcni's Go structs, so our output reads like a plugin's.
//! Optional fields are omitted when empty, as libcni's `omitempty` does:
//! `interfaces`, `ips`, `routes` when they have no entries; `mac`, `sandbox`,
//! `gateway`, `gw`, `domain`, the DNS lists; the 1.1.0 uints `mtu`, `advmss`,
//! `priority` when 0 (None). `table` and `scope` are pointers in libcni, so a
//! set 0 is printed. Interface `name` is always printed. `dns` is always
//! printed (as `{}` when empty) for versions before 1.0.0, which is what every
//! plugin built on libcni prints there; for 1.0.0 and 1.1.0 it is left out
//! when empty, as current libcni (the first with 1.1.0 support) does, so the
//! empty result is just `{"cniVersion": "1.0.0"}`.

use super::{CniResult, Dns, Interface, IpConfig, Route};
use crate::version::Version;
use serde_json::{Map, Value};

pub(crate) fn to_json(r: &CniResult, version: Version) -> Value {
    let mut m = Map::new();
    m.insert("cniVersion".into(), version.as_str().into());
    if version <= Version::V0_2_0 {
        emit_v02(r, &mut m);
    } else {
        emit_v03_plus(r, version, &mut m);
    }
    if version < Version::V1_0_0 || !r.dns.is_empty() {
        m.insert("dns".into(), dns(&r.dns));
    }
    Value::Object(m)
}

/// Down-conversion to 0.1.0/0.2.0 as libcni does it: the first IPv4 and the
/// first IPv6 address (in `ips` order) become `ip4` and `ip6` with their
/// gateways; every route goes to the config of its `dst` family, and is
/// dropped when that family has no address; interfaces, further addresses,
/// and route fields other than `dst`/`gw` are dropped. The family is the
/// address's own, never a `version` label.
fn emit_v02(r: &CniResult, m: &mut Map<String, Value>) {
    for (key, want_v4) in [("ip4", true), ("ip6", false)] {
        let Some(ip) = r.ips.iter().find(|ip| is_v4(&ip.address) == want_v4) else {
            continue;
        };
        let mut o = Map::new();
        o.insert("ip".into(), ip.address.to_string().into());
        if let Some(gw) = ip.gateway {
            o.insert("gateway".into(), gw.to_string().into());
        }
        let routes: Vec<Value> = r
            .routes
            .iter()
            .filter(|rt| is_v4(&rt.dst) == want_v4)
            .map(|rt| route(rt, false))
            .collect();
        if !routes.is_empty() {
            o.insert("routes".into(), routes.into());
        }
        m.insert(key.into(), Value::Object(o));
    }
}

fn emit_v03_plus(r: &CniResult, version: Version, m: &mut Map<String, Value>) {
    let v11 = version >= Version::V1_1_0;
    let with_ip_version = version < Version::V1_0_0;
    if !r.interfaces.is_empty() {
        let list: Vec<Value> = r.interfaces.iter().map(|i| interface(i, v11)).collect();
        m.insert("interfaces".into(), list.into());
    }
    if !r.ips.is_empty() {
        let list: Vec<Value> = r
            .ips
            .iter()
            .map(|i| ip_config(i, with_ip_version))
            .collect();
        m.insert("ips".into(), list.into());
    }
    if !r.routes.is_empty() {
        let list: Vec<Value> = r.routes.iter().map(|rt| route(rt, v11)).collect();
        m.insert("routes".into(), list.into());
    }
}

fn is_v4(net: &ipnet::IpNet) -> bool {
    matches!(net, ipnet::IpNet::V4(_))
}

fn put_str(o: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(s) = v.as_deref().filter(|s| !s.is_empty()) {
        o.insert(key.into(), s.into());
    }
}

fn put_uint(o: &mut Map<String, Value>, key: &str, v: Option<u32>) {
    if let Some(n) = v {
        o.insert(key.into(), n.into());
    }
}

fn interface(i: &Interface, v11: bool) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), i.name.clone().into());
    put_str(&mut o, "mac", &i.mac);
    if v11 {
        put_uint(&mut o, "mtu", i.mtu.filter(|n| *n != 0));
    }
    put_str(&mut o, "sandbox", &i.sandbox);
    if v11 {
        put_str(&mut o, "socketPath", &i.socket_path);
        put_str(&mut o, "pciID", &i.pci_id);
    }
    Value::Object(o)
}

fn ip_config(ip: &IpConfig, with_version: bool) -> Value {
    let mut o = Map::new();
    if with_version {
        let v = if is_v4(&ip.address) { "4" } else { "6" };
        o.insert("version".into(), v.into());
    }
    if let Some(i) = ip.interface {
        o.insert("interface".into(), i.into());
    }
    o.insert("address".into(), ip.address.to_string().into());
    if let Some(gw) = ip.gateway {
        o.insert("gateway".into(), gw.to_string().into());
    }
    Value::Object(o)
}

fn route(r: &Route, v11: bool) -> Value {
    let mut o = Map::new();
    o.insert("dst".into(), r.dst.to_string().into());
    if let Some(gw) = r.gw {
        o.insert("gw".into(), gw.to_string().into());
    }
    if v11 {
        put_uint(&mut o, "mtu", r.mtu.filter(|n| *n != 0));
        put_uint(&mut o, "advmss", r.advmss.filter(|n| *n != 0));
        put_uint(&mut o, "priority", r.priority.filter(|n| *n != 0));
        put_uint(&mut o, "table", r.table);
        if let Some(s) = r.scope {
            o.insert("scope".into(), s.into());
        }
    }
    Value::Object(o)
}

fn dns(d: &Dns) -> Value {
    let mut o = Map::new();
    let list = |v: &[String]| Value::from(v.to_vec());
    if !d.nameservers.is_empty() {
        o.insert("nameservers".into(), list(&d.nameservers));
    }
    put_str(&mut o, "domain", &d.domain);
    if !d.search.is_empty() {
        o.insert("search".into(), list(&d.search));
    }
    if !d.options.is_empty() {
        o.insert("options".into(), list(&d.options));
    }
    Value::Object(o)
}
