//! Files meta-cni reads and writes as root (docs/security.md): what an
//! unprivileged user (`nobody`, uid 65534) plants where an operator's
//! mistake lets them never reaches a delegate, is never written through,
//! and never makes meta-cni signal a process; each refusal names the path.
//!
//! Root only: planting as another user and owning files as root need it.
//! Without root each test skips loudly (fails under META_CNI_REQUIRE_REAL=1).

use crate::harness::*;
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const NOBODY: u32 = 65534;

/// Whether `test` can run here (as root); else says so loudly, or fails
/// under META_CNI_REQUIRE_REAL=1.
fn root(test: &str) -> bool {
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        });
    if euid.as_deref() == Some("0") {
        return true;
    }
    if std::env::var("META_CNI_REQUIRE_REAL").is_ok_and(|v| v == "1") {
        panic!("META_CNI_REQUIRE_REAL=1 but {test} needs root");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED {test} (not running as root); set META_CNI_REQUIRE_REAL=1 to make this a failure !!!!!"
    );
    false
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Run `script` with `sh -c` as nobody (no groups), `stdin` on its stdin.
fn as_nobody(script: &str, stdin: &[u8]) {
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("setpriv (util-linux)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write");
    assert!(child.wait().expect("wait").success(), "as nobody: {script}");
}

/// What is at `path`: a file's bytes, a symlink's target, a directory's
/// entries below it (each with what it is), for "nothing was written
/// here".
fn snapshot(path: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            out.push((p, "missing".into()));
            continue;
        };
        let what = if meta.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir").flatten() {
                todo.push(e.path());
            }
            "dir".to_string()
        } else if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(&p).expect("readlink").display())
        } else {
            String::from_utf8_lossy(&std::fs::read(&p).expect("read")).into_owned()
        };
        out.push((p, what));
    }
    out.sort();
    out
}

/// [`snapshot`] of each of `paths`.
fn snapshots(paths: &[&Path]) -> Vec<Vec<(PathBuf, String)>> {
    paths.iter().map(|p| snapshot(p)).collect()
}

/// One delegate, at 1.1.0 (so CHECK and GC run too).
fn conf(state_dir: &Path) -> Value {
    json!({"cniVersion": "1.1.0", "name": "net", "stateDir": state_dir,
        "cni.dev/valid-attachments": [],
        "delegates": [{"name": "a", "type": "a"}]})
}

/// A record as ADD writes it for `ctr1`/`eth0`, whose every delegate's
/// replayed environment also carries `FAKE_MARK_PLANTED=1` and an
/// `LD_PRELOAD`: what an attacker would plant.
fn planted_record(s: &Setup) -> Vec<u8> {
    let genuine = s.path("genuine");
    s.run("ADD", &conf(&genuine)).ok();
    let path = genuine.join("net/ctr1-eth0.json");
    let mut record: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("record")).expect("json");
    for p in record["pipelines"].as_array_mut().expect("pipelines") {
        for d in p["delegates"].as_array_mut().expect("delegates") {
            d["env"]["FAKE_MARK_PLANTED"] = json!("1");
            d["env"]["LD_PRELOAD"] = json!(s.path("evil.so"));
        }
    }
    std::fs::remove_dir_all(&genuine).expect("rm genuine");
    s.clear_calls();
    serde_json::to_vec(&record).expect("record")
}

/// Whether any delegate ran with what was planted.
fn planted_reached_a_delegate(s: &Setup) -> bool {
    s.calls()
        .iter()
        .any(|c| c.env("FAKE_MARK_PLANTED").is_some())
}

