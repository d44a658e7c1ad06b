//! Running one delegate: find it in `CNI_PATH`, start it with an explicit
//! environment in its own process group, feed stdin and drain stdout/stderr
//! without threads (poll), enforce its time limit (SIGTERM to the group,
//! SIGKILL after a grace), and classify the outcome.

mod group;
mod process;

use crate::error::{code, CniError};
use std::ffi::{CStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use group::{fmt_boot_id, parse_boot_id, this_boot};
pub use group::{Ended, ProcessId};
pub use process::{find, ProcessInvoker, Running};

/// Cap on a delegate's stdout; beyond it output is read and discarded.
pub const STDOUT_CAP: usize = 8 * 1024 * 1024;
/// How much of a delegate's stderr is kept for error messages.
pub const STDERR_TAIL: usize = 4096;
/// Between SIGTERM and SIGKILL at a time limit.
pub const KILL_GRACE: Duration = Duration::from_millis(1000);
/// After a delegate exits, how long its pipes may stay open (held by a
/// child it left behind) before we stop reading them.
pub const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// One delegate call.
#[derive(Clone)]
pub struct Call<'a> {
    /// The plugin binary name (`type`).
    pub plugin: &'a str,
    /// Directories to search (`CNI_PATH` as overridden), `:`-separated.
    pub cni_path: &'a str,
    /// The child's whole environment.
    pub env: ChildEnv,
    pub stdin: &'a [u8],
    pub limit: Option<Duration>,
}

/// A child's whole environment, kept as the `KEY=VALUE\0` strings
/// `execve` takes, all in one buffer: building it costs two allocations
/// however many variables the runtime passes, and spawning passes it as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnv {
    buf: Vec<u8>,
    /// End (exclusive, after the NUL) of each entry in `buf`.
    ends: Vec<usize>,
    /// The first variable that could not be stored (a NUL byte in it).
    refused: Option<String>,
}

impl ChildEnv {
    pub fn with_capacity(vars: usize, bytes: usize) -> ChildEnv {
        ChildEnv {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(vars),
            refused: None,
        }
    }

    /// Our own environment as children inherit it: everything but
    /// `CNI_COMMAND`, which each call sets.
    pub fn inherited(vars: &[(OsString, OsString)]) -> ChildEnv {
        let kept = || vars.iter().filter(|(k, _)| k != "CNI_COMMAND");
        let bytes: usize = kept().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut env = ChildEnv::with_capacity(vars.len() + 1, bytes + 32);
        for (k, v) in kept() {
            env.push(k.as_bytes(), v.as_bytes());
        }
        env
    }

    /// Bytes of all entries.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Add `key=value`. A key or value holding a NUL byte cannot be passed
    /// to a process; it is left out and remembered, and spawning refuses
    /// the whole environment rather than run a delegate without it.
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        if key.contains(&0) || value.contains(&0) {
            self.refused
                .get_or_insert_with(|| String::from_utf8_lossy(key).into_owned());
            return;
        }
        self.buf.extend_from_slice(key);
        self.buf.push(b'=');
        self.buf.extend_from_slice(value);
        self.buf.push(0);
        self.ends.push(self.buf.len());
    }

    /// Append the entries of `base` whose key `keep` accepts, as they are
    /// (they were checked when pushed there): one copy per entry, no
    /// re-scan. A variable `base` had to leave out stays refused here.
    pub fn extend_from(&mut self, base: &ChildEnv, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut start = 0;
        for &end in &base.ends {
            let Some(entry) = base.buf.get(start..end) else {
                break;
            };
            start = end;
            let key_len = entry.iter().position(|&b| b == b'=').unwrap_or(0);
            if keep(&entry[..key_len]) {
                self.buf.extend_from_slice(entry);
                self.ends.push(self.buf.len());
            }
        }
        if self.refused.is_none() {
            self.refused.clone_from(&base.refused);
        }
    }

    /// The variable that had to be left out, if any.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// The entries as C strings, in order.
    pub fn entries(&self) -> impl Iterator<Item = &CStr> {
        let mut start = 0;
        self.ends.iter().filter_map(move |&end| {
            let e = CStr::from_bytes_with_nul(&self.buf[start..end]).ok();
            start = end;
            e
        })
    }

    /// `(key, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries().map(|e| {
            let e = e.to_bytes();
            let eq = e.iter().position(|&b| b == b'=').unwrap_or(e.len());
            (&e[..eq], e.get(eq + 1..).unwrap_or_default())
        })
    }

    /// The value of `key` (the last one, as `getenv` on such an environ).
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.iter()
            .filter(|(k, _)| *k == key.as_bytes())
            .last()
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// What a successful call printed on stdout (its stderr went to ours).
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    NotFound {
        /// The plugin type looked for.
        plugin: String,
        searched: String,
    },
    Spawn {
        path: PathBuf,
        reason: String,
    },
    TimedOut {
        limit: Duration,
        stderr_tail: String,
    },
    Signaled {
        signal: String,
        stderr_tail: String,
    },
    Exited {
        status: i32,
        stdout: String,
        stderr_tail: String,
    },
    /// The delegate printed a CNI error object.
    Reported {
        code: u32,
        msg: String,
        details: String,
    },
    OutputTooLarge,
}

