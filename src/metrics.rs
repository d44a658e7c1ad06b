//! Metrics for node_exporter's textfile collector (`metricsFile`): what one
//! invocation did (its operation and result code, each delegate call's
//! outcome and duration, rollbacks) is collected in memory while it runs,
//! and added once, at its end, to the counters of a Prometheus text-format
//! file.
//!
//! The file is the state. Under an `flock` on `<metricsFile>.lock` it is
//! read back, this invocation's increments are merged into its lines (one
//! pass: the lines it touches are rewritten, the others copied, new series
//! added to their family; any line that is not one this module writes makes
//! the file foreign, and it is started over with a warning), and the result
//! is written to a temp file renamed over it. So concurrent invocations
//! never lose an increment, and a reader always sees a complete file.
//!
//! Replacing a file is what costs (new file, blocks, freeing the old one),
//! so a successful ADD or DEL that comes less than [`FOLD_EVERY`] after the
//! file was written does not: under the same lock it appends its
//! increments, one line per series, to the pending log
//! `<metricsFile>.pending`, and the next rewrite (see
//! [`Invocation::prepare`]) adds the log in and removes it. The rewritten file's first line names the log and how
//! much of it was added, so a log that a killed meta-cni left behind after
//! adding it is never added twice.
//!
//! What is slow is done while the delegates run, on a helper thread
//! ([`Invocation::prepare`]): reading and indexing the file (used at the
//! end when it is still the file at the path, as it is unless another
//! invocation wrote meanwhile), creating the temp file (its blocks
//! allocated up front, so that the file system does not flush it when it
//! takes the old one's place), opening the lock file, and freeing the files
//! earlier invocations replaced. Freeing a file's blocks is the expensive
//! part of replacing it (about half a millisecond on ext4 mounted with
//! `discard`), so the old file lives on, linked as `<metricsFile>.old.<pid>`,
//! until a later invocation frees it (not an ADD, unless many wait: see
//! [`Invocation::prepare`]); a file that was the metrics file is never
//! written again, so a reader that still has it open reads it whole.
//! Nothing here ever fails the CNI operation.
//!
//! The files are used only in a directory that passes [`crate::trust`]'s
//! check (checked once per invocation, while the delegates run), each
//! opened without following a symlink and checked: the lock file is ours
//! and 0600; the metrics file and the temp file that replaces it are ours
//! and not writable by others (0644: node_exporter may run as another
//! user). Otherwise there is no metrics file, with a warning.

use crate::invoke::{Failure, Output};
use crate::log::Logger;
use crate::trust::{self, Open};
use nix::errno::Errno;
use nix::fcntl::{fallocate, FallocateFlags, Flock, FlockArg};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the duration histograms' buckets: a no-op
/// delegate takes about a millisecond, a slow IPAM seconds, and the
/// longest sensible `timeoutSeconds` a minute.
const BUCKETS: [&str; 13] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
];

