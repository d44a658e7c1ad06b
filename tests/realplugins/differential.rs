//! Differential oracle: the same delegate list (bridge + host-local,
//! portmap, bandwidth) run (a) through meta-cni in `chained` mode and (b) as
//! a plain `.conflist` straight through libcni must give results of the same
//! shape, the same side effects on the host, the same CHECK outcome, and
//! after DEL the same clean host.
//!
//! How a broken chain fails this: libcni hands each plugin of a conflist
//! its predecessor's result as `prevResult`, so (b) is the reference
//! behaviour of "chained". If meta-cni stopped passing `prevResult` (e.g.
//! `resultMode: none`, or a bug in the splice), portmap and bandwidth refuse
//! to run without one, so ADD itself fails in (a) while (b) succeeds, and
//! the rollback removes bridge's veth and reservation. If it passed a stale
//! or truncated result instead, the interface list (bandwidth appends its
//! ifb to what it was given), the DNAT target or the tc qdiscs would differ.
//! (Checked by hand: with `resultMode: none` in the meta config this test
//! fails at meta-cni's ADD; see the report that came with this suite.)

use crate::attach::{self, Attachment};
use crate::conf::{self, K8S_ARGS};
use crate::fixture::Fixture;
use crate::gate;
use crate::host;
use crate::seed::SEED_NAMES;
use serde_json::{json, Value};

/// The result with every generated or per-fixture value abstracted away:
/// what must be equal between (a) and (b).
fn result_shape(f: &Fixture, a: &Attachment) -> Value {
    let r = &a.result;
    let kind = |name: &str| -> String {
        if name == f.bridge {
            "<bridge>".into()
        } else if name.starts_with("veth") {
            "veth*".into()
        } else if name.starts_with("bwp") {
            "bwp*".into()
        } else {
            name.into()
        }
    };
    let ifaces: Vec<Value> = r["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            json!({
                "name": kind(i["name"].as_str().unwrap_or("")),
                "sandbox": i.get("sandbox").is_some(),
                "mac": i["mac"].is_string(),
            })
        })
        .collect();
    let ips: Vec<Value> = r["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let addr = i["address"].as_str().unwrap_or("");
            // The keys present, minus "version": meta-cni drops it at 0.4.0
            // (a known bug pinned by seed_result_at_0_4_0_keeps_ip_version).
            let mut keys: Vec<&str> = i
                .as_object()
                .map(|m| {
                    m.keys()
                        .map(String::as_str)
                        .filter(|k| *k != "version")
                        .collect()
                })
                .unwrap_or_default();
            keys.sort_unstable();
            json!({
                "keys": keys,
                "prefix": addr.rsplit('/').next(),
                "in_subnet": f.subnet.contains(addr),
                "host_part": addr.split('/').next().and_then(|x| x.rsplit('.').next()),
                "gateway_is_dot1": i["gateway"] == f.subnet.gateway().as_str(),
                "interface": i["interface"],
            })
        })
        .collect();
    let routes: Vec<Value> = r["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rt| json!({"dst": rt["dst"], "gw": rt.get("gw").is_some()}))
        .collect();
    json!({
        "cniVersion": r["cniVersion"],
        "interfaces": ifaces,
        "sandboxed": r["interfaces"].as_array().map(|v| v.iter().filter(|i| i.get("sandbox").is_some()).count()),
        "ips": ips,
        "routes": routes,
        "dns": r["dns"],
    })
}

/// The host-side effects of one attachment, abstracted the same way.
fn effects(f: &Fixture, a: &Attachment) -> Value {
    let nat = host::nat_rules();
    let res = f.reservation(&a.ipam_name, &a.ip);
    let netns_links: Vec<String> = host::in_netns(&f.netns, &["ip", "-o", "link", "show"])
        .stdout
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    json!({
        "nat": host::nat_shape(&nat, &f.cid, &a.ip, &f.subnet.cidr(), f.host_port, &[&a.dnat_name]),
        "netns_links": netns_links,
        "eth0_addrs": host::addrs_in(&f.netns, "eth0")
            .iter().map(|x| x.replace(&a.ip, "<IP>")).collect::<Vec<_>>(),
        "veth_qdiscs": host::qdiscs(&a.host_veth),
        "ifb_qdiscs": a.ifb.as_deref().map(host::qdiscs),
        "reservation": std::fs::read_to_string(&res).ok().map(|t| t.replace(&f.cid, "<CID>")),
    })
}