/// DEL, CHECK and GC of `ctr1`/`eth0` with the state at `state_dir`: none
/// replays what was planted (the config is used: a:DEL, a:CHECK), each
/// logs an error naming `path` and saying `why`, and nothing at `watched`
/// changes (the planted file stays for the operator).
fn never_replayed(s: &Setup, state_dir: &Path, path: &Path, why: &str, watched: &[&Path]) {
    let before = snapshots(watched);
    let base = conf(state_dir);
    let named = format!("{} {why}", path.display());
    let r = s.run("DEL", &base);
    r.ok();
    assert!(
        r.stderr.contains(&named),
        "DEL: {named:?} not in\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("ERROR"), "{}", r.stderr);
    let mut check = base.clone();
    check["prevResult"] = json!({"cniVersion": "1.1.0", "interfaces": [], "ips": []});
    let r = s.run("CHECK", &check);
    r.ok();
    assert!(
        r.stderr.contains(&named),
        "CHECK: {named:?} not in\n{}",
        r.stderr
    );
    let r = s.run("GC", &base);
    r.ok();
    assert!(
        r.stderr.contains(&named),
        "GC: {named:?} not in\n{}",
        r.stderr
    );
    assert_eq!(s.order(), ["a:DEL", "a:CHECK", "a:VERSION", "a:GC"]);
    assert!(!planted_reached_a_delegate(s), "{:?}", s.calls());
    assert_eq!(snapshots(watched), before, "nothing there changes");
}

/// The case: `stateDir` is a world-writable directory. ADD refuses
/// it (code 7, naming it); nobody's own network directory with a record
/// whose environment carries LD_PRELOAD is never replayed by DEL, CHECK or
/// GC, which log the error and use the config.
#[test]
fn a_record_planted_in_a_world_writable_state_dir_never_reaches_a_delegate() {
    if !root("a_record_planted_in_a_world_writable_state_dir_never_reaches_a_delegate") {
        return;
    }
    let s = Setup::new(&["a"]);
    let planted = planted_record(&s);
    let w = s.path("w");
    std::fs::create_dir(&w).expect("mkdir");
    chmod(&w, 0o777);
    let msg = s.run("ADD", &conf(&w)).err(7);
    assert!(
        msg.contains(&format!("{} is writable by others", w.display())),
        "{msg}"
    );
    assert!(s.calls().is_empty(), "no delegate ran");
    assert_eq!(
        snapshot(&w),
        [(w.clone(), "dir".to_string())],
        "nothing made in it"
    );
    // nobody makes the network's directory and a record in it.
    as_nobody(
        &format!(
            "mkdir -m 700 {0}/net && cat > {0}/net/ctr1-eth0.json",
            w.display()
        ),
        &planted,
    );
    let record = w.join("net/ctr1-eth0.json");
    never_replayed(&s, &w, &w, "is writable by others", &[&w]);
    assert_eq!(std::fs::read(&record).expect("left in place"), planted);
}

/// A record that is a symlink (to a record-shaped file elsewhere) is not
/// followed; one owned by another user is not replayed. Once it is root's
/// own, the same record is replayed: what was planted is a record meta-cni
/// would act on.
#[test]
fn a_symlinked_record_or_one_owned_by_another_user_is_not_replayed() {
    if !root("a_symlinked_record_or_one_owned_by_another_user_is_not_replayed") {
        return;
    }
    let s = Setup::new(&["a"]);
    let planted = planted_record(&s);
    let state = s.state_dir();
    let base = conf(&state);
    s.run("ADD", &base).ok();
    s.clear_calls();
    let record = state.join("net/ctr1-eth0.json");
    // A symlink to a file of root's, mode 0600, outside the state dir.
    let elsewhere = s.path("elsewhere.json");
    std::fs::write(&elsewhere, &planted).expect("write");
    chmod(&elsewhere, 0o600);
    std::fs::remove_file(&record).expect("rm");
    symlink(&elsewhere, &record).expect("symlink");
    never_replayed(&s, &state, &record, "is a symlink", &[&record, &elsewhere]);
    assert_eq!(std::fs::read(&elsewhere).expect("target"), planted);
    s.clear_calls();
    // A regular record, 0600, owned by nobody.
    std::fs::remove_file(&record).expect("rm");
    std::fs::write(&record, &planted).expect("write");
    chmod(&record, 0o600);
    chown(&record, Some(NOBODY), Some(NOBODY)).expect("chown");
    never_replayed(
        &s,
        &state,
        &record,
        "is owned by uid 65534, not 0",
        &[&record],
    );
    s.clear_calls();
    // Root's own: replayed (and removed once its DEL succeeded).
    chown(&record, Some(0), Some(0)).expect("chown");
    s.run("DEL", &base).ok();
    assert!(
        planted_reached_a_delegate(&s),
        "the control: {:?}",
        s.calls()
    );
    assert!(!record.exists());
}

/// A network directory its group can write is refused: ADD fails (code 7,
/// naming it), DEL, CHECK and GC replay nothing from it.
#[test]
fn a_group_writable_network_directory_is_refused() {
    if !root("a_group_writable_network_directory_is_refused") {
        return;
    }
    let mut s = Setup::new(&["a"]);
    let planted = planted_record(&s);
    let state = s.state_dir();
    s.run("ADD", &conf(&state)).ok();
    s.clear_calls();
    let net = state.join("net");
    let record = net.join("ctr1-eth0.json");
    std::fs::write(&record, &planted).expect("write");
    chmod(&net, 0o770);
    chown(&net, Some(0), Some(NOBODY)).expect("chown");
    s.set("CNI_CONTAINERID", "ctr2");
    let msg = s.run("ADD", &conf(&state)).err(7);
    assert!(
        msg.contains(&format!("{} is writable by its group", net.display())),
        "{msg}"
    );
    assert!(s.calls().is_empty(), "no delegate ran");
    assert!(!net.join("ctr2-eth0.json").exists());
    s.set("CNI_CONTAINERID", "ctr1");
    never_replayed(&s, &state, &net, "is writable by its group", &[&net]);
}

/// A state directory someone else made under a sticky directory (as
/// /tmp): refused, nothing made in it. One root made there is used.
#[test]
fn a_state_dir_made_by_another_user_under_a_sticky_dir_is_refused() {
    if !root("a_state_dir_made_by_another_user_under_a_sticky_dir_is_refused") {
        return;
    }
    let s = Setup::new(&["a"]);
    let planted = planted_record(&s);
    let sticky = s.path("sticky");
    std::fs::create_dir(&sticky).expect("mkdir");
    chmod(&sticky, 0o1777);
    let theirs = sticky.join("state");
    as_nobody(
        &format!(
            "mkdir -m 755 {0} && mkdir -m 700 {0}/net && cat > {0}/net/ctr1-eth0.json && chmod 600 {0}/net/ctr1-eth0.json",
            theirs.display()
        ),
        &planted,
    );
    let before = snapshot(&theirs);
    let msg = s.run("ADD", &conf(&theirs)).err(7);
    assert!(
        msg.contains(&format!(
            "{} is owned by uid 65534, not 0",
            theirs.display()
        )),
        "{msg}"
    );
    assert!(s.calls().is_empty(), "no delegate ran");
    assert_eq!(snapshot(&theirs), before, "nothing made in their directory");
    never_replayed(
        &s,
        &theirs,
        &theirs,
        "is owned by uid 65534, not 0",
        &[&theirs],
    );
    // Root's own directory there passes: the sticky rule.
    s.clear_calls();
    let mine = sticky.join("mine");
    s.run("ADD", &conf(&mine)).ok();
    s.run("DEL", &conf(&mine)).ok();
    assert_eq!(s.order(), ["a:ADD", "a:DEL"]);
}

/// A journal entry planted in a lock file another user owns, or in a state
/// directory others can write, naming a live process: it is never
/// signalled (ADD fails with code 7, DEL goes on without state). The same
/// entry in root's own lock file is acted on: what was planted is an entry
/// meta-cni would end.
#[test]
fn a_planted_journal_entry_never_signals_a_process() {
    if !root("a_planted_journal_entry_never_signals_a_process") {
        return;
    }
    let s = Setup::new(&["a"]);
    let state = s.state_dir();
    let victim = LoneGroup::start();
    let planted = victim.journal(None);
    // In a trusted directory, a lock file nobody owns.
    s.run("ADD", &conf(&state)).ok();
    s.clear_calls();
    let lock = state.join("net/.ctr1-eth0.lock");
    std::fs::write(&lock, &planted).expect("write");
    chmod(&lock, 0o600);
    chown(&lock, Some(NOBODY), Some(NOBODY)).expect("chown");
    let msg = s.run("ADD", &conf(&state)).err(7);
    assert!(
        msg.contains(&format!("{} is owned by uid 65534, not 0", lock.display())),
        "{msg}"
    );
    assert!(s.calls().is_empty(), "no delegate ran");
    let r = s.run("DEL", &conf(&state));
    r.ok();
    assert!(
        r.stderr.contains(&lock.display().to_string()),
        "{}",
        r.stderr
    );
    assert_eq!(s.order(), ["a:DEL"], "DEL from the config");
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(victim.pid()), "the bystander was signalled");
    assert_eq!(std::fs::read(&lock).expect("left"), planted);
    // In a world-writable state directory, nobody's own lock file.
    s.clear_calls();
    let w = s.path("w");
    std::fs::create_dir(&w).expect("mkdir");
    chmod(&w, 0o777);
    as_nobody(
        &format!(
            "mkdir -m 700 {0}/net && cat > {0}/net/.ctr1-eth0.lock",
            w.display()
        ),
        &planted,
    );
    s.run("ADD", &conf(&w)).err(7);
    s.run("DEL", &conf(&w)).ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(victim.pid()), "the bystander was signalled");
    assert_eq!(s.order(), ["a:DEL"]);
    // The control: root's own lock file with such an entry is acted on.
    let other = LoneGroup::start();
    chown(&lock, Some(0), Some(0)).expect("chown");
    std::fs::write(&lock, other.journal(None)).expect("write");
    let r = s.run("DEL", &conf(&state));
    r.ok();
    assert!(
        !alive(other.pid()),
        "the control was not ended: {}",
        r.stderr
    );
    assert!(alive(victim.pid()));
}

