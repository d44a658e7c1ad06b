//! Merging results (behaviour.md section 6).

use super::*;

fn merged(a: Value, b: Value) -> Value {
    let mut r = parse(a);
    r.merge(&parse(b));
    r.to_json(Version::V1_1_0)
}

#[test]
fn duplicate_interfaces_collapse_and_indexes_are_remapped() {
    let a = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/ns"}],
        "ips": [{"interface": 2, "address": "10.1.0.2/24"}]});
    let b = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "net1", "sandbox": "/ns"}, {"name": "eth0", "sandbox": "/ns"}],
        "ips": [{"interface": 0, "address": "10.2.0.2/24"}, {"interface": 1, "address": "10.3.0.2/24"}]});
    assert_eq!(
        merged(a, b),
        json!({"cniVersion": "1.1.0",
            "interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/ns"},
                           {"name": "net1", "sandbox": "/ns"}],
            "ips": [{"interface": 2, "address": "10.1.0.2/24"},
                    {"interface": 3, "address": "10.2.0.2/24"},
                    {"interface": 2, "address": "10.3.0.2/24"}]})
    );
}

#[test]
fn same_name_in_another_sandbox_is_another_interface() {
    let a = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/ns1"}]});
    let b = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/ns2"}, {"name": "eth0"}],
        "ips": [{"interface": 1, "address": "10.1.0.2/24"}]});
    assert_eq!(
        merged(a, b),
        json!({"cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "sandbox": "/ns1"}, {"name": "eth0", "sandbox": "/ns2"}, {"name": "eth0"}],
            "ips": [{"interface": 2, "address": "10.1.0.2/24"}]})
    );
}

#[test]
fn repeated_interface_keeps_its_values_and_fills_gaps() {
    let a = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/ns"}]});
    let b = json!({"cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:99", "mtu": 9000, "sandbox": "/ns", "pciID": "0000:00:01.0"}]});
    assert_eq!(
        merged(a, b),
        json!({"cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "mtu": 9000, "sandbox": "/ns",
                            "pciID": "0000:00:01.0"}]})
    );
}

#[test]
fn empty_results() {
    let x = FIXTURES
        .iter()
        .find(|f| f.name == "bridge-dualstack-1.0.0")
        .unwrap()
        .result();

    let mut e = CniResult::default();
    e.merge(&CniResult::default());
    assert!(e.is_empty());

    let mut e = CniResult::default();
    e.merge(&x);
    assert_eq!(e, x, "empty + x");

    let mut y = x.clone();
    y.merge(&CniResult::default());
    assert_eq!(y, x, "x + empty");
}

#[test]
fn merging_a_result_into_itself_changes_nothing() {
    for f in FIXTURES {
        let x = f.result();
        let mut y = x.clone();
        y.merge(&x);
        assert_eq!(y, x, "{}", f.name);
    }
}

#[test]
fn dns_domain_from_later_lists_unioned_in_order() {
    let a = json!({"cniVersion": "1.0.0", "dns": {"nameservers": ["10.0.0.10", "10.0.0.11"], "domain": "a.test",
        "search": ["a.test"], "options": ["ndots:5"]}});
    let b = json!({"cniVersion": "1.0.0", "dns": {"nameservers": ["10.0.0.11", "10.0.0.12", "10.0.0.12"],
        "domain": "b.test", "search": ["b.test", "a.test"], "options": ["ndots:5", "rotate"]}});
    assert_eq!(
        merged(a.clone(), b),
        json!({"cniVersion": "1.1.0", "dns": {"nameservers": ["10.0.0.10", "10.0.0.11", "10.0.0.12"],
            "domain": "b.test", "search": ["a.test", "b.test"], "options": ["ndots:5", "rotate"]}})
    );
    // A later result without a domain keeps the earlier one.
    let c = json!({"cniVersion": "1.0.0", "dns": {"search": ["c.test"]}});
    assert_eq!(
        merged(a, c),
        json!({"cniVersion": "1.1.0", "dns": {"nameservers": ["10.0.0.10", "10.0.0.11"], "domain": "a.test",
            "search": ["a.test", "c.test"], "options": ["ndots:5"]}})
    );
}

