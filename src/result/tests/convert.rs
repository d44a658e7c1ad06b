//! Hand-written cross-version expectations: input, target version, exact
//! output.

use super::*;

/// (what, input, target, exact expected output)
fn table() -> Vec<(&'static str, Value, Version, Value)> {
    let two_v4_one_v6 = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/x"}],
        "ips": [
            {"interface": 0, "address": "10.1.0.2/24", "gateway": "10.1.0.1"},
            {"interface": 0, "address": "fd00:1::2/64", "gateway": "fd00:1::1"},
            {"interface": 0, "address": "10.2.0.2/24", "gateway": "10.2.0.1"}
        ],
        "routes": [
            {"dst": "0.0.0.0/0"},
            {"dst": "::/0", "gw": "fd00:1::1"},
            {"dst": "10.96.0.0/12", "gw": "10.2.0.1"}
        ],
        "dns": {"nameservers": ["10.96.0.10"]}
    });
    let v11 = json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "mtu": 9000,
                        "sandbox": "/var/run/netns/x", "socketPath": "/run/s.sock", "pciID": "0000:3b:00.2"}],
        "ips": [{"interface": 0, "address": "10.1.0.2/24"}],
        "routes": [{"dst": "10.0.0.0/8", "gw": "10.1.0.1", "mtu": 8950, "advmss": 8910,
                    "priority": 10, "table": 100, "scope": 0}]
    });
    vec![
        (
            "1.0.0 with two IPv4 and one IPv6 to 0.2.0 keeps the first of each, routes by family",
            two_v4_one_v6.clone(),
            Version::V0_2_0,
            json!({
                "cniVersion": "0.2.0",
                "ip4": {"ip": "10.1.0.2/24", "gateway": "10.1.0.1",
                        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12", "gw": "10.2.0.1"}]},
                "ip6": {"ip": "fd00:1::2/64", "gateway": "fd00:1::1",
                        "routes": [{"dst": "::/0", "gw": "fd00:1::1"}]},
                "dns": {"nameservers": ["10.96.0.10"]}
            }),
        ),
        (
            "the same to 0.3.1 gets version labels from the addresses",
            two_v4_one_v6.clone(),
            Version::V0_3_1,
            json!({
                "cniVersion": "0.3.1",
                "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/x"}],
                "ips": [
                    {"version": "4", "interface": 0, "address": "10.1.0.2/24", "gateway": "10.1.0.1"},
                    {"version": "6", "interface": 0, "address": "fd00:1::2/64", "gateway": "fd00:1::1"},
                    {"version": "4", "interface": 0, "address": "10.2.0.2/24", "gateway": "10.2.0.1"}
                ],
                "routes": [
                    {"dst": "0.0.0.0/0"},
                    {"dst": "::/0", "gw": "fd00:1::1"},
                    {"dst": "10.96.0.0/12", "gw": "10.2.0.1"}
                ],
                "dns": {"nameservers": ["10.96.0.10"]}
            }),
        ),
        (
            "IPv6 listed first still goes to ip6; IPv4 routes with no IPv4 address are dropped",
            json!({"cniVersion": "1.0.0",
                   "ips": [{"address": "fd00:1::2/64"}],
                   "routes": [{"dst": "10.0.0.0/8"}, {"dst": "fd00::/8"}]}),
            Version::V0_1_0,
            json!({"cniVersion": "0.1.0",
                   "ip6": {"ip": "fd00:1::2/64", "routes": [{"dst": "fd00::/8"}]},
                   "dns": {}}),
        ),
        (
            "0.2.0 to 1.0.0 creates no interfaces and no interface indexes",
            json!({"cniVersion": "0.2.0",
                   "ip4": {"ip": "10.1.0.2/24", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
                   "ip6": {"ip": "fd00:1::2/64", "routes": [{"dst": "::/0", "gw": "fd00:1::1"}]},
                   "dns": {"domain": "example.test"}}),
            Version::V1_0_0,
            json!({"cniVersion": "1.0.0",
                   "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1"}, {"address": "fd00:1::2/64"}],
                   "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:1::1"}],
                   "dns": {"domain": "example.test"}}),
        ),
        (
            "0.2.0 to 0.4.0 labels the IPs",
            json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.2/24"}, "ip6": {"ip": "fd00:1::2/64"}}),
            Version::V0_4_0,
            json!({"cniVersion": "0.4.0",
                   "ips": [{"version": "4", "address": "10.1.0.2/24"}, {"version": "6", "address": "fd00:1::2/64"}],
                   "dns": {}}),
        ),
        (
            "1.1.0 to 1.0.0 drops the 1.1.0 interface and route fields",
            v11.clone(),
            Version::V1_0_0,
            json!({"cniVersion": "1.0.0",
                   "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/x"}],
                   "ips": [{"interface": 0, "address": "10.1.0.2/24"}],
                   "routes": [{"dst": "10.0.0.0/8", "gw": "10.1.0.1"}]}),
        ),
        (
            "1.1.0 to 1.1.0 keeps them all, table and scope 0 included",
            v11.clone(),
            Version::V1_1_0,
            v11.clone(),
        ),
        (
            "1.1.0 to 0.2.0 keeps only dst and gw of routes",
            v11,
            Version::V0_2_0,
            json!({"cniVersion": "0.2.0",
                   "ip4": {"ip": "10.1.0.2/24", "routes": [{"dst": "10.0.0.0/8", "gw": "10.1.0.1"}]},
                   "dns": {}}),
        ),
        (
            "1.0.0 to 1.1.0 invents nothing",
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"interface": 0, "address": "10.1.0.2/24"}], "routes": [{"dst": "0.0.0.0/0"}]}),
            Version::V1_1_0,
            json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"interface": 0, "address": "10.1.0.2/24"}], "routes": [{"dst": "0.0.0.0/0"}]}),
        ),
        (
            "0.3.1 IPs with a wrong or missing version label are filed by their address",
            json!({"cniVersion": "0.3.1",
                   "ips": [{"version": "6", "address": "10.1.0.2/24"},
                           {"address": "fd00:1::2/64"},
                           {"version": "", "address": "10.2.0.2/24"}]}),
            Version::V0_2_0,
            json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.2/24"}, "ip6": {"ip": "fd00:1::2/64"}, "dns": {}}),
        ),
        (
            "... and get correct labels when printed as 0.3.x again",
            json!({"cniVersion": "0.3.1",
                   "ips": [{"version": "6", "address": "10.1.0.2/24"}, {"address": "fd00:1::2/64"}]}),
            Version::V0_3_0,
            json!({"cniVersion": "0.3.0",
                   "ips": [{"version": "4", "address": "10.1.0.2/24"}, {"version": "6", "address": "fd00:1::2/64"}],
                   "dns": {}}),
        ),
        (
            "an address-less result to 0.2.0 has neither ip4 nor ip6",
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "routes": [{"dst": "0.0.0.0/0"}]}),
            Version::V0_2_0,
            json!({"cniVersion": "0.2.0", "dns": {}}),
        ),
        (
            "unknown keys and fields of newer versions are not carried",
            json!({"cniVersion": "1.0.0", "vendor": {"x": 1},
                   "interfaces": [{"name": "eth0", "mtu": 9000, "extra": true}],
                   "ips": [{"address": "10.1.0.2/24", "version": "4", "note": "x"}],
                   "routes": [{"dst": "0.0.0.0/0", "mtu": 1400, "table": 5}]}),
            Version::V1_1_0,
            json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"address": "10.1.0.2/24"}], "routes": [{"dst": "0.0.0.0/0"}]}),
        ),
        (
            "0 in omitempty uints is absent, host bits and canonical IPv6 text are kept",
            json!({"cniVersion": "1.1.0",
                   "interfaces": [{"name": "eth0", "mtu": 0, "mac": "", "sandbox": ""}],
                   "ips": [{"address": "FD00:0:0:0::0002/64", "gateway": ""}],
                   "routes": [{"dst": "10.1.2.3/8", "gw": null, "mtu": 0, "advmss": 0, "priority": 0}],
                   "dns": {"domain": "", "nameservers": []}}),
            Version::V1_1_0,
            json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"address": "fd00::2/64"}], "routes": [{"dst": "10.1.2.3/8"}]}),
        ),
        (
            "nulls are absent",
            json!({"cniVersion": "0.4.0", "interfaces": null, "ips": [{"address": "10.1.0.2/24", "interface": null,
                   "gateway": null, "version": null}], "routes": null, "dns": null}),
            Version::V0_4_0,
            json!({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.1.0.2/24"}], "dns": {}}),
        ),
    ]
}