/// [`BUCKETS`] as numbers.
const BOUNDS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A successful ADD or DEL that comes less than this after the metrics
/// file was written adds its numbers to the pending log instead of
/// rewriting the file (see [`Invocation::prepare`]).
const FOLD_EVERY: Duration = Duration::from_secs(1);

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
    /// The files for the write at the end, being prepared.
    prepared: Mutex<Option<Arc<Slot>>>,
    /// The write at the end appends to the pending log (an ADD soon after
    /// the file was written).
    append: AtomicBool,
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

    /// Whether nothing went wrong: every delegate call ok, no rollback.
    fn clean(&self) -> bool {
        let seen = self.seen();
        seen.rollbacks == [0, 0] && seen.calls.iter().all(|c| c.outcome == Outcome::Ok)
    }

    /// The delegate calls reported so far, in order.
    pub(crate) fn calls(&self) -> Vec<DelegateCall> {
        self.seen().calls.clone()
    }

    /// Decide how this invocation's numbers are written, and start
    /// preparing what that needs. A successful ADD or DEL (what a
    /// container's start and end wait for) that comes less than
    /// [`FOLD_EVERY`] after the file was last written only appends its
    /// numbers to the pending log (`<metricsFile>.pending`), which the next
    /// rewrite of the file adds in. The file is rewritten by any other
    /// command, by an ADD or DEL that comes later, and by any invocation
    /// that saw a failure (an error code, a delegate that failed or was
    /// ended in flight, a rollback), so that failures show at once. For a
    /// rewrite the files it needs are prepared on a helper thread (see the
    /// module's description), so that it overlaps with the delegates; an
    /// ADD leaves the files earlier writes replaced to the next invocation
    /// that is not an ADD, unless [`FREE_ON_ADD`] of them wait. Without
    /// this, [`Invocation::write`] rewrites the file and prepares what it
    /// needs itself.
    pub(crate) fn prepare(&self, path: &Path, verb: &str) {
        let recent = fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < FOLD_EVERY);
        if matches!(verb, "ADD" | "DEL") && recent {
            self.append.store(true, Ordering::Relaxed);
            return;
        }
        let add = verb == "ADD";
        let path = path.to_path_buf();
        let slot = Arc::new(Slot::default());
        let fill = Fill(Arc::clone(&slot));
        // Not joined (joining a thread costs its stack's unmapping on the
        // caller's time): it hands its result over in `slot`.
        let started = std::thread::Builder::new()
            .name("metrics-prepare".into())
            .spawn(move || fill.put(Prepared::new(&path, add)));
        if started.is_ok() {
            *self.prepared.lock().unwrap_or_else(|e| e.into_inner()) = Some(slot);
        }
    }

    /// Add this invocation, whose operation `verb` answered `code` after
    /// `took`, to the metrics file at `path`. Problems are logged, never
    /// returned: metrics must not fail the operation.
    pub(crate) fn write(&self, path: &Path, verb: &str, code: u32, took: Duration, log: &Logger) {
        let appended = self.append.load(Ordering::Relaxed)
            && code == 0
            && self.clean()
            && self.append_pending(path, verb, code, took).is_ok();
        if appended {
            return;
        }
        if let Err(e) = self.update(path, verb, code, took, log) {
            match trust::untrusted(&e) {
                Some(t) => log.warn(
                    "",
                    format_args!(
                        "metricsFile {} not trusted: {t}; no metrics file is written (docs/security.md)",
                        path.display()
                    ),
                ),
                None => log.warn(
                    "",
                    format_args!(
                        "metricsFile {}: {e}; this operation is not counted",
                        path.display()
                    ),
                ),
            }
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
        let pending = self
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let prepared = match pending {
            // A helper that has not handed over within the wait may still
            // make this process's temp file: preparing again here would
            // race it for that file, so this operation is not counted.
            Some(slot) => slot.take().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("its files were not ready within {} s", LOCK_WAIT.as_secs()),
                )
            })?,
            None => Prepared::new(path, false),
        }?;
        let mut increments = self.increments(verb, code, took);
        let (tmp, out) = prepared.tmp?;
        // The temp file goes on any failure from here on.
        let written = (|| {
            let _held = lock(prepared.lock?, path)?;
            // What was read before is used when the file is still the one
            // read (a file at that path is never changed in place, only
            // replaced).
            let current = match prepared.current {
                Ok(c) if c.is_at(path) => c,
                _ => Current::read(&prepared.dir, path)?,
            };
            let folded = current.index.as_ref().ok().and_then(|i| i.folded.clone());
            let pending = Pending::read(&prepared.dir, path, folded, log)?;
            increments.absorb(pending.increments);
            Self::merge_into(out, &current, &increments, pending.marker, path, log)
                .and_then(|()| replace(&tmp, path))?;
            // Added in: the log goes (the marker in the file covers a
            // meta-cni killed before this).
            if pending.read {
                let _ = fs::remove_file(sibling(path, ".pending"));
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Append this invocation's numbers to the pending log, under the lock.
    fn append_pending(&self, path: &Path, verb: &str, code: u32, took: Duration) -> io::Result<()> {
        let (dir, _) = trust::parent_of(path)?;
        let _held = lock(
            open_metrics_file(&dir, &sibling(path, ".lock"), Access::Lock)?,
            path,
        )?;
        let mut log = open_metrics_file(&dir, &sibling(path, ".pending"), Access::Append)?;
        let mut lines = String::new();
        let len = log.metadata()?.len();
        if len == 0 {
            // A new log: named, so that a marker of another log (whose
            // inode this one may have been given) never applies to it.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = writeln!(
                lines,
                "{LOG_HEADER}{}-{}",
                std::process::id(),
                now.as_nanos()
            );
        }
        lines.push_str(&self.increments(verb, code, took).to_pending());
        // One write: whole lines. One cut short (a full disk) is taken
        // back, so that no part of it counts (the rewrite this invocation
        // falls back to counts it) and the next append starts a line.
        io::Write::write_all(&mut log, lines.as_bytes()).inspect_err(|_| {
            let _ = log.set_len(len);
        })
    }

    /// Write `current` with `increments` merged into `out`.
    fn merge_into(
        out: File,
        current: &Current,
        increments: &Increments,
        marker: Option<Folded>,
        path: &Path,
        log: &Logger,
    ) -> io::Result<()> {
        let (text, mut merged) = match &current.index {
            Ok(index) => (
                current.text.as_str(),
                Merged::new(&current.text, index, increments),
            ),
            Err(why) => {
                log.warn(
                    "",
                    format_args!(
                        "metricsFile {}: {why}: not a file meta-cni wrote; starting the counts over",
                        path.display()
                    ),
                );
                ("", Merged::new("", &Index::default(), increments))
            }
        };
        let at = current
            .index
            .as_ref()
            .ok()
            .and_then(|i| i.marker.clone())
            .unwrap_or(0..0);
        merged.mark(at, marker);
        write_pieces(out, &merged.pieces(text))
    }

    /// This invocation as increments of the file's series.
    fn increments(&self, verb: &str, code: u32, took: Duration) -> Increments {
        let seen = self.seen();
        let mut inc = Increments::default();
        inc.count(Family::Operations, &[verb, &code.to_string()]);
        inc.observe(Family::OperationSeconds, &[verb], took);
        for c in &seen.calls {
            let labels = [c.plugin.as_str(), c.verb.as_str(), c.outcome.as_str()];
            inc.count(Family::DelegateCalls, &labels);
            if let Some(t) = c.took {
                inc.observe(Family::DelegateSeconds, &labels[..2], t);
            }
        }
        for (n, result) in seen.rollbacks.iter().zip(["clean", "incomplete"]) {
            if *n > 0 {
                inc.add(Family::Rollbacks, label_text(&["result"], &[result]), |v| {
                    v.count += n;
                });
            }
        }
        inc
    }
}

/// Where the helper thread leaves what it prepared.
#[derive(Debug, Default)]
struct Slot {
    done: Mutex<Option<io::Result<Prepared>>>,
    ready: Condvar,
}

impl Slot {
    /// What the helper prepared, waiting for it if need be (`None` if it
    /// gave nothing within [`LOCK_WAIT`], or died).
    fn take(&self) -> Option<io::Result<Prepared>> {
        let until = Instant::now() + LOCK_WAIT;
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(p) = done.take() {
                return Some(p);
            }
            let left = until.checked_duration_since(Instant::now())?;
            done = self
                .ready
                .wait_timeout(done, left)
                .map(|(d, _)| d)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// The helper's end of a [`Slot`]: filled with its result, or with an
/// error if it dies first.
struct Fill(Arc<Slot>);

impl Fill {
    fn put(self, prepared: io::Result<Prepared>) {
        self.set(prepared);
    }

    fn set(&self, prepared: io::Result<Prepared>) {
        let mut done = self.0.done.lock().unwrap_or_else(|e| e.into_inner());
        if done.is_none() {
            *done = Some(prepared);
        }
        self.0.ready.notify_all();
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        // After `put` the slot is taken or full: this changes nothing.
        let empty = self.0.done.lock().map_or(true, |d| d.is_none());
        if empty && std::thread::panicking() {
            self.set(Err(io::Error::other("the prepare thread failed")));
        }
    }
}

/// What the write at the end of an invocation works with, made ready
/// before it: the directory, checked; the lock file, open; this process's
/// temp file (`<metricsFile>.tmp.<pid>`), created with room for the file;
/// and the metrics file as it was then, read and indexed.
#[derive(Debug)]
struct Prepared {
    dir: trust::Dir,
    lock: io::Result<File>,
    tmp: io::Result<(PathBuf, File)>,
    current: io::Result<Current>,
}

impl Prepared {
    /// An error when the directory cannot be trusted (or checked).
    fn new(path: &Path, add: bool) -> io::Result<Prepared> {
        let (dir, _) = trust::parent_of(path)?;
        // A metrics file that is not trusted: nothing is made next to it.
        // (A second link is also what a writer's replace() makes for a
        // moment, in a sticky directory: that is looked at again under the
        // lock.)
        let current = match Current::read(&dir, path) {
            Err(e)
                if trust::untrusted(&e)
                    .is_some_and(|t| !matches!(t.problem, trust::Problem::Links(_))) =>
            {
                return Err(e)
            }
            current => current,
        };
        sweep(path, if add { FREE_ON_ADD } else { 1 });
        let tmp = sibling(path, &format!(".tmp.{}", std::process::id()));
        // Left by a killed process with this PID: written by nobody else.
        let _ = fs::remove_file(&tmp);
        let file = open_metrics_file(&dir, &tmp, Access::Write).inspect(|f| {
            // Blocks allocated now are not allocated (and flushed) when
            // the file replaces the old one.
            let size = current.as_ref().map_or(0, |c| c.text.len());
            let room = i64::try_from(size + 8192).unwrap_or(i64::MAX);
            let _ = fallocate(f, FallocateFlags::FALLOC_FL_KEEP_SIZE, 0, room);
        });
        Ok(Prepared {
            lock: open_metrics_file(&dir, &sibling(path, ".lock"), Access::Lock),
            tmp: file.map(|f| (tmp, f)),
            current,
            dir,
        })
    }
}

/// The metrics file as read, with its index (or why it is not ours).
#[derive(Debug)]
struct Current {
    text: String,
    index: Result<Index, String>,
    /// The file read, kept open (so that its inode is not reused), and its
    /// (device, inode); `None` when there was no file.
    file: Option<(File, (u64, u64))>,
}

impl Current {
    fn read(dir: &trust::Dir, path: &Path) -> io::Result<Current> {
        let mut text = String::new();
        let file = match open_metrics_file(dir, path, Access::Read) {
            Ok(mut f) => {
                let m = f.metadata()?;
                text.reserve(usize::try_from(m.len()).unwrap_or(0));
                if f.read_to_string(&mut text).is_err() {
                    // Not UTF-8: not ours.
                    text.clear();
                    text.push('\u{0}');
                }
                Some((f, (m.dev(), m.ino())))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Current {
            index: Index::parse(&text),
            text,
            file,
        })
    }

    /// Whether the file at `path` is (still) the one read.
    fn is_at(&self, path: &Path) -> bool {
        match (fs::symlink_metadata(path), &self.file) {
            (Ok(m), Some((_, id))) => (m.dev(), m.ino()) == *id,
            (Err(e), None) => e.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// How many replaced files an ADD lets wait before it frees them (see
/// [`Invocation::prepare`]): freeing a file's blocks is the slow part of
/// replacing it, and on a small machine it slows the delegates running
/// meanwhile.
const FREE_ON_ADD: usize = 8;

/// Free what earlier invocations left next to the metrics file, when at
/// least `at_least` such files wait: the files they replaced
/// (`.old.<pid>`), and the temp files of processes that are gone
/// (`.tmp.<pid>`).
fn sweep(path: &Path, at_least: usize) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let name = name.to_string_lossy();
    let stale: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let file = e.file_name();
            let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(name.as_ref())) else {
                return false;
            };
            match (rest.strip_prefix(".old."), rest.strip_prefix(".tmp.")) {
                (Some(pid), _) => pid.parse::<u32>().is_ok(),
                (_, Some(pid)) => pid
                    .parse::<u32>()
                    .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists()),
                _ => false,
            }
        })
        .map(|e| e.path())
        .collect();
    if stale.len() >= at_least {
        for p in stale {
            let _ = fs::remove_file(p);
        }
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
    /// A temp file the new values are written to, then renamed over the
    /// metrics file: created empty, 0644 (node_exporter often runs as
    /// another user, e.g. Debian's as `prometheus`).
    Write,
    /// The pending log, appended to (created 0600).
    Append,
}

/// Every file of the metrics is opened here, and only here: the lock, the
/// metrics file (read), and the temp file renamed over it; each in `dir`
/// (the checked directory of the metrics file), without following a
/// symlink, and checked once open (see [`crate::trust`]).
pub(crate) fn open_metrics_file(dir: &trust::Dir, path: &Path, access: Access) -> io::Result<File> {
    let how = match access {
        Access::Lock => Open::new().read().write().create(),
        Access::Read => Open::new().read().shared(),
        Access::Write => Open::new().write().create().truncate().shared().mode(0o644),
        Access::Append => Open::new().append().create(),
    };
    // Every file is opened close-on-exec: no delegate inherits one.
    Ok(dir.open_file(path.file_name().unwrap_or_default(), how)?)
}

/// Take the lock on `file` (the lock file of `path`), waiting up to
/// [`LOCK_WAIT`].
fn lock(mut file: File, path: &Path) -> io::Result<Flock<File>> {
    let until = Instant::now() + LOCK_WAIT;
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
                    "{}.lock stayed locked for {}s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )))
            }
            Err((_, e)) => return Err(e.into()),
        }
    }
}

