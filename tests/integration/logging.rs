//! Logs: one line per event with the context an operator needs, secrets
//! redacted, a size-capped log file with one rotated backup.

use crate::harness::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
fn a_debug_log_shows_every_call_with_timing_and_no_secret() {
    let mut s = Setup::new(&["calico", "portmap"]);
    s.set("CNI_CONTAINERID", "ctr-log");
    let log = s.path("meta.log");
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logLevel": "debug", "logFile": log,
        "resultMode": "chained", "delegates": [
        {"name": "calico", "conf": {"type": "calico", "etcd_password": "hunter2", "etcd_key_file": "/etc/k.pem",
                                    "nested": {"apiToken": "tok-123"}}},
        {"name": "portmap", "type": "portmap"}]});
    let r = s.run("ADD", &conf);
    r.ok();
    assert!(
        !r.stderr.contains("meta-cni["),
        "logs went to the file: {}",
        r.stderr
    );
    let text = std::fs::read_to_string(&log).expect("log file");
    assert_eq!(
        std::fs::metadata(&log).expect("stat").permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !text.contains("hunter2") && !text.contains("tok-123"),
        "secret in log:\n{text}"
    );
    assert!(text.contains("/etc/k.pem"), "paths are not secrets");
    for d in ["calico", "portmap"] {
        let line = text
            .lines()
            .find(|l| {
                l.contains(&format!("delegate={d}")) && l.contains("ADD") && l.contains(" ok in ")
            })
            .unwrap_or_else(|| panic!("no outcome line for {d}:\n{text}"));
        assert!(
            line.contains("INFO") && line.contains("cid=ctr-log"),
            "{line}"
        );
        assert!(line.contains("ms") || line.contains("s"), "{line}");
        assert!(text.lines().any(|l| l.contains("DEBUG")
            && l.contains(&format!("delegate={d}"))
            && l.contains("config:")));
    }
    // The whole operation, with its time.
    assert!(
        text.lines().any(|l| l.contains("INFO")
            && l.contains("cid=ctr-log")
            && l.contains(": ADD done in ")),
        "no line for the whole ADD:\n{text}"
    );
    // A failure is logged with its outcome.
    let bad = json!({"cniVersion": "1.0.0", "name": "n", "logFile": log, "delegates": [
        {"name": "calico", "conf": {"type": "calico", "fake": {"add": "fail", "code": 11, "msg": "etcd down"}}}]});
    s.run("ADD", &bad).err(11);
    let text = std::fs::read_to_string(&log).expect("log file");
    assert!(text.lines().any(|l| l.contains("ERROR")
        && l.contains("delegate=calico")
        && l.contains("failed in")
        && l.contains("etcd down")));
    assert!(
        text.lines().any(|l| l.contains("ERROR")
            && l.contains(": ADD failed after ")
            && l.contains("etcd down")),
        "no line for the failed ADD:\n{text}"
    );
}

#[test]
fn the_log_file_is_rotated_past_its_cap() {
    let s = Setup::new(&["a"]);
    let log = s.path("meta.log");
    std::fs::write(&log, "x".repeat(1024 * 1024 + 10)).expect("fill");
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logFile": log, "logMaxSizeMB": 1,
        "delegates": [{"name": "a", "type": "a"}]});
    s.run("ADD", &conf).ok();
    let backup = s.path("meta.log.1");
    assert_eq!(
        std::fs::metadata(&backup).expect("backup").len(),
        1024 * 1024 + 10
    );
    let fresh = std::fs::read_to_string(&log).expect("log");
    assert!(fresh.len() < 4096 && fresh.contains("ok in"), "{fresh}");
}

#[test]
fn an_unusable_log_file_falls_back_to_stderr() {
    let s = Setup::new(&["a"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logFile": "/nonexistent-dir/meta.log",
        "delegates": [{"name": "a", "type": "a"}]});
    let r = s.run("ADD", &conf);
    r.ok();
    assert!(
        r.stderr.contains("cannot open logFile") && r.stderr.contains("ok in"),
        "{}",
        r.stderr
    );
}

