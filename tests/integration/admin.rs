//! The operators' commands: `meta-cni attachments` shows what each record
//! says (completed, in flight, interrupted, failed), `release` runs the
//! DEL a record describes (ending what a killed meta-cni left running),
//! `gc` releases what a valid list does not name; bad input is named, and
//! never a panic.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NAMES: [&str; 3] = ["a", "b", "c"];

/// Three chained delegates; `fake` (if any) is delegate `b`'s behaviour.
fn conf(fake: Option<Value>) -> Value {
    let delegates: Vec<Value> = NAMES
        .iter()
        .map(|n| match (&fake, *n) {
            (Some(f), "b") => json!({"name": n, "conf": {"type": n, "fake": f}}),
            _ => json!({"name": n, "type": n}),
        })
        .collect();
    json!({"cniVersion": "1.0.0", "name": "net", "resultMode": "chained", "delegates": delegates})
}

/// `meta-cni <args> --state-dir <the setup's>` with the setup's environment.
fn admin(s: &Setup, args: &[&str]) -> Run {
    let dir = s.state_dir().display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--state-dir", &dir]);
    let r = run_bin(&all, &s.env, b"", Duration::from_secs(120));
    assert!(
        !r.stderr.contains("panicked") && matches!(r.code, 0..=2),
        "{args:?}: exit {}\n{}",
        r.code,
        r.stderr
    );
    r
}

/// `meta-cni gc --network net --valid - --state-dir <the setup's>`, with
/// the setup's environment, for a valid list on stdin.
fn gc_valid_from_stdin(s: &Setup) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["gc", "--network", "net", "--valid", "-", "--state-dir"])
        .arg(s.state_dir())
        .env_clear()
        .env("PATH", host_path())
        .envs(&s.env);
    cmd
}

/// The JSON lines of `attachments --json`, by container ID.
fn listed(s: &Setup) -> std::collections::BTreeMap<String, Value> {
    let r = admin(s, &["attachments", "--json"]);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .map(|v| (v["containerID"].as_str().unwrap_or("").to_string(), v))
        .collect()
}

/// ADD of container `cid` with `conf`, SIGKILLed (meta-cni alone) once
/// delegate `b` runs; the delegate's pids.
fn kill_mid_add(s: &mut Setup, cid: &str, conf: &Value) -> Vec<i32> {
    s.set("CNI_CONTAINERID", cid);
    let mut child = s.start("ADD", conf);
    let pids = wait_for_pids(&s.path("pids"));
    child.kill().expect("kill meta-cni");
    let _ = child.wait();
    let _ = std::fs::remove_file(s.path("pids"));
    pids
}

