//! Malformed results: each one an error (never a panic) whose text names
//! the field.

use super::*;
use crate::error::{code, CniError};

#[test]
fn exact_messages() {
    let cases: Vec<(Value, &str)> = vec![
        // Not an object.
        (json!([]), "result must be a JSON object, found an array of 0 element(s)"),
        (json!("ok"), "result must be a JSON object, found string \"ok\""),
        (json!(null), "result must be a JSON object, found null"),
        // cniVersion.
        (
            json!({"cniVersion": "1.2.0"}),
            "cniVersion: \"1.2.0\" is not a supported CNI version (supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)",
        ),
        (json!({"cniVersion": 1}), "cniVersion: expected a string, found number 1"),
        // ips.
        (json!({"cniVersion": "1.0.0", "ips": {}}), "ips: expected an array, found an object"),
        (json!({"cniVersion": "1.0.0", "ips": ["10.0.0.2/24"]}), "ips[0]: expected an IP configuration object, found string \"10.0.0.2/24\""),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}, {"address": "10.0.0.3/24"}, {"address": "10.0.0.300/24"}]}),
            "ips[2].address: \"10.0.0.300/24\" is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.3"}]}),
            "ips[0].address: \"10.0.0.3\" is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.3/33"}]}),
            "ips[0].address: \"10.0.0.3/33\" is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"gateway": "10.0.0.1"}]}),
            "ips[0].address: missing; an IP network such as \"10.0.0.2/24\" is required",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": null}]}),
            "ips[0].address: missing; an IP network such as \"10.0.0.2/24\" is required",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": 167772162}]}),
            "ips[0].address: expected a string such as \"10.0.0.2/24\", found number 167772162",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "gateway": "router"}]}),
            "ips[0].gateway: \"router\" is not an IP address",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1/24"}]}),
            "ips[0].gateway: \"10.0.0.1/24\" is not an IP address",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "gateway": ["10.0.0.1"]}]}),
            "ips[0].gateway: expected a string, found an array of 1 element(s)",
        ),
        // interface indexes.
        (
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.0.0.2/24", "interface": 1}]}),
            "ips[0].interface: interface index 1 points past the end of \"interfaces\" (1 entries)",
        ),
        (
            json!({"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.2/24", "interface": 0}]}),
            "ips[0].interface: interface index 0 points past the end of \"interfaces\" (0 entries)",
        ),
        (
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.0.0.2/24", "interface": -1}]}),
            "ips[0].interface: expected a non-negative integer index into \"interfaces\", found number -1",
        ),
        (
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.0.0.2/24", "interface": 0.5}]}),
            "ips[0].interface: expected a non-negative integer index into \"interfaces\", found number 0.5",
        ),
        (
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.0.0.2/24", "interface": "0"}]}),
            "ips[0].interface: expected a non-negative integer index into \"interfaces\", found string \"0\"",
        ),
        // 0.3.x version label: any string is accepted, other types are not.
        (
            json!({"cniVersion": "0.3.1", "ips": [{"version": 4, "address": "10.0.0.2/24"}]}),
            "ips[0].version: expected a string, found number 4",
        ),
        // interfaces.
        (json!({"cniVersion": "1.0.0", "interfaces": "eth0"}), "interfaces: expected an array, found string \"eth0\""),
        (
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}, {"name": 0}]}),
            "interfaces[1].name: expected a string, found number 0",
        ),
        (
            json!({"cniVersion": "0.4.0", "interfaces": [{"name": "eth0", "mac": true}]}),
            "interfaces[0].mac: expected a string, found boolean true",
        ),
        (
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": ["/ns"]}]}),
            "interfaces[0].sandbox: expected a string, found an array of 1 element(s)",
        ),
        (
            json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "mtu": "9000"}]}),
            "interfaces[0].mtu: expected a non-negative integer (at most 4294967295), found string \"9000\"",
        ),
        (
            json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "pciID": 1}]}),
            "interfaces[0].pciID: expected a string, found number 1",
        ),
        // routes.
        (json!({"cniVersion": "1.0.0", "routes": [{"gw": "10.0.0.1"}]}), "routes[0].dst: missing; an IP network such as \"10.0.0.2/24\" is required"),
        (
            json!({"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0"}, {"dst": "default"}]}),
            "routes[1].dst: \"default\" is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")",
        ),
        (
            json!({"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0", "gw": "fd00::1::2"}]}),
            "routes[0].gw: \"fd00::1::2\" is not an IP address",
        ),
        (
            json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "mtu": -1}]}),
            "routes[0].mtu: expected a non-negative integer (at most 4294967295), found number -1",
        ),
        (
            json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "table": "main"}]}),
            "routes[0].table: expected a non-negative integer (at most 4294967295), found string \"main\"",
        ),
        (
            json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "advmss": 4294967296u64}]}),
            "routes[0].advmss: expected a non-negative integer (at most 4294967295), found number 4294967296",
        ),
        (
            json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "scope": 256}]}),
            "routes[0].scope: expected an integer from 0 to 255, found number 256",
        ),
        // dns.
        (json!({"cniVersion": "1.0.0", "dns": []}), "dns: expected an object, found an array of 0 element(s)"),
        (
            json!({"cniVersion": "1.0.0", "dns": {"nameservers": "10.0.0.10"}}),
            "dns.nameservers: expected an array, found string \"10.0.0.10\"",
        ),
        (json!({"cniVersion": "1.0.0", "dns": {"search": ["a", 1]}}), "dns.search[1]: expected a string, found number 1"),
        (json!({"cniVersion": "0.2.0", "dns": {"domain": {}}}), "dns.domain: expected a string, found an object"),
        // 0.1.0 / 0.2.0.
        (json!({"cniVersion": "0.2.0", "ip4": "10.0.0.2/24"}), "ip4: expected an object, found string \"10.0.0.2/24\""),
        (
            json!({"cniVersion": "0.1.0", "ip4": {"ip": "10.0.0.2"}}),
            "ip4.ip: \"10.0.0.2\" is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")",
        ),
        (json!({"cniVersion": "0.2.0", "ip6": {}}), "ip6.ip: missing; an IP network such as \"10.0.0.2/24\" is required"),
        (
            json!({"cniVersion": "0.2.0", "ip6": {"ip": "fd00::2/64", "routes": [{"dst": "::/0", "gw": "x"}]}}),
            "ip6.routes[0].gw: \"x\" is not an IP address",
        ),
        (json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24", "routes": {}}}), "ip4.routes: expected an array, found an object"),
        // Long values are cut in messages.
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "interface": "x".repeat(100)}]}),
            "ips[0].interface: expected a non-negative integer index into \"interfaces\", found string \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"...",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_err(input.clone()), expected, "input: {input}");
    }
}

