//! Test harness: a temp dir with a CNI bin dir of fake delegates, and a
//! runner for the built `meta-cni` binary with an explicit environment, a
//! deadline (a test never hangs) and the recorded delegate calls.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_meta-cni");

pub fn fake_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/fake-delegate")
}

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "meta-cni-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One recorded delegate call.
#[derive(Debug, Clone)]
pub struct Rec {
    pub plugin: String,
    pub cmd: String,
    pub env: BTreeMap<String, String>,
    pub stdin: Value,
    pub raw_stdin: String,
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

    /// Run `meta-cni` with `CNI_COMMAND=cmd` and `conf` on stdin.
    pub fn run(&self, cmd: &str, conf: &Value) -> Run {
        let mut conf = conf.clone();
        if let Some(m) = conf.as_object_mut() {
            m.entry("stateDir")
                .or_insert_with(|| self.state_dir().display().to_string().into());
        }
        self.run_raw(Some(cmd), conf.to_string().as_bytes())
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
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meta-cni");
    let mut sin = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&input);
    });
    let mut sout = child.stdout.take().expect("stdout");
    let mut serr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = sout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = serr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("meta-cni did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let _ = writer.join();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
        took,
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