/// The metric families, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    fn kind(self) -> &'static str {
        if self.histogram() {
            "histogram"
        } else {
            "counter"
        }
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

/// What one series gains: a counter's count, or a histogram's bucket
/// counts (cumulative, as written), `_count` (the `+Inf` bucket too) and
/// `_sum`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Gain {
    count: u64,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
}

/// The series one invocation adds to: (family, label text) and the gain,
/// in the order they are written when new.
#[derive(Debug, Default)]
struct Increments(Vec<(Family, String, Gain)>);

impl Increments {
    fn add(&mut self, family: Family, labels: String, gain: impl FnOnce(&mut Gain)) {
        match self
            .0
            .iter_mut()
            .find(|(f, l, _)| *f == family && *l == labels)
        {
            Some((_, _, g)) => gain(g),
            None => {
                let mut g = Gain::default();
                gain(&mut g);
                self.0.push((family, labels, g));
            }
        }
    }

    fn count(&mut self, family: Family, values: &[&str]) {
        self.add(family, label_text(family.labels(), values), |g| {
            g.count += 1;
        });
    }

    /// Add `other`'s series to these.
    fn absorb(&mut self, other: Increments) {
        for (f, labels, gain) in other.0 {
            self.add(f, labels, |g| {
                g.count += gain.count;
                g.sum += gain.sum;
                for (b, n) in g.buckets.iter_mut().zip(gain.buckets) {
                    *b += n;
                }
            });
        }
    }

