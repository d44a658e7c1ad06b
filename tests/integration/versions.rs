//! Any delegate version chained under any meta config version: every
//! delegate gets `prevResult` in its own version, the output is in the meta
//! config's; code-1 answers are negotiated.

use crate::harness::*;
use serde_json::{json, Value};

const ALL: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];
const PINNED: [&str; 5] = ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

fn chain(meta: &str) -> Value {
    let delegates: Vec<Value> = PINNED
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({"name": format!("d{i}"), "conf": {"type": format!("d{i}"), "cniVersion": v,
                   "fake": {"ip": format!("10.66.0.{}/24", i + 1)}}})
        })
        .collect();
    json!({"cniVersion": meta, "name": "n", "resultMode": "chained", "delegates": delegates})
}

fn addresses(out: &Value) -> Vec<String> {
    if let Some(ips) = out["ips"].as_array() {
        return ips
            .iter()
            .filter_map(|i| i["address"].as_str().map(str::to_string))
            .collect();
    }
    ["ip4", "ip6"]
        .iter()
        .filter_map(|k| out[*k]["ip"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_delegate_version_chains_under_every_meta_version() {
    let s = Setup::new(&["d0", "d1", "d2", "d3", "d4"]);
    for meta in ALL {
        s.clear_calls();
        let out = s.run("ADD", &chain(meta)).ok();
        assert_eq!(out["cniVersion"], meta, "output version == config version");
        let calls = s.calls();
        assert_eq!(calls.len(), 5);
        assert!(calls[0].stdin.get("prevResult").is_none());
        for (c, v) in calls.iter().zip(PINNED).skip(1) {
            assert_eq!(c.stdin["cniVersion"], v);
            assert_eq!(
                c.stdin["prevResult"]["cniVersion"], v,
                "{} got prevResult in its version",
                c.plugin
            );
        }
        // d0 speaks 0.2.0: one address; after it the chain grows by one each.
        assert_eq!(addresses(&calls[1].stdin["prevResult"]), ["10.66.0.1/24"]);
        let expect: Vec<String> = (1..=5).map(|i| format!("10.66.0.{i}/24")).collect();
        if meta.starts_with("0.1") || meta.starts_with("0.2") {
            assert_eq!(addresses(&out), ["10.66.0.1/24"], "{meta}: first IPv4 only");
            assert!(out.get("interfaces").is_none());
        } else {
            assert_eq!(addresses(&out), expect, "{meta}");
            let with_version = out["ips"]
                .as_array()
                .is_some_and(|a| a.iter().all(|i| i.get("version").is_some()));
            assert_eq!(
                with_version,
                meta.starts_with("0.3") || meta == "0.4.0",
                "{meta}: {out}"
            );
            // The interface each IP points at exists.
            for ip in out["ips"].as_array().into_iter().flatten() {
                if let Some(i) = ip["interface"].as_u64() {
                    assert!(out["interfaces"][i as usize].is_object(), "{meta}: {out}");
                }
            }
        }
    }
}

#[test]
fn a_code_1_answer_is_negotiated_down_and_retried_once() {
    let s = Setup::new(&["old"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "delegates": [
        {"name": "old", "type": "old", "runtimeOverride": {"envs": [
            r#"FAKE_CONF='{"add": "incompatible", "versions": ["0.3.0", "0.3.1", "0.4.0"]}'"#]}}]});
    let r = s.run("ADD", &conf);
    let out = r.ok();
    assert_eq!(out["cniVersion"], "1.0.0");
    assert_eq!(addresses(&out), ["10.66.0.2/24"]);
    let calls = s.calls();
    assert_eq!(s.order(), ["old:ADD", "old:VERSION", "old:ADD"]);
    assert_eq!(
        calls[2].stdin["cniVersion"], "0.4.0",
        "highest common version"
    );
    assert!(r.stderr.contains("retrying"), "{}", r.stderr);
    // The record holds what worked: DEL goes straight to 0.4.0.
    s.clear_calls();
    s.run("DEL", &conf).ok();
    assert_eq!(s.order(), ["old:DEL"]);
    assert_eq!(s.calls()[0].stdin["cniVersion"], "0.4.0");
}

#[test]
fn no_common_version_is_code_1_naming_both_sets() {
    let s = Setup::new(&["alien"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "delegates": [
        {"name": "alien", "type": "alien", "runtimeOverride": {"envs": [
            r#"FAKE_CONF='{"add": "incompatible", "versions": ["2.0.0"]}'"#]}}]});
    let msg = s.run("ADD", &conf).err(1);
    assert!(
        msg.contains("2.0.0") && msg.contains("1.1.0") && msg.contains("\"alien\""),
        "{msg}"
    );
}

#[test]
fn a_code_1_from_a_plugin_that_claims_the_version_is_returned_as_is() {
    let s = Setup::new(&["liar"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "delegates": [
        {"name": "liar", "conf": {"type": "liar", "fake": {"add": "fail", "code": 1, "msg": "nope"}}}]});
    let msg = s.run("ADD", &conf).err(1);
    assert!(msg.contains("nope"));
    assert_eq!(s.order(), ["liar:ADD", "liar:VERSION", "liar:DEL"]);
}
