//! The logger: one line per event (time, level, pid, command, container,
//! scope, message) to stderr, or appended to `logFile` with a size cap and one
//! rotated `.1` backup. Never stdout: that is the protocol channel.
//!
//! `logFile` is used only in a directory that passes [`crate::trust`]'s
//! check, opened without following a symlink and checked (a regular file of
//! ours that others cannot write; created 0600); otherwise the log stays on
//! stderr, with a warning saying why.

use crate::trust::{self, Open};
use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

enum Sink {
    Stderr,
    File(File),
}

/// Longest line written; the rest of a longer one (a debug dump of a huge
/// config, say) is cut and counted, so one event stays one readable line
/// and one `write(2)`.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// How much is logged (`logLevel`), most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
            LogLevel::Trace => "TRACE",
        }
    }
}

/// A logger for one invocation.
pub(crate) struct Logger {
    level: LogLevel,
    sink: Mutex<Sink>,
    prefix: String,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.level)
            .finish()
    }
}

impl Logger {
    /// A stderr logger (used until the config has been read).
    pub(crate) fn stderr(level: LogLevel) -> Logger {
        Logger {
            level,
            sink: Mutex::new(Sink::Stderr),
            prefix: format!("meta-cni[{}]", std::process::id()),
        }
    }

    /// Set what every line carries: the command and container.
    pub(crate) fn set_context(&mut self, command: &str, container_id: &str) {
        self.prefix = if container_id.is_empty() {
            format!("meta-cni[{}] {command}", std::process::id())
        } else {
            format!(
                "meta-cni[{}] {command} cid={container_id}",
                std::process::id()
            )
        };
    }

    /// Log to `path` instead of stderr, rotating it first when it is over
    /// `max_bytes`. On failure logging stays on stderr and the reason is
    /// returned so it can be logged there.
    pub(crate) fn write_to_file(&mut self, path: &Path, max_bytes: u64) -> Result<(), String> {
        let f = open_log(path, max_bytes).map_err(|e| match trust::untrusted(&e) {
            Some(t) => format!("logFile {} not trusted: {t}", path.display()),
            None => format!("cannot open logFile {}: {e}", path.display()),
        })?;
        self.sink = Mutex::new(Sink::File(f));
        Ok(())
    }

    fn sink(&self) -> std::sync::MutexGuard<'_, Sink> {
        match self.sink.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        level <= self.level
    }

    /// Write one line. `scope` is e.g. `pipeline=eth0 delegate=calico` (may be empty).
    pub(crate) fn log(&self, level: LogLevel, scope: &str, msg: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let mut line = String::with_capacity(160);
        use std::fmt::Write as _;
        let _ = write!(
            line,
            "{} {:<5} {}",
            timestamp(),
            level.as_str(),
            self.prefix
        );
        if !scope.is_empty() {
            line.push(' ');
            line.push_str(scope);
        }
        let _ = write!(line, ": {msg}");
        // One line per event, even if a message has newlines in it.
        let mut line = line.replace('\n', "\\n");
        if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            let cut = line.len() - end;
            line.truncate(end);
            let _ = write!(line, " ... [{cut} bytes cut]");
        }
        line.push('\n');
        // Whole lines per write(2): O_APPEND writers do not interleave.
        match &mut *self.sink() {
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Sink::File(f) => {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    pub(crate) fn error(&self, scope: &str, msg: fmt::Arguments<'_>) {
        self.log(LogLevel::Error, scope, msg);
    }
    pub(crate) fn warn(&self, scope: &str, msg: fmt::Arguments<'_>) {
        self.log(LogLevel::Warn, scope, msg);
    }
    pub(crate) fn info(&self, scope: &str, msg: fmt::Arguments<'_>) {
        self.log(LogLevel::Info, scope, msg);
    }
    pub(crate) fn debug(&self, scope: &str, msg: fmt::Arguments<'_>) {
        self.log(LogLevel::Debug, scope, msg);
    }
}

/// How the log file is opened: appended to, created 0600, others may read
/// it but not write it; or the null device.
const LOG: Open = Open::new().append().create().shared().or_null();

/// The log file at `path`, in a trusted directory, checked once opened
/// (an untrusted one is an error [`trust::untrusted`] recognises).
fn open_log(path: &Path, max_bytes: u64) -> std::io::Result<File> {
    let (dir, name) = trust::parent_of(path)?;
    let (f, st) = dir.open_file_stat(name, LOG)?;
    if u64::try_from(st.st_size).unwrap_or(0) < max_bytes {
        return Ok(f);
    }
    // Over the cap: rotate under an exclusive lock so that only one of
    // several concurrent invocations renames, then reopen. The rename puts
    // the log in place of whatever `.1` is (a symlink there is replaced,
    // not followed); the directory is trusted, so the names stay ours.
    let locked =
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))?;
    let still_big = std::fs::symlink_metadata(path)
        .map(|m| m.is_file() && m.len() >= max_bytes)
        .unwrap_or(false);
    if still_big {
        let mut backup = PathBuf::from(path);
        backup.as_mut_os_string().push(".1");
        std::fs::rename(path, backup)?;
    }
    drop(locked);
    Ok(dir.open_file(name, LOG)?)
}

/// RFC 3339 UTC time with milliseconds, computed without a date crate.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Whether a config key names a secret: `password`, `token`, `secret`,
/// `key`… but not a path to one (`*_file`, `*File`, `*_path`).
fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    if k.ends_with("file") || k.ends_with("path") || k.ends_with("dir") {
        return false;
    }
    ["password", "passwd", "token", "secret", "key", "credential"]
        .iter()
        .any(|s| k.contains(s))
}

/// A copy of `v` with secret-looking values replaced, for debug logs.
pub(crate) fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if secret_key(k) && !v.is_null() && v.as_str() != Some("") {
                        Value::String("<redacted>".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn redacts_secrets_but_not_paths() {
        let v: Value = serde_json::json!({
            "etcd_key_file": "/etc/k.pem", "password": "hunter2", "apiToken": "t",
            "nested": [{"client_secret": "s", "subnet": "10.0.0.0/24"}], "etcd_key": "", "type": "calico"
        });
        let r = redact(&v);
        assert_eq!(r["etcd_key_file"], "/etc/k.pem");
        assert_eq!(r["password"], "<redacted>");
        assert_eq!(r["apiToken"], "<redacted>");
        assert_eq!(r["nested"][0]["client_secret"], "<redacted>");
        assert_eq!(r["nested"][0]["subnet"], "10.0.0.0/24");
        assert_eq!(r["etcd_key"], "");
        assert_eq!(r["type"], "calico");
    }

    #[test]
    fn a_huge_message_is_one_capped_line() {
        let dir = std::env::temp_dir().join(format!("meta-cni-log-cap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("meta.log");
        let mut log = Logger::stderr(LogLevel::Debug);
        log.write_to_file(&path, 100).expect("log file");
        let huge = "é".repeat(600 * 1024) + "\nsecond line";
        log.debug("delegate=x", format_args!("{huge}"));
        log.info("", format_args!("next"));
        drop(log);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "one line per event");
        assert!(lines[0].len() <= MAX_LINE + 40, "{}", lines[0].len());
        assert!(
            lines[0].ends_with(" bytes cut]"),
            "{}",
            &lines[0][lines[0].len() - 60..]
        );
        assert!(lines[1].ends_with(": next"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
