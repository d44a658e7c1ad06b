//! Running one delegate: find it in `CNI_PATH`, start it with an explicit
//! environment in its own process group, feed stdin and drain stdout/stderr
//! without threads (poll), enforce its time limit (SIGTERM to the group,
//! SIGKILL after a grace), and classify the outcome.

mod process;

use crate::error::{code, CniError};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use process::{find, ProcessInvoker};

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
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The plugin binary name (`type`).
    pub plugin: &'a str,
    /// Directories to search (`CNI_PATH` as overridden), `:`-separated.
    pub cni_path: &'a str,
    /// The child's whole environment.
    pub env: Vec<(OsString, OsString)>,
    pub stdin: &'a [u8],
    pub limit: Option<Duration>,
}

/// What a successful call printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr_tail: String,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    NotFound {
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

impl Failure {
    /// The CNI error for this failure; `who` names the delegate.
    pub fn into_error(self, who: &str) -> CniError {
        let tail = |t: &str| {
            if t.trim().is_empty() {
                String::new()
            } else {
                format!("stderr: {}", t.trim())
            }
        };
        match self {
            Failure::NotFound { searched } => CniError::new(
                code::DELEGATE_NOT_FOUND,
                format!("{who}: plugin not found in CNI_PATH ({searched})"),
            ),
            Failure::Spawn { path, reason } => CniError::new(
                code::DELEGATE_NOT_FOUND,
                format!("{who}: cannot run {}: {reason}", path.display()),
            ),
            Failure::TimedOut { limit, stderr_tail } => CniError::new(
                code::DELEGATE_TIMEOUT,
                format!(
                    "{who}: timed out after {} and was killed",
                    fmt_duration(limit)
                ),
            )
            .with_details(tail(&stderr_tail)),
            Failure::Signaled {
                signal,
                stderr_tail,
            } => CniError::new(
                code::DELEGATE_FAILED,
                format!("{who}: killed by signal {signal}"),
            )
            .with_details(tail(&stderr_tail)),
            Failure::Exited {
                status,
                stdout,
                stderr_tail,
            } => {
                let mut e = CniError::new(
                    code::DELEGATE_FAILED,
                    format!("{who}: exited with status {status} without a CNI error"),
                );
                if !stdout.trim().is_empty() {
                    e.add_detail(format!("stdout: {}", truncate(stdout.trim(), 512)));
                }
                let t = tail(&stderr_tail);
                if !t.is_empty() {
                    e.add_detail(t);
                }
                e
            }
            Failure::Reported { code, msg, details } => {
                CniError::new(code, format!("{who}: {msg}")).with_details(details)
            }
            Failure::OutputTooLarge => CniError::new(
                code::DECODE,
                format!(
                    "{who}: printed more than {} MiB on stdout",
                    STDOUT_CAP >> 20
                ),
            ),
        }
    }
}

/// The seam between the engine and processes (fakes in unit tests).
pub trait Invoker {
    fn invoke(&self, call: &Call<'_>) -> Result<Output, Failure>;
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
