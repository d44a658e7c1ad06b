//! Attachment state: DEL and CHECK undo exactly what ADD did, whatever
//! happened to the config, the annotations or meta-cni itself in between.

use crate::harness::*;
use crate::pipelines::{multinic, GRES};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Records, lock files and anything else left in the state directories,
/// except the spares kept for reuse, which are checked here: at most four
/// of each kind per network, private, and holding nothing but spaces.
fn state_files(s: &Setup) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(nets) = std::fs::read_dir(s.state_dir()) {
        for n in nets.flatten() {
            let mut spares = 0;
            if let Ok(files) = std::fs::read_dir(n.path()) {
                for f in files.flatten() {
                    let path = f.path();
                    if is_spare(&path) {
                        spares += 1;
                        check_spare(&path);
                    } else {
                        out.push(path);
                    }
                }
            }
            assert!(spares <= 8, "{spares} spares in {}", n.path().display());
        }
    }
    out.sort();
    out
}

/// The stdin bytes of a call without the `prevResult` meta-cni adds.
fn config_bytes(c: &Rec) -> String {
    match c.raw_stdin.find(",\"prevResult\":") {
        Some(i) => format!("{}}}", &c.raw_stdin[..i]),
        None => c.raw_stdin.clone(),
    }
}

#[test]
fn del_without_annotations_still_reaches_every_template_instance() {
    let s = Setup::new(&["macvlan", "portmap", "sriov", "rdma"]);
    let out = s
        .run("ADD", &multinic(&["0000:3b:00.2", "0000:3b:00.3"]))
        .ok();
    let added = s.calls();
    let files = state_files(&s);
    assert_eq!(files.len(), 2, "one record + its lock file: {files:?}");
    let record = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .expect("record");
    assert!(
        record.ends_with("crane-multinic/ctr1-eth0.json"),
        "{record:?}"
    );
    s.clear_calls();
    // The runtime's DEL: annotations gone (the GRES was released), prevResult present.
    let mut del = multinic(&[]);
    del["prevResult"] = out;
    s.run("DEL", &del).ok();
    let calls = s.calls();
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
    assert_eq!(calls[1].stdin["deviceID"], "0000:3b:00.3");
    assert_eq!(calls[3].stdin["deviceID"], "0000:3b:00.2");
    // Each delegate's DEL gets its own pipeline's result.
    assert_eq!(
        calls[1].stdin["prevResult"]["interfaces"][0]["name"],
        "roce1"
    );
    assert_eq!(
        calls[5].stdin["prevResult"]["interfaces"][0]["name"],
        "eth0"
    );
    // Exactly the bytes ADD sent (less prevResult).
    let add_sriov1 = added
        .iter()
        .filter(|c| c.plugin == "sriov")
        .nth(1)
        .expect("sriov ADD");
    assert_eq!(config_bytes(&calls[1]), config_bytes(add_sriov1));
    assert!(
        state_files(&s).is_empty(),
        "record and lock removed after a clean DEL"
    );
    // A second DEL (no record now) falls back to the config and succeeds.
    s.clear_calls();
    s.run("DEL", &del).ok();
    assert_eq!(s.order(), ["portmap:DEL", "macvlan:DEL"]);
}

#[test]
fn del_after_the_config_was_edited_replays_the_original_bytes() {
    let s = Setup::new(&["a", "b", "c"]);
    let v1 = json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained", "delegates": [
        {"name": "a", "conf": {"type": "a", "vendorKnob": {"x": [1, 2, {"y": null}]}, "big": 18446744073709551615u64}},
        {"name": "b", "type": "b", "runtimeOverride": {"envs": ["FAKE_MARK=v1"]}}]});
    s.run("ADD", &v1).ok();
    let added = s.calls();
    // The operator edits the file: b removed, a changed, c added.
    let v2 = json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained", "delegates": [
        {"name": "a", "conf": {"type": "a", "vendorKnob": "changed"}},
        {"name": "c", "type": "c"}]});
    s.clear_calls();
    s.run("DEL", &v2).ok();
    assert_eq!(s.order(), ["b:DEL", "a:DEL"]);
    let calls = s.calls();
    assert_eq!(
        calls[0].env("FAKE_MARK"),
        Some("v1"),
        "the environment ADD used"
    );
    assert_eq!(config_bytes(&calls[1]), config_bytes(&added[0]));
    assert!(calls[1].raw_stdin.contains("18446744073709551615"));
}

