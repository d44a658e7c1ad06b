//! Whole-binary random robustness: the built `meta-cni`, run a few hundred
//! times with random commands (the six, garbage, empty, none), random
//! subsets of the CNI variables with random and odd values, and random
//! configs (structural mutations of the examples and fuzz seeds, with
//! delegates that are the fake in behaviours ok/fail/crash/garbage/...).
//! Every run must keep the exec protocol (`harness::check_protocol`): exit
//! 0 or 1, never a panic, a signal or a hang; exactly one JSON document on
//! stdout, or nothing after a successful DEL/CHECK or without a command; a
//! failure is a CNI error object.
//!
//! Reproducible: `META_CNI_FUZZ_SEED` (printed on failure) picks the
//! sequence; `META_CNI_RANDOM_RUNS` (default 400) and
//! `META_CNI_RANDOM_SECS` (default 45, a time budget after which the test
//! stops early and says so) size it.

use crate::harness::*;
use crate::mutate::{self, Rng};
use meta_cni::result::CniResult;
use meta_cni::version::Version;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PLUGINS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "old",
    "calico",
    "portmap",
    "bandwidth",
    "bridge",
    "macvlan",
    "sriov",
    "rdma",
];

/// Fake delegate behaviours that end quickly (no hang, sleep or flood).
const BEHAVIOURS: &[&str] = &[
    "ok",
    "ok",
    "ok",
    "ok",
    "fail",
    "crash",
    "garbage",
    "empty",
    "badip",
    "signal",
    "incompatible",
];

fn seed_configs() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "examples",
        "fuzz/seeds/plugin_run",
        "fuzz/seeds/config_load",
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        out.extend(files.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    assert!(out.len() >= 8, "seed configs missing");
    out
}

/// Keep a mutant inside the sandbox: state and log files in the temp dir,
/// delegates only from the fake bin dir, nothing that points the fake at a
/// file or makes it slow; and give some delegates fake behaviours.
fn sanitise(rng: &mut Rng, v: &mut Value, s: &Setup) {
    fn walk(rng: &mut Rng, v: &mut Value, s: &Setup, delegate_list: bool) {
        match v {
            Value::Object(m) => {
                for k in ["record", "pidfile", "size", "sleep", "ignoreterm"] {
                    m.shift_remove(k);
                }
                if let Some(p) = m.get_mut("cniPath") {
                    *p = json!(if rng.one_in(4) {
                        "/nonexistent-cni-bin".to_string()
                    } else {
                        s.bin.display().to_string()
                    });
                }
                if delegate_list && rng.one_in(3) {
                    let fake = json!({"add": rng.pick(BEHAVIOURS), "del": rng.pick(BEHAVIOURS),
                                      "check": rng.pick(BEHAVIOURS), "versions": ["0.3.1", "0.4.0"]});
                    match m.get_mut("conf") {
                        Some(Value::Object(c)) => {
                            c.insert("fake".into(), fake);
                        }
                        _ => {
                            m.insert("conf".into(), json!({ "fake": fake }));
                        }
                    }
                }
                for (k, x) in m.iter_mut() {
                    walk(rng, x, s, k == "delegates");
                }
            }
            Value::Array(a) => {
                for x in a {
                    walk(rng, x, s, delegate_list);
                }
            }
            Value::String(t) => {
                let slow = ["hang", "sleep", "closeout", "huge", "bigstderr", "nostdin"];
                if t.contains("FAKE_") || slow.contains(&t.as_str()) {
                    *t = "x".into();
                }
            }
            _ => {}
        }
    }
    walk(rng, v, s, false);
    if let Value::Object(m) = v {
        m.insert(
            "stateDir".into(),
            json!(s.state_dir().display().to_string()),
        );
        if m.contains_key("logFile") || rng.one_in(4) {
            m.insert(
                "logFile".into(),
                json!(s.path("meta.log").display().to_string()),
            );
        }
    }
}

fn odd_bytes(rng: &mut Rng, choices: &[&[u8]]) -> OsString {
    OsString::from_vec(rng.pick(choices).to_vec())
}

