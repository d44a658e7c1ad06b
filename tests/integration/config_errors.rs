//! Every invalid config gets a CNI error with the right code that names the
//! field, and all problems are reported at once.

use crate::harness::*;
use serde_json::{json, Value};

fn base() -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni",
           "delegates": [{"name": "a", "type": "a"}]})
}

fn with(path: &[&str], v: Value) -> Value {
    let mut c = base();
    let mut cur = &mut c;
    for (i, k) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur[*k] = v.clone();
        } else {
            cur = &mut cur[*k];
        }
    }
    c
}

#[test]
fn invalid_configs_are_code_7_naming_the_field() {
    let s = Setup::new(&["a"]);
    let cases: Vec<(Value, &str)> = vec![
        (with(&["name"], json!("")), "name"),
        (with(&["name"], json!(5)), "name"),
        (with(&["timeoutSeconds"], json!("10")), "timeoutSeconds"),
        (with(&["timeoutSeconds"], json!(1.5)), "timeoutSeconds"),
        (with(&["resultMode"], json!("chain")), "resultMode"),
        (with(&["logMaxSizeMB"], json!(0)), "logMaxSizeMB"),
        (with(&["runtimeOverride"], json!([])), "runtimeOverride"),
        (
            with(&["runtimeOverride"], json!({"args": ["FOO"]})),
            "runtimeOverride.args[0]",
        ),
        (
            with(&["runtimeOverride"], json!({"args": ["A=x;y"]})),
            "runtimeOverride.args[0]",
        ),
        (
            with(&["runtimeOverride"], json!({"envs": ["-FOO=bar"]})),
            "runtimeOverride.envs[0]",
        ),
        (
            with(&["runtimeOverride"], json!({"envs": ["1X=a"]})),
            "runtimeOverride.envs[0]",
        ),
        (
            with(&["runtimeOverride"], json!({"envs": "A=1"})),
            "runtimeOverride.envs",
        ),
        (
            with(&["runtimeOverride"], json!({"containerID": "../x"})),
            "runtimeOverride.containerID",
        ),
        (
            with(&["runtimeOverride"], json!({"ifName": "x/y"})),
            "runtimeOverride.ifName",
        ),
        (with(&["delegates"], json!([])), "delegates"),
        (with(&["delegates"], json!({})), "delegates"),
        (
            with(&["delegates"], json!([{"name": "x"}])),
            "delegates[0].type",
        ),
        (
            with(&["delegates"], json!([{"type": "x"}])),
            "delegates[0].name",
        ),
        (
            with(&["delegates"], json!([{"name": "x", "type": "../bin/sh"}])),
            "delegates[0].type",
        ),
        (
            with(&["delegates"], json!([{"name": "x", "type": ".."}])),
            "delegates[0].type",
        ),
        (
            with(
                &["delegates"],
                json!([{"name": "x", "conf": {"type": "a/b"}}]),
            ),
            "delegates[0].type",
        ),
        (
            with(&["delegates"], json!([{"name": "x", "conf": "a"}])),
            "delegates[0].conf",
        ),
        (
            with(
                &["delegates"],
                json!([{"name": "x", "type": "a", "timeoutSeconds": "3"}]),
            ),
            "delegates[0].timeoutSeconds",
        ),
        (
            with(
                &["delegates"],
                json!([{"name": "x", "type": "a", "runtimeOverride": {"args": ["B"]}}]),
            ),
            "delegates[0].runtimeOverride.args[0]",
        ),
        (with(&["runtimeConfig"], json!("x")), "runtimeConfig"),
        (with(&["stateDir"], json!("relative/dir")), "stateDir"),
        (
            with(&["metricsFile"], json!("relative/m.prom")),
            "metricsFile",
        ),
    ];
    for (conf, field) in cases {
        let msg = s.run("ADD", &conf).err(7);
        assert!(
            msg.contains(field),
            "{field} not named in {msg:?} for {conf}"
        );
    }
    assert!(s.calls().is_empty(), "no delegate runs on a bad config");
}

#[test]
fn both_or_neither_shape_is_invalid() {
    let s = Setup::new(&["a"]);
    let mut both = base();
    both["pipelines"] =
        json!([{"name": "p", "ifName": "eth0", "delegates": [{"name": "a", "type": "a"}]}]);
    assert!(s.run("ADD", &both).err(7).contains("pipelines"));
    let mut neither = base();
    neither.as_object_mut().map(|m| m.remove("delegates"));
    assert!(s.run("ADD", &neither).err(7).contains("delegates"));
}

#[test]
fn all_problems_are_reported_together() {
    let s = Setup::new(&["a"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "", "timeoutSeconds": "x",
        "delegates": [{"name": "a"}, {"type": "b"}]});
    let msg = s.run("ADD", &conf).err(7);
    for f in [
        "name",
        "timeoutSeconds",
        "delegates[0].type",
        "delegates[1].name",
    ] {
        assert!(msg.contains(f), "{f} missing in {msg}");
    }
    assert!(msg.contains("4 problems"), "{msg}");
}

#[test]
fn unsupported_delegate_version_is_code_1() {
    let s = Setup::new(&["a"]);
    let conf = with(
        &["delegates"],
        json!([{"name": "x", "conf": {"type": "a", "cniVersion": "0.9.0"}}]),
    );
    assert!(s
        .run("ADD", &conf)
        .err(1)
        .contains("delegates[0].conf.cniVersion"));
}

#[test]
fn upstream_lenient_inputs_are_accepted_with_a_warning() {
    let s = Setup::new(&["a"]);
    // Unknown log level: info with a warning; unknown keys: ignored with a warning;
    // negative timeout: none (as upstream).
    let mut conf = with(&["logLevel"], json!("verbose"));
    conf["timeoutSeconds"] = json!(-1);
    conf["delegates"][0]["comment"] = json!("operators write these");
    let r = s.run("ADD", &conf);
    r.ok();
    assert!(
        r.stderr.contains("verbose") && r.stderr.contains("comment"),
        "{}",
        r.stderr
    );
}