    /// These series as lines of the pending log: `C <family> <count>
    /// <labels>` for a counter, `H <family> <count> <sum> <bucket,...>
    /// <labels>` for a histogram (the labels last: they may hold spaces).
    fn to_pending(&self) -> String {
        let mut out = String::new();
        for (f, labels, g) in &self.0 {
            let _ = if f.histogram() {
                let buckets: Vec<String> = g.buckets.iter().map(u64::to_string).collect();
                writeln!(
                    out,
                    "H {} {} {} {} {labels}",
                    f.name(),
                    g.count,
                    g.sum,
                    buckets.join(",")
                )
            } else {
                writeln!(out, "C {} {} {labels}", f.name(), g.count)
            };
        }
        out
    }

    /// One line of the pending log into these series.
    fn take_pending(&mut self, line: &str) -> Option<()> {
        let (kind, rest) = line.split_once(' ')?;
        let (name, rest) = rest.split_once(' ')?;
        let f = Family::ALL.into_iter().find(|f| f.name() == name)?;
        let (count, rest) = rest.split_once(' ')?;
        let count: u64 = count.parse().ok()?;
        match (kind, f.histogram()) {
            ("C", false) => self.add(f, rest.to_string(), |g| g.count += count),
            ("H", true) => {
                let (sum, rest) = rest.split_once(' ')?;
                let (buckets, labels) = rest.split_once(' ')?;
                let sum: f64 = sum
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)?;
                let buckets: Vec<u64> = buckets
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .ok()?;
                let buckets: [u64; BUCKETS.len()] = buckets.try_into().ok()?;
                self.add(f, labels.to_string(), |g| {
                    g.count += count;
                    g.sum += sum;
                    for (b, n) in g.buckets.iter_mut().zip(buckets) {
                        *b += n;
                    }
                });
            }
            _ => return None,
        }
        Some(())
    }

    fn observe(&mut self, family: Family, values: &[&str], took: Duration) {
        let secs = took.as_secs_f64();
        self.add(family, label_text(family.labels(), values), |g| {
            for (b, bound) in g.buckets.iter_mut().zip(BOUNDS) {
                *b += u64::from(secs <= bound);
            }
            g.count += 1;
            g.sum += secs;
        });
    }
}

/// The first line of a metrics file that has added in a pending log: how
/// much of which log (`<log name> <bytes>`), so that a log a killed
/// meta-cni left after adding it in is not added twice.
const FOLDED: &str = "# meta-cni added pending log ";

/// The first line of a pending log: its name, unique (`<pid>-<ns>`).
const LOG_HEADER: &str = "# pending log ";

/// A pending log's name and how many of its bytes were added in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Folded {
    log: String,
    len: u64,
}

impl Folded {
    fn parse(text: &str) -> Option<Folded> {
        let (log, len) = text.split_once(' ')?;
        let ok = !log.is_empty() && log.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        ok.then(|| {
            Some(Folded {
                log: log.to_string(),
                len: len.parse().ok()?,
            })
        })?
    }

    fn line(&self) -> String {
        format!("{FOLDED}{} {}\n", self.log, self.len)
    }
}

/// The pending log, read for adding in: its series, and the marker of
/// what was read (`None` when there is no log).
struct Pending {
    increments: Increments,
    marker: Option<Folded>,
    /// Whether there was a log.
    read: bool,
}

impl Pending {
    /// Read the log next to `path`, from where `folded` says an earlier
    /// write stopped when it is the same log. Lines that do not parse are
    /// left out, with a warning.
    fn read(
        dir: &trust::Dir,
        path: &Path,
        folded: Option<Folded>,
        log: &Logger,
    ) -> io::Result<Pending> {
        let name = sibling(path, ".pending");
        let mut file = match open_metrics_file(dir, &name, Access::Read) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Pending {
                    increments: Increments::default(),
                    marker: None,
                    read: false,
                })
            }
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let name = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix(LOG_HEADER))
            .unwrap_or("")
            .to_string();
        let skip = folded
            .filter(|f| f.log == name && !name.is_empty())
            .map_or(0, |f| usize::try_from(f.len).unwrap_or(usize::MAX));
        let mut increments = Increments::default();
        let mut bad = 0;
        // Only whole lines: a write cut short (a full disk) is left out.
        let rest = text.get(skip..).unwrap_or("");
        let whole = rest.rfind('\n').map_or("", |end| &rest[..end]);
        for line in whole.lines() {
            if line.starts_with(LOG_HEADER) {
                continue;
            }
            if increments.take_pending(line).is_none() {
                bad += 1;
            }
        }
        if bad > 0 {
            log.warn(
                "",
                format_args!(
                    "metricsFile {}: {bad} line(s) of its pending log are not meta-cni's: left out",
                    path.display()
                ),
            );
        }
        // A log without a name (cut short before its first line) is added
        // in whole, once: it goes right after.
        let marker = (!name.is_empty()).then(|| Folded {
            log: name,
            len: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        });
        Ok(Pending {
            increments,
            marker,
            read: true,
        })
    }
}