#[test]
fn ips_and_routes_append_in_order_skipping_exact_duplicates() {
    let a = json!({"cniVersion": "1.0.0",
        "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12", "gw": "10.1.0.1"}]});
    let b = json!({"cniVersion": "1.0.0",
        "ips": [{"address": "10.2.0.2/24"}, {"address": "10.1.0.2/24", "gateway": "10.1.0.1"},
                {"address": "10.1.0.2/24", "gateway": "10.1.0.254"}, {"address": "10.2.0.2/24"}],
        "routes": [{"dst": "10.96.0.0/12", "gw": "10.1.0.1"}, {"dst": "10.96.0.0/12", "gw": "10.2.0.1"},
                   {"dst": "0.0.0.0/0"}]});
    assert_eq!(
        merged(a, b),
        json!({"cniVersion": "1.1.0",
            "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1"}, {"address": "10.2.0.2/24"},
                    {"address": "10.1.0.2/24", "gateway": "10.1.0.254"}],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12", "gw": "10.1.0.1"},
                       {"dst": "10.96.0.0/12", "gw": "10.2.0.1"}]})
    );
}

#[test]
fn same_address_on_another_interface_is_kept() {
    let a = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "a"}], "ips": [{"interface": 0, "address": "10.1.0.2/24"}]});
    let b = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "b"}], "ips": [{"interface": 0, "address": "10.1.0.2/24"}]});
    assert_eq!(
        merged(a, b),
        json!({"cniVersion": "1.1.0", "interfaces": [{"name": "a"}, {"name": "b"}],
            "ips": [{"interface": 0, "address": "10.1.0.2/24"}, {"interface": 1, "address": "10.1.0.2/24"}]})
    );
}

#[test]
fn copies_that_only_lack_information_are_duplicates() {
    // What a 1.1.0 prevResult looks like after a 0.2.0 delegate handed it
    // back: no interface index, no route mtu. Not new addresses or routes.
    let a = json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "sandbox": "/ns"}],
        "ips": [{"interface": 0, "address": "10.1.0.2/24"}],
        "routes": [{"dst": "0.0.0.0/0", "mtu": 1400, "table": 0}]});
    let b = json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.2/24", "routes": [{"dst": "0.0.0.0/0"}]}});
    assert_eq!(merged(a.clone(), b), a);
    // A route that really differs in a 1.1.0 field is another route.
    let c = json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "mtu": 9000}]});
    assert_eq!(
        merged(a, c)["routes"],
        json!([{"dst": "0.0.0.0/0", "mtu": 1400, "table": 0}, {"dst": "0.0.0.0/0", "mtu": 9000}])
    );
}