#[test]
fn attachments_tells_completed_in_flight_interrupted_and_failed_apart() {
    let mut s = Setup::new(&NAMES);
    let netns = s.dir.0.display().to_string();
    // Completed, in a netns that exists.
    s.set("CNI_NETNS", &netns).set("CNI_CONTAINERID", "done");
    s.run("ADD", &conf(None)).ok();
    // Killed while b runs, b still running: in flight.
    s.set("CNI_NETNS", "/var/run/netns/meta-cni-test-gone");
    let hang = json!({"add": "hang", "pidfile": s.path("pids")});
    let running = kill_mid_add(&mut s, "running", &conf(Some(hang.clone())));
    // Killed while b runs, b gone since: interrupted.
    let gone = kill_mid_add(&mut s, "gone", &conf(Some(hang)));
    for p in &gone {
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.to_string()])
            .status();
    }
    let start = Instant::now();
    while gone.iter().any(|p| alive(*p)) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // A rollback whose DEL of b failed kept the record: failed.
    s.set("CNI_CONTAINERID", "failed");
    let mut broken = conf(Some(json!({"del": "fail"})));
    broken["delegates"][2]["conf"] = json!({"type": "c", "fake": {"add": "fail"}});
    s.run("ADD", &broken).err(11);

    let all = listed(&s);
    let state = |cid: &str| all[cid]["state"].as_str().unwrap_or("").to_string();
    assert_eq!(state("done"), "completed", "{all:#?}");
    assert_eq!(state("running"), "in-flight");
    assert_eq!(state("gone"), "interrupted");
    assert_eq!(state("failed"), "failed");
    let done = &all["done"];
    assert_eq!(done["network"], "net");
    assert_eq!(done["ifName"], "eth0");
    assert_eq!(done["interfaces"], json!(["eth0"]));
    assert_eq!(done["netns"], netns.as_str());
    assert_eq!(done["netnsExists"], true);
    assert_eq!(done["busy"], false);
    assert_eq!(done["inFlight"], json!([]));
    assert_eq!(
        done["pipelines"][0]["delegates"],
        json!([{"name": "a", "plugin": "a"}, {"name": "b", "plugin": "b"}, {"name": "c", "plugin": "c"}])
    );
    assert!(done["ageSeconds"].as_u64().is_some_and(|a| a < 600));
    assert!(done["added"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(all["running"]["netnsExists"], false);
    let entry = &all["running"]["inFlight"][0];
    assert_eq!(entry["command"], "ADD");
    assert_eq!(entry["pid"], running[0]);
    assert_eq!(entry["running"], true);
    assert_eq!(entry["delegate"], "delegate \"b\" (b)");
    assert_eq!(all["gone"]["inFlight"][0]["running"], false);

    // The table says the same, one line per record, details below.
    let r = admin(&s, &["attachments"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = |cid: &str| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(cid))
            .unwrap_or_else(|| panic!("no line for {cid}:\n{}", r.stdout))
            .to_string()
    };
    assert!(line("done").contains(" completed ") && line("done").contains(" present "));
    assert!(line("running").contains(" in-flight ") && line("running").contains(" gone "));
    assert!(line("failed").contains(" failed "));
    assert!(line("done").contains("eth0: a b c"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!(
            "in flight: delegate \"b\" (b) ADD (process group {}) still runs",
            running[0]
        )),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("4 attachment(s): 1 completed, 1 failed, 1 in-flight, 1 interrupted"));

    // Read-only: listing took no lock and changed nothing.
    assert!(running.iter().all(|p| alive(*p)));
    assert_eq!(listed(&s)["running"]["state"], "in-flight");

    // An unreadable record is reported by path, the others still listed.
    let net = s.state_dir().join("net");
    std::fs::write(net.join("junk-eth0.json"), b"{not json").expect("write");
    let r = admin(&s, &["attachments"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains(&format!(
        "unreadable: {}",
        net.join("junk-eth0.json").display()
    )));
    assert!(r.stdout.contains("4 attachment(s)"));
    let r = admin(&s, &["attachments", "--json"]);
    assert!(r
        .stdout
        .lines()
        .any(|l| l.contains("\"error\"") && l.contains("junk-eth0.json")));
    std::fs::remove_file(net.join("junk-eth0.json")).expect("rm");
    kill_pids_in(&s.path("pids"));
    for p in running {
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.to_string()])
            .status();
    }
}

