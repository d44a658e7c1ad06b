//! Every captured fixture: round trip at its own version, and conversion to
//! every version with the shape rules of the target.

use super::*;

/// The plugins were built with libcni 1.1.2, which prints `"dns": {}` at
/// every version; current libcni (and we) leave an empty `dns` out at 1.0.0
/// and later. That is the only difference allowed.
fn normalised(f: &Fixture) -> Value {
    let mut v = f.json();
    if f.version >= Version::V1_0_0 && v["dns"] == json!({}) {
        v.as_object_mut().unwrap().shift_remove("dns");
    }
    v
}

#[test]
fn round_trip_at_own_version_is_exact() {
    for f in FIXTURES {
        let out = f.result().to_json(f.version);
        // Compare the serialised text: same keys, same values, same order as
        // the plugin printed them.
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&normalised(f)).unwrap(),
            "{}",
            f.name
        );
    }
}

#[test]
fn empty_dns_is_the_only_normalisation() {
    let changed: Vec<&str> = FIXTURES
        .iter()
        .filter(|f| normalised(f) != f.json())
        .map(|f| f.name)
        .collect();
    assert_eq!(
        changed,
        [
            "bridge-host-local-1.0.0",
            "ptp-host-local-1.0.0",
            "macvlan-host-local-1.0.0"
        ]
    );
}

/// What a result at `v` must contain, written independently of `emit.rs`.
fn projection(hub: &CniResult, v: Version) -> CniResult {
    let mut r = hub.clone();
    if v <= Version::V0_2_0 {
        let first4 = hub.ips.iter().find(|ip| ip.address.addr().is_ipv4());
        let first6 = hub.ips.iter().find(|ip| ip.address.addr().is_ipv6());
        r.interfaces.clear();
        r.ips = first4
            .into_iter()
            .chain(first6)
            .map(|ip| IpConfig {
                interface: None,
                ..ip.clone()
            })
            .collect();
        let v4: Vec<Route> = hub
            .routes
            .iter()
            .filter(|rt| first4.is_some() && rt.dst.addr().is_ipv4())
            .cloned()
            .collect();
        let v6: Vec<Route> = hub
            .routes
            .iter()
            .filter(|rt| first6.is_some() && rt.dst.addr().is_ipv6())
            .cloned()
            .collect();
        r.routes = v4.into_iter().chain(v6).collect();
    }
    if v < Version::V1_1_0 {
        for i in &mut r.interfaces {
            i.mtu = None;
            i.socket_path = None;
            i.pci_id = None;
        }
        for rt in &mut r.routes {
            *rt = Route {
                gw: rt.gw,
                ..Route::new(rt.dst)
            };
        }
    }
    r
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn check_shape(name: &str, hub: &CniResult, out: &Value, v: Version) {
    let ctx = format!("{name} -> {v}");
    assert_eq!(out["cniVersion"], json!(v.as_str()), "{ctx}");
    let allowed: &[&str] = if v <= Version::V0_2_0 {
        &["cniVersion", "ip4", "ip6", "dns"]
    } else {
        &["cniVersion", "interfaces", "ips", "routes", "dns"]
    };
    for k in keys(out) {
        assert!(allowed.contains(&k), "{ctx}: unexpected key {k}");
    }
    if v < Version::V1_0_0 {
        assert!(
            out.get("dns").is_some(),
            "{ctx}: dns is always printed before 1.0.0"
        );
    }

    if v <= Version::V0_2_0 {
        for (key, want_v4) in [("ip4", true), ("ip6", false)] {
            let first = hub
                .ips
                .iter()
                .find(|ip| ip.address.addr().is_ipv4() == want_v4);
            let Some(first) = first else {
                assert!(
                    out.get(key).is_none(),
                    "{ctx}: {key} without such an address"
                );
                continue;
            };
            let o = &out[key];
            assert_eq!(
                o["ip"],
                json!(first.address.to_string()),
                "{ctx}: {key}.ip is the first of its family"
            );
            for k in keys(o) {
                assert!(["ip", "gateway", "routes"].contains(&k), "{ctx}: {key}.{k}");
            }
            for rt in o
                .get("routes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let dst: IpNet = rt["dst"].as_str().unwrap().parse().unwrap();
                assert_eq!(
                    dst.addr().is_ipv4(),
                    want_v4,
                    "{ctx}: route {rt} under {key}"
                );
                for k in keys(rt) {
                    assert!(["dst", "gw"].contains(&k), "{ctx}: {key} route key {k}");
                }
            }
        }
        return;
    }

    let n_ifaces = out
        .get("interfaces")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for itf in out
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for k in keys(itf) {
            let base = ["name", "mac", "sandbox"].contains(&k);
            let v11 = ["mtu", "socketPath", "pciID"].contains(&k);
            assert!(
                base || (v11 && v >= Version::V1_1_0),
                "{ctx}: interface key {k}"
            );
        }
    }
    for ip in out
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let address: IpNet = ip["address"].as_str().unwrap().parse().unwrap();
        if v < Version::V1_0_0 {
            let want = if address.addr().is_ipv4() { "4" } else { "6" };
            assert_eq!(ip["version"], json!(want), "{ctx}: {ip}");
        } else {
            assert!(ip.get("version").is_none(), "{ctx}: {ip}");
        }
        if let Some(i) = ip.get("interface") {
            assert!(i.as_u64().unwrap() < n_ifaces as u64, "{ctx}: {ip}");
        }
    }
    for rt in out
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for k in keys(rt) {
            let base = ["dst", "gw"].contains(&k);
            let v11 = ["mtu", "advmss", "priority", "table", "scope"].contains(&k);
            assert!(
                base || (v11 && v >= Version::V1_1_0),
                "{ctx}: route key {k}"
            );
        }
    }
}

