//! `metricsFile`: the Prometheus text file meta-cni keeps, read back with a
//! real parser (the `prometheus_client` Python package's), checked against
//! what was run: every operation, delegate call and rollback, also under
//! 48 concurrent ADD/DEL pairs, with the file parsing at every moment.
//!
//! Without `prometheus_client` the tests print a loud `SKIPPED (...)` line
//! to stderr and pass, unless `META_CNI_REQUIRE_REAL=1`, where they fail
//! (`scripts/install-test-tools.sh` installs it).

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Parses the file named by argv[2] with prometheus_client and prints its
/// samples as JSON; `watch` parses it over and over until the file named
/// by argv[3] exists, then prints how many times it did.
const PARSER: &str = r#"
import json, os, sys, time
from prometheus_client.parser import text_string_to_metric_families
FAMILIES = 5
def parse(text):
    fams = list(text_string_to_metric_families(text))
    if len(fams) != FAMILIES or not text.endswith("\n"):
        raise ValueError("%d families, ends with %r" % (len(fams), text[-1:]))
    return fams
if sys.argv[1] == "dump":
    fams = parse(open(sys.argv[2]).read())
    print(json.dumps([{"name": f.name, "type": f.type,
                       "samples": [[s.name, s.labels, s.value] for s in f.samples]} for f in fams]))
else:
    n = 0
    print("ready", flush=True)
    while not os.path.exists(sys.argv[3]):
        try:
            text = open(sys.argv[2]).read()
        except FileNotFoundError:
            time.sleep(0.001)
            continue
        try:
            parse(text)
        except Exception as e:
            print("parse failed after %d good reads: %s\n%s" % (n, e, text))
            sys.exit(1)
        n += 1
    print(n)
"#;

/// Whether `python3` has prometheus_client; if not, skip loudly (or fail
/// under `META_CNI_REQUIRE_REAL=1`).
fn parser_ready(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import prometheus_client.parser"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    let reason = "python3 cannot import prometheus_client (pip install prometheus_client; scripts/install-test-tools.sh does)";
    if std::env::var("META_CNI_REQUIRE_REAL").is_ok_and(|v| v == "1") {
        panic!("META_CNI_REQUIRE_REAL=1 but {test} cannot run: {reason}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED {test} ({reason}); set META_CNI_REQUIRE_REAL=1 to make this a failure !!!!!"
    );
    false
}

fn parser_script(s: &Setup) -> PathBuf {
    let p = s.path("parse_metrics.py");
    std::fs::write(&p, PARSER).expect("write parser");
    p
}

/// The file's samples as prometheus_client reads them: `name{k="v",...}`
/// (labels sorted) to value.
fn samples(s: &Setup, file: &Path) -> BTreeMap<String, f64> {
    let out = Command::new("python3")
        .arg(parser_script(s))
        .arg("dump")
        .arg(file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "prometheus_client does not parse {}: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    let families: Vec<Value> = serde_json::from_slice(&out.stdout).expect("parser output");
    let mut map = BTreeMap::new();
    for f in &families {
        for smp in f["samples"].as_array().expect("samples") {
            let labels: BTreeMap<String, String> =
                serde_json::from_value(smp[1].clone()).expect("labels");
            let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            let key = format!("{}{{{}}}", smp[0].as_str().unwrap_or(""), text.join(","));
            assert!(
                map.insert(key.clone(), smp[2].as_f64().expect("value"))
                    .is_none(),
                "{key} twice"
            );
        }
    }
    // Histograms hold together: buckets cumulative, +Inf equal to _count.
    for (k, v) in &map {
        if let Some(rest) = k.strip_suffix("}").and_then(|k| k.split_once("_count{")) {
            let inf = map
                .iter()
                .filter(|(b, _)| {
                    b.starts_with(&format!("{}_bucket{{", rest.0)) && b.contains("le=\"+Inf\"")
                })
                .filter(|(b, _)| {
                    rest.1
                        .split(',')
                        .filter(|l| !l.is_empty())
                        .all(|l| b.contains(l))
                })
                .map(|(_, n)| *n)
                .next();
            assert_eq!(inf, Some(*v), "{k}");
        }
    }
    map
}

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

fn calls(plugin: &str, verb: &str, outcome: &str) -> String {
    format!("meta_cni_delegate_calls_total{{outcome={outcome:?},plugin={plugin:?},verb={verb:?}}}")
}

fn ops(verb: &str, code: u32) -> String {
    format!("meta_cni_operations_total{{code=\"{code}\",verb={verb:?}}}")
}

fn conf(metrics: &Path, b: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained",
        "metricsFile": metrics, "timeoutSeconds": 20,
        "delegates": [{"name": "a", "type": "a"}, b, {"name": "c", "type": "c"}]})
}