#[test]
fn check_uses_the_record() {
    let s = Setup::new(&["macvlan", "portmap", "sriov", "rdma"]);
    let out = s.run("ADD", &multinic(&["dev0"])).ok();
    let mut check = multinic(&[]);
    check["prevResult"] = out;
    s.clear_calls();
    s.run("CHECK", &check).ok();
    assert_eq!(
        s.order(),
        [
            "macvlan:CHECK",
            "portmap:CHECK",
            "sriov:CHECK",
            "rdma:CHECK"
        ]
    );
    assert_eq!(s.calls()[2].stdin["deviceID"], "dev0");
}

#[test]
fn a_killed_add_leaves_a_record_del_uses() {
    let s = Setup::new(&["a", "b", "c"]);
    let pidfile = s.path("pids");
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained", "delegates": [
        {"name": "a", "type": "a"},
        {"name": "b", "conf": {"type": "b", "fake": {"add": "hang", "pidfile": pidfile}}},
        {"name": "c", "type": "c"}]});
    // Start ADD, wait until b hangs, SIGKILL meta-cni (as a runtime's deadline would).
    let mut child = s.start("ADD", &conf);
    let start = Instant::now();
    while !pidfile.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "b never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    s.clear_calls();
    // DEL with b removed from the config still reaches b (and c, which never
    // ran), after ending the hanging b and its grandchild.
    let edited =
        json!({"cniVersion": "1.0.0", "name": "net", "delegates": [{"name": "a", "type": "a"}]});
    s.run("DEL", &edited).ok();
    assert_eq!(s.order(), ["c:DEL", "b:DEL", "a:DEL"]);
    assert!(state_files(&s).is_empty());
    for pid in std::fs::read_to_string(&pidfile)
        .expect("pids")
        .split_whitespace()
    {
        assert!(!alive(pid.parse().expect("pid")), "{pid} survived the DEL");
    }
}

#[test]
fn a_corrupt_record_falls_back_to_the_config_and_is_logged() {
    let s = Setup::new(&["a"]);
    let conf =
        json!({"cniVersion": "1.0.0", "name": "net", "delegates": [{"name": "a", "type": "a"}]});
    s.run("ADD", &conf).ok();
    let record = state_files(&s)
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .expect("record");
    std::fs::write(&record, b"{\"format\": 1, \"trunc").expect("corrupt");
    s.clear_calls();
    let r = s.run("DEL", &conf);
    r.ok();
    assert_eq!(s.order(), ["a:DEL"]);
    assert!(r.stderr.contains("unusable"), "{}", r.stderr);
    assert!(
        state_files(&s).is_empty(),
        "the corrupt record goes after a clean DEL"
    );
}

#[test]
fn records_are_private_and_kept_until_an_undo_succeeds() {
    let mut s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "delegates": [
        {"name": "a", "type": "a"}, {"name": "b", "conf": {"type": "b", "fake": {"add": "fail", "code": 5}}}]});
    // Every DEL fails for now (the fakes read this from their environment).
    s.set("FAKE_CONF", r#"{"del": "fail", "code": 11}"#);
    let msg = s.run("ADD", &conf).err(5);
    assert!(msg.contains("rollback"), "{msg}");
    let files = state_files(&s);
    let record = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .expect("kept for a later DEL");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(record), 0o600);
    assert_eq!(mode(record.parent().expect("dir")), 0o700);
    assert_eq!(mode(&s.state_dir()), 0o700);
    // A failing DEL keeps it too; once DEL succeeds it goes.
    // (b's own conf sets the code its failures carry: 5.)
    s.run("DEL", &conf).err(5);
    assert!(record.exists());
    s.unset("FAKE_CONF");
    s.clear_calls();
    s.run("DEL", &conf).ok();
    assert_eq!(s.order(), ["b:DEL", "a:DEL"]);
    assert!(state_files(&s).is_empty());
}