#[test]
fn cross_version_expectations() {
    for (what, input, target, expected) in table() {
        let out = parse(input).to_json(target);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&expected).unwrap(),
            "{what}"
        );
    }
}

#[test]
fn empty_result_in_every_version() {
    let empty = CniResult::default();
    assert!(empty.is_empty());
    for v in Version::ALL {
        let expected = if v >= Version::V1_0_0 {
            json!({"cniVersion": v.as_str()})
        } else {
            json!({"cniVersion": v.as_str(), "dns": {}})
        };
        assert_eq!(empty.to_json(v), expected, "{v}");
        let back = CniResult::parse(&expected, Version::V0_1_0).unwrap();
        assert!(back.is_empty(), "{v}");
    }
    // An empty result needs no address even for 0.2.0, but it is reported.
    assert_eq!(
        empty.conversion_losses(Version::V0_2_0),
        ["no IP address: 0.2.0 results normally carry ip4 or ip6 (libcni refuses this conversion)"]
    );
    assert!(empty.conversion_losses(Version::V0_3_1).is_empty());
}

#[test]
fn is_empty_looks_at_every_part() {
    let mut r = CniResult::default();
    r.dns.options.push("ndots:5".into());
    assert!(!r.is_empty());
    let r = parse(json!({"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0"}]}));
    assert!(!r.is_empty());
    let r = parse(json!({"cniVersion": "1.0.0", "dns": {"domain": ""}}));
    assert!(r.is_empty());
}

