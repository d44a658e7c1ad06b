//! Metrics for node_exporter's textfile collector (`metricsFile`): what one
//! invocation did (its operation and result code, each delegate call's
//! outcome and duration, rollbacks) is collected in memory while it runs,
//! and added once, at its end, to the counters of a Prometheus text-format
//! file.
//!
//! The file is the state: under an `flock` on `<metricsFile>.lock` the
//! current values are read back from it (only this module's own lines are
//! accepted), this invocation's are added, and the whole file is written to
//! `<metricsFile>.tmp` and renamed over it. So concurrent invocations never
//! lose an increment, and a reader always sees a complete file. A file that
//! is not ours (or is corrupt) is started over, with a warning; nothing
//! here ever fails the CNI operation.

use crate::invoke::{Failure, Output};
use crate::log::Logger;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the duration histograms' buckets: a no-op
/// delegate takes about a millisecond, a slow IPAM seconds, and the
/// longest sensible `timeoutSeconds` a minute.
const BUCKETS: [&str; 13] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
];

/// How long an invocation waits for the metrics file's lock before it
/// gives its numbers up (with a warning). Holders keep it for well under
/// a millisecond.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How a delegate call ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit 0 without an error object.
    Ok,
    /// The delegate printed a CNI error object.
    CniError,
    /// Killed at its time limit.
    Timeout,
    /// Killed by a signal, exited non-zero without an error object, or
    /// printed more than meta-cni reads.
    Crash,
    /// Its binary was not found or could not be started.
    NotFound,
    /// Left running by a meta-cni that was killed, and ended by a later
    /// operation on the attachment.
    KilledInFlight,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::CniError => "cni_error",
            Outcome::Timeout => "timeout",
            Outcome::Crash => "crash",
            Outcome::NotFound => "not_found",
            Outcome::KilledInFlight => "killed_in_flight",
        }
    }

    fn of(outcome: &Result<Output, Failure>) -> Outcome {
        match outcome {
            Ok(_) => Outcome::Ok,
            Err(Failure::Reported { .. }) => Outcome::CniError,
            Err(Failure::TimedOut { .. }) => Outcome::Timeout,
            Err(Failure::NotFound { .. } | Failure::Spawn { .. }) => Outcome::NotFound,
            Err(Failure::Signaled { .. } | Failure::Exited { .. } | Failure::OutputTooLarge) => {
                Outcome::Crash
            }
        }
    }
}

/// One delegate call (or one delegate ended in flight), as it was reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DelegateCall {
    /// The CNI command it was running.
    pub verb: String,
    /// The plugin type.
    pub plugin: String,
    /// Which delegate: `pipeline "eth0" delegate "calico"`.
    pub who: String,
    pub outcome: Outcome,
    /// The call's duration (none for one ended in flight).
    pub took: Option<Duration>,
    /// What went wrong, or what was ended.
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
struct Seen {
    calls: Vec<DelegateCall>,
    /// Rollbacks that undid everything, and those that did not.
    rollbacks: [u64; 2],
}

/// What one invocation did, as the engine reports it. Off (reporting costs
/// one atomic load) unless the config names a `metricsFile`, or a caller
/// wants the calls (`meta-cni release`).
#[derive(Debug, Default)]
pub(crate) struct Invocation {
    on: AtomicBool,
    seen: Mutex<Seen>,
}

impl Invocation {
    /// Off until [`Invocation::switch_on`].
    pub(crate) fn new() -> Invocation {
        Invocation::default()
    }

