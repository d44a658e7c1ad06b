//! A meta-cni killed while a delegate runs (a runtime whose deadline passed
//! SIGKILLs meta-cni alone; its delegates go on): the next DEL, ADD or GC of
//! that attachment first ends what was left running, so no effect of the
//! killed operation appears after the one that was meant to undo it.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the late delegate works before its lasting effect.
const LATE_SECS: f64 = 2.0;

const NAMES: [&str; 3] = ["a", "b", "c"];

/// Three chained delegates; the one at `late` (if any) takes
/// [`LATE_SECS`] on ADD before it leaves its effect.
fn conf(s: &Setup, late: Option<usize>, version: &str) -> Value {
    let delegates: Vec<Value> = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if Some(i) == late {
                json!({"name": n, "conf": {"type": n, "fake": {"add": "late", "sleep": LATE_SECS,
                    "pidfile": s.path("pids"), "effects": s.path("effects")}}})
            } else {
                json!({"name": n, "type": n})
            }
        })
        .collect();
    json!({"cniVersion": version, "name": "net", "resultMode": "chained",
        "cni.dev/valid-attachments": [], "delegates": delegates})
}

/// Start `cmd`, wait until the late delegate runs, SIGKILL meta-cni (only
/// meta-cni, as libcni's exec.CommandContext does). The delegate's pids.
fn kill_while_late_runs(s: &Setup, cmd: &str, conf: &Value) -> Vec<i32> {
    let mut child = s.start(cmd, conf);
    let pids = wait_for_pids(&s.path("pids"));
    child.kill().expect("kill meta-cni");
    let _ = child.wait();
    assert!(
        pids.iter().all(|p| alive(*p)),
        "the delegate outlives meta-cni"
    );
    pids
}

/// What must hold after the follow-up operation `r`: it ended the
/// delegate's whole group and said so, and the delegate's effect never
/// comes, not even after the time it needed.
fn assert_ended(s: &Setup, r: &Run, pids: &[i32], who: &str) {
    for p in pids {
        assert!(!alive(*p), "process {p} of {who} still runs\n{}", r.stderr);
    }
    assert!(
        r.stderr
            .contains("left running by a meta-cni that was killed")
            && r.stderr.contains(&format!("delegate \"{who}\"")),
        "{}",
        r.stderr
    );
    std::thread::sleep(Duration::from_secs_f64(LATE_SECS + 0.5));
    let effects = std::fs::read_to_string(s.path("effects")).unwrap_or_default();
    assert!(
        effects.is_empty(),
        "the killed ADD's {who} took effect after the follow-up: {effects}"
    );
}

/// Run `case` for the late delegate in each position, at once.
fn at_every_position(case: fn(usize)) {
    let threads: Vec<_> = (0..NAMES.len())
        .map(|k| std::thread::spawn(move || case(k)))
        .collect();
    for t in threads {
        t.join().expect("a position failed");
    }
}

#[test]
fn del_ends_the_delegate_a_killed_add_left_running() {
    at_every_position(|k| {
        let s = Setup::new(&NAMES);
        let pids = kill_while_late_runs(&s, "ADD", &conf(&s, Some(k), "1.0.0"));
        s.clear_calls();
        let r = s.run("DEL", &conf(&s, Some(k), "1.0.0"));
        r.ok();
        assert_ended(&s, &r, &pids, NAMES[k]);
        // Every delegate of the record got its DEL, after the kill.
        assert_eq!(s.order(), ["c:DEL", "b:DEL", "a:DEL"]);
        assert!(std::fs::read_dir(s.state_dir().join("net"))
            .expect("state dir")
            .flatten()
            .all(|e| e.file_name().to_string_lossy().starts_with('.')));
    });
}

#[test]
fn a_repeated_add_ends_it_first() {
    at_every_position(|k| {
        let s = Setup::new(&NAMES);
        let pids = kill_while_late_runs(&s, "ADD", &conf(&s, Some(k), "1.0.0"));
        let r = s.run("ADD", &conf(&s, None, "1.0.0"));
        r.ok();
        assert_ended(&s, &r, &pids, NAMES[k]);
        s.run("DEL", &conf(&s, None, "1.0.0")).ok();
    });
}