#[test]
fn release_undoes_a_leaked_attachment_and_ends_its_delegate_first() {
    let mut s = Setup::new(&NAMES);
    let late =
        json!({"add": "late", "sleep": 3, "pidfile": s.path("pids"), "effects": s.path("effects")});
    let pids = kill_mid_add(&mut s, "leaked", &conf(Some(late)));
    s.clear_calls();
    // The runtime never sends DEL; the operator releases it by hand. No
    // CNI variable of the operator's shell reaches the delegates.
    s.set("CNI_CONTAINERID", "someone-else")
        .set("CNI_ARGS", "X=1");
    let r = admin(
        &s,
        &["release", "--network", "net", "--container", "leaked"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for p in &pids {
        assert!(!alive(*p), "process {p} of the killed ADD still runs");
    }
    assert!(
        r.stdout
            .contains("ended delegate \"b\" (b): its ADD (process group")
            && r.stdout
                .contains("left running by a meta-cni that was killed"),
        "{}",
        r.stdout
    );
    for (i, d) in ["c", "b", "a"].iter().enumerate() {
        let want = format!("  DEL delegate {d:?} ({d}): ok in ");
        let at = r.stdout.lines().position(|l| l.starts_with(&want));
        assert_eq!(at, Some(i + 2), "{want}\n{}", r.stdout);
    }
    assert!(
        r.stdout.contains("released net/leaked/eth0"),
        "{}",
        r.stdout
    );
    assert_eq!(s.order(), ["c:DEL", "b:DEL", "a:DEL"]);
    for c in s.calls() {
        assert_eq!(c.env("CNI_CONTAINERID"), Some("leaked"));
        assert_eq!(c.env("CNI_IFNAME"), Some("eth0"));
        assert_eq!(c.env("CNI_PATH"), Some(s.bin.to_str().unwrap_or("")));
        assert_eq!(
            c.env("CNI_ARGS"),
            None,
            "the record's CNI_ARGS, not the shell's"
        );
        // The record's netns does not exist here: DEL goes without one.
        assert_eq!(c.env("CNI_NETNS"), None);
    }
    assert!(
        r.stderr.contains("INFO") && r.stderr.contains("DEL done in"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("the config names no delegates: DEL replays the attachment's record")
            && !r.stderr.contains("config does not load"),
        "{}",
        r.stderr
    );
    // Nothing is left: no record, and the killed ADD's effect never comes.
    assert!(listed(&s).is_empty());
    std::thread::sleep(Duration::from_secs(4));
    let effects = std::fs::read_to_string(s.path("effects")).unwrap_or_default();
    assert!(effects.is_empty(), "{effects}");
    // Releasing it again: nothing to release, said so.
    let r = admin(
        &s,
        &["release", "--network", "net", "--container", "leaked"],
    );
    assert_eq!(r.code, 1);
    assert!(r
        .stderr
        .contains("no attachment record of container leaked in network net"));
}

#[test]
fn release_that_fails_keeps_the_record_and_says_why() {
    let mut s = Setup::new(&NAMES);
    s.set("CNI_CONTAINERID", "stuck");
    s.run(
        "ADD",
        &conf(Some(
            json!({"del": "fail", "code": 7, "msg": "device busy"}),
        )),
    )
    .ok();
    s.set("CNI_IFNAME", "net1");
    s.run("ADD", &conf(None)).ok();
    s.clear_calls();
    // Without --ifname: every record of the container.
    let r = admin(
        &s,
        &[
            "release",
            "--network",
            "net",
            "--container",
            "stuck",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("released net/stuck/net1"), "{}", r.stdout);
    assert!(
        r.stdout.contains("  DEL delegate \"b\" (b): cni_error in ")
            && r.stdout.contains("[7] device busy")
            && r.stdout
                .contains("NOT released net/stuck/eth0: delegate \"b\": device busy"),
        "{}",
        r.stdout
    );
    // Best effort, as a runtime's DEL: a and c got theirs too.
    let dels = s.order().iter().filter(|c| c.ends_with(":DEL")).count();
    assert_eq!(dels, 6);
    let all = listed(&s);
    assert_eq!(all.len(), 1);
    assert_eq!(all["stuck"]["ifName"], "eth0");
    assert_eq!(all["stuck"]["state"], "failed");
}

#[test]
fn gc_releases_what_the_valid_list_does_not_name() {
    let mut s = Setup::new(&NAMES);
    for (cid, ifname) in [
        ("c1", "eth0"),
        ("c1", "net1"),
        ("c2", "eth0"),
        ("c2", "net1"),
        ("c3", "eth0"),
    ] {
        s.set("CNI_CONTAINERID", cid).set("CNI_IFNAME", ifname);
        s.run("ADD", &conf(None)).ok();
    }
    // c4's DEL fails: kept.
    s.set("CNI_CONTAINERID", "c4").set("CNI_IFNAME", "eth0");
    s.run("ADD", &conf(Some(json!({"del": "fail"})))).ok();
    s.clear_calls();
    let valid = s.path("valid");
    std::fs::write(
        &valid,
        "# what the runtime still has\nc1   # every interface of c1\nc2 eth0\n\n",
    )
    .expect("write");
    let valid = valid.display().to_string();

    let r = admin(
        &s,
        &["gc", "--network", "net", "--valid", &valid, "--dry-run"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let would: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("would release"))
        .collect();
    assert_eq!(
        would,
        [
            "would release net/c2/net1",
            "would release net/c3/eth0",
            "would release net/c4/eth0"
        ],
        "{}",
        r.stdout
    );
    assert!(s.calls().is_empty(), "a dry run runs nothing");
    assert_eq!(listed(&s).len(), 4);

    let r = admin(&s, &["gc", "--network", "net", "--valid", &valid]);
    assert_eq!(r.code, 1, "c4 is kept\n{}", r.stdout);
    assert!(
        r.stdout.contains("released net/c2/net1")
            && r.stdout.contains("released net/c3/eth0")
            && r.stdout.contains("NOT released net/c4/eth0")
            && r.stdout.contains(
                "gc of network net: 2 released, 1 kept (their DEL failed), 0 skipped (busy)"
            ),
        "{}",
        r.stdout
    );
    let left: Vec<(String, String)> = std::fs::read_dir(s.state_dir().join("net"))
        .expect("dir")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .map(|n| {
            let (c, i) = n
                .trim_end_matches(".json")
                .split_once('-')
                .unwrap_or_default();
            (c.to_string(), i.to_string())
        })
        .collect();
    let mut left = left;
    left.sort();
    let want: Vec<(String, String)> = [
        ("c1", "eth0"),
        ("c1", "net1"),
        ("c2", "eth0"),
        ("c4", "eth0"),
    ]
    .iter()
    .map(|(c, i)| (c.to_string(), i.to_string()))
    .collect();
    assert_eq!(left, want);
    // Only the stale ones got calls, and only DEL.
    let touched: std::collections::BTreeSet<(String, String)> = s
        .calls()
        .iter()
        .map(|c| {
            assert_eq!(c.cmd, "DEL");
            let v = |k| c.env(k).unwrap_or("").to_string();
            (v("CNI_CONTAINERID"), v("CNI_IFNAME"))
        })
        .collect();
    let stale: std::collections::BTreeSet<(String, String)> =
        [("c2", "net1"), ("c3", "eth0"), ("c4", "eth0")]
            .iter()
            .map(|(c, i)| (c.to_string(), i.to_string()))
            .collect();
    assert_eq!(touched, stale);

    // A busy attachment (an ADD in flight holds its lock) is skipped; the
    // list from stdin.
    s.set("CNI_CONTAINERID", "c5");
    let mut slow = s.start("ADD", &conf(Some(json!({"add": "sleep", "sleep": 4}))));
    let lock = s.state_dir().join("net/.c5-eth0.lock");
    let start = Instant::now();
    while !(lock.exists() && s.state_dir().join("net/c5-eth0.json").exists()) {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut cmd = gc_valid_from_stdin(&s);
    let raw = run_command(
        &mut cmd,
        Box::new(std::io::Cursor::new(b"c1\nc2\nc4\n".to_vec())),
        Duration::from_secs(60),
    );
    let out = String::from_utf8_lossy(&raw.stdout);
    assert_eq!(raw.status.code(), Some(0), "{out}\n{}", raw.stderr_text());
    assert!(out.contains("skipped net/c5/eth0: busy"), "{out}");
    let _ = slow.wait();
    assert_eq!(listed(&s)["c5"]["state"], "completed");
}

#[test]
fn bad_input_is_named_and_never_a_panic() {
    let s = Setup::new(&NAMES);
    s.run("ADD", &conf(None)).ok();
    let valid = s.path("valid");
    std::fs::write(&valid, "ctr1 eth0\nctr2 eth0 what\n").expect("write");
    let valid = valid.display().to_string();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["attachments", "--network", "nope"],
            1,
            "no network \"nope\" in",
        ),
        (&["attachments", "--frob"], 2, "unknown option --frob"),
        (
            &["attachments", "extra"],
            2,
            "unexpected argument \"extra\"",
        ),
        (
            &["release", "--network", "nope", "--container", "ctr1"],
            1,
            "no network \"nope\"",
        ),
        (
            &[
                "release",
                "--network",
                "net",
                "--container",
                "ctr1",
                "--ifname",
                "eth9",
            ],
            1,
            "no attachment record of container ctr1 interface eth9",
        ),
        (
            &["release", "--network", "net", "--container", "ctr9"],
            1,
            "no attachment record of container ctr9 in network net",
        ),
        (
            &["release", "--network", "net"],
            2,
            "--container is required",
        ),
        (
            &["release", "--container", "ctr1"],
            2,
            "--network is required",
        ),
        (
            &["release", "--network", "net", "--container", "../x"],
            2,
            "--container \"../x\" must start",
        ),
        (
            &[
                "release",
                "--network",
                "net",
                "--container",
                "ctr1",
                "--ifname",
                "a/b",
            ],
            2,
            "--ifname \"a/b\" cannot contain",
        ),
        (
            &[
                "release",
                "--network",
                "net",
                "--container",
                "ctr1",
                "--timeout",
                "soon",
            ],
            2,
            "--timeout \"soon\" is not a whole number",
        ),
        (
            &["release", "--network", "net", "--container"],
            2,
            "--container needs a value",
        ),
        (
            &[
                "release",
                "--network",
                "net",
                "--container",
                "ctr1",
                "--force",
            ],
            2,
            "unknown option --force",
        ),
        (
            &["gc", "--network", "net", "--valid", &valid],
            2,
            "line 2: expected \"containerID [ifname]\"",
        ),
        (
            &["gc", "--network", "net", "--valid", "/nonexistent/list"],
            2,
            "cannot read the valid list /nonexistent/list",
        ),
        (&["gc", "--network", "net"], 2, "--valid is required"),
        (
            &["gc", "--network", "nope", "--valid", "/dev/null"],
            1,
            "no network \"nope\"",
        ),
        (
            &["gc", "--network", "net", "--valid", "/dev/null", "--dry"],
            2,
            "unknown option --dry",
        ),
    ];
    for (args, code, says) in cases {
        let r = admin(&s, args);
        assert_eq!(r.code, *code, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(says),
            "{args:?}: {says:?} not in\n{}",
            r.stderr
        );
    }
    // Nothing was released by any of them.
    assert_eq!(listed(&s).len(), 1);
    // A state directory that cannot be read (here: a file).
    let file = s.path("not-a-dir");
    std::fs::write(&file, b"").expect("write");
    let f = file.display().to_string();
    for args in [
        &["attachments", "--state-dir", &f][..],
        &[
            "release",
            "--network",
            "net",
            "--container",
            "ctr1",
            "--state-dir",
            &f,
        ],
        &[
            "gc",
            "--network",
            "net",
            "--valid",
            "/dev/null",
            "--state-dir",
            &f,
        ],
    ] {
        let r = run_bin(args, &s.env, b"", Duration::from_secs(60));
        assert_eq!(r.code, 1, "{args:?}\n{}", r.stderr);
        assert!(
            r.stderr.contains("Not a directory"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"));
    }
    // Each command's --help, and the tool's.
    for cmd in ["attachments", "release", "gc"] {
        let r = admin(&s, &[cmd, "--help"]);
        assert_eq!(r.code, 0);
        assert!(r.stdout.starts_with(&format!("usage: meta-cni {cmd}")));
    }
    let r = run_bin(&["--help"], &s.env, b"", Duration::from_secs(60));
    for cmd in ["attachments", "release", "gc"] {
        assert!(
            r.stdout.contains(&format!("meta-cni {cmd} ")),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn gc_counts_a_record_the_runtime_deleted_meanwhile_as_gone_not_kept() {
    let mut s = Setup::new(&NAMES);
    // c3's DEL of b takes a while; c4 is plain.
    s.set("CNI_CONTAINERID", "c3");
    s.run("ADD", &conf(Some(json!({"del": "sleep", "sleep": 2}))))
        .ok();
    s.set("CNI_CONTAINERID", "c4");
    s.run("ADD", &conf(None)).ok();
    s.clear_calls();
    let mut cmd = gc_valid_from_stdin(&s);
    let gc = std::thread::spawn(move || {
        run_command(
            &mut cmd,
            Box::new(std::io::Cursor::new(b"# nothing is valid\n".to_vec())),
            Duration::from_secs(60),
        )
    });
    // While gc releases c3, the runtime's own DEL of c4 comes and succeeds.
    let start = Instant::now();
    while !s
        .calls()
        .iter()
        .any(|c| c.plugin == "b" && c.cmd == "DEL" && c.env("CNI_CONTAINERID") == Some("c3"))
    {
        assert!(start.elapsed() < Duration::from_secs(30), "gc ran no DEL");
        std::thread::sleep(Duration::from_millis(10));
    }
    s.run("DEL", &conf(None)).ok();
    let raw = gc.join().expect("gc");
    let out = String::from_utf8_lossy(&raw.stdout);
    assert_eq!(raw.status.code(), Some(0), "{out}\n{}", raw.stderr_text());
    assert!(out.contains("released net/c3/eth0"), "{out}");
    assert!(out.contains("net/c4/eth0 is already gone"), "{out}");
    assert!(
        out.contains("gc of network net: 1 released, 0 kept (their DEL failed), 0 skipped (busy), 1 already gone"),
        "{out}"
    );
    assert!(listed(&s).is_empty());
}

/// `gc --min-age SECS` leaves records younger than that (an attachment made
/// after the valid list was) for a later gc, says so, and counts them; the
/// older stale ones go as without it. A bad value is named.
#[test]
fn gc_min_age_leaves_records_newer_than_the_list() {
    let mut s = Setup::new(&NAMES);
    for cid in ["old", "new"] {
        s.set("CNI_CONTAINERID", cid);
        s.run("ADD", &conf(None)).ok();
    }
    // "old" was added two hours ago.
    let record = s.state_dir().join("net/old-eth0.json");
    std::fs::File::options()
        .write(true)
        .open(&record)
        .expect("record")
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
        .expect("set mtime");
    s.clear_calls();
    let valid = s.path("valid");
    std::fs::write(&valid, "# nothing is valid\n").expect("write");
    let valid = valid.display().to_string();
    let gc = [
        "gc",
        "--network",
        "net",
        "--valid",
        &valid,
        "--min-age",
        "3600",
    ];

    let mut dry = gc.to_vec();
    dry.push("--dry-run");
    let r = admin(&s, &dry);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("would release net/old/eth0")
            && !r.stdout.contains("would release net/new/eth0")
            && r.stdout
                .contains("skipped net/new/eth0: younger than --min-age 3600s"),
        "{}",
        r.stdout
    );
    assert!(s.calls().is_empty(), "a dry run runs nothing");

    let r = admin(&s, &gc);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("released net/old/eth0")
            && r.stdout.contains(
                "gc of network net: 1 released, 0 kept (their DEL failed), 0 skipped (busy), 0 already gone, 1 skipped (younger than --min-age)"
            ),
        "{}",
        r.stdout
    );
    assert!(!record.exists(), "old was released");
    assert!(
        s.state_dir().join("net/new-eth0.json").exists(),
        "new was kept"
    );
    assert!(
        s.calls()
            .iter()
            .all(|c| c.env("CNI_CONTAINERID") == Some("old")),
        "only old's delegates ran"
    );

    for bad in ["-1", "1.5", "soon", "31536001"] {
        let r = admin(
            &s,
            &[
                "gc",
                "--network",
                "net",
                "--valid",
                &valid,
                "--min-age",
                bad,
            ],
        );
        assert_eq!(r.code, 2, "{bad}: {}", r.stdout);
        assert!(
            r.stderr.contains(&format!(
                "--min-age {bad:?} is not a whole number of seconds"
            )),
            "{bad}: {}",
            r.stderr
        );
    }
    assert!(s.state_dir().join("net/new-eth0.json").exists());
}