#[test]
fn prev_result_plus_additions_is_not_doubled_at_any_version() {
    // A chained delegate at version v gets the merged result so far as
    // prevResult (converted to v) and returns it plus one address, route,
    // interface and nameserver of its own.
    for f in FIXTURES {
        let so_far = f.result();
        for v in Version::ALL {
            let mut reply = so_far.to_json(v);
            let obj = reply.as_object_mut().unwrap();
            if v <= Version::V0_2_0 {
                // 0.2.0 cannot add an address if the family is taken; add DNS only.
                obj.insert("dns".into(), json!({"nameservers": ["10.99.0.53"]}));
            } else {
                let n = obj
                    .get("interfaces")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let mut ifaces = obj.get("interfaces").cloned().unwrap_or(json!([]));
                ifaces
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "extra0", "sandbox": "/x"}));
                obj.insert("interfaces".into(), ifaces);
                let mut ips = obj.get("ips").cloned().unwrap_or(json!([]));
                ips.as_array_mut()
                    .unwrap()
                    .push(json!({"interface": n, "address": "10.99.0.2/24"}));
                obj.insert("ips".into(), ips);
                let mut routes = obj.get("routes").cloned().unwrap_or(json!([]));
                routes
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"dst": "10.99.0.0/16"}));
                obj.insert("routes".into(), routes);
            }
            let reply = CniResult::parse(&reply, Version::V0_1_0).unwrap();

            let mut m = so_far.clone();
            m.merge(&reply);
            let ctx = format!("{} via {v}", f.name);
            if v <= Version::V0_2_0 {
                assert_eq!(m.interfaces, so_far.interfaces, "{ctx}");
                assert_eq!(m.ips, so_far.ips, "{ctx}");
                assert_eq!(m.routes, so_far.routes, "{ctx}");
            } else {
                assert_eq!(m.interfaces.len(), so_far.interfaces.len() + 1, "{ctx}");
                assert_eq!(
                    m.interfaces[..so_far.interfaces.len()],
                    so_far.interfaces[..],
                    "{ctx}"
                );
                assert_eq!(m.ips.len(), so_far.ips.len() + 1, "{ctx}");
                assert_eq!(m.ips[..so_far.ips.len()], so_far.ips[..], "{ctx}");
                assert_eq!(
                    m.ips.last().unwrap().interface,
                    Some(so_far.interfaces.len()),
                    "{ctx}"
                );
                assert_eq!(m.routes.len(), so_far.routes.len() + 1, "{ctx}");
                assert_eq!(m.routes[..so_far.routes.len()], so_far.routes[..], "{ctx}");
            }
            let mut ns = so_far.dns.nameservers.clone();
            if v <= Version::V0_2_0 && !ns.iter().any(|s| s == "10.99.0.53") {
                ns.push("10.99.0.53".into());
            }
            assert_eq!(m.dns.nameservers, ns, "{ctx}");
        }
    }
}

#[test]
fn out_of_range_index_in_a_hand_built_result_is_dropped() {
    let mut a = CniResult::default();
    let b = CniResult {
        ips: vec![IpConfig {
            address: net("10.1.0.2/24"),
            gateway: None,
            interface: Some(5),
        }],
        ..CniResult::default()
    };
    a.merge(&b);
    assert_eq!(a.ips[0].interface, None);
}

/// Builds a result with `n` IPv4 addresses (and as many routes and
/// nameservers) starting at 10.<base>.0.0, each on interface `i % 4`.
fn big(n: usize, base: u8) -> CniResult {
    let mut r = CniResult {
        interfaces: (0..4)
            .map(|i| Interface {
                name: format!("eth{i}"),
                sandbox: Some("/ns".into()),
                ..Interface::default()
            })
            .collect(),
        ..CniResult::default()
    };
    for i in 0..n {
        let (hi, lo) = ((i / 256) as u8, (i % 256) as u8);
        r.ips.push(IpConfig {
            address: net(&format!("10.{base}.{hi}.{lo}/16")),
            gateway: Some(addr(&format!("10.{base}.255.254"))),
            interface: Some(i % 4),
        });
        r.routes
            .push(Route::new(net(&format!("10.{}.{hi}.{lo}/32", base + 1))));
        r.dns.search.push(format!("s{i}.{base}.test"));
    }
    r
}

#[test]
fn big_results_merge() {
    let a = big(1024, 10);
    let b = big(1024, 20);

    let mut same = a.clone();
    same.merge(&a);
    assert_eq!(same, a);

    let mut both = a.clone();
    both.merge(&b);
    assert_eq!(both.interfaces.len(), 4);
    assert_eq!(both.ips.len(), 2048);
    assert_eq!(both.routes.len(), 2048);
    assert_eq!(both.dns.search.len(), 2048);
    assert_eq!(both.ips[..1024], a.ips[..]);
    assert_eq!(both.ips[1024..], b.ips[..]);

    // Through a round trip at 0.4.0 (the other's own prevResult form).
    let reparsed = CniResult::parse(&both.to_json(Version::V0_4_0), Version::V0_1_0).unwrap();
    let mut again = both.clone();
    again.merge(&reparsed);
    assert_eq!(again, both);
}
