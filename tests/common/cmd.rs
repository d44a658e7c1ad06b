//! Child processes with a deadline, shared by the suites that run real
//! programs as root (`#[path = "../common/cmd.rs"] mod cmd;` in
//! `tests/realplugins` and `tests/containerd`; the other shared modules
//! reach it as `crate::cmd`). Every short-lived program such a suite starts
//! (cnitool, cri-client, ctr, ip, nsenter, iptables, tc, podman) goes
//! through [`Cmd`]: it runs in its own process group, and at its deadline
//! the whole group gets SIGKILL, so a stuck plugin, a wedged `ip netns` or
//! a podman waiting for something can never hang the test run. Output is
//! read by threads into shared buffers, and a grandchild that keeps a pipe
//! open after the child exited (podman's conmon does that) cannot block us
//! either: after a short grace we take what was read and move on. A daemon
//! that runs for a whole test (containerd) is started by its suite, which
//! gives it deadlines of its own.

// Shared between test targets: not every target uses every item.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default deadline, for small host tools (`ip`, `tc`, `nsenter`,
/// `iptables-save`); [`Cmd::limit`] sets another.
pub const TOOL_LIMIT: Duration = Duration::from_secs(20);
/// How long output pipes may stay open after the child exited (a
/// grandchild it left may hold them).
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// The `PATH` children get: the system dirs first (iptables and ip live in
/// sbin), then whatever the test process had.
pub fn child_path() -> String {
    let sys = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{sys}:{p}"),
        _ => sys.to_string(),
    }
}

/// `prog` itself when it is a path (holds a `/`), else the first `prog` in
/// [`child_path`]; `None` when that is no file.
pub fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        return Path::new(prog).is_file().then(|| PathBuf::from(prog));
    }
    child_path()
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// What a finished child did.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code; `None` when killed by a signal (our deadline included).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
    /// The command line, for messages.
    pub what: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// Everything about this run, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` -> exit {:?}{} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code,
            if self.timed_out {
                " (KILLED AT THE TEST'S DEADLINE)"
            } else {
                ""
            },
            self.took,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    /// Panic unless the child exited 0; returns stdout.
    pub fn expect_ok(&self) -> &str {
        assert!(self.ok(), "command failed: {}", self.describe());
        &self.stdout
    }
}

/// A command to run.
pub struct Cmd {
    prog: OsString,
    args: Vec<OsString>,
    /// `Some`: the child gets exactly this environment plus `PATH`.
    env: Option<BTreeMap<String, String>>,
    stdin: Vec<u8>,
    keep_stdin_open: bool,
    limit: Duration,
}

impl Cmd {
    pub fn new(prog: impl Into<OsString>) -> Cmd {
        Cmd {
            prog: prog.into(),
            args: Vec::new(),
            env: None,
            stdin: Vec::new(),
            keep_stdin_open: false,
            limit: TOOL_LIMIT,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Run with exactly `env` (plus `PATH` unless `env` sets it).
    pub fn env_exact(mut self, env: BTreeMap<String, String>) -> Cmd {
        self.env = Some(env);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = bytes.into();
        self
    }

    pub fn limit(mut self, limit: Duration) -> Cmd {
        self.limit = limit;
        self
    }

    fn what(&self) -> String {
        std::iter::once(&self.prog)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Run to completion (or to the deadline).
    pub fn run(self) -> Out {
        match self.spawn() {
            Ok(r) => r.finish(),
            Err(out) => out,
        }
    }

    /// Start it; stdin is written (by a thread) and, unless
    /// [`Cmd::interactive`] was used, closed.
    pub fn spawn(self) -> Result<Running, Out> {
        let what = self.what();
        let started = Instant::now();
        let mut c = Command::new(&self.prog);
        c.args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(env) = &self.env {
            c.env_clear();
            if !env.contains_key("PATH") {
                c.env("PATH", child_path());
            }
            c.envs(env);
        } else {
            c.env("PATH", child_path());
        }
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                return Err(Out {
                    code: None,
                    timed_out: false,
                    stdout: String::new(),
                    stderr: format!("cannot start: {e}"),
                    took: started.elapsed(),
                    what,
                })
            }
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let mut stdin = child.stdin.take();
        if !self.stdin.is_empty() {
            if let Some(mut sin) = stdin.take() {
                let bytes = self.stdin.clone();
                let keep = self.keep_stdin_open;
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let _ = sin.write_all(&bytes);
                    if keep {
                        let _ = tx.send(sin);
                    }
                });
                if keep {
                    stdin = rx.recv_timeout(Duration::from_secs(5)).ok();
                }
            }
        }
        if !self.keep_stdin_open {
            stdin = None;
        }
        Ok(Running {
            child,
            stdin,
            out,
            err,
            started,
            deadline: started + self.limit,
            what,
            done: false,
        })
    }

    /// Keep stdin open after the initial bytes (see [`Running::close_stdin`]).
    pub fn interactive(mut self) -> Cmd {
        self.keep_stdin_open = true;
        self
    }
}

type Buf = Arc<Mutex<Vec<u8>>>;

fn drain(src: Option<Box<dyn Read + Send>>) -> Buf {
    let buf: Buf = Arc::default();
    if let Some(mut src) = src {
        let b = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match src.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => b
                        .lock()
                        .map(|mut v| v.extend_from_slice(&chunk[..n]))
                        .unwrap_or(()),
                }
            }
        });
    }
    buf
}

fn text(b: &Buf) -> String {
    b.lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

/// A started child. Dropping it kills its process group.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Buf,
    err: Buf,
    started: Instant,
    deadline: Instant,
    what: String,
    done: bool,
}

impl Running {
    /// Wait until stdout satisfies `pred`, the child exits or the deadline
    /// (the smaller of `limit` and the child's own) passes. Returns whether
    /// `pred` became true.
    pub fn wait_stdout(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let until = (Instant::now() + limit).min(self.deadline);
        loop {
            if pred(&text(&self.out)) {
                return true;
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= until {
                // One last look: output may have landed just before exit.
                std::thread::sleep(Duration::from_millis(50));
                return pred(&text(&self.out));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout_so_far(&self) -> String {
        text(&self.out)
    }

    pub fn stderr_so_far(&self) -> String {
        text(&self.err)
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Wait for the child (killing its group at the deadline) and collect.
    pub fn finish(mut self) -> Out {
        self.stdin = None;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) => {}
                Err(_) => break None,
            }
            if Instant::now() >= self.deadline {
                timed_out = true;
                self.kill_group();
                break self.child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = self.started.elapsed();
        // Give the reader threads a moment to see EOF; a daemonised
        // grandchild holding the pipe must not keep us here.
        let grace = Instant::now() + PIPE_GRACE;
        while Instant::now() < grace
            && Arc::strong_count(&self.out) + Arc::strong_count(&self.err) > 2
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.done = true;
        Out {
            code: status.and_then(|s| s.code()),
            timed_out,
            stdout: text(&self.out),
            stderr: text(&self.err),
            took,
            what: std::mem::take(&mut self.what),
        }
    }

    fn kill_group(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done && matches!(self.child.try_wait(), Ok(None)) {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}