impl fmt::Display for Failure {
    /// What went wrong, without who it happened to (see [`Failure::into_error`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotFound { plugin, searched } => {
                write!(f, "plugin {plugin:?} not found in CNI_PATH ({searched})")
            }
            Failure::Spawn { path, reason } => write!(f, "cannot run {}: {reason}", path.display()),
            Failure::TimedOut { limit, .. } => {
                write!(f, "timed out after {} and was killed", fmt_duration(*limit))
            }
            Failure::Signaled { signal, .. } => write!(f, "killed by signal {signal}"),
            Failure::Exited { status, .. } => {
                write!(f, "exited with status {status} without a CNI error")
            }
            Failure::Reported { msg, .. } => f.write_str(msg),
            Failure::OutputTooLarge => {
                write!(f, "printed more than {} MiB on stdout", STDOUT_CAP >> 20)
            }
        }
    }
}

impl Failure {
    /// The CNI error code this failure reaches the runtime with.
    pub fn code(&self) -> u32 {
        match self {
            Failure::NotFound { .. } | Failure::Spawn { .. } => code::DELEGATE_NOT_FOUND,
            Failure::TimedOut { .. } => code::DELEGATE_TIMEOUT,
            Failure::Signaled { .. } | Failure::Exited { .. } => code::DELEGATE_FAILED,
            Failure::Reported { code, .. } => *code,
            Failure::OutputTooLarge => code::DECODE,
        }
    }

    /// What goes into the error's `details`: the delegate's own, or the
    /// end of its stderr (and of its stdout when it printed no error).
    pub fn details(&self) -> String {
        let tail = |t: &str| {
            let t = t.trim();
            (!t.is_empty()).then(|| format!("stderr: {t}"))
        };
        match self {
            Failure::TimedOut { stderr_tail, .. } | Failure::Signaled { stderr_tail, .. } => {
                tail(stderr_tail).unwrap_or_default()
            }
            Failure::Exited {
                stdout,
                stderr_tail,
                ..
            } => {
                let out = stdout.trim();
                let out = (!out.is_empty()).then(|| format!("stdout: {}", truncate(out, 512)));
                [out, tail(stderr_tail)]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Failure::Reported { details, .. } => details.clone(),
            _ => String::new(),
        }
    }

    /// The CNI error for this failure; `who` names the delegate.
    pub fn into_error(self, who: &str) -> CniError {
        CniError::new(self.code(), format!("{who}: {self}")).with_details(self.details())
    }
}

/// A call that has been started.
pub enum Started<'a> {
    /// A delegate process, not yet given its stdin.
    Process(Running<'a>),
    /// An answer given without a process (fakes in tests).
    Answered(Result<Output, Failure>),
}

impl Started<'_> {
    /// The delegate's process group, to record while it runs.
    pub fn process(&self) -> Option<ProcessId> {
        match self {
            Started::Process(r) => Some(r.id),
            Started::Answered(_) => None,
        }
    }

    /// Give the delegate its stdin and wait for the outcome.
    pub fn wait(self) -> Result<Output, Failure> {
        match self {
            Started::Process(r) => r.wait(),
            Started::Answered(a) => a,
        }
    }
}

/// The seam between the engine and processes (fakes in unit tests): a call
/// is started, and then waited for. Between the two the delegate exists but
/// has not been given its config, so it has done nothing yet.
pub trait Invoker: Sync {
    fn start<'a>(&self, call: &'a Call<'a>) -> Result<Started<'a>, Failure>;

    /// Start the call and wait for it.
    fn invoke(&self, call: &Call<'_>) -> Result<Output, Failure> {
        self.start(call)?.wait()
    }
}

