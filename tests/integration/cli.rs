//! `meta-cni` for people: `--version`, `--help`, `validate`; and DEL of a
//! config that no longer loads.

use crate::harness::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn cli(args: &[&str], env: &BTreeMap<String, String>) -> Run {
    run_bin(args, env, b"", Duration::from_secs(60))
}

#[test]
fn version_and_help() {
    let r = cli(&["--version"], &BTreeMap::new());
    assert_eq!(r.code, 0);
    assert!(r
        .stdout
        .starts_with(&format!("meta-cni {}", env!("CARGO_PKG_VERSION"))));
    assert!(r.stdout.contains("1.1.0"));
    let r = cli(&["--help"], &BTreeMap::new());
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("validate"));
    assert_eq!(cli(&["--frobnicate"], &BTreeMap::new()).code, 2);
}

#[test]
fn validate_passes_where_every_delegate_exists_and_names_each_missing_or_old_one() {
    let s = Setup::new(&["bridge", "portmap"]);
    let good = s.path("good.conf");
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni",
        "capabilities": {"portMappings": true}, "resultMode": "chained", "delegates": [
        {"name": "br", "type": "bridge"},
        {"name": "pm", "conf": {"type": "portmap", "capabilities": {"portMappings": true}}}]});
    std::fs::write(&good, conf.to_string()).expect("write");
    let bin = s.bin.display().to_string();
    let r = cli(
        &["validate", "--cni-path", &bin, good.to_str().unwrap_or("")],
        &BTreeMap::new(),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("delegate \"br\" (bridge): ok") && r.stdout.contains("no problems found"),
        "{}",
        r.stdout
    );

    // Missing delegate, a plain non-executable file, a template error, a
    // delegate too old for the configured version, missing capabilities:
    // every one reported, exit 1.
    std::fs::write(s.bin.join("plain"), "#!/bin/sh\n").expect("write");
    let bad = s.path("bad.conflist");
    let list = json!({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "meta-cni", "pipelines": [
        {"name": "eth", "ifName": "eth0", "delegates": [
            {"name": "gone", "type": "nope"},
            {"name": "plain", "type": "plain"},
            {"name": "pm", "conf": {"type": "portmap", "capabilities": {"portMappings": true}}},
            {"name": "old", "type": "bridge", "runtimeOverride": {"envs": ["A=1"]}, "conf": {"cniVersion": "0.4.0", "x": "{{.Gres.Nope}}"}}]},
        {"name": "roce", "ifNamePrefix": "roce", "delegates": [{"name": "s", "type": "portmap"}]}]}]});
    std::fs::write(&bad, list.to_string()).expect("write");
    let mut env = BTreeMap::new();
    env.insert("CNI_PATH".to_string(), bin.clone());
    env.insert(
        "FAKE_CONF".to_string(),
        r#"{"versions": ["0.3.1", "1.0.0"]}"#.to_string(),
    );
    let r = cli(&["validate", bad.to_str().unwrap_or("")], &env);
    assert_eq!(r.code, 1, "{}", r.stdout);
    for needle in [
        "delegate \"gone\" (nope): plugin \"nope\" not found",
        "delegate \"plain\" (plain)",
        "not executable",
        "$[\"x\"]",
        "does not speak cniVersion 1.1.0",
        "does not speak cniVersion 0.4.0",
        "portMappings",
        "io.kubernetes.cri.pod-annotations",
        // Three delegates would be refused once per call (a problem, not a
        // warning), plus the missing, the plain and the template error.
        "PROBLEM: pipeline \"eth\" (eth0) delegate \"old\" (bridge): ",
        "6 problems found",
    ] {
        assert!(
            r.stdout.contains(needle),
            "{needle:?} missing from:\n{}",
            r.stdout
        );
    }

    // Invalid configs list every problem.
    let broken = s.path("broken.conf");
    std::fs::write(
        &broken,
        r#"{"cniVersion": "1.0.0", "name": "", "delegates": [{"name": "x"}]}"#,
    )
    .expect("write");
    let r = cli(&["validate", broken.to_str().unwrap_or("")], &env);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("PROBLEM: name") && r.stdout.contains("PROBLEM: delegates[0].type"),
        "{}",
        r.stdout
    );
}