    pub(crate) fn switch_on(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A delegate call ended with `outcome` after `took`.
    pub(crate) fn delegate_call(
        &self,
        verb: &str,
        plugin: &str,
        who: impl FnOnce() -> String,
        took: Duration,
        outcome: &Result<Output, Failure>,
    ) {
        if !self.on() {
            return;
        }
        let call = DelegateCall {
            verb: verb.to_string(),
            plugin: plugin.to_string(),
            who: who(),
            outcome: Outcome::of(outcome),
            took: Some(took),
            detail: outcome
                .as_ref()
                .err()
                .map(|f| format!("[{}] {f}", f.code())),
        };
        self.seen().calls.push(call);
    }

    /// A delegate a killed meta-cni left running (running `verb`) was ended.
    pub(crate) fn killed_in_flight(&self, verb: &str, plugin: &str, who: &str, what: &str) {
        if !self.on() {
            return;
        }
        let call = DelegateCall {
            verb: verb.to_string(),
            plugin: plugin.to_string(),
            who: who.to_string(),
            outcome: Outcome::KilledInFlight,
            took: None,
            detail: Some(what.to_string()),
        };
        self.seen().calls.push(call);
    }

    /// An ADD failed and was rolled back; `clean`: everything was undone.
    pub(crate) fn rollback(&self, clean: bool) {
        if self.on() {
            self.seen().rollbacks[usize::from(!clean)] += 1;
        }
    }

    /// The delegate calls reported so far, in order.
    pub(crate) fn calls(&self) -> Vec<DelegateCall> {
        self.seen().calls.clone()
    }

    /// Add this invocation, whose operation `verb` answered `code` after
    /// `took`, to the metrics file at `path`. Problems are logged, never
    /// returned: metrics must not fail the operation.
    pub(crate) fn write(&self, path: &Path, verb: &str, code: u32, took: Duration, log: &Logger) {
        if let Err(e) = self.update(path, verb, code, took, log) {
            log.warn(
                "",
                format_args!(
                    "metricsFile {}: {e}; this operation is not counted",
                    path.display()
                ),
            );
        }
    }

    fn update(
        &self,
        path: &Path,
        verb: &str,
        code: u32,
        took: Duration,
        log: &Logger,
    ) -> io::Result<()> {
        let _held = lock(&sibling(path, ".lock"))?;
        let mut text = String::new();
        match open_metrics_file(path, Access::Read) {
            Ok(mut f) => {
                f.read_to_string(&mut text)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut counts = Counts::parse(&text).unwrap_or_else(|why| {
            log.warn(
                "",
                format_args!(
                    "metricsFile {}: {why}: not a file meta-cni wrote; starting the counts over",
                    path.display()
                ),
            );
            Counts::default()
        });
        counts.add(self, verb, code, took);
        let tmp = sibling(path, ".tmp");
        let written = open_metrics_file(&tmp, Access::Replace)
            .and_then(|mut f| f.write_all(counts.render().as_bytes()))
            .and_then(|()| fs::rename(&tmp, path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// What a file of the metrics is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The lock file next to the metrics file (created 0600).
    Lock,
    /// The metrics file, to read the current values.
    Read,
    /// The temp file the new values are written to, then renamed over the
    /// metrics file (created 0644: node_exporter often runs as another
    /// user, e.g. Debian's as `prometheus`).
    Replace,
}

/// Every file of the metrics is opened here, and only here: the lock, the
/// metrics file (read), and the temp file renamed over it.
pub(crate) fn open_metrics_file(path: &Path, access: Access) -> io::Result<File> {
    let mut o = OpenOptions::new();
    match access {
        Access::Lock => o.read(true).write(true).create(true).mode(0o600),
        Access::Read => o.read(true),
        Access::Replace => o.write(true).create(true).truncate(true).mode(0o644),
    };
    // std opens every file close-on-exec: no delegate inherits one.
    o.open(path)
}

/// Take the lock at `path`, waiting up to [`LOCK_WAIT`].
fn lock(path: &Path) -> io::Result<Flock<File>> {
    let until = Instant::now() + LOCK_WAIT;
    let mut file = open_metrics_file(path, Access::Lock)?;
    let mut nap = Duration::from_micros(100);
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(held),
            Err((f, Errno::EWOULDBLOCK)) if Instant::now() < until => {
                file = f;
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(5));
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(io::Error::other(format!(
                    "{} stayed locked for {}s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )))
            }
            Err((_, e)) => return Err(e.into()),
        }
    }
}

/// The metric families, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Operations,
    DelegateCalls,
    Rollbacks,
    OperationSeconds,
    DelegateSeconds,
}

impl Family {
    const ALL: [Family; 5] = [
        Family::Operations,
        Family::DelegateCalls,
        Family::Rollbacks,
        Family::OperationSeconds,
        Family::DelegateSeconds,
    ];

    fn name(self) -> &'static str {
        match self {
            Family::Operations => "meta_cni_operations_total",
            Family::DelegateCalls => "meta_cni_delegate_calls_total",
            Family::Rollbacks => "meta_cni_rollbacks_total",
            Family::OperationSeconds => "meta_cni_operation_duration_seconds",
            Family::DelegateSeconds => "meta_cni_delegate_duration_seconds",
        }
    }

    fn labels(self) -> &'static [&'static str] {
        match self {
            Family::Operations => &["verb", "code"],
            Family::DelegateCalls => &["plugin", "verb", "outcome"],
            Family::Rollbacks => &["result"],
            Family::OperationSeconds => &["verb"],
            Family::DelegateSeconds => &["plugin", "verb"],
        }
    }

    fn histogram(self) -> bool {
        matches!(self, Family::OperationSeconds | Family::DelegateSeconds)
    }

    fn help(self) -> &'static str {
        match self {
            Family::Operations => "CNI operations meta-cni answered, by command and result code (0: success).",
            Family::DelegateCalls => "Delegate plugin calls by plugin type, command and outcome (ok, cni_error, timeout, crash, not_found, killed_in_flight).",
            Family::Rollbacks => "ADDs that failed and were rolled back, by whether everything was undone (clean) or not (incomplete).",
            Family::OperationSeconds => "Duration of CNI operations, by command.",
            Family::DelegateSeconds => "Duration of delegate plugin calls, by plugin type and command.",
        }
    }
}

/// A histogram's cumulative bucket counts (the `+Inf` bucket is `count`).
#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (b, bound) in self.buckets.iter_mut().zip(bounds()) {
            if seconds <= bound {
                *b += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

fn bounds() -> impl Iterator<Item = f64> {
    BUCKETS.iter().map(|b| b.parse().unwrap_or(f64::INFINITY))
}

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Counter(u64),
    Histogram(Box<Histogram>),
}

/// Every series of the file: (family, label values) to its value.
#[derive(Debug, Default, PartialEq)]
struct Counts(BTreeMap<(Family, Vec<String>), Value>);

impl Counts {
    fn count(&mut self, family: Family, labels: &[&str]) {
        let key = (family, labels.iter().map(|l| l.to_string()).collect());
        if let Value::Counter(n) = self.0.entry(key).or_insert(Value::Counter(0)) {
            *n += 1;
        }
    }

    fn observe(&mut self, family: Family, labels: &[&str], took: Duration) {
        let key = (family, labels.iter().map(|l| l.to_string()).collect());
        let v = self
            .0
            .entry(key)
            .or_insert_with(|| Value::Histogram(Box::default()));
        if let Value::Histogram(h) = v {
            h.observe(took.as_secs_f64());
        }
    }

    fn add(&mut self, inv: &Invocation, verb: &str, code: u32, took: Duration) {
        let seen = inv.seen();
        self.count(Family::Operations, &[verb, &code.to_string()]);
        self.observe(Family::OperationSeconds, &[verb], took);
        for c in &seen.calls {
            let labels = [c.plugin.as_str(), c.verb.as_str(), c.outcome.as_str()];
            self.count(Family::DelegateCalls, &labels);
            if let Some(t) = c.took {
                self.observe(Family::DelegateSeconds, &labels[..2], t);
            }
        }
        for (n, result) in seen.rollbacks.iter().zip(["clean", "incomplete"]) {
            for _ in 0..*n {
                self.count(Family::Rollbacks, &[result]);
            }
        }
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(4096 + self.0.len() * 96);
        let mut at = self.0.iter().peekable();
        for family in Family::ALL {
            let name = family.name();
            let _ = writeln!(out, "# HELP {name} {}", family.help());
            let kind = if family.histogram() {
                "histogram"
            } else {
                "counter"
            };
            let _ = writeln!(out, "# TYPE {name} {kind}");
            while let Some(((_, values), v)) = at.next_if(|((f, _), _)| *f == family) {
                let labels = label_text(family.labels(), values);
                match v {
                    Value::Counter(n) => {
                        let _ = writeln!(out, "{name}{{{labels}}} {n}");
                    }
                    Value::Histogram(h) => {
                        let sep = if labels.is_empty() { "" } else { "," };
                        for (le, n) in BUCKETS.iter().zip(h.buckets) {
                            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
                        }
                        let _ =
                            writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
                        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
                        let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
                    }
                }
            }
        }
        out
    }

    /// The series of a file this module wrote. Anything else in it (a line
    /// of another metric, other labels, a bucket bound it does not use, a
    /// count that is not a whole number) makes it not ours: `Err(why)`.
    fn parse(text: &str) -> Result<Counts, String> {
        let mut counts = Counts::default();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            counts
                .take(line)
                .map_err(|why| format!("line {}: {why}", n + 1))?;
        }
        for ((family, _), v) in &counts.0 {
            if let Value::Histogram(h) = v {
                let ordered = h.buckets.windows(2).all(|w| w[0] <= w[1])
                    && h.buckets.last().map_or(true, |last| *last <= h.count);
                if !ordered {
                    return Err(format!("{} has buckets out of order", family.name()));
                }
            }
        }
        Ok(counts)
    }

    fn take(&mut self, line: &str) -> Result<(), String> {
        let (series, value) = line.rsplit_once(' ').ok_or("no value")?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                parse_labels(rest.strip_suffix('}').ok_or("no closing brace")?)?,
            ),
            None => (series, Vec::new()),
        };
        let (family, part) = Family::ALL
            .iter()
            .find_map(|f| {
                if !f.histogram() {
                    return (name == f.name()).then_some((*f, ""));
                }
                let part = name.strip_prefix(f.name())?;
                matches!(part, "_bucket" | "_sum" | "_count").then_some((*f, part))
            })
            .ok_or_else(|| format!("{name} is not a metric meta-cni writes"))?;
        let mut labels = labels;
        let le = if part == "_bucket" {
            match labels.pop() {
                Some((k, v)) if k == "le" => Some(v),
                _ => return Err(format!("{name} without le")),
            }
        } else {
            None
        };
        if labels.len() != family.labels().len()
            || labels.iter().zip(family.labels()).any(|((k, _), l)| k != l)
        {
            return Err(format!("{name} with other labels"));
        }
        let key = (family, labels.into_iter().map(|(_, v)| v).collect());
        let whole = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name}: {value:?} is not a count"))
        };
        if !family.histogram() {
            if self.0.insert(key, Value::Counter(whole()?)).is_some() {
                return Err(format!("{name} twice with the same labels"));
            }
            return Ok(());
        }
        let v = self
            .0
            .entry(key)
            .or_insert_with(|| Value::Histogram(Box::default()));
        let Value::Histogram(h) = v else {
            return Err(format!("{name}: not a histogram"));
        };
        match (part, le.as_deref()) {
            ("_sum", _) => {
                h.sum = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("{name}: {value:?} is not a sum of seconds"))?;
            }
            // The `+Inf` bucket and `_count` are one number, written twice.
            ("_count", _) | (_, Some("+Inf")) => {
                let n = whole()?;
                if h.count != 0 && n != h.count {
                    return Err(format!("{name}: the +Inf bucket differs from the count"));
                }
                h.count = n;
            }
            (_, Some(le)) => {
                let i = BUCKETS
                    .iter()
                    .position(|b| *b == le)
                    .ok_or_else(|| format!("{name}: bucket le={le:?} is not one of meta-cni's"))?;
                h.buckets[i] = whole()?;
            }
            _ => return Err(format!("{name} without le")),
        }
        Ok(())
    }
}

