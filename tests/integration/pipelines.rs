//! The multi-NIC shape: static and template pipelines, GRES expansion,
//! template rendering, chained-inside / merged-across results, two-level
//! rollback, DEL order, validation.

use crate::harness::*;
use serde_json::{json, Value};

pub const GRES: &str = "cranesched.internal/meta-cni/gres";

pub fn example(name: &str) -> Value {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("example parses")
}

/// The multi-NIC example with fakes standing in: portmap and rdma pass
/// their prevResult through (as the real plugins do).
pub fn multinic(devices: &[&str]) -> Value {
    let mut c = example("20-multi-nic.conf");
    c["pipelines"][0]["delegates"][0]["conf"]["fake"] = json!({"ip": "10.20.0.5/16"});
    c["pipelines"][0]["delegates"][1]["conf"]["fake"] = json!({"ip": "", "noiface": true});
    c["pipelines"][1]["delegates"][0]["conf"]["fake"] = json!({"ip": "10.30.0.9/24"});
    c["pipelines"][1]["delegates"][1]["conf"]["fake"] = json!({"ip": "", "noiface": true});
    let mut ann = serde_json::Map::new();
    for (i, d) in devices.iter().enumerate() {
        ann.insert(format!("{GRES}/roce/{i}"), json!(d));
    }
    c["runtimeConfig"] = json!({"io.kubernetes.cri.pod-annotations": ann, "portMappings": []});
    c
}

fn fakes() -> Setup {
    Setup::new(&["macvlan", "portmap", "sriov", "rdma"])
}

#[test]
fn zero_one_and_four_template_instances() {
    let s = fakes();
    for n in [0usize, 1, 4] {
        s.clear_calls();
        let devices: Vec<String> = (0..n).map(|i| format!("0000:3b:00.{i}")).collect();
        let devs: Vec<&str> = devices.iter().map(String::as_str).collect();
        let out = s.run("ADD", &multinic(&devs)).ok();
        let calls = s.calls();
        let mut expect = vec!["macvlan:ADD".to_string(), "portmap:ADD".to_string()];
        for _ in 0..n {
            expect.extend(["sriov:ADD".to_string(), "rdma:ADD".to_string()]);
        }
        assert_eq!(s.order(), expect, "{n} instances");
        assert_eq!(calls[0].env("CNI_IFNAME"), Some("eth0"));
        for i in 0..n {
            let (sriov, rdma) = (&calls[2 + 2 * i], &calls[3 + 2 * i]);
            let ifname = format!("roce{i}");
            assert_eq!(sriov.env("CNI_IFNAME"), Some(ifname.as_str()));
            assert_eq!(rdma.env("CNI_IFNAME"), Some(ifname.as_str()));
            assert_eq!(sriov.stdin["deviceID"], devices[i], "rendered per instance");
            assert_eq!(
                sriov.stdin["ipam"]["ranges"][0][0]["subnet"],
                format!("10.30.{i}.0/24")
            );
            assert_eq!(sriov.stdin["vlan"], 0, "numbers stay numbers");
            assert!(
                sriov.stdin.get("prevResult").is_none(),
                "each pipeline's chain starts fresh"
            );
            assert_eq!(
                rdma.stdin["prevResult"]["interfaces"][0]["name"],
                ifname.as_str(),
                "chained inside"
            );
            assert_eq!(
                sriov.env("CNI_ARGS"),
                None,
                "K8S args stripped, nothing left"
            );
        }
        // Merged across pipelines: eth0 + one interface per instance.
        let names = iface_names(&out);
        let mut want = vec!["eth0".to_string()];
        want.extend((0..n).map(|i| format!("roce{i}")));
        assert_eq!(names, want);
        assert_eq!(out["ips"].as_array().map(Vec::len), Some(1 + n));
        for ip in out["ips"].as_array().expect("ips") {
            let idx = ip["interface"].as_u64().expect("index") as usize;
            let owner = out["interfaces"][idx]["name"].as_str().unwrap_or("");
            let want = if ip["address"] == "10.20.0.5/16" {
                "eth0"
            } else {
                "roce"
            };
            assert!(owner.starts_with(want), "index remapped: {ip} -> {owner}");
        }
    }
}

