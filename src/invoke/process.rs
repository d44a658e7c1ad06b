//! The real [`Invoker`]: one child process per call, started with
//! `posix_spawn` (its process group, signal mask and `SIGPIPE` disposition
//! are spawn attributes, so nothing runs in the child before `exec`), and
//! driven by `poll(2)` on its three pipes from this thread.
//!
//! `std::process::Command` is not used: it copies the environment into a
//! map and then into C strings on every spawn, which at 40-odd inherited
//! variables costs more than everything else meta-cni does per delegate.
//! [`ChildEnv`] already holds the `KEY=VALUE\0` strings `execve` wants.

use super::{
    parse_error_object, Call, ChildEnv, Failure, Invoker, Output, ProcessId, Started, DRAIN_GRACE,
    KILL_GRACE, STDERR_TAIL, STDOUT_CAP,
};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a running delegate is checked for having exited while its
/// pipes stay open.
const TICK: Duration = Duration::from_millis(100);

/// Runs delegates as child processes; their stderr is copied to ours.
#[derive(Debug, Default)]
pub struct ProcessInvoker;

impl Invoker for ProcessInvoker {
    fn start<'a>(&self, call: &'a Call<'a>) -> Result<Started<'a>, Failure> {
        // A limit too far away to be an `Instant` is no limit.
        let deadline = call.limit.and_then(|l| Instant::now().checked_add(l));
        let path = find(call.plugin, call.cni_path)?;
        let (child, pipes) = spawn(&path, &call.env, deadline)?;
        Ok(Started::Process(Running {
            id: child.id,
            child,
            pipes,
            path,
            deadline,
            call,
        }))
    }
}

/// A delegate that has been started and has not been given its stdin yet:
/// until it has its config it can do nothing, so its process group can be
/// recorded first (see [`super::group`]).
pub struct Running<'a> {
    pub(super) id: ProcessId,
    child: Child,
    pipes: Pipes,
    path: PathBuf,
    deadline: Option<Instant>,
    call: &'a Call<'a>,
}

impl Running<'_> {
    /// Feed stdin, collect the output, enforce the limit, classify.
    pub(super) fn wait(self) -> Result<Output, Failure> {
        let Running {
            mut child,
            pipes,
            path,
            deadline,
            call,
            ..
        } = self;
        let io = pipes
            .nonblocking()
            .and_then(|p| p.drive(&mut child, call.stdin, deadline));
        let finished = match io {
            Ok(v) => v,
            Err(Stop::Deadline(tail)) => {
                kill_group(&mut child);
                return Err(Failure::TimedOut {
                    limit: call.limit.unwrap_or_default(),
                    stderr_tail: tail.text(),
                });
            }
            Err(Stop::Io(e)) => {
                kill_group(&mut child);
                return Err(Failure::Spawn {
                    path,
                    reason: format!("talking to the plugin failed: {e}"),
                });
            }
        };
        classify(finished)
    }
}

impl Drop for Child {
    /// A call dropped before it was waited for (a panic between spawn and
    /// wait) must not leave its delegate behind.
    fn drop(&mut self) {
        if self.status.is_none() {
            kill_group(self);
        }
    }
}

/// The first regular file named `plugin` in the `:`-separated `cni_path`.
pub fn find(plugin: &str, cni_path: &str) -> Result<PathBuf, Failure> {
    let dirs: Vec<&str> = cni_path.split(':').filter(|d| !d.is_empty()).collect();
    for dir in &dirs {
        let p = Path::new(dir).join(plugin);
        if std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            return Ok(p);
        }
    }
    Err(Failure::NotFound {
        plugin: plugin.to_string(),
        searched: if dirs.is_empty() {
            "CNI_PATH is empty".to_string()
        } else {
            format!("searched {}", dirs.join(", "))
        },
    })
}

