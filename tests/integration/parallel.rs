//! `parallelPipelines`: every pipeline of an ADD or DEL at once, with the
//! result, the errors, the rollback and the record exactly as a sequential
//! run gives them.

use crate::harness::*;
use crate::pipelines::GRES;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Pipelines `eth0`, `net1`, `net2` (one fake each, plugins a, b, c) and a
/// template pipeline `gres` of two instances (plugin d); `fake` gives each
/// plugin its behaviour.
fn conf(parallel: bool, fake: &[(&str, Value)]) -> Value {
    let f = |p: &str| {
        fake.iter()
            .find(|(n, _)| *n == p)
            .map_or(json!({}), |(_, v)| v.clone())
    };
    let ip = |p: &str, n: u32| {
        let mut v = f(p);
        if v.get("ip").is_none() {
            v["ip"] = json!(format!("10.66.{n}.2/24"));
        }
        v
    };
    json!({"cniVersion": "1.0.0", "name": "par", "parallelPipelines": parallel,
        "runtimeConfig": {"io.kubernetes.cri.pod-annotations": {
            format!("{GRES}/gres/0"): "dev0", format!("{GRES}/gres/1"): "dev1"}},
        "pipelines": [
            {"name": "eth", "ifName": "eth0", "delegates": [{"name": "a", "conf": {"type": "a", "fake": ip("a", 1)}}]},
            {"name": "n1", "ifName": "net1", "delegates": [{"name": "b", "conf": {"type": "b", "fake": ip("b", 2)}}]},
            {"name": "n2", "ifName": "net2", "delegates": [{"name": "c", "conf": {"type": "c", "fake": ip("c", 3)}}]},
            {"name": "gres", "ifNamePrefix": "g", "delegates": [
                {"name": "d", "conf": {"type": "d", "fake": ip("d", 4)}}]}]})
}

fn setup() -> Setup {
    Setup::new(&["a", "b", "c", "d"])
}

#[test]
fn the_result_is_the_sequential_one_whatever_order_pipelines_finish_in() {
    // Earlier pipelines are slower, so they finish last.
    let slow = |s: f64| json!({"add": "sleep", "sleep": s});
    let fake = [
        ("a", slow(2.4)),
        ("b", slow(1.8)),
        ("c", slow(1.2)),
        ("d", slow(1.2)),
    ];
    let s = setup();
    let sequential = s.run("ADD", &conf(false, &fake)).ok();
    s.run("DEL", &conf(false, &fake)).ok();
    s.clear_calls();
    let r = s.run("ADD", &conf(true, &fake));
    assert_eq!(r.ok(), sequential);
    assert_eq!(
        iface_names(&sequential),
        ["eth0", "net1", "net2", "g0", "g1"]
    );
    // They ran at once: every ADD started before the first one ended (in
    // order, each would start after the one before had slept).
    let adds: Vec<(f64, f64)> = s
        .calls()
        .iter()
        .filter(|c| c.cmd == "ADD")
        .map(|c| (c.t, c.stdin["fake"]["sleep"].as_f64().unwrap_or(0.0)))
        .collect();
    assert_eq!(adds.len(), 5);
    let last_start = adds.iter().map(|a| a.0).fold(f64::MIN, f64::max);
    let first_end = adds.iter().map(|a| a.0 + a.1).fold(f64::MAX, f64::min);
    assert!(
        last_start < first_end,
        "an ADD started {:.2}s after the first one ended",
        last_start - first_end
    );
    // The record holds each pipeline's own result, for DEL and CHECK.
    let record: Value = serde_json::from_slice(
        &std::fs::read(s.state_dir().join("par/ctr1-eth0.json")).expect("record"),
    )
    .expect("record parses");
    let pipes = record["pipelines"].as_array().expect("pipelines");
    assert_eq!(pipes.len(), 5);
    for (p, ifname) in pipes.iter().zip(["eth0", "net1", "net2", "g0", "g1"]) {
        assert_eq!(iface_names(&p["result"]), [ifname], "{p}");
    }
    s.clear_calls();
    s.run("DEL", &conf(true, &fake)).ok();
    let mut dels = s.order();
    dels.sort();
    assert_eq!(dels, ["a:DEL", "b:DEL", "c:DEL", "d:DEL", "d:DEL"]);
}