#[test]
fn parse_slice_errors() {
    let err = |b: &[u8]| CniResult::parse_slice(b, Version::V1_0_0).unwrap_err();
    assert_eq!(err(b""), ResultError::Empty);
    assert_eq!(err(b" \n\t"), ResultError::Empty);
    assert_eq!(
        err(b"{").to_string(),
        "result is not valid JSON: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(
        err(b"{} {}").to_string(),
        "result is not valid JSON: trailing characters at line 1 column 4"
    );
    assert_eq!(
        err(b"Error: plugin exploded").to_string(),
        "result is not valid JSON: expected value at line 1 column 1"
    );
    assert!(matches!(err(b"[1]"), ResultError::NotAnObject { .. }));
    // A valid one, for contrast.
    let r = CniResult::parse_slice(b" {\"cniVersion\":\"1.0.0\"}\n", Version::V1_0_0).unwrap();
    assert!(r.is_empty());
}

#[test]
fn structured_variants_carry_the_path() {
    let e = CniResult::parse(
        &json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}, {"address": "nope"}]}),
        Version::DEFAULT,
    )
    .unwrap_err();
    assert_eq!(
        e,
        ResultError::BadNetwork {
            path: "ips[1].address".into(),
            value: "nope".into()
        }
    );
    let e = CniResult::parse(
        &json!({"cniVersion": "1.0.0", "interfaces": [{"name": "a"}], "ips": [{"address": "10.0.0.2/24", "interface": 7}]}),
        Version::DEFAULT,
    )
    .unwrap_err();
    assert_eq!(
        e,
        ResultError::InterfaceIndexOutOfRange {
            path: "ips[0].interface".into(),
            index: 7,
            count: 1
        }
    );
}

#[test]
fn error_codes_and_cni_error_conversion() {
    let unsupported =
        CniResult::parse(&json!({"cniVersion": "9.9.9"}), Version::DEFAULT).unwrap_err();
    assert_eq!(unsupported.code(), code::INCOMPATIBLE_VERSION);
    let bad = CniResult::parse(
        &json!({"cniVersion": "1.0.0", "ips": [{"address": "x"}]}),
        Version::DEFAULT,
    )
    .unwrap_err();
    assert_eq!(bad.code(), code::DECODE);
    let e: CniError = bad.into();
    assert_eq!(e.code, code::DECODE);
    assert_eq!(
        e.msg,
        "ips[0].address: \"x\" is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")"
    );
    assert_eq!(CniError::from(ResultError::Empty).code, code::DECODE);
}

#[test]
fn fields_of_other_versions_are_not_validated() {
    // A 1.0.0 result's route `mtu` is an unknown key there, whatever it holds;
    // and a 0.2.0 result's `ips` is not read at all.
    let r = parse(
        json!({"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0", "mtu": "big"}],
        "interfaces": [{"name": "eth0", "socketPath": 5}]}),
    );
    assert_eq!(r.routes[0], Route::new(net("0.0.0.0/0")));
    let r = parse(json!({"cniVersion": "0.2.0", "ips": "not even an array"}));
    assert!(r.is_empty());
    // 1.0.0 has no per-IP version: any value is ignored.
    let r =
        parse(json!({"cniVersion": "1.0.0", "ips": [{"version": 4, "address": "10.0.0.2/24"}]}));
    assert_eq!(r.ips.len(), 1);
}

#[test]
fn garbage_never_panics() {
    // Every field of a full result replaced, one at a time, by values of each
    // JSON kind: parsing may fail but must not panic, and what parses prints.
    let base = FIXTURES
        .iter()
        .find(|f| f.name == "handwritten-1.1.0")
        .unwrap()
        .json();
    let junk = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e300),
        json!(""),
        json!("x"),
        json!([]),
        json!([1]),
        json!({}),
    ];
    fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let mut p = prefix.clone();
                    p.push(k.clone());
                    paths(c, p, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let mut p = prefix.clone();
                    p.push(i.to_string());
                    paths(c, p, out);
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    paths(&base, Vec::new(), &mut all);
    assert!(all.len() > 50);
    for p in &all {
        for j in &junk {
            let mut v = base.clone();
            let mut slot = &mut v;
            for seg in p {
                slot = match slot {
                    Value::Object(m) => m.get_mut(seg).unwrap(),
                    Value::Array(a) => &mut a[seg.parse::<usize>().unwrap()],
                    _ => unreachable!(),
                };
            }
            *slot = j.clone();
            for d in Version::ALL {
                if let Ok(r) = CniResult::parse(&v, d) {
                    for t in Version::ALL {
                        let _ = r.to_json(t);
                    }
                }
            }
        }
    }
}
