//! The multi-NIC shape with real plugins: a static `bridge` pipeline on
//! `eth0` plus a template `macvlan` pipeline (`ifNamePrefix: "net"`)
//! expanded from a GRES pod annotation passed by the runtime through
//! `CAP_ARGS` (`io.kubernetes.cri.pod-annotations`). The macvlan master is a
//! veth pair the test creates (the dummy module may be missing).

use crate::conf::{self, K8S_ARGS};
use crate::fixture::Fixture;
use crate::gate::{self, Need};
use crate::host;
use crate::subnet::Subnet;
use serde_json::{json, Value};

fn multi_nic_conf(f: &Fixture, version: &str, net: &str, master: &str, s2: &Subnet) -> Value {
    json!({
        "cniVersion": version,
        "name": net,
        "type": "meta-cni",
        "logLevel": "debug",
        "timeoutSeconds": 30,
        "stateDir": f.state,
        "capabilities": {"io.kubernetes.cri.pod-annotations": true},
        "runtimeOverride": conf::seed_override(),
        "pipelines": [
            {"name": "ethernet", "ifName": "eth0",
             "delegates": [{"name": "bridge", "conf": conf::bridge(f)}]},
            {"name": "hpc", "ifNamePrefix": "net",
             "delegates": [{"name": "macvlan", "conf": conf::macvlan(f, master, &s2.cidr())}]}
        ]
    })
}

/// What a run of [`multi_nic`] asserts beyond the basics.
#[derive(Clone, Copy, Default)]
struct Opts {
    /// The macvlan master is `{{.Gres.Device}}` (rendered from the
    /// annotation's value) instead of the device name itself.
    templated: bool,
    /// The merged result's `ips[].interface` indexes point at the right
    /// interfaces.
    remap: bool,
    /// CHECK (with the ADD's CAP_ARGS) passes.
    check: bool,
    /// DEL gets no pod annotations (a runtime that lost them) and must still
    /// undo the template pipeline.
    del_without_annotations: bool,
}