/// `logFile` that is a symlink is not written through (the log goes to
/// stderr, saying why); a symlink at the `.1` backup is replaced by the
/// rotated log, its target untouched; a log in a world-writable directory
/// is refused. The operation goes on.
#[test]
fn a_symlinked_log_file_or_backup_is_never_written_through() {
    if !root("a_symlinked_log_file_or_backup_is_never_written_through") {
        return;
    }
    let s = Setup::new(&["a"]);
    let target = s.path("target");
    std::fs::write(&target, b"keep").expect("write");
    chmod(&target, 0o600);
    let logs = s.path("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let log = logs.join("meta.log");
    symlink(&target, &log).expect("symlink");
    let mut c = conf(&s.state_dir());
    c["logFile"] = json!(log);
    c["logLevel"] = json!("info");
    let r = s.run("ADD", &c);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "logFile {} not trusted: {} is a symlink; logging to stderr",
            log.display(),
            log.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ADD done in"), "the log is on stderr");
    assert_eq!(std::fs::read(&target).expect("target"), b"keep");
    assert!(std::fs::symlink_metadata(&log)
        .expect("lstat")
        .file_type()
        .is_symlink());
    // The backup: a symlink replaced by the rotated log, never followed.
    std::fs::remove_file(&log).expect("rm");
    std::fs::write(&log, "x".repeat(1024 * 1024 + 10)).expect("fill");
    chmod(&log, 0o600);
    let backup = logs.join("meta.log.1");
    symlink(&target, &backup).expect("symlink");
    c["logMaxSizeMB"] = json!(1);
    let r = s.run("DEL", &c);
    r.ok();
    assert!(!r.stderr.contains("logFile"), "{}", r.stderr);
    assert_eq!(std::fs::read(&target).expect("target"), b"keep");
    let rotated = std::fs::symlink_metadata(&backup).expect("lstat");
    assert!(
        rotated.is_file() && rotated.len() > 1024 * 1024,
        "{rotated:?}"
    );
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("DEL done in"), "{text}");
    // A log in a directory others can write.
    let w = s.path("w");
    std::fs::create_dir(&w).expect("mkdir");
    chmod(&w, 0o777);
    c["logFile"] = json!(w.join("meta.log"));
    let r = s.run("ADD", &c);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "{} is writable by others; logging to stderr",
            w.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&w), [(w.clone(), "dir".to_string())]);
    s.run("DEL", &c).ok();
}