/// Where each line's value is in the text: a counter's, or a histogram's
/// buckets, `+Inf`, `_sum`, `_count`.
#[derive(Debug, Clone, PartialEq)]
enum Spans {
    Counter(Range<usize>),
    Histogram(Box<HistogramSpans>),
}

#[derive(Debug, Clone, Default, PartialEq)]
struct HistogramSpans {
    buckets: [Option<Range<usize>>; BUCKETS.len()],
    inf: Option<Range<usize>>,
    sum: Option<Range<usize>>,
    count: Option<Range<usize>>,
}

/// A metrics file's series, each with where its values are, and where each
/// family's lines end (new series go there).
#[derive(Debug, Default)]
struct Index {
    series: HashMap<(Family, String), Spans>,
    family_end: [Option<usize>; 5],
    /// The first line's record of the pending log added in (see
    /// [`Pending`]), and where that line is.
    folded: Option<Folded>,
    marker: Option<Range<usize>>,
}

impl Index {
    /// Index a file this module wrote. Anything else in it (a line of
    /// another metric, a comment, a value that is not a count, families
    /// out of order, a histogram with other buckets, a last line cut
    /// short) makes it not ours: `Err(why)`.
    fn parse(text: &str) -> Result<Index, String> {
        let mut index = Index::default();
        if text.is_empty() {
            return Ok(index);
        }
        if !text.ends_with('\n') {
            return Err("its last line is cut short".into());
        }
        let mut current: Option<Family> = None;
        let mut next = 0;
        let mut at = 0;
        for (n, line) in text.split_inclusive('\n').enumerate() {
            let start = at;
            at += line.len();
            let line = &line[..line.len() - 1];
            let here = || format!("line {}", n + 1);
            if let Some(rest) = line.strip_prefix(FOLDED) {
                if n > 0 {
                    return Err(format!("{}: an unexpected comment", here()));
                }
                index.folded =
                    Some(Folded::parse(rest).ok_or_else(|| format!("{}: a bad comment", here()))?);
                index.marker = Some(start..at);
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let f = Family::ALL
                    .get(next)
                    .filter(|f| rest.split(' ').next() == Some(f.name()))
                    .copied()
                    .ok_or_else(|| format!("{}: an unexpected HELP line", here()))?;
                current = Some(f);
                next += 1;
                index.family_end[f as usize] = Some(at);
                continue;
            }
            let f = current.ok_or_else(|| format!("{}: a line before any HELP", here()))?;
            index.family_end[f as usize] = Some(at);
            if line.starts_with("# TYPE ") {
                if line != format!("# TYPE {} {}", f.name(), f.kind()) {
                    return Err(format!("{}: an unexpected TYPE line", here()));
                }
                continue;
            }
            index
                .take(f, line, start)
                .map_err(|why| format!("{}: {why}", here()))?;
        }
        if next < Family::ALL.len() {
            return Err(format!("{next} families of {}", Family::ALL.len()));
        }
        for ((f, labels), spans) in &index.series {
            if let Spans::Histogram(h) = spans {
                let whole = h.buckets.iter().all(Option::is_some)
                    && h.inf.is_some()
                    && h.sum.is_some()
                    && h.count.is_some();
                if !whole {
                    return Err(format!("{}{{{labels}}} lacks lines", f.name()));
                }
            }
        }
        Ok(index)
    }

    /// One sample line of family `f`, starting at `start` in the text.
    fn take(&mut self, f: Family, line: &str, start: usize) -> Result<(), String> {
        let (key, value) = line.rsplit_once(' ').ok_or("no value")?;
        let value_at = start + key.len() + 1..start + line.len();
        let rest = key
            .strip_prefix(f.name())
            .ok_or_else(|| format!("not a sample of {}", f.name()))?;
        let (part, labels) = rest
            .strip_suffix('}')
            .and_then(|r| r.split_once('{'))
            .ok_or("no labels")?;
        let sum = part == "_sum";
        let ok_value = !value.is_empty()
            && if sum {
                value
                    .parse::<f64>()
                    .is_ok_and(|v| v.is_finite() && v >= 0.0)
            } else {
                value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit())
            };
        if !ok_value {
            return Err(format!("{value:?} is not a value meta-cni writes"));
        }
        if !f.histogram() {
            if !part.is_empty() {
                return Err(format!("{key} is not a sample meta-cni writes"));
            }
            let old = self
                .series
                .insert((f, labels.to_string()), Spans::Counter(value_at));
            return match old {
                None => Ok(()),
                Some(_) => Err(format!("{key} twice")),
            };
        }
        let (labels, le) = match part {
            "_bucket" => {
                let (l, le) = labels.rsplit_once(",le=\"").ok_or("a bucket without le")?;
                (l, Some(le.strip_suffix('"').ok_or("a bad le")?))
            }
            "_sum" | "_count" => (labels, None),
            _ => return Err(format!("{key} is not a sample meta-cni writes")),
        };
        let spans = self
            .series
            .entry((f, labels.to_string()))
            .or_insert_with(|| Spans::Histogram(Box::default()));
        let Spans::Histogram(h) = spans else {
            return Err(format!("{key}: not a histogram"));
        };
        let slot = match (part, le) {
            ("_sum", _) => &mut h.sum,
            ("_count", _) => &mut h.count,
            (_, Some("+Inf")) => &mut h.inf,
            (_, Some(le)) => {
                let i = BUCKETS
                    .iter()
                    .position(|b| *b == le)
                    .ok_or_else(|| format!("bucket le={le:?} is not one of meta-cni's"))?;
                &mut h.buckets[i]
            }
            _ => return Err("a bucket without le".into()),
        };
        match slot.replace(value_at) {
            None => Ok(()),
            Some(_) => Err(format!("{key} twice")),
        }
    }
}