#[test]
fn the_first_failure_in_config_order_is_returned_and_everything_that_ran_is_undone() {
    // b fails late, c at once: b's error is returned (config order) and
    // c's is in the details. a and both d instances were still running when
    // c failed; they finish and are undone with b and c (a failed delegate
    // gets its DEL too).
    let s = setup();
    let ok_later = json!({"delay": 0.8});
    let conf = conf(
        true,
        &[
            ("a", ok_later.clone()),
            (
                "b",
                json!({"add": "fail", "code": 5, "msg": "b broke", "delay": 0.5}),
            ),
            ("c", json!({"add": "fail", "code": 11, "msg": "c broke"})),
            ("d", ok_later),
        ],
    );
    let r = s.run("ADD", &conf);
    let msg = r.err(5);
    assert!(msg.contains("b broke"), "{msg}");
    let err = r.json();
    let details = err["details"].as_str().unwrap_or("");
    assert!(
        details.contains("pipeline \"n2\" also failed") && details.contains("c broke"),
        "{details}"
    );
    let mut dels: Vec<String> = s
        .order()
        .into_iter()
        .filter(|c| c.ends_with(":DEL"))
        .collect();
    dels.sort();
    assert_eq!(dels, ["a:DEL", "b:DEL", "c:DEL", "d:DEL", "d:DEL"]);
    assert!(
        record_files(&s).is_empty(),
        "a clean rollback leaves no record"
    );
}

#[test]
fn once_a_pipeline_fails_no_new_delegate_starts() {
    // eth0 runs a (slow) then e; net2's c fails at once: e never starts.
    let s = Setup::new(&["a", "b", "c", "d", "e"]);
    let mut c = conf(
        true,
        &[
            ("a", json!({"delay": 0.8})),
            ("c", json!({"add": "fail", "code": 11})),
        ],
    );
    c["pipelines"][0]["delegates"]
        .as_array_mut()
        .expect("delegates")
        .push(json!({"name": "e", "type": "e"}));
    s.run("ADD", &c).err(11);
    let calls = s.order();
    assert!(!calls.contains(&"e:ADD".to_string()), "{calls:?}");
    assert!(calls.contains(&"a:DEL".to_string()), "{calls:?}");
    assert!(
        !calls.contains(&"e:DEL".to_string()),
        "e never ran: {calls:?}"
    );
}

#[test]
fn del_attempts_every_pipeline_and_returns_the_first_error_in_config_order() {
    let s = setup();
    let fails = |code: u32| json!({"del": "fail", "code": code});
    let conf = conf(true, &[("b", fails(5)), ("d", fails(11))]);
    s.run("ADD", &conf).ok();
    s.clear_calls();
    s.run("DEL", &conf).err(5);
    let mut dels = s.order();
    dels.sort();
    assert_eq!(dels, ["a:DEL", "b:DEL", "c:DEL", "d:DEL", "d:DEL"]);
    assert_eq!(record_files(&s).len(), 1, "kept for a later DEL");
}

#[test]
fn del_after_a_kill_during_a_parallel_add_ends_and_undoes_every_pipeline() {
    let s = setup();
    let late = |n: &str| {
        json!({"add": "late", "sleep": 2.0, "pidfile": s.path(&format!("{n}.pids")),
            "effects": s.path("effects")})
    };
    let conf = conf(true, &[("a", late("a")), ("c", late("c"))]);
    let mut child = s.start("ADD", &conf);
    let started = Instant::now();
    while !(s.path("a.pids").exists() && s.path("c.pids").exists()) {
        assert!(started.elapsed() < Duration::from_secs(20), "never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().expect("kill meta-cni");
    let _ = child.wait();
    s.clear_calls();
    let r = s.run("DEL", &conf);
    r.ok();
    for n in ["a", "c"] {
        for pid in std::fs::read_to_string(s.path(&format!("{n}.pids")))
            .expect("pids")
            .split_whitespace()
        {
            assert!(!alive(pid.parse().expect("pid")), "{n}'s {pid} survived");
        }
    }
    let mut dels = s.order();
    dels.sort();
    assert_eq!(dels, ["a:DEL", "b:DEL", "c:DEL", "d:DEL", "d:DEL"]);
    std::thread::sleep(Duration::from_millis(2300));
    let effects = std::fs::read_to_string(s.path("effects")).unwrap_or_default();
    assert!(
        effects.is_empty(),
        "an ADD took effect after DEL: {effects}"
    );
    assert!(record_files(&s).is_empty());
}

#[test]
fn parallel_pipelines_must_be_a_boolean() {
    let s = setup();
    let mut c = conf(true, &[]);
    c["parallelPipelines"] = json!("yes");
    let msg = s.run("ADD", &c).err(7);
    assert!(msg.contains("parallelPipelines"), "{msg}");
}

/// The attachment records of network `par`.
fn record_files(s: &Setup) -> Vec<String> {
    std::fs::read_dir(s.state_dir().join("par"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default()
}