/// `metricsFile` that is a symlink, or in a directory others can write:
/// no metrics file (with a warning naming it), the link's target and the
/// directory untouched; the operation goes on.
#[test]
fn an_untrusted_metrics_file_is_never_written() {
    if !root("an_untrusted_metrics_file_is_never_written") {
        return;
    }
    let s = Setup::new(&["a"]);
    let target = s.path("target");
    std::fs::write(&target, b"keep").expect("write");
    let dir = s.path("textfile");
    std::fs::create_dir(&dir).expect("mkdir");
    let prom = dir.join("meta-cni.prom");
    symlink(&target, &prom).expect("symlink");
    // The lock file next to it too.
    symlink(&target, dir.join("meta-cni.prom.lock")).expect("symlink");
    let mut c = conf(&s.state_dir());
    c["metricsFile"] = json!(prom);
    let r = s.run("ADD", &c);
    r.ok();
    assert!(
        r.stderr
            .contains(&format!("metricsFile {} not trusted:", prom.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("is a symlink"), "{}", r.stderr);
    assert_eq!(std::fs::read(&target).expect("target"), b"keep");
    // Nothing left next to it (the temp file made meanwhile is gone).
    let left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    let w = s.path("w");
    std::fs::create_dir(&w).expect("mkdir");
    chmod(&w, 0o777);
    c["metricsFile"] = json!(w.join("meta-cni.prom"));
    let r = s.run("DEL", &c);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "metricsFile {} not trusted: {} is writable by others; no metrics file is written",
            w.join("meta-cni.prom").display(),
            w.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&w), [(w.clone(), "dir".to_string())]);
}