#[test]
fn clean_rollback_leaves_no_record() {
    let s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "delegates": [
        {"name": "a", "type": "a"}, {"name": "b", "conf": {"type": "b", "fake": {"add": "crash"}}}]});
    s.run("ADD", &conf).err(101);
    assert!(state_files(&s).is_empty(), "{:?}", state_files(&s));
}

#[test]
fn parallel_add_del_pairs_all_succeed_with_no_stray_files() {
    let s = Setup::new(&["a", "b"]);
    let log = s.path("meta.log");
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained",
        "logFile": log, "logLevel": "debug",
        "delegates": [{"name": "a", "type": "a"}, {"name": "b", "type": "b"}]});
    let threads: Vec<_> = (0..48)
        .map(|i| {
            let mut env = s.env.clone();
            env.insert("CNI_CONTAINERID".into(), format!("ctr-{i}"));
            let mut conf = conf.clone();
            conf["stateDir"] = json!(s.state_dir());
            std::thread::spawn(move || {
                for cmd in ["ADD", "DEL"] {
                    let mut e = env.clone();
                    e.insert("CNI_COMMAND".into(), cmd.into());
                    let r = run_bin(
                        &[],
                        &e,
                        conf.to_string().as_bytes(),
                        Duration::from_secs(120),
                    );
                    assert_eq!(r.code, 0, "{cmd} ctr-{i}: {} {}", r.stdout, r.stderr);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a pair failed");
    }
    assert!(state_files(&s).is_empty(), "stray: {:?}", state_files(&s));
    assert_eq!(s.calls().len(), 48 * 4);
    // Every log line is whole: starts with a timestamp and has a command.
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.lines().count() >= 48 * 6);
    for line in text.lines() {
        assert!(
            line.len() > 30 && line.as_bytes()[4] == b'-' && line.contains("meta-cni["),
            "torn line: {line:?}"
        );
        assert!(line.contains(" ADD ") || line.contains(" DEL "), "{line}");
    }
}

#[test]
fn attachment_state_can_be_turned_off() {
    let s = Setup::new(&["a"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "attachmentState": false,
        "delegates": [{"name": "a", "type": "a"}]});
    s.run("ADD", &conf).ok();
    assert!(!s.state_dir().exists());
}

#[test]
fn unused_gres_key_names_do_not_matter() {
    // Annotation keys for other pipelines never create instances here.
    let s = Setup::new(&["macvlan", "portmap", "sriov", "rdma"]);
    let mut conf = multinic(&[]);
    conf["runtimeConfig"]["io.kubernetes.cri.pod-annotations"] =
        json!({format!("{GRES}/rocex/0"): "d"});
    s.run("ADD", &conf).ok();
    assert_eq!(s.order(), ["macvlan:ADD", "portmap:ADD"]);
}

#[test]
fn check_and_a_failed_del_without_a_record_leave_no_files() {
    let s = Setup::new(&["a"]);
    let mut conf =
        json!({"cniVersion": "1.0.0", "name": "net", "delegates": [{"name": "a", "type": "a"}]});
    conf["prevResult"] = json!({"cniVersion": "1.0.0"});
    s.run("CHECK", &conf).ok();
    conf["delegates"][0] =
        json!({"name": "a", "conf": {"type": "a", "fake": {"del": "fail", "code": 11}}});
    s.run("DEL", &conf).err(11);
    assert!(state_files(&s).is_empty(), "{:?}", state_files(&s));
}
