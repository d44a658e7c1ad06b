//! The seed shape end to end: the shipped example with recording fakes,
//! result modes, overrides, config derivation, rollback, DEL and CHECK.

use crate::harness::*;
use serde_json::{json, Value};

fn example() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/00-meta.example.conf"
    ))
    .expect("example config");
    serde_json::from_str(&text).expect("example parses")
}

const K8S_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod;K8S_POD_INFRA_CONTAINER_ID=infra;K8S_POD_UID=uid";

fn runtime_config() -> Value {
    json!({
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 1000000, "ingressBurst": 100000},
        "io.kubernetes.cri.pod-annotations": {"a": "b"}
    })
}

#[test]
fn the_seed_example_runs_add_check_del_with_exactly_the_documented_inputs() {
    let mut s = Setup::new(&["calico", "portmap", "bandwidth"]);
    s.set("CNI_ARGS", K8S_ARGS);
    let mut conf = example();
    conf["runtimeConfig"] = runtime_config();
    let out = s.run("ADD", &conf).ok();

    let calls = s.calls();
    assert_eq!(s.order(), ["calico:ADD", "portmap:ADD", "bandwidth:ADD"]);
    for c in &calls {
        // The K8S_* args are stripped, sorted remainder kept.
        assert_eq!(c.env("CNI_ARGS"), Some("IgnoreUnknown=1"), "{}", c.plugin);
        assert_eq!(c.env("CNI_CONTAINERID"), Some("ctr1"));
        assert_eq!(c.env("CNI_NETNS"), Some("/var/run/netns/test"));
        assert_eq!(c.env("CNI_IFNAME"), Some("eth0"));
        assert_eq!(c.env("CNI_PATH"), Some(s.bin.to_str().unwrap_or("")));
        assert_eq!(c.env("CNI_COMMAND"), Some("ADD"));
    }
    // calico: its conf untouched, with cniVersion and name filled in, only
    // the runtimeConfig keys its capabilities declare, and no prevResult.
    let mut expect = example()["delegates"][0]["conf"].clone();
    expect["cniVersion"] = json!("1.0.0");
    expect["name"] = json!("calico");
    expect["runtimeConfig"] = json!({"portMappings": runtime_config()["portMappings"]});
    assert_eq!(calls[0].stdin, expect);
    // Key order is the operator's, filled keys after.
    let keys: Vec<&str> = calls[0]
        .stdin
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(&keys[..3], ["type", "log_level", "datastore_type"]);
    // chained: each gets the previous delegate's result.
    assert!(calls[1].stdin.get("prevResult").is_some());
    assert_eq!(
        calls[1].stdin["prevResult"]["ips"][0]["address"],
        "10.66.0.2/24"
    );
    assert_eq!(
        calls[1].stdin["runtimeConfig"],
        json!({"portMappings": runtime_config()["portMappings"]})
    );
    assert_eq!(
        calls[2].stdin["runtimeConfig"],
        json!({"bandwidth": runtime_config()["bandwidth"]})
    );
    assert_eq!(
        calls[2].stdin["prevResult"]["interfaces"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // The output is the last delegate's result in the config's version.
    assert_eq!(out["cniVersion"], "1.0.0");
    assert_eq!(out["interfaces"].as_array().map(Vec::len), Some(3));

    // CHECK and DEL get the runtime's prevResult.
    let mut with_prev = conf.clone();
    with_prev["prevResult"] = out.clone();
    s.clear_calls();
    s.run("CHECK", &with_prev).ok();
    assert_eq!(
        s.order(),
        ["calico:CHECK", "portmap:CHECK", "bandwidth:CHECK"]
    );
    for c in s.calls() {
        assert_eq!(c.stdin["prevResult"]["ips"], out["ips"], "{}", c.plugin);
    }
    s.clear_calls();
    assert_eq!(
        s.run("DEL", &with_prev).ok(),
        Value::Null,
        "DEL prints nothing"
    );
    assert_eq!(s.order(), ["bandwidth:DEL", "portmap:DEL", "calico:DEL"]);
    for c in s.calls() {
        assert_eq!(c.env("CNI_ARGS"), Some("IgnoreUnknown=1"));
        assert_eq!(c.stdin["prevResult"]["ips"], out["ips"]);
    }
}

#[test]
fn result_mode_none_passes_nothing_and_returns_the_last_non_null_result() {
    let s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "resultMode": " None ", "delegates": [
        {"name": "a", "conf": {"type": "a", "fake": {"ip": "10.66.0.7/24"}}},
        {"name": "b", "conf": {"type": "b", "fake": {"add": "empty"}}}]});
    let out = s.run("ADD", &conf).ok();
    for c in s.calls() {
        assert!(c.stdin.get("prevResult").is_none(), "{}", c.raw_stdin);
    }
    assert_eq!(out["ips"][0]["address"], "10.66.0.7/24");
    // No delegate result at all: an empty result in the config's version.
    let conf = json!({"cniVersion": "0.4.0", "name": "n", "delegates": [
        {"name": "b", "conf": {"type": "b", "fake": {"add": "empty"}}}]});
    let out = s.run("ADD", &conf).ok();
    assert_eq!(out["cniVersion"], "0.4.0");
    assert!(
        out.get("ips")
            .map_or(true, |v| v.as_array().is_some_and(Vec::is_empty)),
        "{out}"
    );
}

