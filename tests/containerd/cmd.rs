//! Child processes with a deadline. Every short-lived program this suite
//! runs (cri-client, ctr, ip, nsenter, iptables-save/-restore) goes through
//! [`Cmd`]: it runs in its own process group, and at its deadline the whole
//! group gets SIGKILL, so nothing can hang the test run. containerd itself,
//! which runs for a whole test, is started in `node.rs` and has its own
//! deadlines there.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Deadline for small host tools (`ip`, `iptables-save`, `nsenter`).
pub const TOOL_LIMIT: Duration = Duration::from_secs(20);
/// How long output pipes may stay open after the child exited (a
/// grandchild it left may hold them).
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// The system directories first (ip and iptables live in sbin), then the
/// test process's own `PATH`.
pub fn child_path() -> String {
    let sys = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{sys}:{p}"),
        _ => sys.to_string(),
    }
}

/// `prog` in [`child_path`].
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    child_path()
        .split(':')
        .map(|d| std::path::Path::new(d).join(prog))
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

pub struct Cmd {
    prog: OsString,
    args: Vec<OsString>,
    stdin: Vec<u8>,
    limit: Duration,
}

impl Cmd {
    pub fn new(prog: impl Into<OsString>) -> Cmd {
        Cmd {
            prog: prog.into(),
            args: Vec::new(),
            stdin: Vec::new(),
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

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = bytes.into();
        self
    }

    pub fn limit(mut self, limit: Duration) -> Cmd {
        self.limit = limit;
        self
    }

    /// Run to completion, or to the deadline (then the process group is
    /// killed and `timed_out` is set).
    pub fn run(self) -> Out {
        let what = std::iter::once(&self.prog)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let started = Instant::now();
        let spawned = Command::new(&self.prog)
            .args(&self.args)
            .env("PATH", child_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return Out {
                    code: None,
                    timed_out: false,
                    stdout: String::new(),
                    stderr: format!("cannot start: {e}"),
                    took: started.elapsed(),
                    what,
                }
            }
        };
        if let Some(mut sin) = child.stdin.take() {
            let bytes = self.stdin;
            std::thread::spawn(move || {
                let _ = sin.write_all(&bytes);
            });
        }
        let out = reader(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = reader(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let deadline = started + self.limit;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) => {}
                Err(_) => break None,
            }
            if Instant::now() >= deadline {
                timed_out = true;
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let _ = child.kill();
                break child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = started.elapsed();
        let grace = Instant::now() + PIPE_GRACE;
        Out {
            code: status.and_then(|s| s.code()),
            timed_out,
            stdout: collect(out, grace),
            stderr: collect(err, grace),
            took,
            what,
        }
    }
}

fn reader(src: Option<Box<dyn Read + Send>>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut src) = src {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = src.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

fn collect(rx: mpsc::Receiver<Vec<u8>>, until: Instant) -> String {
    let left = until.saturating_duration_since(Instant::now());
    rx.recv_timeout(left)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
