//! CNI 1.1 verbs: STATUS and GC, forwarded to delegates that speak 1.1.0,
//! with GC releasing stale attachments from their records.

use crate::harness::*;
use crate::pipelines::multinic;
use serde_json::{json, Value};
use std::time::Duration;

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

#[test]
fn gc_runs_alongside_add_and_del_without_touching_live_or_busy_attachments() {
    let s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.1.0", "name": "n", "stateDir": s.state_dir(),
        "delegates": [{"name": "a", "type": "a"}, {"name": "b", "type": "b"}]});
    let env_for = |cmd: &str, cid: Option<&str>| {
        let mut e = s.env.clone();
        e.insert("CNI_COMMAND".into(), cmd.into());
        match cid {
            Some(c) => {
                e.insert("CNI_CONTAINERID".into(), c.into());
            }
            None => {
                for k in ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"] {
                    e.remove(k);
                }
            }
        }
        e
    };
    // 12 containers cycle ADD/DEL 4 times while GC, told all of them are
    // valid, runs again and again.
    let valid: Vec<serde_json::Value> = (0..12)
        .map(|i| json!({"containerID": format!("c{i}"), "ifname": "eth0"}))
        .collect();
    let mut gc_conf = conf.clone();
    gc_conf["cni.dev/valid-attachments"] = json!(valid);
    std::thread::scope(|scope| {
        for i in 0..12 {
            let (add, del) = (
                env_for("ADD", Some(&format!("c{i}"))),
                env_for("DEL", Some(&format!("c{i}"))),
            );
            let body = conf.to_string();
            scope.spawn(move || {
                for _ in 0..4 {
                    for e in [&add, &del] {
                        let r =
                            run_bin(&[], e, body.as_bytes(), std::time::Duration::from_secs(60));
                        assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
                    }
                }
            });
        }
        let gc = env_for("GC", None);
        let body = gc_conf.to_string();
        scope.spawn(move || {
            for _ in 0..8 {
                let r = run_bin(
                    &[],
                    &gc,
                    body.as_bytes(),
                    std::time::Duration::from_secs(60),
                );
                assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
            }
        });
    });
    let dels = s.calls().iter().filter(|c| c.cmd == "DEL").count();
    assert_eq!(
        dels,
        12 * 4 * 2,
        "GC released nothing the runtime called valid"
    );
    let left: Vec<String> = std::fs::read_dir(s.state_dir().join("n"))
        .expect("dir")
        .flatten()
        .filter(|e| {
            let spare = is_spare(&e.path());
            if spare {
                check_spare(&e.path());
            }
            !spare
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "stray records or lock files: {left:?}");

    // An ADD still running when GC says its container is not valid is left
    // alone (it holds its lock); its record is there when the ADD is done.
    let mut slow = conf.clone();
    slow["delegates"][1] =
        json!({"name": "b", "conf": {"type": "b", "fake": {"add": "sleep", "sleep": 2}}});
    let add = env_for("ADD", Some("slow"));
    let body = slow.to_string();
    let adder = std::thread::spawn(move || {
        run_bin(
            &[],
            &add,
            body.as_bytes(),
            std::time::Duration::from_secs(60),
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(700));
    let mut empty = gc_conf.clone();
    empty["cni.dev/valid-attachments"] = json!([]);
    s.clear_calls();
    let r = run_bin(
        &[],
        &env_for("GC", None),
        empty.to_string().as_bytes(),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("busy"), "{}", r.stderr);
    assert_eq!(adder.join().expect("adder").code, 0);
    assert!(
        s.calls().iter().all(|c| c.cmd != "DEL"),
        "GC did not undo the running ADD"
    );
    assert!(s.state_dir().join("n/slow-eth0.json").exists());
}

#[test]
fn gc_has_one_deadline_for_the_whole_operation() {
    // timeoutSeconds bounds the whole GC, as it does ADD and DEL: the first
    // stale attachment's DEL (0.7 s) fits in 1 s, the second's does not and
    // keeps its record for the next GC. (Each used to get a fresh second.)
    // A shell delegate: it starts in milliseconds, so what is measured is
    // the deadline, not an interpreter's start-up on a busy machine.
    let mut s = Setup::new(&[]);
    let dels_file = s.path("dels");
    let script = format!(
        "#!/bin/sh\ncat >/dev/null\ncase $CNI_COMMAND in\n\
         ADD) echo '{{\"cniVersion\":\"1.1.0\"}}' ;;\n\
         DEL) echo \"$CNI_CONTAINERID\" >> {}; sleep 0.7 ;;\n\
         VERSION) echo '{{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"1.1.0\"]}}' ;;\n\
         esac\n",
        dels_file.display()
    );
    let plugin = s.bin.join("a");
    std::fs::write(&plugin, script).expect("write");
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let conf = json!({"cniVersion": "1.1.0", "name": "n", "stateDir": s.state_dir(), "timeoutSeconds": 1,
        "cni.dev/valid-attachments": [],
        "delegates": [{"name": "a", "type": "a"}]});
    for cid in ["c1", "c2"] {
        s.set("CNI_CONTAINERID", cid).run("ADD", &conf).ok();
    }
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    let r = s.run("GC", &conf);
    let msg = r.err(102);
    assert!(r.took < Duration::from_millis(2500), "GC took {:?}", r.took);
    let dels: Vec<String> = std::fs::read_to_string(&dels_file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(dels, ["c1", "c2"], "{msg}");
    let left: Vec<String> = std::fs::read_dir(s.state_dir().join("n"))
        .expect("state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(left, ["c2-eth0.json"], "{msg}");
}