#[test]
fn gc_of_the_stale_attachment_ends_it_first() {
    at_every_position(|k| {
        let mut s = Setup::new(&NAMES);
        let pids = kill_while_late_runs(&s, "ADD", &conf(&s, Some(k), "1.1.0"));
        s.clear_calls();
        s.unset("CNI_CONTAINERID")
            .unset("CNI_IFNAME")
            .unset("CNI_NETNS");
        let r = s.run("GC", &conf(&s, Some(k), "1.1.0"));
        r.ok();
        assert_ended(&s, &r, &pids, NAMES[k]);
        let dels = s.calls().iter().filter(|c| c.cmd == "DEL").count();
        assert_eq!(dels, NAMES.len(), "GC released the whole attachment");
    });
}

#[test]
fn a_rollback_killed_half_way_is_ended_and_redone_by_del() {
    // c fails, so ADD rolls back; b's DEL is slow and meta-cni is killed
    // during it. The DEL that follows ends it and undoes everything.
    let s = Setup::new(&NAMES);
    let conf = json!({"cniVersion": "1.0.0", "name": "net", "delegates": [
        {"name": "a", "type": "a"},
        {"name": "b", "conf": {"type": "b", "fake": {"del": "late", "sleep": LATE_SECS,
            "pidfile": s.path("pids"), "effects": s.path("effects")}}},
        {"name": "c", "conf": {"type": "c", "fake": {"add": "fail"}}}]});
    let mut child = s.start("ADD", &conf);
    let pids = wait_for_pids(&s.path("pids"));
    child.kill().expect("kill meta-cni");
    let _ = child.wait();
    s.clear_calls();
    // The record's b is slow on DEL again; that DEL is waited for.
    let r = s.run("DEL", &conf);
    r.ok();
    for p in &pids {
        assert!(!alive(*p), "process {p} of the rollback still runs");
    }
    assert!(r.stderr.contains("its DEL"), "{}", r.stderr);
    // The record keeps what ADD ran, so the replay is the record's b.
    assert_eq!(s.order(), ["c:DEL", "b:DEL", "a:DEL"]);
}

/// The journal outlives a reboot (the lock file is on disk), the boot clock
/// does not: an entry an earlier boot wrote names a PID and a boot-clock
/// moment that a process of this boot may match. It is not acted on: DEL
/// signals nothing, succeeds and leaves no entry behind. An entry of this
/// boot naming the same process is ended.
#[test]
fn an_entry_from_an_earlier_boot_signals_nothing() {
    let this_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot_id");
    let this_boot = this_boot.trim();
    let mut earlier = this_boot.to_string().into_bytes();
    earlier[0] = if earlier[0] == b'0' { b'1' } else { b'0' };
    let earlier = String::from_utf8(earlier).expect("ascii");
    let s = Setup::new(&NAMES);
    let conf = conf(&s, None, "1.0.0");
    let lock = s.state_dir().join("net/.ctr1-eth0.lock");
    let stranger = LoneGroup::start();
    s.run("ADD", &conf).ok();
    std::fs::write(&lock, stranger.journal(Some(&earlier))).expect("write");
    s.clear_calls();
    let r = s.run("DEL", &conf);
    r.ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(stranger.pid()), "signalled: {}", r.stderr);
    assert!(!r.stderr.contains("left running"), "{}", r.stderr);
    assert_eq!(s.order(), ["c:DEL", "b:DEL", "a:DEL"]);
    // The control: this boot's entry is ended.
    s.run("ADD", &conf).ok();
    std::fs::write(&lock, stranger.journal(Some(this_boot))).expect("write");
    let r = s.run("DEL", &conf);
    r.ok();
    assert!(!alive(stranger.pid()), "not ended: {}", r.stderr);
}