#[test]
fn default_version_applies_when_cni_version_is_missing_or_empty() {
    let ip4_shape = json!({"ip4": {"ip": "10.1.0.2/24"}});
    let ips_shape = json!({"cniVersion": "", "ips": [{"address": "10.1.0.2/24"}]});

    // Read as 0.2.0 the ip4 object is understood...
    let (r, v) = CniResult::parse_versioned(&ip4_shape, Version::V0_2_0).unwrap();
    assert_eq!(v, Version::V0_2_0);
    assert_eq!(r.ips.len(), 1);
    // ...read as 1.0.0 it is an unknown key.
    let (r, v) = CniResult::parse_versioned(&ip4_shape, Version::V1_0_0).unwrap();
    assert_eq!(v, Version::V1_0_0);
    assert!(r.is_empty());

    let (r, v) = CniResult::parse_versioned(&ips_shape, Version::V0_4_0).unwrap();
    assert_eq!(v, Version::V0_4_0);
    assert_eq!(r.ips[0].address, net("10.1.0.2/24"));

    let with_null = json!({"cniVersion": null, "ips": [{"address": "10.1.0.2/24"}]});
    let (_, v) = CniResult::parse_versioned(&with_null, Version::V1_1_0).unwrap();
    assert_eq!(v, Version::V1_1_0);
}

#[test]
fn own_cni_version_wins_over_the_default() {
    let (_, v) =
        CniResult::parse_versioned(&json!({"cniVersion": "0.3.0"}), Version::V1_1_0).unwrap();
    assert_eq!(v, Version::V0_3_0);
}

#[test]
fn typed_values_come_out_of_parse() {
    let r = parse(json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "mtu": 1500, "sandbox": "/n",
                        "socketPath": "/s", "pciID": "0000:00:01.0"}],
        "ips": [{"interface": 0, "address": "10.1.0.2/24", "gateway": "10.1.0.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "advmss": 1360, "priority": 5,
                    "table": 0, "scope": 253}],
        "dns": {"nameservers": ["10.96.0.10"], "domain": "d", "search": ["s"], "options": ["o"]}
    }));
    assert_eq!(
        r,
        CniResult {
            interfaces: vec![Interface {
                name: "eth0".into(),
                mac: Some("02:00:00:00:00:01".into()),
                sandbox: Some("/n".into()),
                mtu: Some(1500),
                socket_path: Some("/s".into()),
                pci_id: Some("0000:00:01.0".into()),
            }],
            ips: vec![IpConfig {
                address: net("10.1.0.2/24"),
                gateway: Some(addr("10.1.0.1")),
                interface: Some(0),
            }],
            routes: vec![Route {
                gw: Some(addr("10.1.0.1")),
                mtu: Some(1400),
                advmss: Some(1360),
                priority: Some(5),
                table: Some(0),
                scope: Some(253),
                ..Route::new(net("0.0.0.0/0"))
            }],
            dns: Dns {
                nameservers: vec!["10.96.0.10".into()],
                domain: Some("d".into()),
                search: vec!["s".into()],
                options: vec!["o".into()],
            },
        }
    );
}

#[test]
fn every_version_pair_round_trips_a_dual_stack_result() {
    // A result every version can hold completely: one address per family,
    // no interfaces, plain routes. Any A -> B -> A is lossless.
    let hub = parse(json!({
        "cniVersion": "1.1.0",
        "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1"}, {"address": "fd00:1::2/64"}],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:1::1"}],
        "dns": {"nameservers": ["10.96.0.10"], "search": ["a", "b"]}
    }));
    for a in Version::ALL {
        for b in Version::ALL {
            let at_a = hub.to_json(a);
            let at_b = CniResult::parse(&at_a, Version::V0_1_0).unwrap().to_json(b);
            assert_eq!(at_b["cniVersion"], json!(b.as_str()));
            let again = CniResult::parse(&at_b, Version::V0_1_0).unwrap();
            assert_eq!(again, hub, "{a} -> {b}");
            assert_eq!(again.to_json(a), at_a, "{a} -> {b} -> {a}");
        }
    }
}
