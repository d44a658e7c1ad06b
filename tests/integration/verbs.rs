//! CNI 1.1 verbs: STATUS and GC, forwarded to delegates that speak 1.1.0,
//! with GC releasing stale attachments from their records.

use crate::harness::*;
use crate::pipelines::multinic;
use serde_json::{json, Value};

fn only_up_to_1_0() -> Value {
    json!({"envs": [r#"FAKE_CONF='{"versions": ["0.4.0", "1.0.0"]}'"#]})
}

#[test]
fn status_asks_each_distinct_plugin_that_speaks_1_1() {
    let mut s = Setup::new(&["a", "b"]);
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    let conf = json!({"cniVersion": "1.1.0", "name": "n", "delegates": [
        {"name": "a1", "type": "a"}, {"name": "b", "type": "b", "runtimeOverride": only_up_to_1_0()},
        {"name": "a2", "type": "a"}]});
    assert_eq!(s.run("STATUS", &conf).ok(), Value::Null);
    assert_eq!(s.order(), ["a:VERSION", "a:STATUS", "b:VERSION"]);
    let status = &s.calls()[1];
    assert_eq!(status.stdin["cniVersion"], "1.1.0");
    assert_eq!(status.env("CNI_CONTAINERID"), None);
    // A delegate's 50/51 is kept.
    s.set(
        "FAKE_CONF",
        r#"{"status": "fail", "code": 51, "msg": "limited"}"#,
    );
    assert!(s.run("STATUS", &conf).err(51).contains("limited"));
    s.unset("FAKE_CONF");
    // A missing delegate means the network cannot serve ADD: 50.
    let missing =
        json!({"cniVersion": "1.1.0", "name": "n", "delegates": [{"name": "x", "type": "nope"}]});
    assert!(s.run("STATUS", &missing).err(50).contains("\"x\""));
    // Before 1.1.0 there is no STATUS.
    let mut old = conf.clone();
    old["cniVersion"] = json!("1.0.0");
    s.run("STATUS", &old).err(1);
}

fn gc_conf(valid: Value, key: &str) -> Value {
    let mut c = multinic(&[]);
    c["cniVersion"] = json!("1.1.0");
    c[key] = valid;
    c
}

#[test]
fn gc_releases_stale_attachments_from_their_records_and_forwards_the_valid_list() {
    let mut s = Setup::new(&["macvlan", "portmap", "sriov", "rdma"]);
    let mut add = multinic(&["devA0", "devA1"]);
    add["cniVersion"] = json!("1.1.0");
    s.set("CNI_CONTAINERID", "live").run("ADD", &add).ok();
    let mut add_b = multinic(&["devB0"]);
    add_b["cniVersion"] = json!("1.1.0");
    s.set("CNI_CONTAINERID", "stale").run("ADD", &add_b).ok();
    s.clear_calls();
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    let valid = json!([{"containerID": "live", "ifname": "eth0"}]);
    s.run("GC", &gc_conf(valid, "cni.dev/valid-attachments"))
        .ok();
    let calls = s.calls();
    // The stale attachment was DEL'd from its record (device included) ...
    let dels: Vec<(&str, &str)> = calls
        .iter()
        .filter(|c| c.cmd == "DEL")
        .map(|c| (c.plugin.as_str(), c.env("CNI_CONTAINERID").unwrap_or("")))
        .collect();
    assert_eq!(
        dels,
        [
            ("rdma", "stale"),
            ("sriov", "stale"),
            ("portmap", "stale"),
            ("macvlan", "stale")
        ]
    );
    assert!(calls
        .iter()
        .any(|c| c.cmd == "DEL" && c.stdin["deviceID"] == "devB0"));
    // ... and each delegate got GC with the attachments it serves for "live".
    let gc = |plugin: &str| -> Value {
        calls
            .iter()
            .find(|c| c.cmd == "GC" && c.plugin == plugin)
            .expect("GC forwarded")
            .stdin["cni.dev/valid-attachments"]
            .clone()
    };
    assert_eq!(
        gc("macvlan"),
        json!([{"containerID": "live", "ifname": "eth0"}])
    );
    assert_eq!(
        gc("sriov"),
        json!([{"containerID": "live", "ifname": "roce0"}, {"containerID": "live", "ifname": "roce1"}])
    );
    // Only the live record is left.
    let dir = s.state_dir().join("crane-multinic");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(left, ["live-eth0.json"]);
}

#[test]
fn gc_does_not_forward_to_template_delegates_when_instances_are_unknown() {
    let mut s = Setup::new(&["macvlan", "portmap", "sriov", "rdma"]);
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    // "norecord" has no state file: its roce instances cannot be known.
    let valid = json!([{"containerID": "norecord", "ifname": "eth0"}]);
    let r = s.run("GC", &gc_conf(valid, "cni.dev/attachments"));
    r.ok();
    let gcs: Vec<String> = s
        .calls()
        .iter()
        .filter(|c| c.cmd == "GC")
        .map(|c| c.plugin.clone())
        .collect();
    assert_eq!(gcs, ["macvlan", "portmap"]);
    assert!(r.stderr.contains("not forwarded"), "{}", r.stderr);
    let mac = s.calls().into_iter().find(|c| c.cmd == "GC").expect("gc");
    assert_eq!(
        mac.stdin["cni.dev/valid-attachments"],
        json!([{"containerID": "norecord", "ifname": "eth0"}])
    );
}

#[test]
fn gc_keeps_going_on_errors_and_returns_them_all() {
    let mut s = Setup::new(&["a", "b"]);
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    s.set("FAKE_CONF", r#"{"gc": "fail", "code": 11, "msg": "busy"}"#);
    let conf = json!({"cniVersion": "1.1.0", "name": "n", "cni.dev/valid-attachments": [],
        "delegates": [{"name": "a", "type": "a"}, {"name": "b", "type": "b"}]});
    let msg = s.run("GC", &conf).err(11);
    assert!(
        msg.contains("2 errors") && msg.contains("\"a\"") && msg.contains("\"b\""),
        "{msg}"
    );
    let bad = json!({"cniVersion": "1.1.0", "name": "n", "cni.dev/valid-attachments": [{"containerID": 1}],
        "delegates": [{"name": "a", "type": "a"}]});
    assert!(s
        .run("GC", &bad)
        .err(7)
        .contains("cni.dev/valid-attachments[0]"));
}