#[test]
fn metrics_count_every_operation_delegate_call_and_rollback() {
    if !parser_ready("metrics_count_every_operation_delegate_call_and_rollback") {
        return;
    }
    let mut s = Setup::new(&["a", "b", "c"]);
    std::fs::create_dir_all(s.path("textfile")).expect("dir");
    let file = s.path("textfile/meta-cni.prom");
    let plain = json!({"name": "b", "type": "b"});
    let run = |s: &mut Setup, cid: &str, cmd: &str, b: Value, c: Option<Value>| {
        s.set("CNI_CONTAINERID", cid);
        let mut conf = conf(&file, b);
        if let Some(c) = c {
            conf["delegates"][2] = c;
        }
        s.run(cmd, &conf)
    };
    run(&mut s, "ok", "ADD", plain.clone(), None).ok();
    run(&mut s, "ok", "DEL", plain.clone(), None).ok();
    let fail_c = json!({"name": "c", "conf": {"type": "c", "fake": {"add": "fail"}}});
    run(&mut s, "fail", "ADD", plain.clone(), Some(fail_c)).err(11);
    let slow = json!({"name": "b", "timeoutSeconds": 1, "conf": {"type": "b", "fake": {"add": "sleep", "sleep": 30}}});
    run(&mut s, "slow", "ADD", slow, None).err(102);
    let crash = json!({"name": "b", "conf": {"type": "b", "fake": {"add": "crash"}}});
    run(&mut s, "crash", "ADD", crash, None).err(101);
    // Its rollback's DEL cannot find it either: an incomplete rollback.
    run(
        &mut s,
        "gone",
        "ADD",
        json!({"name": "b", "type": "missing"}),
        None,
    )
    .err(100);
    // Killed while b runs: the killed ADD counts nothing; the DEL that
    // ends b counts it as killed in flight.
    s.set("CNI_CONTAINERID", "killed");
    let hang = json!({"name": "b", "conf": {"type": "b", "fake": {"add": "hang", "pidfile": s.path("pids")}}});
    let mut child = s.start("ADD", &conf(&file, hang.clone()));
    let start = Instant::now();
    while std::fs::read_to_string(s.path("pids"))
        .unwrap_or_default()
        .split_whitespace()
        .count()
        < 2
    {
        assert!(start.elapsed() < Duration::from_secs(30), "b never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    run(&mut s, "killed", "DEL", hang, None).ok();
    // Refused before the config was used: counted with its code.
    s.unset("CNI_CONTAINERID");
    s.run("ADD", &conf(&file, plain)).err(4);

    let m = samples(&s, &file);
    let want_ops = [
        (ops("ADD", 0), 1.0),
        (ops("DEL", 0), 2.0),
        (ops("ADD", 11), 1.0),
        (ops("ADD", 102), 1.0),
        (ops("ADD", 101), 1.0),
        (ops("ADD", 100), 1.0),
        (ops("ADD", 4), 1.0),
    ];
    let want_calls = [
        (calls("a", "ADD", "ok"), 5.0),
        (calls("b", "ADD", "ok"), 2.0),
        (calls("c", "ADD", "ok"), 1.0),
        (calls("c", "ADD", "cni_error"), 1.0),
        (calls("b", "ADD", "timeout"), 1.0),
        (calls("b", "ADD", "crash"), 1.0),
        (calls("missing", "ADD", "not_found"), 1.0),
        (calls("missing", "DEL", "not_found"), 1.0),
        (calls("b", "ADD", "killed_in_flight"), 1.0),
        (calls("a", "DEL", "ok"), 6.0),
        (calls("b", "DEL", "ok"), 5.0),
        (calls("c", "DEL", "ok"), 3.0),
    ];
    for (key, n) in want_ops.iter().chain(&want_calls) {
        assert_eq!(get(&m, key), *n, "{key}\n{m:#?}");
    }
    let total = |prefix: &str| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(
        total("meta_cni_operations_total{"),
        8.0,
        "nothing else counted"
    );
    assert_eq!(
        total("meta_cni_delegate_calls_total{"),
        28.0,
        "nothing else counted"
    );
    assert_eq!(get(&m, "meta_cni_rollbacks_total{result=\"clean\"}"), 3.0);
    assert_eq!(
        get(&m, "meta_cni_rollbacks_total{result=\"incomplete\"}"),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "meta_cni_operation_duration_seconds_count{verb=\"ADD\"}"
        ),
        6.0
    );
    assert_eq!(
        get(
            &m,
            "meta_cni_operation_duration_seconds_count{verb=\"DEL\"}"
        ),
        2.0
    );
    // The timed-out call took its whole second: not in the 0.5 s bucket.
    let b_add = |part: &str| get(&m, &format!("meta_cni_delegate_duration_seconds_{part}"));
    assert!(b_add("bucket{le=\"0.5\",plugin=\"b\",verb=\"ADD\"}") <= 3.0);
    assert_eq!(b_add("bucket{le=\"60\",plugin=\"b\",verb=\"ADD\"}"), 4.0);
    assert!(b_add("sum{plugin=\"b\",verb=\"ADD\"}") >= 1.0);
    assert!(get(&m, "meta_cni_operation_duration_seconds_sum{verb=\"ADD\"}") > 1.0);
    for (plugin, verb, n) in [
        ("a", "ADD", 5.0),
        ("a", "DEL", 6.0),
        ("b", "ADD", 4.0),
        ("b", "DEL", 5.0),
        ("missing", "DEL", 1.0),
    ] {
        let key =
            format!("meta_cni_delegate_duration_seconds_count{{plugin={plugin:?},verb={verb:?}}}");
        assert_eq!(get(&m, &key), n, "{key}");
    }
    // Only the file and its lock are left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(s.path("textfile"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // (and the file the last write replaced, which the next one frees)
    let replaced = replaced_files(&s.path("textfile"));
    names.retain(|n| !replaced.contains(n));
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(names, ["meta-cni.prom", "meta-cni.prom.lock"]);
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("meta").permissions())
            & 0o777
    };
    assert_eq!(
        mode(&file),
        0o644,
        "readable by a node_exporter of another user"
    );
    assert_eq!(mode(&s.path("textfile/meta-cni.prom.lock")), 0o600);
}

