//! Test harness: a temp dir with a CNI bin dir of fake delegates, and a
//! runner for the built `meta-cni` binary with an explicit environment, a
//! deadline (a test never hangs) and the recorded delegate calls.

#![allow(dead_code)]

pub use crate::tempdir::TempDir;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_meta-cni");

pub fn fake_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/fake-delegate")
}

/// One recorded delegate call.
#[derive(Debug, Clone)]
pub struct Rec {
    pub plugin: String,
    pub cmd: String,
    pub env: BTreeMap<String, String>,
    pub stdin: Value,
    pub raw_stdin: String,
    /// When the delegate started (seconds since the epoch).
    pub t: f64,
}

impl Rec {
    pub fn env(&self, k: &str) -> Option<&str> {
        self.env.get(k).map(String::as_str)
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}): {:?}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Assert success and return the printed document (Null when none).
    pub fn ok(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Assert a CNI error with `code`; return its message.
    pub fn err(&self, code: u64) -> String {
        assert_eq!(
            self.code, 1,
            "expected failure\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let v = self.json();
        assert_eq!(v["code"], code, "wrong code: {v}\nstderr: {}", self.stderr);
        assert!(v["msg"].is_string(), "{v}");
        assert!(v["cniVersion"].is_string(), "{v}");
        format!(
            "{} {}",
            v["msg"].as_str().unwrap_or(""),
            v["details"].as_str().unwrap_or("")
        )
    }
}

/// A test setup: temp dir, bin dir with fakes, record file.
pub struct Setup {
    pub dir: TempDir,
    pub bin: PathBuf,
    pub record: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl Setup {
    /// Fakes named `names` in a fresh CNI bin dir.
    pub fn new(names: &[&str]) -> Setup {
        let dir = TempDir::new("it");
        let bin = dir.0.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let s = Setup {
            record: dir.0.join("calls.jsonl"),
            bin,
            dir,
            env: BTreeMap::new(),
        };
        for n in names {
            s.link(n);
        }
        let mut s = s;
        s.env.insert("CNI_CONTAINERID".into(), "ctr1".into());
        s.env
            .insert("CNI_NETNS".into(), "/var/run/netns/test".into());
        s.env.insert("CNI_IFNAME".into(), "eth0".into());
        s.env.insert("CNI_PATH".into(), s.bin.display().to_string());
        s.env
            .insert("FAKE_RECORD".into(), s.record.display().to_string());
        s
    }

    pub fn link(&self, name: &str) {
        let target = self.bin.join(name);
        let _ = std::fs::remove_file(&target);
        std::os::unix::fs::symlink(fake_script(), target).expect("symlink fake");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.env.remove(k);
        self
    }

    /// This setup's state directory (put into every config that has none).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.0.join("state")
    }

    /// `conf` with this setup's state directory when it names none.
    fn with_state_dir(&self, conf: &Value) -> Value {
        let mut conf = conf.clone();
        if let Some(m) = conf.as_object_mut() {
            m.entry("stateDir")
                .or_insert_with(|| self.state_dir().display().to_string().into());
        }
        conf
    }

    /// Run `meta-cni` with `CNI_COMMAND=cmd` and `conf` on stdin.
    pub fn run(&self, cmd: &str, conf: &Value) -> Run {
        self.run_raw(Some(cmd), self.with_state_dir(conf).to_string().as_bytes())
    }

    /// Start `meta-cni` as [`Setup::run`] would and leave it running (its
    /// output discarded), for tests that kill it half-way.
    pub fn start(&self, cmd: &str, conf: &Value) -> std::process::Child {
        let mut child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .env("CNI_COMMAND", cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn meta-cni");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, self.with_state_dir(conf).to_string().as_bytes())
            .expect("write config");
        child
    }

    pub fn run_raw(&self, cmd: Option<&str>, stdin: &[u8]) -> Run {
        let mut env = self.env.clone();
        if let Some(c) = cmd {
            env.insert("CNI_COMMAND".into(), c.into());
        }
        run_bin(&[], &env, stdin, Duration::from_secs(60))
    }

    /// Every recorded call so far, in order.
    pub fn calls(&self) -> Vec<Rec> {
        let Ok(text) = std::fs::read_to_string(&self.record) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("record line");
                let raw = v["stdin"].as_str().unwrap_or("").to_string();
                Rec {
                    plugin: v["plugin"].as_str().unwrap_or("").into(),
                    cmd: v["cmd"].as_str().unwrap_or("").into(),
                    env: v["env"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    stdin: serde_json::from_str(&raw).unwrap_or(Value::Null),
                    raw_stdin: raw,
                    t: v["t"].as_f64().unwrap_or(0.0),
                }
            })
            .collect()
    }

    /// `plugin:CMD` for each call, for order assertions.
    pub fn order(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| format!("{}:{}", c.plugin, c.cmd))
            .collect()
    }

    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(&self.record);
    }
}

/// Run the binary with exactly `env` (plus PATH), killing it after `limit`.
pub fn run_bin(
    args: &[&str],
    env: &BTreeMap<String, String>,
    stdin: &[u8],
    limit: Duration,
) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", host_path())
        .envs(env);
    let r = run_command(
        &mut cmd,
        Box::new(std::io::Cursor::new(stdin.to_vec())),
        limit,
    );
    if r.timed_out {
        panic!("meta-cni did not finish within {limit:?}");
    }
    Run {
        code: r.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
        took: r.took,
    }
}

