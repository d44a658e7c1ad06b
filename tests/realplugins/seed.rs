//! The seed shape through a real client: cnitool (libcni) runs the meta
//! config, meta-cni runs the real bridge/host-local, portmap and bandwidth.

use crate::attach::{self, cni_error};
use crate::conf::{self, K8S_ARGS};
use crate::fixture::Fixture;
use crate::gate;
use crate::host;
use serde_json::Value;

/// What the delegates of the seed-shaped config see as network `name`: their
/// delegate entry's name (host-local's dir, portmap's rule comment).
pub const SEED_NAMES: (&str, &str) = ("calico", "portmap");

/// ADD, CHECK (three ways), DEL and a second DEL of the seed-shaped meta
/// config at cniVersion `version`.
fn seed_chain(version: &str) {
    let name = format!("seed_chain_add_check_del_{}", version.replace('.', "_"));
    if !gate::ready(&name, &[]) {
        return;
    }
    let f = Fixture::new();
    let net = format!("mcni{}", f.n);
    f.write_net(&net, "conf", &conf::seed_meta(&f, version, &net, true));
    let caps = conf::caps_full(f.host_port);

    let add = f.cnitool("add", &net, &caps, Some(K8S_ARGS));
    // host-local would reject the K8S_* args ("unknown args"): this ADD
    // succeeding also shows runtimeOverride.args stripped them.
    let a = attach::from_add(&f, &add, version, true, SEED_NAMES);
    attach::assert_present(&f, &a);

    // CHECK with the ADD's CAP_ARGS (bandwidth CHECK needs its
    // runtimeConfig): passes, or fails only with portmap 1.1.1's IPv6 bug.
    let chk = f.cnitool("check", &net, &caps, Some(K8S_ARGS));
    if let Err(quirk) = attach::check_outcome(&f, &chk, true) {
        eprintln!("{name}: CHECK hit the known portmap 1.1.1 IPv6 quirk: {quirk}");
    }
    // With the attachment record, CHECK replays what ADD sent, port
    // mappings included, whatever CAP_ARGS the runtime passes now: the same
    // outcome as above.
    let chk = f.cnitool(
        "check",
        &net,
        &conf::caps_bandwidth_only(conf::INGRESS_RATE),
        Some(K8S_ARGS),
    );
    if let Err(quirk) = attach::check_outcome(&f, &chk, true) {
        eprintln!("{name}: CHECK (replayed) hit the portmap quirk: {quirk}");
    }
    // And CHECK really runs the delegates: take the container's address
    // away and the first delegate (bridge) reports it, through meta-cni.
    let gone = host::in_netns(&f.netns, &["ip", "addr", "del", &a.addr, "dev", "eth0"]);
    assert!(gone.ok(), "{}", gone.describe());
    let chk = f.cnitool("check", &net, &caps, Some(K8S_ARGS));
    assert!(
        !chk.ok(),
        "CHECK after the address was removed passed: {}",
        chk.describe()
    );
    let (code, msg) = cni_error(&chk);
    assert!(
        code == 999 && msg.starts_with("delegate \"calico\": ") && msg.contains(&a.ip),
        "{}",
        chk.describe()
    );

    // DEL with the same CAP_ARGS (portmap only removes its rules then).
    let del = f.cnitool("del", &net, &caps, Some(K8S_ARGS));
    assert!(del.ok(), "DEL: {}", del.describe());
    assert_eq!(del.stdout.trim(), "", "DEL prints nothing");
    attach::assert_gone(&f, &a, &net);
    // A second DEL (no cached result, nothing left to remove) succeeds.
    let del = f.cnitool("del", &net, &caps, Some(K8S_ARGS));
    assert!(del.ok(), "second DEL: {}", del.describe());
}

#[test]
fn seed_chain_add_check_del_1_0_0() {
    seed_chain("1.0.0");
}