/// Start `path` with `env` as its whole environment, in a process group of
/// its own, with the default `SIGPIPE` disposition (we ignore it) and no
/// blocked signals, its stdio connected to three new pipes.
fn spawn(
    path: &Path,
    env: &ChildEnv,
    deadline: Option<Instant>,
) -> Result<(Child, Pipes), Failure> {
    if let Some(key) = env.refused() {
        return Err(Failure::Spawn {
            path: path.to_path_buf(),
            reason: format!("environment variable {key} contains a NUL byte"),
        });
    }
    let setup = |e: Errno| spawn_failure(path, e);
    let (in_r, in_w) = pipe2(OFlag::O_CLOEXEC).map_err(setup)?;
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(setup)?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(setup)?;
    let mut actions = PosixSpawnFileActions::init().map_err(setup)?;
    for (fd, target) in [(&in_r, 0), (&out_w, 1), (&err_w, 2)] {
        actions.add_dup2(fd.as_raw_fd(), target).map_err(setup)?;
    }
    let mut attr = PosixSpawnAttr::init().map_err(setup)?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETPGROUP
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )
    .map_err(setup)?;
    attr.set_pgroup(Pid::from_raw(0)).map_err(setup)?;
    attr.set_sigmask(&SigSet::empty()).map_err(setup)?;
    let mut default = SigSet::empty();
    default.add(Signal::SIGPIPE);
    attr.set_sigdefault(&default).map_err(setup)?;
    let envp: Vec<&CStr> = env.entries().collect();
    // argv[0]: the path, as libcni gives it. (`find` built it from
    // CNI_PATH, which cannot hold a NUL byte.)
    let argv0 =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| setup(Errno::EINVAL))?;

    let mut backoff = Duration::from_millis(5);
    loop {
        match posix_spawn(
            argv0.as_c_str(),
            &actions,
            &attr,
            &[argv0.as_c_str()],
            &envp,
        ) {
            Ok(pid) => {
                drop((in_r, out_w, err_w, actions));
                let pipes = Pipes {
                    stdin: Some(File::from(in_w)),
                    stdout: Some(File::from(out_r)),
                    stderr: Some(File::from(err_r)),
                };
                let child = Child {
                    pid,
                    id: ProcessId::spawned_now(pid.as_raw()),
                    status: None,
                };
                return Ok((child, pipes));
            }
            // "text file busy": the binary is still being written (just installed).
            Err(Errno::ETXTBSY) if backoff < Duration::from_millis(700) => {
                if deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                    return Err(spawn_failure(path, Errno::ETXTBSY));
                }
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            Err(e) => return Err(spawn_failure(path, e)),
        }
    }
}

fn spawn_failure(path: &Path, e: Errno) -> Failure {
    let reason = match e {
        Errno::EACCES => "permission denied (is it executable?)".to_string(),
        Errno::ENOEXEC => "not an executable format".to_string(),
        Errno::ETXTBSY => "text file busy (still being written?)".to_string(),
        Errno::E2BIG => "its environment or arguments are too large for exec (one \
                         variable at most 128 KiB, all of them within the system's \
                         ARG_MAX): look at CNI_ARGS and runtimeOverride values"
            .to_string(),
        e => io::Error::from(e).to_string(),
    };
    Failure::Spawn {
        path: path.to_path_buf(),
        reason,
    }
}