#[test]
fn every_increment_counts_under_48_concurrent_add_del_pairs() {
    const PAIRS: usize = 48;
    if !parser_ready("every_increment_counts_under_48_concurrent_add_del_pairs") {
        return;
    }
    // Quick shell delegates: the point is meta-cni's file, not the fakes.
    let s = Setup::new(&[]);
    for n in ["p1", "p2", "p3"] {
        let p = s.bin.join(n);
        std::fs::write(&p, "#!/bin/sh\ncat >/dev/null\n").expect("write");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let file = s.path("meta-cni.prom");
    let stop = s.path("stop");
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "metricsFile": file,
        "delegates": [{"name": "p1", "type": "p1"}, {"name": "p2", "type": "p2"}, {"name": "p3", "type": "p3"}]});
    let mut watcher = Command::new("python3")
        .arg(parser_script(&s))
        .arg("watch")
        .arg(&file)
        .arg(&stop)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // The pairs start once the watcher reads (Python starts slowly).
    let mut said = std::io::BufReader::new(watcher.stdout.take().expect("stdout"));
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut said, &mut ready).expect("watcher");
    assert_eq!(ready.trim(), "ready");
    let threads: Vec<_> = (0..PAIRS)
        .map(|i| {
            let mut env = s.env.clone();
            env.insert("CNI_CONTAINERID".into(), format!("ctr{i}"));
            let stdin = conf.clone();
            let state = s.state_dir();
            std::thread::spawn(move || {
                let mut c = stdin;
                c["stateDir"] = json!(state);
                for cmd in ["ADD", "DEL"] {
                    let mut e = env.clone();
                    e.insert("CNI_COMMAND".into(), cmd.into());
                    let r = run_bin(&[], &e, c.to_string().as_bytes(), Duration::from_secs(120));
                    assert_eq!(r.code, 0, "{cmd} ctr{i}: {}\n{}", r.stdout, r.stderr);
                    assert!(!r.stderr.contains("metricsFile"), "{}", r.stderr);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a pair failed");
    }
    std::fs::write(&stop, b"").expect("stop");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).expect("watcher");
    let status = watcher.wait().expect("watcher");
    let said = rest;
    assert!(
        status.success(),
        "the file did not parse at some moment: {said}"
    );
    let reads: u64 = said.trim().parse().unwrap_or(0);
    assert!(reads > 0, "the watcher never read the file: {said}");
    // Successful ADDs and DELs right after a write went to the pending log;
    // the next rewrite (a DEL a second after the last one) adds them in.
    let replaced = replaced_files(&s.dir.0);
    assert!(replaced.len() <= PAIRS * 2, "{replaced:?}");
    std::thread::sleep(Duration::from_millis(1100));
    let mut next = s.env.clone();
    next.insert("CNI_CONTAINERID".into(), "after".into());
    next.insert("CNI_COMMAND".into(), "DEL".into());
    let mut c = conf.clone();
    c["stateDir"] = json!(s.state_dir());
    let r = run_bin(
        &[],
        &next,
        c.to_string().as_bytes(),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!s.path("meta-cni.prom.pending").exists());
    // (a DEL frees the files earlier writes replaced; an ADD lets up to
    // eight wait)
    let left = replaced_files(&s.dir.0);
    assert!(left.len() <= 1, "not freed: {left:?}");
    let m = samples(&s, &file);
    let n = PAIRS as f64;
    assert_eq!(get(&m, &ops("ADD", 0)), n, "{m:#?}");
    assert_eq!(get(&m, &ops("DEL", 0)), n + 1.0);
    for p in ["p1", "p2", "p3"] {
        assert_eq!(get(&m, &calls(p, "ADD", "ok")), n);
        assert_eq!(get(&m, &calls(p, "DEL", "ok")), n + 1.0);
        let key = format!("meta_cni_delegate_duration_seconds_count{{plugin={p:?},verb=\"ADD\"}}");
        assert_eq!(get(&m, &key), n);
    }
    assert_eq!(
        get(
            &m,
            "meta_cni_operation_duration_seconds_count{verb=\"ADD\"}"
        ),
        n
    );
}

/// The files writes replaced, waiting to be freed:
/// `meta-cni.prom.old.<pid>` of processes that are gone, each a whole
/// metrics file.
fn replaced_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for n in std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
    {
        assert!(!n.starts_with("meta-cni.prom.tmp."), "temp file {n} left");
        let Some(pid) = n.strip_prefix("meta-cni.prom.old.") else {
            continue;
        };
        let pid: i32 = pid.parse().expect("a pid");
        assert!(!alive(pid), "{n}: its process still runs");
        let text = std::fs::read_to_string(dir.join(&n)).expect("read");
        assert!(
            text.ends_with("\n") && text.contains("# HELP meta_cni_operations_total "),
            "{n} is not whole"
        );
        out.push(n);
    }
    out
}

#[test]
fn a_foreign_file_is_started_over_and_a_bad_metrics_file_is_refused() {
    let mut s = Setup::new(&["a", "b", "c"]);
    let file = s.path("m.prom");
    std::fs::write(&file, "node_load1 3\n").expect("write");
    let plain = json!({"name": "b", "type": "b"});
    // Written a while ago: an ADD or DEL right after a write only appends
    // to the pending log, and the file is looked at by the next rewrite.
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(60)))
        .expect("mtime");
    let r = s.run("DEL", &conf(&file, plain.clone()));
    r.ok();
    assert!(
        r.stderr
            .contains("not a file meta-cni wrote; starting the counts over"),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(!text.contains("node_load1"));
    assert!(
        text.contains(&format!(
            "{} 1\n",
            "meta_cni_operations_total{verb=\"DEL\",code=\"0\"}"
        )),
        "{text}"
    );
    // A place it cannot be written: the operation still succeeds.
    s.set("CNI_CONTAINERID", "other");
    let r = s.run("ADD", &conf(&s.path("no/such/dir/m.prom"), plain.clone()));
    r.ok();
    assert!(
        r.stderr.contains("this operation is not counted"),
        "{}",
        r.stderr
    );
    // Not absolute, or a NUL byte: a config error naming the field.
    for bad in [json!("relative/m.prom"), json!("/tmp/a\u{0}b"), json!(7)] {
        let mut c = conf(&file, plain.clone());
        c["metricsFile"] = bad.clone();
        let msg = s.run("ADD", &c).err(7);
        assert!(msg.contains("metricsFile"), "{bad}: {msg}");
    }
    if parser_ready("a_foreign_file_is_started_over_and_a_bad_metrics_file_is_refused") {
        samples(&s, &file);
    }
}

