//! The exec protocol: VERSION, the about text, the environment table.

use crate::harness::*;
use serde_json::json;

#[test]
fn version_echoes_the_config_version_and_lists_all() {
    let s = Setup::new(&[]);
    for v in ["0.3.1", "1.0.0", "1.1.0"] {
        let out = s.run("VERSION", &json!({"cniVersion": v})).ok();
        assert_eq!(out["cniVersion"], v);
        assert_eq!(
            out["supportedVersions"],
            json!(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
        );
    }
    // VERSION needs no other variable and no config.
    let mut bare = Setup::new(&[]);
    bare.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS")
        .unset("CNI_PATH");
    let out = bare.run_raw(Some("VERSION"), b"").ok();
    assert_eq!(out["cniVersion"], "1.0.0");
}

#[test]
fn no_command_prints_the_about_text_and_exits_0() {
    let s = Setup::new(&[]);
    let r = s.run_raw(None, b"");
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.is_empty(),
        "stdout must stay empty: {:?}",
        r.stdout
    );
    assert!(
        r.stderr.contains("meta-cni") && r.stderr.contains("1.1.0"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_missing_variable_is_named_in_one_code_4_error() {
    let mut s = Setup::new(&[]);
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    let conf =
        json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "a", "type": "a"}]});
    let msg = s.run("ADD", &conf).err(4);
    for v in ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"] {
        assert!(msg.contains(v), "{v} missing from {msg}");
    }
    // The error object is in the config's version.
    let r = s.run("ADD", &json!({"cniVersion": "0.4.0", "name": "n"}));
    assert_eq!(r.json()["cniVersion"], "0.4.0");
}

#[test]
fn unknown_command_and_bad_ids_are_code_4() {
    let mut s = Setup::new(&[]);
    let conf =
        json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "a", "type": "a"}]});
    assert!(s.run("FROB", &conf).err(4).contains("FROB"));
    s.set("CNI_CONTAINERID", "../../etc/passwd");
    assert!(s.run("ADD", &conf).err(4).contains("CNI_CONTAINERID"));
    s.set("CNI_CONTAINERID", "ok")
        .set("CNI_IFNAME", "a-very-long-interface-name");
    assert!(s.run("DEL", &conf).err(4).contains("CNI_IFNAME"));
}

#[test]
fn bad_json_is_code_6_and_unsupported_version_is_code_1() {
    let s = Setup::new(&[]);
    assert!(s.run_raw(Some("ADD"), b"{not json").err(6).contains("JSON"));
    assert!(s.run_raw(Some("ADD"), b"[1,2]").err(6).contains("object"));
    assert!(s.run_raw(Some("ADD"), b"").err(6).contains("JSON"));
    let msg = s
        .run(
            "ADD",
            &json!({"cniVersion": "9.9.9", "name": "n", "delegates": []}),
        )
        .err(1);
    assert!(msg.contains("9.9.9"), "{msg}");
}

#[test]
fn stdout_carries_exactly_one_document_even_at_trace_level() {
    let s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logLevel": "trace", "resultMode": "chained",
        "delegates": [{"name": "a", "type": "a"}, {"name": "b", "type": "b"}]});
    let r = s.run("ADD", &conf);
    r.ok();
    // Exactly one JSON value: a stream deserializer finds one and nothing else.
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&r.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("stdout parses");
    assert_eq!(docs.len(), 1);
    assert!(
        r.stderr.contains("DEBUG"),
        "logs go to stderr: {}",
        r.stderr
    );
}