#[test]
fn del_runs_pipelines_and_delegates_in_reverse() {
    let s = fakes();
    s.run("DEL", &multinic(&["d0", "d1"])).ok();
    assert_eq!(
        s.order(),
        [
            "rdma:DEL",
            "sriov:DEL",
            "rdma:DEL",
            "sriov:DEL",
            "portmap:DEL",
            "macvlan:DEL"
        ]
    );
    let ifnames: Vec<String> = s
        .calls()
        .iter()
        .map(|c| c.env("CNI_IFNAME").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        ifnames,
        ["roce1", "roce1", "roce0", "roce0", "eth0", "eth0"]
    );
}

#[test]
fn check_runs_in_order_with_the_merged_prev_result() {
    let s = fakes();
    let mut conf = multinic(&["d0"]);
    conf["attachmentState"] = json!(false);
    let out = s.run("ADD", &conf).ok();
    conf["prevResult"] = out;
    s.clear_calls();
    s.run("CHECK", &conf).ok();
    assert_eq!(
        s.order(),
        [
            "macvlan:CHECK",
            "portmap:CHECK",
            "sriov:CHECK",
            "rdma:CHECK"
        ]
    );
}

#[test]
fn annotations_with_bad_indexes_are_ignored_and_instances_run_in_index_order() {
    let s = fakes();
    let mut conf = multinic(&[]);
    conf["runtimeConfig"]["io.kubernetes.cri.pod-annotations"] = json!({
        format!("{GRES}/roce/10"): "dev10", format!("{GRES}/roce/2"): "dev2",
        format!("{GRES}/roce/x"): "bad", format!("{GRES}/roce/-1"): "bad", format!("{GRES}/roce/01"): "bad",
        format!("{GRES}/other/0"): "not ours", "unrelated": "z"});
    let r = s.run("ADD", &conf);
    r.ok();
    let sriov: Vec<(String, String)> = s
        .calls()
        .iter()
        .filter(|c| c.plugin == "sriov")
        .map(|c| {
            (
                c.env("CNI_IFNAME").unwrap_or("").to_string(),
                c.stdin["deviceID"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        sriov,
        [
            ("roce2".into(), "dev2".into()),
            ("roce10".into(), "dev10".into())
        ]
    );
    assert!(
        r.stderr.contains("roce/x"),
        "ignored annotation logged: {}",
        r.stderr
    );
}

#[test]
fn argument_templates_render_with_and_without_the_arg() {
    let mut s = fakes();
    s.run("ADD", &multinic(&[])).ok();
    assert_eq!(s.calls()[0].stdin["master"], "eno1");
    s.clear_calls();
    s.set("CNI_ARGS", "MASTER=ens1f0;K8S_POD_NAME=p");
    s.run("ADD", &multinic(&[])).ok();
    assert_eq!(s.calls()[0].stdin["master"], "ens1f0");
}

#[test]
fn an_annotation_value_cannot_inject_json() {
    let s = fakes();
    let evil = r#"eth0","trust":"off","x":{"y":"#;
    s.run("ADD", &multinic(&[evil])).ok();
    let sriov = s
        .calls()
        .into_iter()
        .find(|c| c.plugin == "sriov")
        .expect("sriov called");
    assert_eq!(sriov.stdin["deviceID"], evil);
    assert_eq!(sriov.stdin["trust"], "on");
    assert!(sriov.stdin.get("x").is_none());
}

#[test]
fn a_bad_template_is_code_7_with_the_json_path_and_delegate() {
    let s = fakes();
    let mut conf = multinic(&["d0"]);
    conf["pipelines"][1]["delegates"][0]["conf"]["ipam"]["ranges"][0][0]["subnet"] =
        json!("{{.Gres.Foo}}");
    let msg = s.run("ADD", &conf).err(7);
    assert!(
        msg.contains(r#"$["ipam"]["ranges"][0][0]["subnet"]"#),
        "{msg}"
    );
    assert!(msg.contains("roce-0") && msg.contains("sriov"), "{msg}");
    assert!(
        s.calls().is_empty(),
        "nothing runs when a config cannot be rendered"
    );
    conf["pipelines"][1]["delegates"][0]["conf"]["ipam"]["ranges"][0][0]["subnet"] =
        json!("{{if .Args.A}}x");
    assert!(s.run("ADD", &conf).err(7).contains("subnet"));
}

#[test]
fn failure_in_a_later_pipeline_rolls_back_it_and_every_earlier_one() {
    let s = fakes();
    let mut conf = multinic(&["d0", "d1"]);
    // roce-1's sriov fails: it is undone, then roce-0, then ethernet.
    conf["pipelines"][1]["delegates"][0]["conf"]["fake"] = json!({"ip": "10.30.0.9/24", "add": "{{if eq .Gres.Index \"1\"}}fail{{else}}ok{{end}}", "code": 11});
    let msg = s.run("ADD", &conf).err(11);
    assert!(
        msg.contains("pipeline \"roce-1\" delegate \"sriov\""),
        "{msg}"
    );
    assert_eq!(
        s.order(),
        [
            "macvlan:ADD",
            "portmap:ADD",
            "sriov:ADD",
            "rdma:ADD",
            "sriov:ADD",
            "sriov:DEL",
            "rdma:DEL",
            "sriov:DEL",
            "portmap:DEL",
            "macvlan:DEL"
        ]
    );
    let calls = s.calls();
    assert_eq!(calls[5].env("CNI_IFNAME"), Some("roce1"));
    assert_eq!(calls[6].env("CNI_IFNAME"), Some("roce0"));
    // Each earlier pipeline's DEL gets its own result.
    assert_eq!(
        calls[6].stdin["prevResult"]["interfaces"][0]["name"],
        "roce0"
    );
    assert_eq!(
        calls[8].stdin["prevResult"]["interfaces"][0]["name"],
        "eth0"
    );
}

#[test]
fn invalid_pipeline_shapes_are_code_7_naming_the_pipeline() {
    let s = fakes();
    let d = json!([{"name": "a", "type": "macvlan"}]);
    let p = |name: &str, key: &str, val: &str| json!({"name": name, key: val, "delegates": d});
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!([p("a", "ifName", "eth0"), p("a", "ifName", "eth1")]),
            &["\"a\"", "duplicate"],
        ),
        (
            json!([{"name": "a", "ifName": "eth0", "ifNamePrefix": "net", "delegates": d}]),
            &["\"a\"", "ifNamePrefix"],
        ),
        (json!([{"name": "a", "delegates": d}]), &["\"a\"", "ifName"]),
        (
            json!([p("a", "ifName", "eth0"), p("b", "ifName", "eth0")]),
            &["\"b\"", "eth0"],
        ),
        (
            json!([p("a", "ifNamePrefix", "net"), p("b", "ifNamePrefix", "net")]),
            &["\"b\"", "net"],
        ),
        (
            json!([p("a", "ifName", "roce3"), p("b", "ifNamePrefix", "roce")]),
            &["\"a\"", "roce3", "\"b\""],
        ),
        (
            json!([p("a", "ifNamePrefix", "ib"), p("b", "ifNamePrefix", "ib1")]),
            &["\"ib\"", "\"ib1\""],
        ),
        (
            json!([
                p("a", "ifName", "eth0"),
                p("b-0", "ifName", "eth1"),
                p("b", "ifNamePrefix", "x")
            ]),
            &["\"b-0\""],
        ),
        (
            json!([{"name": "a", "ifName": "eth0", "runtimeOverride": {"ifName": "x"}, "delegates": d}]),
            &["\"a\"", "runtimeOverride.ifName"],
        ),
        (
            json!([{"name": "a", "ifName": "eth0", "delegates": [{"name": "x", "type": "t", "runtimeOverride": {"ifName": "y"}}]}]),
            &["\"a\"", "runtimeOverride.ifName"],
        ),
        (
            json!([{"name": "a", "ifName": "eth0", "delegates": []}]),
            &["\"a\"", "delegates"],
        ),
        (
            json!([{"name": "a", "ifName": "eth0", "delegates": [{"name": "x"}]}]),
            &["\"a\"", "type"],
        ),
        (
            json!([{"ifName": "eth0", "delegates": d}]),
            &["pipelines[0].name"],
        ),
        (
            json!([{"name": "a", "ifNamePrefix": "averyverylongpfx", "delegates": d}]),
            &["\"a\"", "ifNamePrefix"],
        ),
        (json!([]), &["pipelines"]),
    ];
    for (pipelines, needles) in cases {
        let conf = json!({"cniVersion": "1.0.0", "name": "n", "pipelines": pipelines});
        let msg = s.run("ADD", &conf).err(7);
        for n in needles {
            assert!(msg.contains(n), "{n} not in {msg} for {pipelines}");
        }
    }
    // ib + ib2x cannot collide (the rest is not all digits), nor roce + roce0x.
    let ok = json!({"cniVersion": "1.0.0", "name": "n", "pipelines": [
        p("a", "ifNamePrefix", "ib"), p("b", "ifNamePrefix", "ib2x"), p("c", "ifNamePrefix", "net0")]});
    s.run("ADD", &ok).ok();
}