/// One random environment: the setup's as it is, or with each CNI variable
/// sometimes removed or replaced by an odd value.
fn random_env(rng: &mut Rng, s: &Setup) -> Vec<(String, OsString)> {
    let bin = s.bin.display().to_string();
    let long = "c".repeat(300);
    let path_choices: Vec<String> = vec![
        bin.clone(),
        bin.clone(),
        String::new(),
        "/nonexistent-cni-bin".into(),
        format!("/nonexistent-cni-bin:{bin}"),
        ":".into(),
        format!("{bin}:{bin}"),
    ];
    let mut env: Vec<(String, OsString)> = s
        .env
        .iter()
        .filter(|(k, _)| k.as_str() != "FAKE_RECORD")
        .map(|(k, v)| (k.clone(), OsString::from(v)))
        .collect();
    env.push(("CNI_ARGS".into(), "K8S_POD_NAME=p;IgnoreUnknown=1".into()));
    if rng.one_in(2) {
        return env;
    }
    let set = |env: &mut Vec<(String, OsString)>, k: &str, v: Option<OsString>| {
        env.retain(|(n, _)| n != k);
        if let Some(v) = v {
            env.push((k.to_string(), v));
        }
    };
    for var in [
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_ARGS",
        "CNI_PATH",
    ] {
        match rng.below(8) {
            0 => set(&mut env, var, None),
            1 => {
                let v = match var {
                    "CNI_CONTAINERID" => odd_bytes(
                        rng,
                        &[
                            b"ctr2",
                            b"../x",
                            b"-a",
                            b"",
                            b"a b",
                            long.as_bytes(),
                            "é".as_bytes(),
                            b"\xff",
                        ],
                    ),
                    "CNI_IFNAME" => odd_bytes(
                        rng,
                        &[
                            b"net1",
                            b"",
                            b"toolongifname_012",
                            b"a/b",
                            b"e\tx",
                            b".",
                            b"\xfe",
                        ],
                    ),
                    "CNI_NETNS" => odd_bytes(rng, &[b"", b"/nonexistent", b"x\ny", b"\xff"]),
                    "CNI_ARGS" => odd_bytes(
                        rng,
                        &[b"", b"novalue", b"MASTER=eth9;A=1", b";;", b"=x", b"A=\xff"],
                    ),
                    _ => OsString::from(rng.pick(&path_choices)),
                };
                set(&mut env, var, Some(v));
            }
            _ => {}
        }
    }
    env
}

/// `None` is no `CNI_COMMAND` at all.
fn random_command(rng: &mut Rng) -> Option<OsString> {
    let c: &[u8] = match rng.below(20) {
        0..=6 => b"ADD",
        7..=10 => b"DEL",
        11..=13 => b"CHECK",
        14 => b"VERSION",
        15 => b"STATUS",
        16 => b"GC",
        17 => rng.pick::<&[u8]>(&[b"FROB", b"add", b"ADD ", b"\x01", b"\xff"]),
        18 => b"",
        _ => return None,
    };
    Some(OsString::from_vec(c.to_vec()))
}

struct Case {
    command: Option<OsString>,
    env: Vec<(String, OsString)>,
    stdin: Vec<u8>,
}