#[test]
fn validate_looks_for_delegates_where_cni_path_overrides_send_them() {
    // The top level, a pipeline and a delegate each move CNI_PATH; validate
    // looks where the call will: the innermost override wins.
    let s = Setup::new(&[]);
    let dir = |name: &str| {
        let d = s.path(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::os::unix::fs::symlink(fake_script(), d.join(name)).expect("link");
        d.display().to_string()
    };
    let (top, pipe, own) = (dir("top"), dir("pipe"), dir("own"));
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "runtimeOverride": {"cniPath": top},
        "pipelines": [
            {"name": "a", "ifName": "eth0", "delegates": [{"name": "t", "type": "top"}]},
            {"name": "b", "ifName": "eth1", "runtimeOverride": {"cniPath": pipe}, "delegates": [
                {"name": "p", "type": "pipe"},
                {"name": "o", "type": "own", "runtimeOverride": {"cniPath": own}}]}]});
    let file = s.path("over.conf");
    std::fs::write(&file, conf.to_string()).expect("write");
    let mut env = BTreeMap::new();
    env.insert("CNI_PATH".to_string(), s.bin.display().to_string());
    let r = cli(&["validate", file.to_str().unwrap_or("")], &env);
    assert_eq!(r.code, 0, "{}", r.stdout);
    for d in ["(top): ok", "(pipe): ok", "(own): ok"] {
        assert!(r.stdout.contains(d), "{d:?} missing from:\n{}", r.stdout);
    }
    // And a plugin only in CNI_PATH is not found where the override sends it.
    let moved = json!({"cniVersion": "1.0.0", "name": "n", "runtimeOverride": {"cniPath": own},
        "delegates": [{"name": "t", "type": "top"}]});
    std::fs::write(&file, moved.to_string()).expect("write");
    let r = cli(&["validate", file.to_str().unwrap_or("")], &env);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("plugin \"top\" not found"),
        "{}",
        r.stdout
    );
}

#[test]
fn del_of_a_config_broken_since_add_replays_the_record() {
    let s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "delegates": [{"name": "a", "type": "a"}, {"name": "b", "type": "b"}]});
    s.run("ADD", &conf).ok();
    s.clear_calls();
    // The operator breaks the file (a typo in resultMode, a delegate without type).
    let broken = json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chain", "delegates": [{"name": "a"}]});
    let r = s.run("DEL", &broken);
    r.ok();
    assert_eq!(s.order(), ["b:DEL", "a:DEL"]);
    assert!(r.stderr.contains("does not load"), "{}", r.stderr);
    // With no record left, the config error is what DEL answers.
    assert!(s.run("DEL", &broken).err(7).contains("resultMode"));
    // ADD and CHECK never run a broken config.
    s.run("ADD", &broken).err(7);
}