#[test]
fn result_mode_merged_passes_the_merge_so_far_and_returns_the_merge_of_all() {
    // The seed shape's third mode: each delegate gets what the ones before
    // it produced, merged; ADD answers the merge of every result, with
    // interface indexes remapped into the merged interface list.
    let s = Setup::new(&["a", "b", "c"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "resultMode": "merged", "delegates": [
        {"name": "a", "conf": {"type": "a", "fake": {"ip": "10.66.0.7/24"}}},
        {"name": "b", "runtimeOverride": {"ifName": "net1"},
         "conf": {"type": "b", "fake": {"ip": "10.67.0.8/24", "noprev": true}}},
        {"name": "c", "conf": {"type": "c", "fake": {"noiface": true, "ip": "10.68.0.9/24"}}}]});
    let out = s.run("ADD", &conf).ok();
    let calls = s.calls();
    assert!(
        calls[0].stdin.get("prevResult").is_none(),
        "{}",
        calls[0].raw_stdin
    );
    let prev_b = &calls[1].stdin["prevResult"];
    assert_eq!(prev_b["interfaces"][0]["name"], "eth0", "{prev_b}");
    assert_eq!(prev_b["ips"][0]["address"], "10.66.0.7/24", "{prev_b}");
    // c sees a's and b's results merged: b's own (index 0 in its result)
    // now points at net1, the second interface.
    let prev_c = &calls[2].stdin["prevResult"];
    assert_eq!(iface_names(prev_c), ["eth0", "net1"], "{prev_c}");
    let ip_of = |r: &Value, addr: &str| {
        r["ips"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["address"] == addr).cloned())
            .unwrap_or_else(|| panic!("{addr} missing from {r}"))
    };
    assert_eq!(ip_of(prev_c, "10.67.0.8/24")["interface"], 1, "{prev_c}");
    // The answer: everything once, indexes right, c's interface-less IP too.
    assert_eq!(iface_names(&out), ["eth0", "net1"], "{out}");
    assert_eq!(ip_of(&out, "10.66.0.7/24")["interface"], 0, "{out}");
    assert_eq!(ip_of(&out, "10.67.0.8/24")["interface"], 1, "{out}");
    assert!(
        ip_of(&out, "10.68.0.9/24").get("interface").is_none(),
        "{out}"
    );
    assert_eq!(out["ips"].as_array().map(Vec::len), Some(3), "{out}");
}