/// The last [`STDERR_TAIL`] bytes of a stream.
#[derive(Debug, Default)]
pub(crate) struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, data: &[u8]) {
        if data.len() >= STDERR_TAIL {
            self.0.clear();
            self.0.extend_from_slice(&data[data.len() - STDERR_TAIL..]);
        } else {
            let excess = (self.0.len() + data.len()).saturating_sub(STDERR_TAIL);
            self.0.drain(..excess);
            self.0.extend_from_slice(data);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// A delegate that ran to completion.
struct Finished {
    stdout: Vec<u8>,
    too_large: bool,
    tail: Tail,
    status: Status,
}

enum Stop {
    Deadline(Tail),
    Io(io::Error),
}

struct Pipes {
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
}

/// How a delegate ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Exited(i32),
    /// The signal's name (`SIGKILL`); "unknown" for one nix cannot name.
    Signaled(String),
}

/// A started delegate, reaped at most once.
struct Child {
    pid: Pid,
    /// Its process group's identity (see `group.rs`).
    id: ProcessId,
    status: Option<Status>,
}

impl Child {
    /// Reap it if it has exited (`block`: wait until it has).
    fn reap(&mut self, block: bool) -> io::Result<Option<Status>> {
        if let Some(s) = &self.status {
            return Ok(Some(s.clone()));
        }
        let flags = (!block).then_some(WaitPidFlag::WNOHANG);
        let status = loop {
            match waitpid(self.pid, flags) {
                Ok(WaitStatus::Exited(_, code)) => break Status::Exited(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => break Status::Signaled(sig.as_str().into()),
                Ok(_) if !block => return Ok(None),
                Ok(_) | Err(Errno::EINTR) => {}
                // waitpid(2) only fails with EINVAL for bad flags; nix
                // returns it when the child was reaped but killed by a
                // signal it has no name for (a real-time signal).
                Err(Errno::EINVAL) => break Status::Signaled("unknown (real-time)".into()),
                Err(e) => return Err(e.into()),
            }
        };
        self.status = Some(status.clone());
        Ok(Some(status))
    }

    fn try_wait(&mut self) -> io::Result<Option<Status>> {
        self.reap(false)
    }
}

fn nonblocking(fd: impl AsFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    Ok(())
}

/// Read what is available; `Ok(false)` at end of file.
fn pump(r: &mut impl Read, buf: &mut [u8], mut sink: impl FnMut(&[u8])) -> io::Result<bool> {
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn poll_timeout(d: Duration) -> PollTimeout {
    // Round up so a sub-millisecond wait does not spin.
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    PollTimeout::try_from(ms.min(i32::MAX as u128)).unwrap_or(PollTimeout::MAX)
}

impl Pipes {
    /// Our ends never block (the child's do, as programs expect).
    fn nonblocking(self) -> Result<Pipes, Stop> {
        let p = self;
        for fd in [
            p.stdin.as_ref().map(|f| f.as_fd()),
            p.stdout.as_ref().map(|f| f.as_fd()),
            p.stderr.as_ref().map(|f| f.as_fd()),
        ]
        .into_iter()
        .flatten()
        {
            nonblocking(fd).map_err(Stop::Io)?;
        }
        Ok(p)
    }

    /// Feed stdin, collect stdout, forward stderr, until both output pipes
    /// close (or the child has exited and a drain grace passed), then reap.
    fn drive(
        mut self,
        child: &mut Child,
        input: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Finished, Stop> {
        if input.is_empty() {
            self.stdin = None;
        }
        let mut run = Progress::new();
        // Results are small: one page of stack per read is plenty (an 8 MiB
        // output costs 2048 reads), and pages a CNI call never touches are
        // page faults it never pays.
        let mut buf = [0u8; 4096];
        while self.stdout.is_some() || self.stderr.is_some() {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Stop::Deadline(run.tail));
            }
            let Some(wait) = run.next_wait(now, deadline) else {
                break; // exited, and the drain grace has passed
            };
            let ready = self.wait_ready(wait)?;
            if ready.stdin {
                self.feed(input, &mut run.written);
            }
            if ready.stdout {
                read_into(&mut self.stdout, &mut buf, |d| run.keep_stdout(d))?;
            }
            if ready.stderr {
                read_into(&mut self.stderr, &mut buf, |d| run.keep_stderr(d))?;
            }
            run.check_exit(child)?;
        }
        drop(self);
        run.finish(child, deadline)
    }

    /// Wait up to `wait` for the open pipes: which are ready (none when the
    /// wait was interrupted by a signal).
    fn wait_ready(&self, wait: Duration) -> Result<Ready, Stop> {
        let mut fds = Vec::with_capacity(3);
        let mut slots = [None; 3];
        let pipes = [
            (&self.stdin, PollFlags::POLLOUT),
            (&self.stdout, PollFlags::POLLIN),
            (&self.stderr, PollFlags::POLLIN),
        ];
        for (slot, (pipe, flags)) in slots.iter_mut().zip(pipes) {
            if let Some(s) = pipe {
                *slot = Some(fds.len());
                fds.push(PollFd::new(s.as_fd(), flags));
            }
        }
        match poll(&mut fds, poll_timeout(wait)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Stop::Io(e.into())),
        }
        let ready = |slot: Option<usize>| {
            slot.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        Ok(Ready {
            stdin: ready(slots[0]),
            stdout: ready(slots[1]),
            stderr: ready(slots[2]),
        })
    }

    /// Write what stdin takes of `input` past `written`; close stdin once
    /// all of it is written or the delegate wants no more.
    fn feed(&mut self, input: &[u8], written: &mut usize) {
        let Some(s) = &mut self.stdin else {
            return;
        };
        match s.write(&input[*written..]) {
            Ok(n) => *written += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            // EPIPE and friends: the delegate does not want (more) stdin.
            Err(_) => *written = input.len(),
        }
        if *written >= input.len() {
            self.stdin = None;
        }
    }
}

/// Which pipes `poll` reported ready (readable, writable, closed or in error).
struct Ready {
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

/// Read what `pipe` has into `sink`; at end of file, close it.
fn read_into(pipe: &mut Option<File>, buf: &mut [u8], sink: impl FnMut(&[u8])) -> Result<(), Stop> {
    if let Some(s) = pipe {
        if !pump(s, buf, sink).map_err(Stop::Io)? {
            *pipe = None;
        }
    }
    Ok(())
}

/// What [`Pipes::drive`] has done and gathered so far.
struct Progress {
    /// Bytes of the input written to stdin.
    written: usize,
    /// Stdout, up to [`STDOUT_CAP`].
    stdout: Vec<u8>,
    /// Whether stdout went past [`STDOUT_CAP`].
    too_large: bool,
    tail: Tail,
    status: Option<Status>,
    /// When the child was seen to have exited: the drain grace starts.
    exited_at: Option<Instant>,
    /// When the child was last checked for having exited.
    last_check: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            written: 0,
            stdout: Vec::new(),
            too_large: false,
            tail: Tail::default(),
            status: None,
            exited_at: None,
            last_check: Instant::now(),
        }
    }

    /// How long the next poll may wait: a [`TICK`], cut short by the
    /// deadline (not yet reached at `now`) and by the end of the drain
    /// grace. `None` once the drain grace after exit has passed.
    fn next_wait(&self, now: Instant, deadline: Option<Instant>) -> Option<Duration> {
        if self.exited_at.is_some_and(|t| now >= t + DRAIN_GRACE) {
            return None;
        }
        let mut wait = TICK;
        if let Some(d) = deadline {
            wait = wait.min(d - now);
        }
        if let Some(t) = self.exited_at {
            wait = wait.min((t + DRAIN_GRACE).saturating_duration_since(now));
        }
        Some(wait)
    }

    /// Keep what fits under [`STDOUT_CAP`]; anything beyond marks the output
    /// too large.
    fn keep_stdout(&mut self, d: &[u8]) {
        let room = STDOUT_CAP.saturating_sub(self.stdout.len());
        if d.len() > room {
            self.too_large = true;
        }
        self.stdout.extend_from_slice(&d[..d.len().min(room)]);
    }

    /// Copy to our stderr, keeping the tail.
    fn keep_stderr(&mut self, d: &[u8]) {
        let _ = io::stderr().write_all(d);
        self.tail.push(d);
    }

    /// Every [`TICK`], until it has exited: reap the child if it has (the
    /// drain grace starts).
    fn check_exit(&mut self, child: &mut Child) -> Result<(), Stop> {
        if self.status.is_none() && self.last_check.elapsed() >= TICK {
            self.last_check = Instant::now();
            if let Some(s) = child.try_wait().map_err(Stop::Io)? {
                self.status = Some(s);
                self.exited_at = Some(self.last_check);
            }
        }
        Ok(())
    }

    /// The delegate's outcome once its pipes are closed: reaped now if it
    /// was not yet, giving up at `deadline`.
    fn finish(self, child: &mut Child, deadline: Option<Instant>) -> Result<Finished, Stop> {
        let status = match self.status.or_else(|| wait(child, deadline)) {
            Some(s) => s,
            None => return Err(Stop::Deadline(self.tail)),
        };
        Ok(Finished {
            stdout: self.stdout,
            too_large: self.too_large,
            tail: self.tail,
            status,
        })
    }
}

/// Reap the child, giving up at `deadline`.
fn wait(child: &mut Child, deadline: Option<Instant>) -> Option<Status> {
    let Some(deadline) = deadline else {
        return child.reap(true).ok().flatten();
    };
    // Its pipes just closed, so it is almost always exiting: give it the
    // CPU for a moment before sleeping (a sleep costs ~100us of timer slack).
    let spin_until = Instant::now() + Duration::from_millis(2);
    let mut nap = Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        if now < spin_until {
            std::thread::yield_now();
            continue;
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// SIGTERM the delegate's whole process group, SIGKILL it after
/// [`KILL_GRACE`], and reap the delegate: nothing it started stays running
/// (unless it left the group on purpose).
fn kill_group(child: &mut Child) {
    let group = child.pid;
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + KILL_GRACE;
    let mut reaped = false;
    while Instant::now() < until {
        if !reaped {
            reaped = matches!(child.try_wait(), Ok(Some(_)));
        }
        // Gone once nothing of the group runs; a member that is a zombie
        // waiting for its new parent to reap it can do nothing more.
        if reaped && !child.id.running() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.reap(true);
}

fn classify(f: Finished) -> Result<Output, Failure> {
    let Finished {
        stdout,
        too_large,
        tail,
        status,
    } = f;
    let code = match status {
        Status::Signaled(signal) => {
            return Err(Failure::Signaled {
                signal,
                stderr_tail: tail.text(),
            })
        }
        Status::Exited(code) => code,
    };
    if too_large {
        return Err(Failure::OutputTooLarge);
    }
    if let Some((code, msg, details)) = parse_error_object(&stdout) {
        // An error object fails the call even with exit status 0.
        return Err(Failure::Reported { code, msg, details });
    }
    if code == 0 {
        return Ok(Output { stdout });
    }
    Err(Failure::Exited {
        status: code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr_tail: tail.text(),
    })
}