/// `text` (indexed by its [`Index`]) with an invocation added: the values
/// it touches rewritten, everything else as it is, new series at the end of
/// their family, families the text lacks (all, when it is empty) at the
/// end. Kept as edits of the text, written out piece by piece, so that the
/// file is not copied in memory first.
#[derive(Debug, Default)]
struct Merged {
    /// Ranges of the text replaced (or, empty, insertion points) in order.
    edits: Vec<(Range<usize>, String)>,
    /// What goes after the text.
    tail: String,
}

impl Merged {
    fn new(text: &str, index: &Index, inc: &Increments) -> Merged {
        let mut m = Merged::default();
        let value = |r: &Range<usize>| -> &str { text.get(r.clone()).unwrap_or("0") };
        let count = |r: &Range<usize>, add: u64| -> (Range<usize>, String) {
            let old: u64 = value(r).parse().unwrap_or(0);
            (r.clone(), old.saturating_add(add).to_string())
        };
        for (f, labels, gain) in &inc.0 {
            match index.series.get(&(*f, labels.clone())) {
                Some(Spans::Counter(r)) => m.edits.push(count(r, gain.count)),
                Some(Spans::Histogram(h)) => {
                    for (r, add) in h.buckets.iter().zip(gain.buckets) {
                        if let (Some(r), true) = (r, add > 0) {
                            m.edits.push(count(r, add));
                        }
                    }
                    for r in [&h.inf, &h.count].into_iter().flatten() {
                        m.edits.push(count(r, gain.count));
                    }
                    if let Some(r) = &h.sum {
                        let old: f64 = value(r).parse().unwrap_or(0.0);
                        m.edits.push((r.clone(), (old + gain.sum).to_string()));
                    }
                }
                None => {
                    if let Some(end) = index.family_end[*f as usize] {
                        let mut lines = String::new();
                        write_series(&mut lines, *f, labels, gain);
                        m.edits.push((end..end, lines));
                    }
                }
            }
        }
        m.edits.sort_by_key(|(r, _)| (r.start, r.end));
        for f in Family::ALL {
            if index.family_end[f as usize].is_none() {
                let _ = writeln!(m.tail, "# HELP {} {}", f.name(), f.help());
                let _ = writeln!(m.tail, "# TYPE {} {}", f.name(), f.kind());
                for (g, labels, gain) in &inc.0 {
                    if *g == f {
                        write_series(&mut m.tail, f, labels, gain);
                    }
                }
            }
        }
        m
    }

    /// Replace the text at `at` (the old marker line, or nothing at the
    /// start) with the marker of the pending log added in, if any.
    fn mark(&mut self, at: Range<usize>, folded: Option<Folded>) {
        let line = folded.map_or_else(String::new, |f| f.line());
        if at.is_empty() && line.is_empty() {
            return;
        }
        self.edits.insert(0, (at, line));
    }

    /// The new file, piece by piece.
    fn pieces<'a>(&'a self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::with_capacity(self.edits.len() * 2 + 2);
        let mut at = 0;
        for (r, with) in &self.edits {
            out.push(text.get(at..r.start).unwrap_or(""));
            out.push(with.as_str());
            at = r.end;
        }
        out.push(text.get(at..).unwrap_or(""));
        out.push(self.tail.as_str());
        out.retain(|p| !p.is_empty());
        out
    }
}

/// Write `pieces` to `file` (new and empty), in one `writev` as a rule.
fn write_pieces(mut file: File, pieces: &[&str]) -> io::Result<()> {
    use std::io::{IoSlice, Write};
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p.as_bytes())).collect();
    let mut done = file.write_vectored(&slices)?;
    if done < total {
        // Written in part: the rest piece by piece.
        for p in pieces {
            let p = p.as_bytes();
            if done >= p.len() {
                done -= p.len();
                continue;
            }
            file.write_all(&p[done..])?;
            done = 0;
        }
    }
    Ok(())
}

/// Put the new file `tmp` at `path`. The old file is kept, linked as
/// `.old.<pid>`, so that the rename does not free it (freeing is the
/// expensive part of replacing a file): a later invocation does, off its
/// critical path.
fn replace(tmp: &Path, path: &Path) -> io::Result<()> {
    let old = sibling(path, &format!(".old.{}", std::process::id()));
    if let Err(e) = fs::hard_link(path, &old) {
        if e.kind() == io::ErrorKind::AlreadyExists {
            let _ = fs::remove_file(&old);
            let _ = fs::hard_link(path, &old);
        }
    }
    fs::rename(tmp, path)
}

/// A new series' lines.
fn write_series(out: &mut String, f: Family, labels: &str, gain: &Gain) {
    let name = f.name();
    if !f.histogram() {
        let _ = writeln!(out, "{name}{{{labels}}} {}", gain.count);
        return;
    }
    for (le, n) in BUCKETS.iter().zip(gain.buckets) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", gain.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", gain.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", gain.count);
}