/// `meta-cni validate` names each untrusted path a config names: the
/// state directory as a problem (exit 1), the log and metrics files as
/// warnings. Any user: a directory others can write is refused whoever
/// owns it.
#[test]
fn validate_names_every_untrusted_path() {
    let s = Setup::new(&["a"]);
    let w = s.path("w");
    std::fs::create_dir(&w).expect("mkdir");
    chmod(&w, 0o777);
    let link = s.path("meta.log");
    symlink(s.path("target"), &link).expect("symlink");
    let file = s.path("bad.conf");
    let mut c = conf(&w.join("state"));
    c["type"] = json!("meta-cni");
    c["logFile"] = json!(link);
    c["metricsFile"] = json!(w.join("m.prom"));
    std::fs::write(&file, c.to_string()).expect("write");
    let bin = s.bin.display().to_string();
    let validate = |f: &Path| {
        run_bin(
            &["validate", "--cni-path", &bin, f.to_str().unwrap_or("")],
            &Default::default(),
            b"",
            Duration::from_secs(60),
        )
    };
    let r = validate(&file);
    assert_eq!(r.code, 1, "{}", r.stdout);
    for line in [
        format!(
            "PROBLEM: stateDir: {} is writable by others: ADD fails (code 7)",
            w.display()
        ),
        format!(
            "warning: logFile: {} is a symlink: meta-cni logs to stderr instead",
            link.display()
        ),
        format!(
            "warning: metricsFile: {} is writable by others: meta-cni keeps no metrics",
            w.display()
        ),
        "1 problem found".to_string(),
    ] {
        assert!(r.stdout.contains(&line), "{line:?} not in\n{}", r.stdout);
    }
    // Where nobody else can write: nothing said about the paths.
    let file = s.path("good.conf");
    let mut c = conf(&s.state_dir());
    c["type"] = json!("meta-cni");
    c["logFile"] = json!(s.path("meta-cni.log"));
    c["metricsFile"] = json!(s.path("m.prom"));
    std::fs::write(&file, c.to_string()).expect("write");
    let r = validate(&file);
    assert_eq!(r.code, 0, "{}", r.stdout);
    for word in ["stateDir", "logFile", "metricsFile"] {
        assert!(!r.stdout.contains(word), "{}", r.stdout);
    }
}