#[test]
fn seed_chain_add_check_del_0_4_0() {
    seed_chain("0.4.0");
}

/// CNI 0.3.x/0.4.0 results carry `"version": "4"|"6"` on every IP; libcni
/// shows a missing one as `""`. The plain conflist gets `"4"` from bridge.
#[test]
fn seed_result_at_0_4_0_keeps_ip_version() {
    if !gate::ready("seed_result_at_0_4_0_keeps_ip_version", &[]) {
        return;
    }
    let f = Fixture::new();
    let net = format!("mcni{}", f.n);
    f.write_net(&net, "conf", &conf::seed_meta(&f, "0.4.0", &net, true));
    let caps = conf::caps_full(f.host_port);
    let add = f.cnitool("add", &net, &caps, Some(K8S_ARGS));
    let a = attach::from_add(&f, &add, "0.4.0", true, SEED_NAMES);
    let del = f.cnitool("del", &net, &caps, Some(K8S_ARGS));
    assert!(del.ok(), "DEL: {}", del.describe());
    let versions: Vec<Value> = a.result["ips"]
        .as_array()
        .map(|ips| ips.iter().map(|i| i["version"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(versions, vec![Value::from("4")], "{:#}", a.result);
}

/// The kubelet may remove the pod's namespace before the CNI DEL. DEL
/// must still succeed and release what lives outside the namespace: the
/// reservation, the DNAT rule, bandwidth's ifb (spec: a missing netns on DEL
/// is not an error).
#[test]
fn seed_del_after_the_netns_is_gone_still_releases_everything() {
    let name = "seed_del_after_the_netns_is_gone_still_releases_everything";
    if !gate::ready(name, &[]) {
        return;
    }
    let f = Fixture::new();
    let net = format!("mcni{}", f.n);
    f.write_net(&net, "conf", &conf::seed_meta(&f, "1.0.0", &net, true));
    let caps = conf::caps_full(f.host_port);
    let add = f.cnitool("add", &net, &caps, Some(K8S_ARGS));
    let a = attach::from_add(&f, &add, "1.0.0", true, SEED_NAMES);
    attach::assert_present(&f, &a);

    crate::host::ip(&["netns", "del", &f.netns]).expect_ok();
    let del = f.cnitool("del", &net, &caps, Some(K8S_ARGS));
    assert!(del.ok(), "DEL without the netns: {}", del.describe());
    attach::assert_gone(&f, &a, &net);
}

/// The operator edits the config between ADD and DEL: the bridge delegate
/// is renamed (host-local keeps reservations under the delegate's network
/// name), portmap and bandwidth are dropped. DEL replays the attachment
/// record, so the reservation, the DNAT rule and the qdiscs still go; the
/// Go plugin would have sent DEL to the edited chain and leaked them.
#[test]
fn seed_del_after_the_config_was_edited_releases_what_add_made() {
    let name = "seed_del_after_the_config_was_edited_releases_what_add_made";
    if !gate::ready(name, &[]) {
        return;
    }
    let f = Fixture::new();
    let net = format!("mcni{}", f.n);
    let original = conf::seed_meta(&f, "1.0.0", &net, true);
    f.write_net(&net, "conf", &original);
    let caps = conf::caps_full(f.host_port);
    let add = f.cnitool("add", &net, &caps, Some(K8S_ARGS));
    let a = attach::from_add(&f, &add, "1.0.0", true, SEED_NAMES);
    attach::assert_present(&f, &a);

    let mut edited = original.clone();
    edited["delegates"] =
        serde_json::json!([{"name": "renamed-bridge", "conf": original["delegates"][0]["conf"]}]);
    f.write_net(&net, "conf", &edited);
    let del = f.cnitool("del", &net, &serde_json::json!({}), Some(K8S_ARGS));
    assert!(del.ok(), "DEL after the edit: {}", del.describe());
    attach::assert_gone(&f, &a, &net);
}