/// A case. Whatever parses as JSON goes through `sanitise` last, so no
/// byte damage can point a state or log path outside the temp dir; what does
/// not parse is refused by the config loader before any file is touched.
fn make_case(rng: &mut Rng, s: &Setup, seeds: &[Vec<u8>]) -> Case {
    let base = rng.pick(seeds);
    // Often valid (so runs get past the config to the delegates), often not.
    let n = match rng.below(10) {
        0..=2 => 0,
        3..=6 => 1,
        _ => 2 + rng.below(3),
    };
    let mut stdin = mutate::mutate_n(rng, base, n);
    if rng.one_in(10) {
        mutate::mutate_bytes(rng, &mut stdin);
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(&stdin) {
        sanitise(rng, &mut v, s);
        stdin = serde_json::to_vec(&v).unwrap_or_default();
    }
    Case {
        command: random_command(rng),
        env: random_env(rng, s),
        stdin,
    }
}

fn run_case(c: &Case) -> RawRun {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env("PATH", host_path());
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    if let Some(command) = &c.command {
        cmd.env("CNI_COMMAND", command);
    }
    run_command(
        &mut cmd,
        Box::new(std::io::Cursor::new(c.stdin.clone())),
        Duration::from_secs(30),
    )
}

/// What must hold beyond [`check_protocol`].
fn check_case(c: &Case, r: &RawRun) -> Result<String, String> {
    let doc = check_protocol(r)?;
    let command = c.command.as_ref().map(|c| c.to_string_lossy().into_owned());
    let exit = r.status.code().unwrap_or(-1);
    let outcome = match (&command, &doc) {
        (None, None) => return Ok("none: about text".into()),
        (None, Some(d)) => return Err(format!("no command, but printed {d}")),
        (Some(cmd), None) => {
            if exit == 0 && ["DEL", "CHECK", "STATUS", "GC"].contains(&cmd.as_str()) {
                return Ok(format!("{cmd} ok"));
            }
            return Err(format!("{cmd}: exit {exit} with an empty stdout"));
        }
        (Some(cmd), Some(d)) => (cmd.clone(), d.clone()),
    };
    let (cmd, doc) = outcome;
    let shown = if ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"].contains(&cmd.as_str()) {
        cmd.clone()
    } else {
        "garbage".to_string()
    };
    if exit == 1 {
        return Ok(format!("{shown} code {}", doc["code"]));
    }
    match cmd.as_str() {
        "VERSION" => {
            if !doc["supportedVersions"].is_array() {
                return Err(format!("VERSION printed {doc}"));
            }
        }
        "ADD" => {
            let v = doc["cniVersion"]
                .as_str()
                .and_then(Version::parse)
                .ok_or_else(|| format!("ADD result without a valid cniVersion: {doc}"))?;
            CniResult::parse(&doc, v)
                .map_err(|e| format!("ADD printed a result that does not parse ({e}): {doc}"))?;
        }
        other => return Err(format!("{other} succeeded printing {doc}")),
    }
    Ok(format!("{shown} ok"))
}

#[test]
fn random_commands_environments_and_configs_keep_the_protocol() {
    let seed = mutate::seed_from_env(0x5eed_0fc0_ffee);
    let runs = mutate::count_from_env("META_CNI_RANDOM_RUNS", 400);
    let budget = Duration::from_secs(mutate::count_from_env("META_CNI_RANDOM_SECS", 45) as u64);
    let s = Setup::new(PLUGINS);
    let seeds = seed_configs();
    let started = Instant::now();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut done = 0;
    for i in 0..runs {
        if started.elapsed() > budget {
            eprintln!("time budget {budget:?} used up after {done} of {runs} runs");
            break;
        }
        let case_seed = seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
        let mut rng = Rng::new(case_seed);
        let case = make_case(&mut rng, &s, &seeds);
        let r = run_case(&case);
        match check_case(&case, &r) {
            Ok(kind) => *tally.entry(kind).or_default() += 1,
            Err(why) => panic!(
                "run {i} broke the protocol: {why}\n\
                 reproduce: META_CNI_FUZZ_SEED={seed:#x} cargo test --test integration random\n\
                 command: {:?}\nenv: {:?}\nstdin ({} bytes): {}\nstdout: {}\nstderr (tail): {}",
                case.command,
                case.env,
                case.stdin.len(),
                String::from_utf8_lossy(&case.stdin[..case.stdin.len().min(3000)]),
                String::from_utf8_lossy(&r.stdout[..r.stdout.len().min(3000)]),
                String::from_utf8_lossy(&r.stderr[r.stderr.len().saturating_sub(3000)..])
            ),
        }
        done += 1;
    }
    eprintln!(
        "{done} runs in {:?} (META_CNI_FUZZ_SEED={seed:#x}): {tally:?}",
        started.elapsed()
    );
    assert!(
        done >= runs.min(100),
        "only {done} runs fitted in the budget"
    );
    // The mix reached deep: successful ADDs and DELs, and failures.
    let count = |p: &str| {
        tally
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    if done >= 200 {
        assert!(count("ADD ok") > 0 && count("DEL ok") > 0, "{tally:?}");
        assert!(count("ADD code") > 0, "{tally:?}");
    }
}