#[test]
fn validate_warns_when_delegates_would_share_host_state_by_network_name() {
    let s = Setup::new(&["bandwidth", "portmap", "sriov"]);
    let bin = s.bin.display().to_string();
    let check = |conf: serde_json::Value| {
        let path = s.path("names.conf");
        std::fs::write(&path, conf.to_string()).expect("write");
        let r = cli(
            &["validate", "--cni-path", &bin, path.to_str().unwrap_or("")],
            &BTreeMap::new(),
        );
        assert_eq!(r.code, 0, "warnings do not fail validation:\n{}", r.stdout);
        r.stdout
    };
    let caps =
        json!({"io.kubernetes.cri.pod-annotations": true, "portMappings": true, "bandwidth": true});
    let out = check(
        json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni", "capabilities": caps,
        "pipelines": [
            {"name": "eth", "ifName": "eth0", "delegates": [{"name": "pm", "type": "portmap"}]},
            {"name": "net1", "ifName": "net1", "delegates": [{"name": "pm", "type": "portmap"}]},
            {"name": "roce", "ifNamePrefix": "roce", "delegates": [
                {"name": "sriov", "type": "sriov"},
                {"name": "bw", "type": "bandwidth"}]}]}),
    );
    for needle in [
        "pipeline \"roce\" delegate \"bw\" (bandwidth) has the network name \"bw\" in every instance",
        "\"name\": \"bw-{{.Gres.Index}}\"",
        "pipeline \"eth\" delegate \"pm\" and pipeline \"net1\" delegate \"pm\" are both portmap",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    assert!(!out.contains("\"sriov\" (sriov) has"), "{out}");
    // Names that differ per instance and per pipeline: no warning.
    let out = check(
        json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni", "capabilities": caps,
        "timeoutSeconds": 3,
        "pipelines": [
            {"name": "eth", "ifName": "eth0", "delegates": [{"name": "pm", "type": "portmap"}]},
            {"name": "net1", "ifName": "net1", "delegates": [{"name": "pm1", "type": "portmap"}]},
            {"name": "roce", "ifNamePrefix": "roce", "delegates": [
                {"name": "bw", "conf": {"type": "bandwidth", "name": "bw-{{.Gres.Index}}"}}]}]}),
    );
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn validate_warns_when_timeout_seconds_is_missing_or_not_below_the_runtime_deadline() {
    let s = Setup::new(&["bridge"]);
    let bin = s.bin.display().to_string();
    let check = |timeout: Option<u32>, deadline: Option<&str>| {
        let mut conf = json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni",
            "delegates": [{"name": "br", "type": "bridge"}]});
        if let Some(t) = timeout {
            conf["timeoutSeconds"] = json!(t);
        }
        let path = s.path("deadline.conf");
        std::fs::write(&path, conf.to_string()).expect("write");
        let mut args = vec!["validate", "--cni-path", &bin];
        if let Some(d) = deadline {
            args.extend(["--runtime-deadline", d]);
        }
        let path = path.display().to_string();
        args.push(&path);
        let r = cli(&args, &BTreeMap::new());
        // Warnings, not problems: the config works.
        assert_eq!(r.code, 0, "{}", r.stdout);
        r.stdout
    };
    let out = check(None, Some("5"));
    assert!(
        out.contains("warning: timeoutSeconds is not set") && out.contains("below 5s"),
        "{out}"
    );
    assert!(check(None, None).contains("warning: timeoutSeconds is not set"));
    let out = check(Some(10), Some("5"));
    assert!(
        out.contains("timeoutSeconds (10s) is not below the runtime's deadline (5s)"),
        "{out}"
    );
    assert!(check(Some(4), Some("5")).contains("for a rollback"));
    let out = check(Some(2), Some("5"));
    assert!(!out.contains("timeoutSeconds"), "{out}");
    assert!(!check(Some(2), None).contains("timeoutSeconds"));
    // A deadline that is not a positive number is a usage error.
    for bad in ["0", "-1", "x", "inf"] {
        let r = cli(
            &["validate", "--runtime-deadline", bad, "f"],
            &BTreeMap::new(),
        );
        assert_eq!(r.code, 2, "{bad}: {}", r.stdout);
    }
}

#[test]
fn validate_warns_about_host_state_parallel_pipelines_would_share() {
    let s = Setup::new(&["bridge", "macvlan"]);
    let bin = s.bin.display().to_string();
    let check = |conf: serde_json::Value| {
        let path = s.path("par.conf");
        std::fs::write(&path, conf.to_string()).expect("write");
        let path = path.display().to_string();
        let r = cli(&["validate", "--cni-path", &bin, &path], &BTreeMap::new());
        assert_eq!(r.code, 0, "{}", r.stdout);
        r.stdout
    };
    let range = |subnet: &str| json!({"type": "host-local", "ranges": [[{"subnet": subnet}]]});
    let conf = |parallel: bool, gres_subnet: &str| {
        json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni", "timeoutSeconds": 3,
            "parallelPipelines": parallel,
            "capabilities": {"io.kubernetes.cri.pod-annotations": true},
            "pipelines": [
                {"name": "a", "ifName": "eth0", "delegates": [{"name": "br", "conf": {"type": "bridge", "bridge": "br0", "ipam": range("10.1.0.0/24")}}]},
                {"name": "b", "ifName": "eth1", "delegates": [{"name": "br", "conf": {"type": "bridge", "bridge": "br0", "ipam": range("10.2.0.0/24")}}]},
                {"name": "g", "ifNamePrefix": "g", "delegates": [{"name": "mv", "conf": {"type": "macvlan", "master": "{{.Gres.Device}}", "ipam": range(gres_subnet)}}]}]})
    };
    let out = check(conf(true, "10.3.0.0/24"));
    assert!(
        out.contains("pipeline \"a\" delegate \"br\", pipeline \"b\" delegate \"br\" run at once and all use bridge \"br0\""),
        "{out}"
    );
    assert!(
        out.contains("pipeline \"g\" delegate \"mv\" (another instance)")
            && out.contains("10.3.0.0/24"),
        "{out}"
    );
    // A range that differs per instance, and pipelines in order: no warning.
    let out = check(conf(true, "10.3.{{.Gres.Index}}.0/24"));
    assert!(!out.contains("10.3."), "{out}");
    assert!(!check(conf(false, "10.3.0.0/24")).contains("parallelPipelines"));
}