#[test]
fn an_append_to_the_pending_log_cut_short_counts_nothing_and_spoils_no_later_line() {
    if !parser_ready(
        "an_append_to_the_pending_log_cut_short_counts_nothing_and_spoils_no_later_line",
    ) {
        return;
    }
    let s = Setup::new(&["a", "b", "c"]);
    let file = s.path("m.prom");
    let pending = s.path("m.prom.pending");
    let conf = conf(&file, json!({"name": "b", "type": "b"}));
    // Written at `when`: an ADD or DEL right after a write appends to the
    // pending log, one a second later rewrites the file.
    let written = |when: std::time::SystemTime| {
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(when))
            .expect("mtime");
    };
    let fresh = || written(std::time::SystemTime::now());
    s.run("ADD", &conf).ok();
    written(std::time::SystemTime::now() - Duration::from_secs(60));
    s.run("DEL", &conf).ok();
    let (mut adds, mut dels) = (1.0, 1.0);
    // A log longer than a record (4 KiB), so that only the log's growth
    // meets the limit below.
    while std::fs::metadata(&pending).map_or(0, |m| m.len()) < 4500 {
        fresh();
        s.run("ADD", &conf).ok();
        fresh();
        s.run("DEL", &conf).ok();
        adds += 1.0;
        dels += 1.0;
    }
    // A DEL whose files may not grow past the log's size plus 100 bytes
    // (as on a full disk): its append is cut short in its second line, its
    // rewrite of the (larger) file fails. It is not counted.
    let limit = std::fs::metadata(&pending).expect("log").len() + 100;
    assert!(std::fs::metadata(&file).expect("file").len() > limit);
    let script = "import os, resource, signal, sys\n\
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n\
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2)\n\
        os.execv(sys.argv[2], sys.argv[2:])\n";
    let mut env = s.env.clone();
    env.remove("FAKE_RECORD");
    env.insert("CNI_COMMAND".into(), "DEL".into());
    let mut stdin = conf.clone();
    stdin["stateDir"] = json!(s.state_dir());
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, &limit.to_string(), BIN])
        .env_clear()
        .env("PATH", host_path())
        .envs(&env);
    fresh();
    let r = run_command(
        &mut cmd,
        Box::new(std::io::Cursor::new(stdin.to_string().into_bytes())),
        Duration::from_secs(60),
    );
    assert_eq!(r.status.code(), Some(0), "{}", r.stderr_text());
    assert!(
        r.stderr_text().contains("this operation is not counted"),
        "{}",
        r.stderr_text()
    );
    // The next one appends after it, and a DEL a second later adds the
    // log in.
    fresh();
    s.run("ADD", &conf).ok();
    written(std::time::SystemTime::now() - Duration::from_secs(60));
    s.run("DEL", &conf).ok();
    adds += 1.0;
    dels += 1.0;
    assert!(!pending.exists());
    let m = samples(&s, &file);
    assert_eq!(get(&m, &ops("ADD", 0)), adds, "{m:#?}");
    assert_eq!(get(&m, &ops("DEL", 0)), dels, "{m:#?}");
    for p in ["a", "b", "c"] {
        assert_eq!(get(&m, &calls(p, "ADD", "ok")), adds, "{m:#?}");
        assert_eq!(get(&m, &calls(p, "DEL", "ok")), dels, "{m:#?}");
    }
}