/// `k="v",k2="v2"` with values escaped as the text format wants.
fn label_text(names: &[&str], values: &[&str]) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::log::LogLevel;

    /// The file `text` with `inc` added, or why `text` is not ours.
    fn merge(text: &str, inc: &Increments) -> Result<String, String> {
        Ok(Merged::new(text, &Index::parse(text)?, inc)
            .pieces(text)
            .concat())
    }

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
        inv.delegate_call(
            "ADD",
            "bridge",
            || "a".into(),
            Duration::from_millis(30),
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

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_helper_that_never_hands_over_leaves_the_file_alone() {
        let dir = tmp("stalled");
        let file = dir.join("m.prom");
        let log = Logger::stderr(LogLevel::Error);
        invocation().write(&file, "ADD", 0, Duration::from_millis(40), &log);
        let before = fs::read(&file).unwrap();
        let inv = invocation();
        // A helper started but stalled: its slot is never filled.
        *inv.prepared.lock().unwrap() = Some(Arc::new(Slot::default()));
        let err = inv
            .update(&file, "ADD", 0, Duration::from_millis(40), &log)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(fs::read(&file).unwrap(), before, "the file changed");
        let tmp_name = format!("m.prom.tmp.{}", std::process::id());
        assert!(!dir.join(tmp_name).exists(), "a temp file was made");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn counts_add_up_across_invocations_in_one_complete_file() {
        let dir = tmp("add");
        let file = dir.join("m.prom");
        let log = Logger::stderr(LogLevel::Error);
        for i in 0..3 {
            let inv = invocation();
            if i > 0 {
                inv.prepare(&file, "CHECK");
            }
            inv.write(&file, "ADD", 7, Duration::from_millis(40), &log);
        }
        let text = fs::read_to_string(&file).unwrap();
        for line in [
            "meta_cni_operations_total{verb=\"ADD\",code=\"7\"} 3",
            "meta_cni_delegate_calls_total{plugin=\"bridge\",verb=\"ADD\",outcome=\"ok\"} 6",
            "meta_cni_delegate_calls_total{plugin=\"we\\\"ird\\\\\\nname\",verb=\"ADD\",outcome=\"timeout\"} 3",
            "meta_cni_delegate_calls_total{plugin=\"portmap\",verb=\"ADD\",outcome=\"killed_in_flight\"} 3",
            "meta_cni_rollbacks_total{result=\"clean\"} 3",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"0.025\"} 0",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"0.05\"} 3",
            "meta_cni_operation_duration_seconds_bucket{verb=\"ADD\",le=\"+Inf\"} 3",
            "meta_cni_operation_duration_seconds_count{verb=\"ADD\"} 3",
            "meta_cni_delegate_duration_seconds_bucket{plugin=\"bridge\",verb=\"ADD\",le=\"0.005\"} 3",
            "meta_cni_delegate_duration_seconds_bucket{plugin=\"bridge\",verb=\"ADD\",le=\"0.05\"} 6",
            "meta_cni_delegate_duration_seconds_count{plugin=\"bridge\",verb=\"ADD\"} 6",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        let sum = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "meta_cni_delegate_duration_seconds_sum{plugin=\"bridge\",verb=\"ADD\"} ",
                )
            })
            .unwrap();
        assert!((sum.parse::<f64>().unwrap() - 0.099).abs() < 1e-9, "{sum}");
        // Each family once, in order, each histogram series whole.
        let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP")).collect();
        assert_eq!(helps.len(), 5);
        assert_eq!(
            text.lines().filter(|l| l.contains("le=\"+Inf\"")).count(),
            3
        );
        // Merging nothing gives the file back as it is.
        assert_eq!(merge(&text, &Increments::default()).unwrap(), text);
        assert!(Index::parse(&text).is_ok());
        // Left: the file, its lock, and the file the last write replaced,
        // whole.
        let pid = std::process::id();
        let replaced = dir.join(format!("m.prom.old.{pid}"));
        assert_eq!(
            names(&dir),
            ["m.prom", "m.prom.lock", &format!("m.prom.old.{pid}")]
        );
        let before = fs::read_to_string(&replaced).unwrap();
        assert!(before.contains("meta_cni_operations_total{verb=\"ADD\",code=\"7\"} 2\n"));
        // The next invocation frees it, never writes into it: a reader
        // may still have it open.
        let kept = File::open(&replaced).unwrap();
        let prepared = Prepared::new(&file, false).unwrap();
        assert_eq!(
            names(&dir),
            ["m.prom", "m.prom.lock", &format!("m.prom.tmp.{pid}")]
        );
        let mut still = String::new();
        (&kept).read_to_string(&mut still).unwrap();
        assert_eq!(still, before);
        drop(prepared);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_add_leaves_replaced_files_to_others_until_eight_wait() {
        let dir = tmp("free");
        let file = dir.join("m.prom");
        invocation().write(
            &file,
            "ADD",
            0,
            Duration::ZERO,
            &Logger::stderr(LogLevel::Error),
        );
        let old = |n: u32| dir.join(format!("m.prom.old.{}", 4_000_000 + n));
        let waiting = || (0..8).filter(|n| old(*n).exists()).count();
        for n in 0..7 {
            fs::write(old(n), "x").unwrap();
        }
        drop(Prepared::new(&file, true));
        assert_eq!(waiting(), 7, "an ADD left them");
        fs::write(old(7), "x").unwrap();
        drop(Prepared::new(&file, true));
        assert_eq!(waiting(), 0, "eight wait: an ADD frees them");
        fs::write(old(0), "x").unwrap();
        drop(Prepared::new(&file, false));
        assert_eq!(waiting(), 0, "any other command frees them");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_add_soon_after_a_write_goes_to_the_pending_log_which_the_next_write_adds_in_once() {
        let dir = tmp("pending");
        let file = dir.join("m.prom");
        let log = Logger::stderr(LogLevel::Error);
        let ops = |text: &str, verb: &str| -> u64 {
            let key = format!("meta_cni_operations_total{{verb=\"{verb}\",code=\"0\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(key.as_str()))
                .map_or(0, |n| n.parse().unwrap())
        };
        invocation().write(&file, "DEL", 0, Duration::ZERO, &log);
        let first = fs::read_to_string(&file).unwrap();
        // Two ADDs right after: appended, the file as it was.
        for _ in 0..2 {
            let add = Invocation::new();
            add.switch_on();
            add.prepare(&file, "ADD");
            add.write(&file, "ADD", 0, Duration::from_millis(2), &log);
        }
        assert_eq!(fs::read_to_string(&file).unwrap(), first);
        let pending = fs::read_to_string(dir.join("m.prom.pending")).unwrap();
        assert!(pending.starts_with(LOG_HEADER), "{pending}");
        // The next write that is not an ADD adds them in, and the log goes.
        let del = invocation();
        del.prepare(&file, "DEL");
        del.write(&file, "DEL", 0, Duration::ZERO, &log);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!((ops(&text, "ADD"), ops(&text, "DEL")), (2, 2));
        assert!(text.starts_with(FOLDED), "{text}");
        assert!(Index::parse(&text).is_ok());
        assert!(!dir.join("m.prom.pending").exists());
        // A meta-cni killed after the file took the log in, before the log
        // went: the next write adds only what came after.
        let header = pending.lines().next().unwrap();
        let name = header.strip_prefix(LOG_HEADER).unwrap();
        let mut one = Increments::default();
        one.count(Family::Operations, &["ADD", "0"]);
        fs::write(
            dir.join("m.prom.pending"),
            format!("{pending}{}", one.to_pending()),
        )
        .unwrap();
        let marked = text.replacen(
            text.lines().next().unwrap(),
            &format!("{FOLDED}{name} {}", pending.len()),
            1,
        );
        fs::write(&file, &marked).unwrap();
        let del = invocation();
        del.write(&file, "DEL", 0, Duration::ZERO, &log);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!((ops(&text, "ADD"), ops(&text, "DEL")), (3, 3));
        // Another log (a new one, maybe with the old one's inode): whole.
        fs::write(
            dir.join("m.prom.pending"),
            format!("{LOG_HEADER}1-2\n{}", one.to_pending()),
        )
        .unwrap();
        invocation().write(&file, "DEL", 0, Duration::ZERO, &log);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!((ops(&text, "ADD"), ops(&text, "DEL")), (4, 4));
        // Lines that are not ours are left out; the rest counts.
        fs::write(
            dir.join("m.prom.pending"),
            format!(
                "{LOG_HEADER}3-4\nC nonsense 1 x\nH {} 1 x 1 {{}}\n{}",
                Family::OperationSeconds.name(),
                one.to_pending()
            ),
        )
        .unwrap();
        invocation().write(&file, "DEL", 0, Duration::ZERO, &log);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(ops(&text, "ADD"), 5);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pending_lines_round_trip() {
        let inv = invocation();
        let inc = inv.increments("ADD", 0, Duration::from_millis(7));
        let mut back = Increments::default();
        for line in inc.to_pending().lines() {
            back.take_pending(line).unwrap();
        }
        assert_eq!(back.0, inc.0);
    }

    #[test]
    fn new_series_join_their_family() {
        let mut first = Increments::default();
        first.count(Family::Operations, &["ADD", "0"]);
        first.observe(
            Family::DelegateSeconds,
            &["a", "ADD"],
            Duration::from_millis(1),
        );
        let text = merge("", &first).unwrap();
        let mut second = Increments::default();
        second.count(Family::Operations, &["DEL", "0"]);
        second.count(Family::Operations, &["ADD", "0"]);
        second.count(Family::Rollbacks, &["clean"]);
        second.observe(
            Family::DelegateSeconds,
            &["b", "ADD"],
            Duration::from_secs(3),
        );
        second.observe(
            Family::DelegateSeconds,
            &["a", "ADD"],
            Duration::from_secs(3),
        );
        let text = merge(&text, &second).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = |l: &str| lines.iter().position(|x| *x == l).unwrap();
        assert!(at("meta_cni_operations_total{verb=\"DEL\",code=\"0\"} 1")
            < at("# HELP meta_cni_delegate_calls_total Delegate plugin calls by plugin type, command and outcome (ok, cni_error, timeout, crash, not_found, killed_in_flight)."));
        assert!(lines.contains(&"meta_cni_operations_total{verb=\"ADD\",code=\"0\"} 2"));
        assert!(lines.contains(&"meta_cni_rollbacks_total{result=\"clean\"} 1"));
        assert!(lines.contains(
            &"meta_cni_delegate_duration_seconds_bucket{plugin=\"a\",verb=\"ADD\",le=\"2.5\"} 1"
        ));
        assert!(lines.contains(
            &"meta_cni_delegate_duration_seconds_bucket{plugin=\"a\",verb=\"ADD\",le=\"5\"} 2"
        ));
        assert!(lines
            .contains(&"meta_cni_delegate_duration_seconds_count{plugin=\"b\",verb=\"ADD\"} 1"));
        assert!(lines
            .contains(&"meta_cni_delegate_duration_seconds_sum{plugin=\"a\",verb=\"ADD\"} 3.001"));
        let index = Index::parse(&text).unwrap();
        assert_eq!(index.series.len(), 5);
        assert_eq!(lines.iter().filter(|l| l.starts_with("# HELP")).count(), 5);
    }

    #[test]
    fn a_foreign_or_corrupt_file_is_started_over() {
        let mut inc = Increments::default();
        inc.count(Family::Operations, &["ADD", "0"]);
        inc.observe(Family::OperationSeconds, &["ADD"], Duration::from_millis(2));
        let good = merge("", &inc).unwrap();
        assert!(good.ends_with('\n'));
        let other_buckets = good.replace("le=\"0.005\"", "le=\"0.004\"");
        for bad in [
            "node_load1 3\n".to_string(),
            "# HELP node_load1 x\nnode_load1 3\n".to_string(),
            good.replacen("code=\"0\"} 1", "code=\"0\"} 1.5", 1),
            good.replacen("code=\"0\"} 1", "code=\"0\"} -1", 1),
            good.replacen(
                "meta_cni_operations_total{",
                "meta_cni_operations_total_x{",
                1,
            ),
            good[..good.len() - 3].to_string(),
            good.replacen(
                "# TYPE meta_cni_rollbacks_total counter",
                "# TYPE meta_cni_rollbacks_total gauge",
                1,
            ),
            other_buckets,
            good.lines()
                .filter(|l| !l.contains("le=\"0.01\""))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n",
            good.lines().take(4).collect::<Vec<_>>().join("\n") + "\n",
            "garbage".to_string(),
            "\u{0}\u{0}\n".to_string(),
        ] {
            assert!(merge(&bad, &inc).is_err(), "{bad:?}");
        }
        let dir = tmp("foreign");
        let file = dir.join("m.prom");
        // Longer than what replaces it: nothing of it is left at the end.
        fs::write(&file, "node_load1 3\n".repeat(5000)).unwrap();
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
        assert!(Index::parse(&text).is_ok(), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_place_is_a_warning_not_a_failure() {
        let inv = invocation();
        inv.prepare(Path::new("/nonexistent/dir/m.prom"), "ADD");
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
