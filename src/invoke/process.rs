//! The real [`Invoker`]: one child process per call, driven by `poll(2)` on
//! its three pipes from this thread. `std::process` starts it with
//! `posix_spawn` (a process group is a spawn attribute, so no `pre_exec`).

use super::{
    parse_error_object, Call, Failure, Invoker, Output, DRAIN_GRACE, KILL_GRACE, STDERR_TAIL,
    STDOUT_CAP,
};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a running delegate is checked for having exited while its
/// pipes stay open.
const TICK: Duration = Duration::from_millis(100);

/// Runs delegates as child processes; their stderr is copied to ours.
#[derive(Debug, Default)]
pub struct ProcessInvoker;

impl Invoker for ProcessInvoker {
    fn invoke(&self, call: &Call<'_>) -> Result<Output, Failure> {
        // A limit too far away to be an `Instant` is no limit.
        let deadline = call.limit.and_then(|l| Instant::now().checked_add(l));
        let path = find(call.plugin, call.cni_path)?;
        let mut child = spawn(&path, call, deadline)?;
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let io = Pipes::new(&mut child).and_then(|p| p.drive(&mut child, call.stdin, deadline));
        let finished = match io {
            Ok(v) => v,
            Err(Stop::Deadline(tail)) => {
                kill_group(&mut child, group);
                return Err(Failure::TimedOut {
                    limit: call.limit.unwrap_or_default(),
                    stderr_tail: tail.text(),
                });
            }
            Err(Stop::Io(e)) => {
                kill_group(&mut child, group);
                return Err(Failure::Spawn {
                    path,
                    reason: format!("talking to the plugin failed: {e}"),
                });
            }
        };
        classify(finished)
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
        searched: if dirs.is_empty() {
            "CNI_PATH is empty".to_string()
        } else {
            format!("searched {}", dirs.join(", "))
        },
    })
}

fn spawn(path: &Path, call: &Call<'_>, deadline: Option<Instant>) -> Result<Child, Failure> {
    let mut backoff = Duration::from_millis(5);
    loop {
        let r = Command::new(path)
            .env_clear()
            .envs(call.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        match r {
            Ok(c) => return Ok(c),
            // "text file busy": the binary is still being written (just installed).
            Err(e)
                if e.raw_os_error() == Some(Errno::ETXTBSY as i32)
                    && backoff < Duration::from_millis(700) =>
            {
                if deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                    return Err(spawn_failure(path, &e));
                }
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            Err(e) => return Err(spawn_failure(path, &e)),
        }
    }
}

fn spawn_failure(path: &Path, e: &io::Error) -> Failure {
    let reason = match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EACCES) => "permission denied (is it executable?)".to_string(),
        Some(Errno::ENOEXEC) => "not an executable format".to_string(),
        Some(Errno::ETXTBSY) => "text file busy (still being written?)".to_string(),
        _ => e.to_string(),
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
    status: ExitStatus,
}

enum Stop {
    Deadline(Tail),
    Io(io::Error),
}

struct Pipes {
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
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
    fn new(child: &mut Child) -> Result<Pipes, Stop> {
        let p = Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
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
        let mut written = 0;
        if input.is_empty() {
            self.stdin = None;
        }
        let mut out = Vec::new();
        let mut too_large = false;
        let mut tail = Tail::default();
        let mut status = None;
        let mut exited_at: Option<Instant> = None;
        let mut last_check = Instant::now();
        let mut buf = [0u8; 16 * 1024];
        let mut our_stderr = io::stderr();

        while self.stdout.is_some() || self.stderr.is_some() {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Stop::Deadline(tail));
            }
            if exited_at.is_some_and(|t| now >= t + DRAIN_GRACE) {
                break;
            }
            let mut wait = TICK;
            if let Some(d) = deadline {
                wait = wait.min(d - now);
            }
            if let Some(t) = exited_at {
                wait = wait.min((t + DRAIN_GRACE).saturating_duration_since(now));
            }