/// ADD, (CHECK,) DEL and a second DEL of the two-pipeline config.
fn multi_nic(test: &str, version: &str, o: Opts) {
    if !gate::ready(test, &[Need::Macvlan]) {
        return;
    }
    let f = Fixture::new();
    let s2 = f.extra_subnet();
    let tag = format!("mcv{}{}", std::process::id() % 10000, f.n);
    let (master, peer) = (format!("{tag}a"), format!("{tag}b"));
    f.veth_pair(&master, &peer);
    let net = format!("mcni{}", f.n);
    let master_field = if o.templated {
        "{{.Gres.Device}}"
    } else {
        master.as_str()
    };
    f.write_net(
        &net,
        "conf",
        &multi_nic_conf(&f, version, &net, master_field, &s2),
    );
    let caps = json!({"io.kubernetes.cri.pod-annotations": {
        "cranesched.internal/meta-cni/gres/hpc/0": master,
        "unrelated.example/annotation": "x"
    }});

    let add = f.cnitool("add", &net, &caps, Some(K8S_ARGS));
    assert!(add.ok(), "ADD: {}", add.describe());
    let r: Value = serde_json::from_str(&add.stdout).expect("ADD result");
    let ctx = || format!("{r:#}\n{}", add.describe());
    assert_eq!(r["cniVersion"], version, "{}", ctx());
    // Pipelines merged in order: bridge's three interfaces, then net0.
    let names: Vec<&str> = r["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names.len(), 4, "{}", ctx());
    assert_eq!(
        (names[0], names[2], names[3]),
        (f.bridge.as_str(), "eth0", "net0"),
        "{}",
        ctx()
    );
    assert!(names[1].starts_with("veth"), "{}", ctx());
    let sandbox = f.netns_path();
    assert_eq!(r["interfaces"][2]["sandbox"], sandbox.as_str(), "{}", ctx());
    assert_eq!(r["interfaces"][3]["sandbox"], sandbox.as_str(), "{}", ctx());

    let ips = r["ips"].as_array().cloned().unwrap_or_default();
    assert_eq!(ips.len(), 2, "{}", ctx());
    let eth0_addr = ips[0]["address"].as_str().unwrap_or("").to_string();
    let net0_addr = ips[1]["address"].as_str().unwrap_or("").to_string();
    assert!(
        f.subnet.contains(&eth0_addr) && eth0_addr.ends_with("/24"),
        "{}",
        ctx()
    );
    assert!(
        s2.contains(&net0_addr) && net0_addr.ends_with("/24"),
        "{}",
        ctx()
    );
    assert_eq!(ips[0]["gateway"], f.subnet.gateway().as_str(), "{}", ctx());
    assert_eq!(
        ips[0]["interface"],
        2,
        "eth0's IP must point at eth0: {}",
        ctx()
    );
    // macvlan's own result says interface 0 (net0 in its one-interface
    // list); merged behind bridge's three interfaces it must become 3.
    if o.remap {
        assert_eq!(
            ips[1]["interface"],
            3,
            "net0's IP must point at net0: {}",
            ctx()
        );
    }

    // On the host: both interfaces in the namespace with those addresses;
    // net0 is a macvlan on the master named by the annotation.
    assert_eq!(host::addrs_in(&f.netns, "eth0"), vec![eth0_addr.clone()]);
    assert_eq!(host::addrs_in(&f.netns, "net0"), vec![net0_addr.clone()]);
    let details = host::in_netns(&f.netns, &["ip", "-d", "link", "show", "dev", "net0"]);
    assert!(
        details.stdout.contains("macvlan mode bridge"),
        "{}",
        details.describe()
    );
    let ip_of = |a: &str| a.trim_end_matches("/24").to_string();
    // Each delegate sees its entry's name as the network name.
    let res_eth0 = f.reservation("bridge", &ip_of(&eth0_addr));
    let res_net0 = f.reservation("macvlan", &ip_of(&net0_addr));
    assert!(
        res_eth0.is_file() && res_net0.is_file(),
        "{res_eth0:?} {res_net0:?}"
    );

    if o.check {
        let chk = f.cnitool("check", &net, &caps, Some(K8S_ARGS));
        assert!(chk.ok(), "CHECK: {}", chk.describe());
    }
    let del_caps = if o.del_without_annotations {
        Value::Null
    } else {
        caps.clone()
    };
    let del = f.cnitool("del", &net, &del_caps, Some(K8S_ARGS));
    assert!(del.ok(), "DEL: {}", del.describe());
    assert!(!host::link_exists_in(&f.netns, "eth0"), "eth0 survived DEL");
    assert!(!host::link_exists_in(&f.netns, "net0"), "net0 survived DEL");
    assert!(!host::link_exists(names[1]), "host veth survived DEL");
    assert!(
        !res_eth0.exists() && !res_net0.exists(),
        "reservations survived DEL"
    );
    assert!(
        host::link_exists(&master),
        "DEL must not touch the macvlan master"
    );
    let del = f.cnitool("del", &net, &caps, Some(K8S_ARGS));
    assert!(del.ok(), "second DEL: {}", del.describe());
}

/// Everything but template rendering: the template pipeline's `master`
/// names the device directly. The merged result's IP-to-interface indexes
/// and CHECK have their own tests below.
#[test]
fn pipelines_bridge_eth0_plus_macvlan_net0_1_0_0() {
    multi_nic(
        "pipelines_bridge_eth0_plus_macvlan_net0_1_0_0",
        "1.0.0",
        Opts::default(),
    );
}

#[test]
fn pipelines_bridge_eth0_plus_macvlan_net0_0_4_0() {
    multi_nic(
        "pipelines_bridge_eth0_plus_macvlan_net0_0_4_0",
        "0.4.0",
        Opts::default(),
    );
}

/// macvlan's own result has net0 at index 0 and its IP says `interface: 0`;
/// merged behind bridge's three interfaces that must become 3 (the merge
/// remaps indexes; appending the IPs unchanged would claim net0's address
/// for the bridge, `interfaces[0]`).
#[test]
fn pipelines_merged_result_points_each_ip_at_its_interface() {
    let o = Opts {
        remap: true,
        ..Opts::default()
    };
    multi_nic(
        "pipelines_merged_result_points_each_ip_at_its_interface",
        "1.0.0",
        o,
    );
}

/// The reference plugins' CHECK (`ip.ValidateExpectedInterfaceIPs`) wants
/// every IP of its `prevResult` on its own `CNI_IFNAME`. Given the runtime's
/// whole merged result, bridge's CHECK on eth0 fails on net0's address
/// ("Failed to match addr 10.x.y.2/24 on interface eth0"), so each pipeline
/// gets its own result from the attachment's record. (Without a record,
/// `attachmentState: false`, every pipeline gets the runtime's whole
/// `prevResult`: see the README.)
#[test]
fn pipelines_check_gives_each_pipeline_its_own_result() {
    let o = Opts {
        check: true,
        ..Opts::default()
    };
    multi_nic(
        "pipelines_check_gives_each_pipeline_its_own_result",
        "1.0.0",
        o,
    );
}

/// DEL undoes what ADD ran, from the attachment record, even when the GRES
/// annotations are missing on DEL. Without the record the template pipeline
/// would be skipped and net0's address would leak.
#[test]
fn pipelines_del_without_annotations_still_removes_net0() {
    let o = Opts {
        del_without_annotations: true,
        ..Opts::default()
    };
    multi_nic(
        "pipelines_del_without_annotations_still_removes_net0",
        "1.0.0",
        o,
    );
}

/// The real multi-NIC config: `master: "{{.Gres.Device}}"`.
#[test]
fn pipelines_macvlan_master_from_gres_device_template() {
    let o = Opts {
        templated: true,
        ..Opts::default()
    };
    multi_nic(
        "pipelines_macvlan_master_from_gres_device_template",
        "1.0.0",
        o,
    );
}