/// `k="v",k2="v2"` with values escaped as the text format wants.
fn label_text(names: &[&str], values: &[String]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

/// The inside of `{...}`: `k="v",...` in order, values unescaped.
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").ok_or("a label without a value")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("an unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err("a bad escape in a label value".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        rest = &after[end + 1..];
        rest = match rest.strip_prefix(',') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return Err("labels not separated by commas".into()),
        };
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::log::LogLevel;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("meta-cni-metrics-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        p
    }

    fn invocation() -> Invocation {
        let inv = Invocation::new();
        inv.switch_on();
        let ok: Result<Output, Failure> = Ok(Output::default());
        inv.delegate_call(
            "ADD",
            "bridge",
            || "a".into(),
            Duration::from_millis(3),
            &ok,
        );
        let timeout = Err(Failure::TimedOut {
            limit: Duration::from_secs(1),
            stderr_tail: String::new(),
        });
        inv.delegate_call(
            "ADD",
            "we\"ird\\\nname",
            || "b".into(),
            Duration::from_secs(2),
            &timeout,
        );
        inv.killed_in_flight("ADD", "portmap", "c", "its ADD");
        inv.rollback(true);
        inv
    }

    #[test]
    fn counts_add_up_across_invocations_and_survive_their_own_format() {
        let dir = tmp("add");
        let file = dir.join("m.prom");
        let log = Logger::stderr(LogLevel::Error);
        for _ in 0..3 {
            invocation().write(&file, "ADD", 7, Duration::from_millis(40), &log);
        }
        let text = fs::read_to_string(&file).unwrap();
        let counts = Counts::parse(&text).unwrap();
        assert_eq!(counts.render(), text, "read back exactly");
        for line in [
            "meta_cni_operations_total{verb=\"ADD\",code=\"7\"} 3",
            "meta_cni_delegate_calls_total{plugin=\"bridge\",verb=\"ADD\",outcome=\"ok\"} 3",
            "meta_cni_delegate_calls_total{plugin=\"we\\\"ird\\\\\\nname\",verb=\"ADD\",outcome=\"timeout\"} 3",
            "meta_cni_delegate_calls_total{plugin=\"portmap\",verb=\"ADD\",outcome=\"killed_in_flight\"} 3",
            "meta_cni_rollbacks_total{result=\"clean\"} 3",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"0.025\"} 0",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"0.05\"} 3",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"+Inf\"} 3",
            "meta_cni_operation_duration_seconds_count{verb=\"ADD\"} 3",
            "meta_cni_delegate_duration_seconds_bucket{plugin=\"bridge\",verb=\"ADD\",le=\"0.005\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        assert!(!dir.join("m.prom.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_foreign_or_corrupt_file_is_started_over() {
        for bad in [
            "node_load1 3\n",
            "meta_cni_operations_total{verb=\"ADD\"} 1\n",
            "meta_cni_operations_total{verb=\"ADD\",code=\"0\"} 1.5\n",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"0.3\"} 1\n",
            "meta_cni_operations_total{verb=\"ADD,code=\"0\"} 1\n",
            "garbage",
            "\u{0}\u{0}",
        ] {
            assert!(Counts::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Counts::parse(""), Ok(Counts::default()));
        let dir = tmp("foreign");
        let file = dir.join("m.prom");
        fs::write(&file, "node_load1 3\n").unwrap();
        invocation().write(
            &file,
            "DEL",
            0,
            Duration::from_millis(1),
            &Logger::stderr(LogLevel::Error),
        );
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains("meta_cni_operations_total{verb=\"DEL\",code=\"0\"} 1\n"));
        assert!(!text.contains("node_load1"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_place_is_a_warning_not_a_failure() {
        let inv = invocation();
        inv.write(
            Path::new("/nonexistent/dir/m.prom"),
            "ADD",
            0,
            Duration::ZERO,
            &Logger::stderr(LogLevel::Error),
        );
    }

    #[test]
    fn off_it_keeps_nothing() {
        let inv = Invocation::new();
        inv.delegate_call(
            "ADD",
            "x",
            || unreachable!(),
            Duration::ZERO,
            &Ok(Output::default()),
        );
        inv.killed_in_flight("ADD", "x", "y", "z");
        inv.rollback(false);
        assert!(inv.calls().is_empty());
        assert_eq!(inv.seen().rollbacks, [0, 0]);
    }
}