#[test]
fn runtime_config_goes_by_capabilities_or_whole_and_a_delegates_own_is_kept() {
    let s = Setup::new(&["a", "b", "c"]);
    let own = json!({"mac": "02:00:00:00:00:01"});
    let mut conf = json!({"cniVersion": "1.0.0", "name": "n", "runtimeConfig": runtime_config(),
        "delegates": [
            {"name": "a", "conf": {"type": "a", "capabilities": {"portMappings": true, "bandwidth": false}}},
            {"name": "b", "conf": {"type": "b"}},
            {"name": "c", "conf": {"type": "c", "capabilities": {"portMappings": true}, "runtimeConfig": own}}]});
    let rc_of = |plugin: &str| -> Option<Value> {
        s.calls()
            .iter()
            .find(|c| c.plugin == plugin && c.cmd == "ADD")
            .and_then(|c| c.stdin.get("runtimeConfig").cloned())
    };
    // Default: only the keys a delegate's capabilities declare true.
    s.run("ADD", &conf).ok();
    assert_eq!(
        rc_of("a"),
        Some(json!({"portMappings": runtime_config()["portMappings"]}))
    );
    assert_eq!(rc_of("b"), None);
    assert_eq!(
        rc_of("c"),
        Some(own.clone()),
        "its own runtimeConfig is kept"
    );
    // runtimeConfigMode all: the whole of it to every delegate without its own.
    s.clear_calls();
    conf["runtimeConfigMode"] = json!("all");
    s.run("ADD", &conf).ok();
    assert_eq!(rc_of("a"), Some(runtime_config()));
    assert_eq!(rc_of("b"), Some(runtime_config()));
    assert_eq!(rc_of("c"), Some(own));
}

#[test]
fn overrides_layer_global_then_delegate_and_never_leak_between_delegates() {
    let mut s = Setup::new(&["a", "b"]);
    s.set("CNI_ARGS", "K8S_POD_NAME=p;X=1")
        .set("A", "inherited")
        .set("DROP_ME", "inherited")
        .set("HTTP_PROXY", "http://proxy");
    let conf = json!({"cniVersion": "1.0.0", "name": "n",
        "runtimeOverride": {"args": ["-K8S_POD_NAME", "IgnoreUnknown=true"],
                            "envs": ["A=''", "NO_PROXY=svc.local", "-DROP_ME"], "netns": "/var/run/netns/other"},
        "delegates": [
            {"name": "a", "type": "a", "runtimeOverride": {
                "containerID": "ctr-a", "ifName": "net1", "cniPath": s.bin.to_str(),
                "args": ["-X", "-IgnoreUnknown"], "envs": ["FAKE_MARK='hello world'", "-HTTP_PROXY"]}},
            {"name": "b", "type": "b"}]});
    s.run("ADD", &conf).ok();
    let calls = s.calls();
    let (a, b) = (&calls[0], &calls[1]);
    assert_eq!(a.env("CNI_CONTAINERID"), Some("ctr-a"));
    assert_eq!(a.env("CNI_IFNAME"), Some("net1"));
    assert_eq!(a.env("CNI_NETNS"), Some("/var/run/netns/other"));
    assert_eq!(a.env("CNI_ARGS"), None, "no args left: CNI_ARGS removed");
    assert_eq!(a.env("FAKE_MARK"), Some("hello world"));
    assert_eq!(
        a.env("HTTP_PROXY"),
        None,
        "-KEY removes an inherited variable"
    );
    assert_eq!(a.env("A"), None, "A='' unsets");
    assert_eq!(a.env("DROP_ME"), None);
    assert_eq!(a.env("NO_PROXY"), Some("svc.local"));
    // b only has the global layer.
    assert_eq!(b.env("CNI_CONTAINERID"), Some("ctr1"));
    assert_eq!(b.env("CNI_IFNAME"), Some("eth0"));
    assert_eq!(b.env("CNI_NETNS"), Some("/var/run/netns/other"));
    assert_eq!(
        b.env("CNI_ARGS"),
        Some("IgnoreUnknown=true;X=1"),
        "re-joined with keys sorted"
    );
    assert_eq!(b.env("HTTP_PROXY"), Some("http://proxy"));
    assert_eq!(b.env("FAKE_MARK"), None);
    assert_eq!(b.env("A"), None);
}