/// `0.82ms`, `412ms`, `30s`: precise where it is short, whole seconds for
/// the limits operators write.
pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2}ms", d.as_secs_f64() * 1000.0)
    } else if d.as_millis() < 10_000 && d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Parse a CNI error object printed by a delegate: an object with a
/// positive integer `code` and none of a result's keys.
pub fn parse_error_object(stdout: &[u8]) -> Option<(u32, String, String)> {
    // Cheap tests first: a result (often large) is never parsed here.
    if !stdout.trim_ascii_start().starts_with(b"{") || !stdout.windows(6).any(|w| w == b"\"code\"")
    {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    let o = v.as_object()?;
    if ["interfaces", "ips", "ip4", "ip6", "routes", "dns"]
        .iter()
        .any(|k| o.contains_key(*k))
    {
        return None;
    }
    let code = o
        .get("code")?
        .as_u64()
        .filter(|c| *c > 0 && *c <= u64::from(u32::MAX))?;
    let msg = o
        .get("msg")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
    let details = o
        .get("details")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
    Some((u32::try_from(code).ok()?, msg, details))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn child_env_keeps_order_and_the_last_definition_wins() {
        let mut env = ChildEnv::with_capacity(3, 32);
        env.push(b"A", b"1");
        env.push(b"EMPTY", b"");
        env.push(b"A", b"x=y");
        assert_eq!(env.len(), 3);
        assert_eq!(env.get("A"), Some(&b"x=y"[..]));
        assert_eq!(env.get("EMPTY"), Some(&b""[..]));
        assert_eq!(env.get("MISSING"), None);
        let entries: Vec<&[u8]> = env.entries().map(CStr::to_bytes).collect();
        assert_eq!(entries, [&b"A=1"[..], b"EMPTY=", b"A=x=y"]);
        assert_eq!(env.refused(), None);
    }

    #[test]
    fn extend_from_copies_the_kept_entries_and_a_refusal() {
        let mut base = ChildEnv::default();
        base.push(b"A", b"x=y");
        base.push(b"CNI_NETNS", b"/old");
        base.push(b"EMPTY", b"");
        let mut out = ChildEnv::default();
        out.extend_from(&base, |k| k != b"CNI_NETNS");
        out.push(b"CNI_NETNS", b"/new");
        let entries: Vec<&[u8]> = out.entries().map(CStr::to_bytes).collect();
        assert_eq!(entries, [&b"A=x=y"[..], b"EMPTY=", b"CNI_NETNS=/new"]);
        assert_eq!(out.get("A"), Some(&b"x=y"[..]));
        assert_eq!(out.refused(), None);
        base.push(b"BAD", b"a\0b");
        let mut out = ChildEnv::default();
        out.extend_from(&base, |_| true);
        assert_eq!(out.len(), 3);
        assert_eq!(out.refused(), Some("BAD"));
    }

    /// `sh` from /bin or /usr/bin with `env` and `{}` on stdin.
    fn run_sh(env: ChildEnv) -> Result<Output, Failure> {
        ProcessInvoker.invoke(&Call {
            plugin: "sh",
            cni_path: "/bin:/usr/bin",
            env,
            stdin: b"{}",
            limit: Some(Duration::from_secs(5)),
        })
    }

    #[test]
    fn a_nul_byte_is_refused_not_truncated() {
        let mut env = ChildEnv::default();
        env.push(b"GOOD", b"1");
        env.push(b"BAD", b"a\0b");
        env.push(b"WORSE\0", b"c");
        assert_eq!(env.len(), 1);
        assert_eq!(env.refused(), Some("BAD"));
        match run_sh(env) {
            Err(Failure::Spawn { reason, .. }) => {
                assert_eq!(reason, "environment variable BAD contains a NUL byte")
            }
            other => panic!("expected a spawn failure, got {other:?}"),
        }
    }

    #[test]
    fn an_environment_too_large_for_exec_is_named() {
        // Linux refuses one string over 128 KiB (MAX_ARG_STRLEN) with E2BIG.
        let mut env = ChildEnv::default();
        env.push(b"CNI_ARGS", "K=".repeat(100 << 10).as_bytes());
        match run_sh(env) {
            Err(f @ Failure::Spawn { .. }) => {
                let e = f.into_error("delegate \"x\"");
                assert_eq!(e.code, crate::error::code::DELEGATE_NOT_FOUND);
                assert!(
                    e.msg.contains("environment or arguments are too large")
                        && e.msg.contains("CNI_ARGS"),
                    "{}",
                    e.msg
                );
            }
            other => panic!("expected a spawn failure, got {other:?}"),
        }
    }
}