/// Removes what the default-layout test made outside its temp dir: its
/// network's state directory, its log file and backup, and the default
/// state directories it had to create.
struct DefaultLayout {
    net_dir: PathBuf,
    log: PathBuf,
    made: Vec<PathBuf>,
}

impl Drop for DefaultLayout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.net_dir);
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(self.log.with_extension("log.1"));
        // Innermost first; only when empty (another user of the node's
        // defaults keeps them).
        for d in self.made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The layout an operator gets without setting anything (state under
/// `/var/lib/cni/meta-cni`, a log file under `/var/log`) is trusted: ADD
/// and DEL run with no warning, the state is made `0700`, and `validate`
/// says nothing about either path.
#[test]
fn the_default_layout_passes_without_a_warning() {
    if !root("the_default_layout_passes_without_a_warning") {
        return;
    }
    let s = Setup::new(&["a"]);
    let net = format!("mcni-trust-{}", std::process::id());
    let state = Path::new("/var/lib/cni/meta-cni");
    let made: Vec<PathBuf> = [Path::new("/var/lib/cni"), state]
        .into_iter()
        .filter(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    let _cleanup = DefaultLayout {
        net_dir: state.join(&net),
        log: PathBuf::from(format!("/var/log/{net}.log")),
        made,
    };
    let c = json!({"cniVersion": "1.1.0", "name": net, "type": "meta-cni",
        "logFile": format!("/var/log/{net}.log"), "logLevel": "info", "timeoutSeconds": 3,
        "delegates": [{"name": "a", "type": "a"}]});
    // run_raw: `run` would put the setup's own stateDir in.
    let add = s.run_raw(Some("ADD"), c.to_string().as_bytes());
    assert_eq!(add.code, 0, "{}\n{}", add.stdout, add.stderr);
    let record = state.join(&net).join("ctr1-eth0.json");
    assert!(record.is_file(), "no record at {}", record.display());
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    assert_eq!(mode(&state.join(&net)), 0o700);
    assert_eq!(mode(&record), 0o600);
    let del = s.run_raw(Some("DEL"), c.to_string().as_bytes());
    assert_eq!(del.code, 0, "{}\n{}", del.stdout, del.stderr);
    assert!(!record.exists(), "DEL left the record");
    for r in [&add, &del] {
        assert!(r.stderr.is_empty(), "said on stderr: {}", r.stderr);
    }
    let log = std::fs::read_to_string(format!("/var/log/{net}.log")).expect("the log file");
    assert!(log.contains("ADD done"), "{log}");
    assert!(
        !log.contains("WARN") && !log.contains("ERROR"),
        "warned in the log: {log}"
    );
    let file = s.path("default.conf");
    std::fs::write(&file, c.to_string()).expect("write");
    let bin = s.bin.display().to_string();
    let r = run_bin(
        &["validate", "--cni-path", &bin, file.to_str().unwrap_or("")],
        &Default::default(),
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    for word in [
        "stateDir",
        "logFile",
        "not trusted",
        "writable by",
        "owned by",
        "symlink",
    ] {
        assert!(!r.stdout.contains(word), "{word}: {}", r.stdout);
    }
}