#[test]
fn delegate_configs_are_derived_as_documented() {
    let s = Setup::new(&["a", "b", "c"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained", "delegates": [
        {"name": "first", "type": "a"},
        {"name": "second", "conf": {"type": "b", "prevResult": {"bogus": true}, "unknown": {"deep": [1, 2.5, "x"]}}},
        {"type": "c", "conf": {"name": "from-conf", "cniVersion": "0.4.0"}}]});
    s.run("ADD", &conf).ok();
    let calls = s.calls();
    assert_eq!(
        calls[0].stdin,
        json!({"cniVersion": "1.0.0", "name": "first", "type": "a"})
    );
    assert_eq!(
        calls[1].stdin["unknown"],
        json!({"deep": [1, 2.5, "x"]}),
        "unknown keys pass untouched"
    );
    assert_eq!(calls[1].stdin["name"], "second");
    assert_eq!(calls[1].stdin["cniVersion"], "1.0.0");
    assert_ne!(
        calls[1].stdin["prevResult"],
        json!({"bogus": true}),
        "conf's prevResult replaced"
    );
    assert_eq!(calls[1].stdin["prevResult"]["cniVersion"], "1.0.0");
    assert_eq!(calls[2].stdin["name"], "from-conf");
    assert_eq!(calls[2].stdin["type"], "c");
    assert_eq!(
        calls[2].stdin["prevResult"]["cniVersion"], "0.4.0",
        "prevResult in the delegate's own version"
    );
}

#[test]
fn add_failure_rolls_back_the_failed_delegate_and_those_before_it_in_reverse() {
    let s = Setup::new(&["a", "b", "c", "d"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "resultMode": "chained", "delegates": [
        {"name": "a", "type": "a"},
        {"name": "b", "conf": {"type": "b", "fake": {"del": "fail", "code": 5, "msg": "b cannot clean"}}},
        {"name": "c", "conf": {"type": "c", "fake": {"add": "fail", "code": 11, "msg": "try later"}}},
        {"name": "d", "type": "d"}]});
    let r = s.run("ADD", &conf);
    let msg = r.err(11);
    assert!(
        msg.contains("delegate \"c\"") && msg.contains("try later"),
        "{msg}"
    );
    assert!(
        msg.contains("rollback") && msg.contains("b cannot clean"),
        "rollback failure in details: {msg}"
    );
    assert_eq!(
        s.order(),
        ["a:ADD", "b:ADD", "c:ADD", "c:DEL", "b:DEL", "a:DEL"]
    );
    // The rollback DEL of c gets the chain's result so far (b's).
    let calls = s.calls();
    assert_eq!(
        calls[3].stdin["prevResult"]["interfaces"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn del_is_best_effort_in_reverse_and_works_without_prev_result_or_netns() {
    let mut s = Setup::new(&["a", "b", "c"]);
    s.unset("CNI_NETNS");
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "delegates": [
        {"name": "a", "type": "a"},
        {"name": "b", "conf": {"type": "b", "fake": {"del": "fail", "code": 11, "msg": "busy"}}},
        {"name": "c", "conf": {"type": "c", "fake": {"del": "crash"}}}]});
    let msg = s.run("DEL", &conf).err(101);
    assert!(
        msg.contains("delegate \"c\""),
        "first error is returned: {msg}"
    );
    assert_eq!(s.order(), ["c:DEL", "b:DEL", "a:DEL"]);
    for c in s.calls() {
        assert!(c.stdin.get("prevResult").is_none());
        assert_eq!(c.env("CNI_NETNS"), None);
    }
}

#[test]
fn check_needs_prev_result_skips_old_versions_and_stops_at_the_first_error() {
    let s = Setup::new(&["a", "b", "c"]);
    let mut conf = json!({"cniVersion": "1.0.0", "name": "n", "delegates": [
        {"name": "old", "conf": {"type": "a", "cniVersion": "0.3.1"}},
        {"name": "b", "conf": {"type": "b", "fake": {"check": "fail", "code": 42, "msg": "drift"}}},
        {"name": "c", "type": "c"}]});
    assert!(s.run("CHECK", &conf).err(7).contains("prevResult"));
    conf["prevResult"] = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.66.0.2/24", "interface": 0}]});
    let msg = s.run("CHECK", &conf).err(42);
    assert!(msg.contains("drift"));
    assert_eq!(s.order(), ["b:CHECK"]);
    // A config below 0.4.0 has no CHECK at all.
    conf["cniVersion"] = json!("0.3.1");
    s.run("CHECK", &conf).err(1);
}
