//! Delegates that fail, crash, lie, hang or flood: each gets a specific CNI
//! error naming the delegate, rollback runs, and nothing is left running.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

fn one(fake: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "resultMode": "chained", "delegates": [
        {"name": "first", "type": "a"},
        {"name": "bad", "conf": {"type": "b", "fake": fake}}]})
}

#[test]
fn a_delegate_error_keeps_its_code_and_details() {
    let s = Setup::new(&["a", "b"]);
    let msg = s
        .run(
            "ADD",
            &one(json!({"add": "fail", "code": 11, "msg": "etcd busy", "details": "retry in 5s"})),
        )
        .err(11);
    assert!(
        msg.contains("delegate \"bad\": etcd busy") && msg.contains("retry in 5s"),
        "{msg}"
    );
    let msg = s
        .run(
            "ADD",
            &one(json!({"add": "fail", "code": 1234, "msg": "odd"})),
        )
        .err(1234);
    assert!(msg.contains("odd"));
}

#[test]
fn crashes_signals_garbage_and_bad_addresses_are_specific_errors() {
    let s = Setup::new(&["a", "b"]);
    let msg = s.run("ADD", &one(json!({"add": "crash"}))).err(101);
    assert!(
        msg.contains("\"bad\"") && msg.contains("status 3") && msg.contains("fake: crashing"),
        "{msg}"
    );
    let msg = s.run("ADD", &one(json!({"add": "signal"}))).err(101);
    assert!(msg.contains("SIGSEGV"), "{msg}");
    let msg = s.run("ADD", &one(json!({"add": "garbage"}))).err(6);
    assert!(msg.contains("\"bad\""), "{msg}");
    let msg = s.run("ADD", &one(json!({"add": "badip"}))).err(6);
    assert!(msg.contains("\"bad\""), "{msg}");
    // Each failure rolled back both delegates.
    let order = s.order();
    assert_eq!(
        order.iter().filter(|c| c.as_str() == "a:DEL").count(),
        4,
        "{order:?}"
    );
}

#[test]
fn missing_and_unexecutable_plugins_are_code_100() {
    let s = Setup::new(&["a"]);
    let conf =
        json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "x", "type": "nope"}]});
    let msg = s.run("ADD", &conf).err(100);
    assert!(
        msg.contains("\"x\"")
            && msg.contains("not found")
            && msg.contains(s.bin.to_str().unwrap_or("")),
        "{msg}"
    );
    let plain = s.bin.join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    let conf =
        json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "x", "type": "plain"}]});
    assert!(s.run("ADD", &conf).err(100).contains("permission denied"));
}

#[test]
fn a_hanging_delegate_and_its_grandchild_are_killed_at_the_limit() {
    let s = Setup::new(&["a", "b"]);
    let pidfile = s.path("pids");
    let mut conf = one(json!({"add": "hang", "pidfile": pidfile, "ignoreterm": true}));
    conf["timeoutSeconds"] = json!(1);
    let r = s.run("ADD", &conf);
    let msg = r.err(102);
    assert!(
        msg.contains("\"bad\"") && msg.contains("timed out"),
        "{msg}"
    );
    assert!(
        r.took < Duration::from_secs(3),
        "returned within limit + 2s: {:?}",
        r.took
    );
    let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 2);
    for p in pids {
        assert!(!alive(p), "process {p} survived");
    }
    // Rollback still ran, on a fresh budget.
    assert_eq!(s.order(), ["a:ADD", "b:ADD", "b:DEL", "a:DEL"]);
}

#[test]
fn a_per_delegate_limit_below_the_overall_one_applies() {
    let s = Setup::new(&["a", "b"]);
    let mut conf = one(json!({"add": "sleep", "sleep": 5}));
    conf["timeoutSeconds"] = json!(30);
    conf["delegates"][1]["timeoutSeconds"] = json!(1);
    let r = s.run("ADD", &conf);
    assert!(r.err(102).contains("after 1s"));
    assert!(r.took < Duration::from_secs(4), "{:?}", r.took);
}

#[test]
fn floods_and_closed_pipes_do_not_block_or_blow_up() {
    let s = Setup::new(&["a", "b"]);
    // 9 MiB on stdout: over the cap.
    let msg = s.run("ADD", &one(json!({"add": "huge"}))).err(6);
    assert!(msg.contains("MiB"), "{msg}");
    // 4 MiB on stderr: forwarded, only a tail kept, result fine.
    let r = s.run("ADD", &one(json!({"add": "bigstderr"})));
    r.ok();
    assert!(r.stderr.contains("LAST-LINE-OF-STDERR"));
    // A delegate that closes stdout early and exits: no result, no error.
    s.run("ADD", &one(json!({"add": "closeout", "sleep": 0.2})))
        .ok();
}

#[test]
fn a_delegate_that_never_reads_a_large_config_does_not_deadlock() {
    let mut s = Setup::new(&["a", "b"]);
    s.set("FAKE_CONF", r#"{"add":"nostdin"}"#);
    let big = "x".repeat(2 * 1024 * 1024);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "timeoutSeconds": 20, "delegates": [
        {"name": "quiet", "conf": {"type": "b", "padding": big}}]});
    let r = s.run("ADD", &conf);
    r.ok();
    assert!(r.took < Duration::from_secs(10), "{:?}", r.took);
}

#[test]
fn text_file_busy_right_after_install_is_retried_briefly() {
    let s = Setup::new(&[]);
    let path = s.bin.join("fresh");
    let script = "#!/bin/sh\ncat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.66.0.9/24\"}]}'\n";
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "fresh", "type": "fresh"}]});
    for (hold, ok) in [
        (Duration::from_millis(150), true),
        (Duration::from_secs(3), false),
    ] {
        // The installer still has the file open for writing: exec gets ETXTBSY.
        let mut f = std::fs::File::create(&path).expect("create");
        std::io::Write::write_all(&mut f, script.as_bytes()).expect("write");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let closer = std::thread::spawn(move || {
            std::thread::sleep(hold);
            drop(f);
        });
        let r = s.run("ADD", &conf);
        if ok {
            assert_eq!(r.ok()["ips"][0]["address"], "10.66.0.9/24");
        } else {
            assert!(r.err(100).contains("text file busy"), "{}", r.stdout);
        }
        closer.join().expect("closer");
    }
}