fn differential(version: &str) {
    let name = format!(
        "differential_meta_vs_conflist_{}",
        version.replace('.', "_")
    );
    if !gate::ready(&name, &[]) {
        return;
    }
    let m = Fixture::new();
    let p = Fixture::new();
    let mnet = format!("mcni{}", m.n);
    let pnet = format!("mcni{}", p.n);
    // The chain semantics against libcni's: without the attachment record,
    // whose replay (ADD's runtimeConfig for CHECK/DEL) is meta-cni's own
    // and is tested in seed.rs.
    let mut meta = conf::seed_meta(&m, version, &mnet, true);
    meta["attachmentState"] = serde_json::json!(false);
    m.write_net(&mnet, "conf", &meta);
    p.write_net(&pnet, "conflist", &conf::plain_conflist(&p, version, &pnet));
    let mcaps = conf::caps_full(m.host_port);
    let pcaps = conf::caps_full(p.host_port);

    // (a) gets the kubelet's K8S_* args, which meta-cni strips; (b) gets
    // what meta-cni hands its delegates after that: no CNI_ARGS at all.
    let madd = m.cnitool("add", &mnet, &mcaps, Some(K8S_ARGS));
    let padd = p.cnitool("add", &pnet, &pcaps, None);
    let ma = attach::from_add(&m, &madd, version, true, SEED_NAMES);
    let pa = attach::from_add(&p, &padd, version, true, (&pnet, &pnet));
    assert_eq!(
        result_shape(&m, &ma),
        result_shape(&p, &pa),
        "result shapes differ\nmeta: {:#}\nplain: {:#}",
        ma.result,
        pa.result
    );
    let (me, pe) = (effects(&m, &ma), effects(&p, &pa));
    assert_eq!(me, pe, "side effects differ\nmeta: {me:#}\nplain: {pe:#}");
    // Not vacuous: both really have the rule, the qdiscs, the reservation.
    attach::assert_present(&m, &ma);
    attach::assert_present(&p, &pa);

    // The same CHECK outcome, with port mappings (pass, or on this host
    // both hit portmap 1.1.1's IPv6 bug with the same message) ...
    let mc = attach::check_outcome(&m, &m.cnitool("check", &mnet, &mcaps, Some(K8S_ARGS)), true);
    let pc = attach::check_outcome(&p, &p.cnitool("check", &pnet, &pcaps, None), false);
    let mc = mc.map_err(|e| e.trim_start_matches("delegate \"portmap\": ").to_string());
    assert_eq!(mc, pc, "CHECK outcomes differ");
    // ... and without them (bridge and bandwidth really checked): both pass.
    let bw = conf::caps_bandwidth_only(conf::INGRESS_RATE);
    let mc = m.cnitool("check", &mnet, &bw, Some(K8S_ARGS));
    let pc = p.cnitool("check", &pnet, &bw, None);
    assert_eq!(
        (mc.ok(), pc.ok()),
        (true, true),
        "{}\n{}",
        mc.describe(),
        pc.describe()
    );

    let md = m.cnitool("del", &mnet, &mcaps, Some(K8S_ARGS));
    let pd = p.cnitool("del", &pnet, &pcaps, None);
    assert_eq!(
        (md.ok(), pd.ok()),
        (true, true),
        "{}\n{}",
        md.describe(),
        pd.describe()
    );
    attach::assert_gone(&m, &ma, &mnet);
    attach::assert_gone(&p, &pa, &pnet);
    let (me, pe) = (effects(&m, &ma), effects(&p, &pa));
    assert_eq!(me, pe, "after DEL\nmeta: {me:#}\nplain: {pe:#}");
    assert_eq!(me["nat"], json!([]), "{me:#}");
}

#[test]
fn differential_meta_vs_conflist_1_0_0() {
    differential("1.0.0");
}

#[test]
fn differential_meta_vs_conflist_0_4_0() {
    differential("0.4.0");
}