#[test]
fn every_fixture_converts_to_every_version() {
    for f in FIXTURES {
        let hub = f.result();
        for v in Version::ALL {
            let out = hub.to_json(v);
            check_shape(f.name, &hub, &out, v);
            // What comes back is exactly what the target version can hold...
            let back = CniResult::parse(&out, Version::V0_1_0).unwrap();
            assert_eq!(back, projection(&hub, v), "{} -> {v}", f.name);
            // ...and printing it again changes nothing.
            assert_eq!(back.to_json(v), out, "{} -> {v} twice", f.name);
        }
    }
}

#[test]
fn every_fixture_survives_any_chain_of_versions_that_keeps_its_fields() {
    // Going through a version at least as rich as the source loses nothing.
    for f in FIXTURES {
        let hub = f.result();
        for v in Version::ALL.into_iter().filter(|v| *v >= f.version) {
            let via = CniResult::parse(&hub.to_json(v), Version::V0_1_0).unwrap();
            assert_eq!(
                via.to_json(f.version),
                hub.to_json(f.version),
                "{} via {v}",
                f.name
            );
        }
    }
}

#[test]
fn conversion_losses_are_reported_for_fixtures() {
    let f = FIXTURES
        .iter()
        .find(|f| f.name == "host-local-1.0.0")
        .unwrap();
    let hub = f.result();
    assert!(hub.conversion_losses(Version::V1_0_0).is_empty());
    assert!(hub.conversion_losses(Version::V0_3_1).is_empty());
    assert_eq!(
        hub.conversion_losses(Version::V0_2_0),
        ["1 of 2 IPv4 addresses dropped (0.2.0 keeps the first)"]
    );

    let f = FIXTURES
        .iter()
        .find(|f| f.name == "handwritten-1.1.0")
        .unwrap();
    let hub = f.result();
    assert!(hub.conversion_losses(Version::V1_1_0).is_empty());
    assert_eq!(
        hub.conversion_losses(Version::V1_0_0),
        [
            "3 route(s) lose mtu/advmss/priority/table/scope (1.1.0 only)",
            "2 interface(s) lose mtu/socketPath/pciID (1.1.0 only)"
        ]
    );
    assert_eq!(
        hub.conversion_losses(Version::V0_1_0),
        [
            "3 route(s) lose mtu/advmss/priority/table/scope (1.1.0 only)",
            "3 interface(s) dropped (0.1.0 has no interfaces)",
            "1 of 2 IPv4 addresses dropped (0.1.0 keeps the first)"
        ]
    );
}