            let (ready_in, ready_out, ready_err) = {
                let mut fds = Vec::with_capacity(3);
                let mut slots = [None; 3];
                if let Some(s) = &self.stdin {
                    slots[0] = Some(fds.len());
                    fds.push(PollFd::new(s.as_fd(), PollFlags::POLLOUT));
                }
                if let Some(s) = &self.stdout {
                    slots[1] = Some(fds.len());
                    fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
                }
                if let Some(s) = &self.stderr {
                    slots[2] = Some(fds.len());
                    fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, poll_timeout(wait)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(Stop::Io(e.into())),
                }
                let ready = |slot: Option<usize>| {
                    slot.and_then(|i| fds[i].revents())
                        .is_some_and(|r| !r.is_empty())
                };
                (ready(slots[0]), ready(slots[1]), ready(slots[2]))
            };

            if ready_in {
                if let Some(s) = &mut self.stdin {
                    match s.write(&input[written..]) {
                        Ok(n) => written += n,
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        // EPIPE and friends: the delegate does not want (more) stdin.
                        Err(_) => written = input.len(),
                    }
                    if written >= input.len() {
                        self.stdin = None;
                    }
                }
            }
            if ready_out {
                if let Some(s) = &mut self.stdout {
                    let open = pump(s, &mut buf, |d| {
                        let room = STDOUT_CAP.saturating_sub(out.len());
                        if d.len() > room {
                            too_large = true;
                        }
                        out.extend_from_slice(&d[..d.len().min(room)]);
                    })
                    .map_err(Stop::Io)?;
                    if !open {
                        self.stdout = None;
                    }
                }
            }
            if ready_err {
                if let Some(s) = &mut self.stderr {
                    let open = pump(s, &mut buf, |d| {
                        let _ = our_stderr.write_all(d);
                        tail.push(d);
                    })
                    .map_err(Stop::Io)?;
                    if !open {
                        self.stderr = None;
                    }
                }
            }
            if status.is_none() && last_check.elapsed() >= TICK {
                last_check = Instant::now();
                if let Some(s) = child.try_wait().map_err(Stop::Io)? {
                    status = Some(s);
                    exited_at = Some(last_check);
                }
            }
        }
        drop(self);
        let status = match status.or_else(|| wait(child, deadline)) {
            Some(s) => s,
            None => return Err(Stop::Deadline(tail)),
        };
        Ok(Finished {
            stdout: out,
            too_large,
            tail,
            status,
        })
    }
}

/// Reap the child, giving up at `deadline`.
fn wait(child: &mut Child, deadline: Option<Instant>) -> Option<ExitStatus> {
    let Some(deadline) = deadline else {
        return child.wait().ok();
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
pub(crate) fn kill_group(child: &mut Child, group: Pid) {
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + KILL_GRACE;
    let mut reaped = false;
    while Instant::now() < until {
        if !reaped {
            reaped = matches!(child.try_wait(), Ok(Some(_)));
        }
        if reaped && killpg(group, None) == Err(Errno::ESRCH) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

fn classify(f: Finished) -> Result<Output, Failure> {
    let Finished {
        stdout,
        too_large,
        tail,
        status,
    } = f;
    if let Some(sig) = status.signal() {
        let name =
            Signal::try_from(sig).map_or_else(|_| sig.to_string(), |s| s.as_str().to_string());
        return Err(Failure::Signaled {
            signal: name,
            stderr_tail: tail.text(),
        });
    }
    if too_large {
        return Err(Failure::OutputTooLarge);
    }
    if let Some((code, msg, details)) = parse_error_object(&stdout) {
        // An error object fails the call even with exit status 0.
        return Err(Failure::Reported { code, msg, details });
    }
    if status.success() {
        return Ok(Output {
            stdout,
            stderr_tail: tail.text(),
        });
    }
    Err(Failure::Exited {
        status: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr_tail: tail.text(),
    })
}