#[test]
fn error_level_is_quiet_on_success() {
    let s = Setup::new(&["a"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logLevel": "error", "delegates": [{"name": "a", "type": "a"}]});
    let r = s.run("ADD", &conf);
    r.ok();
    assert!(!r.stderr.contains("meta-cni["), "{}", r.stderr);
}

#[test]
fn lines_reach_the_file_while_a_later_delegate_still_runs() {
    // Lines below warn are batched, and written while the next delegate
    // runs: a meta-cni killed in a hung delegate (a runtime's deadline) has
    // logged everything before it.
    let s = Setup::new(&["a", "b"]);
    let log = s.path("meta.log");
    let pidfile = s.path("pids");
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logFile": log, "logLevel": "info",
        "attachmentState": false, "resultMode": "chained", "delegates": [
        {"name": "a", "type": "a"},
        {"name": "b", "conf": {"type": "b", "fake": {"add": "hang", "pidfile": pidfile}}}]});
    let mut child = s.start("ADD", &conf);
    let start = std::time::Instant::now();
    let logged = |text: &str| {
        text.lines()
            .any(|l| l.contains("delegate=a") && l.contains("ADD a ok in"))
            && text.lines().any(|l| l.contains("ADD on eth0"))
    };
    let mut text = String::new();
    while !(pidfile.exists() && logged(&text)) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
        text = std::fs::read_to_string(&log).unwrap_or_default();
    }
    let still_running = child.try_wait().expect("try_wait").is_none();
    child.kill().expect("kill");
    let _ = child.wait();
    kill_pids_in(&pidfile);
    assert!(still_running, "meta-cni ended before b was killed");
    assert!(
        logged(&text),
        "lines before the hung delegate not in the log:\n{text}"
    );
}

#[test]
fn a_request_refused_before_its_config_loads_is_still_logged() {
    // A typo in the config: the runtime gets code 7, and the log file the
    // config names says so too (it used to stay empty).
    let mut s = Setup::new(&["a"]);
    s.set("CNI_CONTAINERID", "ctr-bad");
    let log = s.path("meta.log");
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logFile": log, "resultMode": "chain",
        "delegates": [{"name": "a", "type": "a"}]});
    s.run("ADD", &conf).err(7);
    let text = std::fs::read_to_string(&log).expect("log file");
    assert!(
        text.lines().any(|l| l.contains("ERROR")
            && l.contains("ADD cid=ctr-bad")
            && l.contains("refused: ")
            && l.contains("resultMode")),
        "{text}"
    );
    // A bad environment likewise; without a logFile, on stderr.
    s.set("CNI_COMMAND", "FROB");
    let r = s.run_raw(None, conf.to_string().as_bytes());
    assert_eq!(r.code, 1);
    assert!(std::fs::read_to_string(&log).expect("log").contains("FROB"));
    let plain = json!({"cniVersion": "1.0.0", "name": "n", "resultMode": "chain",
        "delegates": [{"name": "a", "type": "a"}]});
    s.set("CNI_COMMAND", "ADD");
    let r = s.run_raw(None, plain.to_string().as_bytes());
    assert!(
        r.stderr.contains("refused: ") && r.stderr.contains("resultMode"),
        "{}",
        r.stderr
    );
    // Not for STATUS, which runtimes poll.
    let before = std::fs::read_to_string(&log).expect("log");
    let mut status = conf.clone();
    status["cniVersion"] = json!("1.1.0");
    s.set("CNI_COMMAND", "STATUS");
    let r = s.run_raw(None, status.to_string().as_bytes());
    assert_eq!(r.code, 1);
    assert_eq!(std::fs::read_to_string(&log).expect("log"), before);
    assert!(s.calls().is_empty());
}