/// The test process's `PATH` (the fake delegate needs `python3`).
/// SIGKILL the processes whose pids a hanging fake wrote to `pidfile`
/// (the delegate and its grandchild outlive a killed meta-cni).
pub fn kill_pids_in(pidfile: &Path) {
    for p in std::fs::read_to_string(pidfile)
        .unwrap_or_default()
        .split_whitespace()
    {
        let _ = Command::new("kill").args(["-9", p]).status();
    }
}

/// The names in a result's `interfaces`, in order.
pub fn iface_names(result: &Value) -> Vec<&str> {
    result["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect()
}

pub fn host_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
}

/// What one run did, byte for byte, with how it ended.
#[derive(Debug)]
pub struct RawRun {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub took: Duration,
    /// It was still running at the limit and was killed.
    pub timed_out: bool,
}

impl RawRun {
    /// The signal that ended it, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Run `cmd` with its stdio on pipes, feeding it everything `stdin` yields
/// (a write error such as EPIPE ends the feeding), killing it after `limit`.
pub fn run_command(cmd: &mut Command, mut stdin: Box<dyn Read + Send>, limit: Duration) -> RawRun {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meta-cni");
    let mut sin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = std::io::copy(&mut stdin, &mut sin);
    });
    let mut sout = child.stdout.take().expect("stdout");
    let mut serr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = sout.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = serr.read_to_end(&mut s);
        s
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let _ = writer.join();
    RawRun {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
        took,
        timed_out,
    }
}

/// Whether a process is still alive (and not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// The exec protocol's promises about one run, whatever the input: it ended
/// by itself (no deadline, no signal, no panic's exit 101), with 0 or 1; its
/// stdout is exactly one JSON document, or nothing after a success; a
/// failure prints a CNI error object (integer `code`, string `msg` and
/// `cniVersion`, string `details` if any) whose code is not 110 (a caught
/// panic). Returns the document (`None` for an empty stdout) or what broke.
pub fn check_protocol(r: &RawRun) -> Result<Option<Value>, String> {
    if r.timed_out {
        return Err(format!("did not finish (killed after {:?})", r.took));
    }
    if let Some(sig) = r.signal() {
        return Err(format!("killed by signal {sig}"));
    }
    let code = r.status.code().unwrap_or(-1);
    if code != 0 && code != 1 {
        return Err(format!("exit status {code} (101 is a panic)"));
    }
    let text = std::str::from_utf8(&r.stdout).map_err(|e| format!("stdout is not UTF-8: {e}"))?;
    if text.trim().is_empty() {
        return if code == 0 {
            Ok(None)
        } else {
            Err("exit 1 with nothing on stdout".into())
        };
    }
    let docs: Vec<Value> = serde_json::Deserializer::from_str(text)
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("stdout is not JSON ({e}): {text:.300}"))?;
    let [doc] = <[Value; 1]>::try_from(docs)
        .map_err(|d| format!("{} JSON documents on stdout: {text:.300}", d.len()))?;
    if code == 1 {
        let ok = doc.is_object()
            && doc["code"].is_u64()
            && doc["msg"].is_string()
            && doc["cniVersion"].is_string()
            && (doc.get("details").is_none() || doc["details"].is_string());
        if !ok {
            return Err(format!("exit 1 without a CNI error object: {text:.300}"));
        }
        if doc["code"] == 110 {
            return Err(format!("internal error (a caught panic): {text:.300}"));
        }
    }
    Ok(Some(doc))
}

/// A retired record or lock file kept for reuse (`.spare.N`,
/// `.lockspare.N` in a network's state dir).
pub fn is_spare(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(".spare.").or(n.strip_prefix(".lockspare.")))
        .is_some_and(|n| n.parse::<u8>().is_ok())
}

/// A spare holds no data, only spaces, and is private.
pub fn check_spare(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let data = std::fs::read(path).expect("spare");
    assert!(
        data.iter().all(|b| *b == b' '),
        "{} still holds data",
        path.display()
    );
    let mode = std::fs::metadata(path).expect("spare").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

/// An in-flight journal slot (128 bytes) naming process group `pid` as
/// delegate `a` of an ADD, recorded a minute from now on the boot clock (so
/// the process started before that), with `boot_id` when given.
pub fn journal_slot(pid: i32, boot_id: Option<&str>) -> Vec<u8> {
    let uptime = std::fs::read_to_string("/proc/uptime").expect("uptime");
    let secs: f64 = uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("uptime");
    let boot_ms = (secs * 1000.0) as u64 + 60_000;
    let mut line = format!("{pid} {boot_ms} ADD 0 0 a").into_bytes();
    if let Some(b) = boot_id {
        line.extend_from_slice(format!(" {b}").as_bytes());
    }
    line.resize(127, b' ');
    line.push(b'\n');
    line
}

/// A live process (`sleep 300`) leading its own process group, as a
/// delegate meta-cni started would; killed and reaped on drop.
pub struct LoneGroup(std::process::Child);

impl LoneGroup {
    pub fn start() -> LoneGroup {
        use std::os::unix::process::CommandExt;
        LoneGroup(
            Command::new("sleep")
                .arg("300")
                .process_group(0)
                .spawn()
                .expect("sleep"),
        )
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// A journal slot naming it (see [`journal_slot`]).
    pub fn journal(&self, boot_id: Option<&str>) -> Vec<u8> {
        journal_slot(self.pid(), boot_id)
    }
}

impl Drop for LoneGroup {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait (up to 30 s) until `pidfile` names two PIDs: a fake delegate that
/// writes its own and its grandchild's once it runs.
pub fn wait_for_pids(pidfile: &Path) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let pids: Vec<i32> = std::fs::read_to_string(pidfile)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.len() == 2 {
            return pids;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the delegate never wrote its PIDs to {}",
            pidfile.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
