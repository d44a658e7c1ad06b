//! Attachment state: one file per (network, container, interface) holding
//! exactly what ADD ran (each pipeline, each delegate's stdin bytes and
//! environment delta, each pipeline's result), so DEL and CHECK undo and
//! verify exactly that, whatever happened to the config or the annotations.
//!
//! Files live in `<stateDir>/<network>/<containerID>-<ifname>.json` (0600, in
//! 0700 directories), are written atomically (temp file, rename) and fsync'd
//! (see [`Store::save`]), and only under the attachment's advisory lock
//! (`flock` on `.<containerID>-<ifname>.lock`, held for the whole operation).
//!
//! A record decides what runs as root on DEL, and the journal which process
//! groups are signalled: the network's directory is used only once it has
//! passed [`crate::trust`]'s check (its path owned by root and not writable by
//! others, itself 0700), and every file in it is opened without following
//! symlinks and checked (a regular file of ours, 0600). A file that fails
//! is never used, nor removed.

use crate::config::ResultMode;
use crate::invoke::{fmt_boot_id, parse_boot_id};
use crate::plan::EnvDelta;
use crate::trust::{self, Last, Open};
use crate::version::Version;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Format version of the file.
pub(crate) const FORMAT: u32 = 1;

/// Retired record files kept per network directory for the next records
/// to be written over in place. On some filesystems freeing the block of a
/// file that was fsync'd is the expensive part of removing it (ext4 mounted
/// with `discard`: ~0.5 ms, against ~10 µs for a rename), and writing into
/// an allocated block makes the next fsync cheaper too. A spare holds no
/// data (it is wiped when retired) and is not a record (its name starts
/// with a dot).
pub(crate) const SPARES: usize = 4;

/// Records are padded with whitespace to a multiple of this, so a spare
/// keeps its size (and its blocks) when a new record is written over it.
const RECORD_BLOCK: usize = 4096;

/// The request values a delegate environment was derived from at ADD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestVars {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DelegateRecord {
    pub name: String,
    pub plugin: String,
    pub cni_version: Version,
    /// The exact config bytes (without `prevResult`), as a string.
    pub stdin: String,
    pub env: EnvDelta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PipelineRecord {
    pub name: String,
    pub if_name: String,
    pub mode: ResultMode,
    pub delegates: Vec<DelegateRecord>,
    /// The pipeline's result (1.1.0 form) once its ADD finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    pub format: u32,
    pub network: String,
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub if_name: String,
    pub request: RequestVars,
    pub pipelines: Vec<PipelineRecord>,
}

/// A record written and renamed into place but not yet on disk.
#[derive(Debug)]
pub(crate) struct Unsynced {
    file: File,
}

impl Unsynced {
    /// fsync the record, once it has its name. The rename changed the
    /// file's inode (its ctime) in the same journal transaction as the
    /// directory entry, and fsync commits that transaction: on ext4, XFS and
    /// btrfs the name is on disk with the data after this one call (a
    /// separate fsync of the directory would cost one more device flush).
    pub(crate) fn sync(self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// [`Unsynced::sync`] on a thread of its own, so that the device flush
    /// overlaps with the delegates; [`Syncing::wait`] joins it. Without a
    /// thread the fsync is done here.
    pub(crate) fn in_background(self) -> Syncing {
        let file = match self.file.try_clone() {
            Ok(f) => f,
            Err(_) => return Syncing(Err(self.sync())),
        };
        match std::thread::Builder::new()
            .name("record-fsync".into())
            .spawn(move || file.sync_all())
        {
            Ok(handle) => Syncing(Ok(handle)),
            Err(_) => Syncing(Err(self.sync())),
        }
    }
}

/// A record's fsync under way (or already done, when no thread could run it).
#[derive(Debug)]
pub(crate) struct Syncing(Result<std::thread::JoinHandle<io::Result<()>>, io::Result<()>>);

impl Syncing {
    /// Wait until the record is on disk.
    pub(crate) fn wait(self) -> io::Result<()> {
        match self.0 {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked"))),
            Err(done) => done,
        }
    }
}

/// The state files of one network.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    /// The network's directory once it passed the trust check (in this
    /// invocation: nothing is kept across invocations).
    checked: OnceLock<trust::Dir>,
}

/// Why a state file (or the directory) cannot be used: unreadable, corrupt,
/// someone else's record, or not trusted (then it must not be replayed,
/// and is left in place for the operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unusable {
    pub why: String,
    pub untrusted: bool,
}

impl Unusable {
    fn bad(why: String) -> Unusable {
        Unusable {
            why,
            untrusted: false,
        }
    }

    fn from_trust(e: &trust::Error) -> Unusable {
        Unusable {
            why: if e.untrusted() {
                format!("not trusted: {e}")
            } else {
                format!("cannot read {e}")
            },
            untrusted: e.untrusted(),
        }
    }

    fn from_io(e: &io::Error) -> Unusable {
        match trust::untrusted(e) {
            Some(t) => Unusable::from_trust(t),
            None => Unusable::bad(e.to_string()),
        }
    }
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

/// What [`Store::list`] finds: the attachments with a record, and the
/// files (or the directory) that cannot be used, with why.
pub(crate) type Listing = (Vec<(String, String)>, Vec<(PathBuf, Unusable)>);

/// The last component of `path` (state files are named in their directory).
fn name(path: &Path) -> &OsStr {
    path.file_name().unwrap_or_default()
}

/// Opening a state file for reading.
const READ: Open = Open::new().read();
/// Opening a state file to write it in place.
const WRITE: Open = Open::new().write();

/// A held attachment lock; released on drop.
///
/// The lock file is also the attachment's *in-flight journal*: before a
/// delegate is given its config, the process group it runs in is written
/// into a fixed slot of the file (one per pipeline), so that if meta-cni is
/// killed while the delegate runs, the next operation on the attachment
/// finds it and ends it before doing anything else. The journal is written
/// in place and not fsync'd: it only describes processes, which do not
/// outlive the node.
#[derive(Debug)]
pub(crate) struct Lock {
    file: Flock<File>,
    lock_path: PathBuf,
    state_path: PathBuf,
    /// Whether the journal may hold entries (written, or found so).
    journal_used: AtomicBool,
    /// The journal's length as far as this holder knows it (read, or
    /// written up to), so that [`Lock::mark_add_complete`] covers it all.
    journal_len: AtomicU64,
}

/// Bytes per journal slot (one line, padded with spaces).
const SLOT: usize = 128;

/// The first word of the line a successful ADD leaves in the journal's
/// first slot: not a PID, so no reader takes it for an entry.
const ADD_COMPLETE: &str = "complete ADD";

/// What a journal's bytes say, read without the lock (`meta-cni
/// attachments`): the entries of delegates started and not known to have
/// finished, and whether the last operation was an ADD that completed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Journal {
    pub entries: Vec<(usize, InFlight)>,
    pub add_complete: bool,
}

impl Journal {
    pub(crate) fn parse(bytes: &[u8]) -> Journal {
        let mut journal = Journal::default();
        for (i, slot) in bytes.chunks(SLOT).enumerate() {
            match InFlight::decode(slot) {
                Some(e) => journal.entries.push((i, e)),
                None => {
                    journal.add_complete |= i == 0
                        && std::str::from_utf8(slot).is_ok_and(|t| t.trim_end() == ADD_COMPLETE);
                }
            }
        }
        journal
    }
}

/// A delegate started by an operation on the attachment, as the journal
/// records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// The delegate's PID, which is also its process group ID.
    pub pid: i32,
    /// The boot clock (ms) when the PID was recorded.
    pub boot_ms: u64,
    /// The CNI command the delegate was running.
    pub command: String,
    /// Indexes into the attachment's pipelines and their delegates.
    pub pipeline: usize,
    pub delegate: usize,
    /// The plugin type (`?` when it cannot be written in a slot).
    pub plugin: String,
    /// The boot the PID was recorded in (the kernel's `boot_id`); `None`
    /// when it was not known.
    pub boot_id: Option<u128>,
}

impl InFlight {
    /// The slot's line: `<pid> <boot_ms> <command> <pipeline> <delegate>
    /// <plugin> <boot_id>` (no boot ID when it is not known), padded to
    /// [`SLOT`] bytes.
    fn encode(&self) -> Vec<u8> {
        let plugin_ok = !self.plugin.is_empty()
            && self.plugin.len() <= 48
            && self
                .plugin
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
        let boot = self
            .boot_id
            .map(|b| format!(" {}", fmt_boot_id(b)))
            .unwrap_or_default();
        let text = |plugin: &str| {
            format!(
                "{} {} {} {} {} {plugin}{boot}",
                self.pid, self.boot_ms, self.command, self.pipeline, self.delegate,
            )
            .into_bytes()
        };
        let mut line = text(if plugin_ok { &self.plugin } else { "?" });
        if line.len() >= SLOT {
            // Never cut: the boot ID at the end must stay whole.
            line = text("?");
        }
        line.resize(SLOT - 1, b' ');
        line.push(b'\n');
        line
    }

    fn decode(slot: &[u8]) -> Option<InFlight> {
        let text = std::str::from_utf8(slot).ok()?;
        let mut f = text.split_ascii_whitespace();
        let entry = InFlight {
            pid: f.next()?.parse().ok()?,
            boot_ms: f.next()?.parse().ok()?,
            command: f.next()?.to_string(),
            pipeline: f.next()?.parse().ok()?,
            delegate: f.next()?.parse().ok()?,
            plugin: f.next()?.to_string(),
            boot_id: match f.next() {
                Some(b) => Some(parse_boot_id(b)?),
                None => None,
            },
        };
        Some(entry)
    }
}

impl Lock {
    pub(crate) fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// Record that `entry` runs in `slot` (a pipeline's index): written
    /// before the delegate is given its config.
    pub(crate) fn note_in_flight(&self, slot: usize, entry: &InFlight) -> io::Result<()> {
        self.journal_used.store(true, Ordering::Relaxed);
        let offset = u64::try_from(slot.saturating_mul(SLOT)).map_err(io::Error::other)?;
        self.journal_len
            .fetch_max(offset.saturating_add(SLOT as u64), Ordering::Relaxed);
        self.file.write_all_at(&entry.encode(), offset)
    }

    /// The journal's entries, by slot. Entries of delegates that have
    /// finished since are there too: whether one still runs is for the
    /// caller to find out from the process identity.
    pub(crate) fn in_flight(&self) -> io::Result<Vec<(usize, InFlight)>> {
        let size = self.file.metadata()?.len();
        self.journal_len.fetch_max(size, Ordering::Relaxed);
        let len = usize::try_from(size).map_err(io::Error::other)?;
        let mut bytes = vec![0; len];
        self.file.read_exact_at(&mut bytes, 0)?;
        if !bytes.is_empty() {
            self.journal_used.store(true, Ordering::Relaxed);
        }
        Ok(bytes
            .chunks(SLOT)
            .enumerate()
            .filter_map(|(i, s)| Some((i, InFlight::decode(s)?)))
            .collect())
    }

    /// A successful ADD is done with its delegates: its entries are
    /// replaced by one `complete ADD` line, in one write of the whole
    /// journal (the line, then blank slots). The line is no entry (see
    /// [`Journal`]): the next operation's reading of the journal finds
    /// nothing to end, and that operation's own entries overwrite it.
    pub(crate) fn mark_add_complete(&self) -> io::Result<()> {
        self.journal_used.store(true, Ordering::Relaxed);
        let known =
            usize::try_from(self.journal_len.load(Ordering::Relaxed)).map_err(io::Error::other)?;
        let len = known.max(SLOT).next_multiple_of(SLOT);
        let mut bytes = vec![b' '; len];
        bytes[..ADD_COMPLETE.len()].copy_from_slice(ADD_COMPLETE.as_bytes());
        for end in (SLOT - 1..len).step_by(SLOT) {
            bytes[end] = b'\n';
        }
        self.journal_len.fetch_max(len as u64, Ordering::Relaxed);
        self.file.write_all_at(&bytes, 0)
    }

    /// Empty the journal (the operation holding the lock is done with its
    /// delegates).
    pub(crate) fn clear_in_flight(&self) -> io::Result<()> {
        if self.journal_used.swap(false, Ordering::Relaxed) {
            self.file.set_len(0)?;
            self.journal_len.store(0, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Store {
    pub(crate) fn new(state_dir: &Path, network: &str) -> Store {
        Store {
            dir: state_dir.join(network),
            checked: OnceLock::new(),
        }
    }

    /// The network's directory, checked (see [`crate::trust`]) and, with
    /// `create`, made (0700, as are the missing directories above it);
    /// `Ok(None)` when it does not exist. An untrusted one is an error
    /// [`trust::untrusted`] recognises.
    fn trusted(&self, create: bool) -> io::Result<Option<&trust::Dir>> {
        if let Some(d) = self.checked.get() {
            return Ok(Some(d));
        }
        match trust::Dir::open(&self.dir, create, Last::Private)? {
            Some(d) => Ok(Some(self.checked.get_or_init(|| d))),
            None => Ok(None),
        }
    }

    /// [`Store::trusted`], made when missing.
    fn made(&self) -> io::Result<&trust::Dir> {
        self.trusted(true)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} could not be made", self.dir.display()),
            )
        })
    }

    /// Whether the network's directory exists and can be trusted
    /// (`Ok(false)`: it does not exist).
    pub(crate) fn check(&self) -> Result<bool, Unusable> {
        self.trusted(false)
            .map(|d| d.is_some())
            .map_err(|e| Unusable::from_io(&e))
    }

    /// The state file `file_name` of this network, opened for reading once
    /// it passed the check; `Ok(None)` when it (or the directory) does not
    /// exist.
    pub(crate) fn open_file(&self, file_name: &str) -> Result<Option<File>, Unusable> {
        let Some(dir) = self.trusted(false).map_err(|e| Unusable::from_io(&e))? else {
            return Ok(None);
        };
        match dir.open_file(OsStr::new(file_name), READ) {
            Ok(f) => Ok(Some(f)),
            Err(e) if !e.untrusted() && e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Unusable::from_trust(&e)),
        }
    }

    /// The bytes of the state file `file_name` (see [`Store::open_file`]).
    fn read(&self, file_name: &str) -> Result<Option<Vec<u8>>, Unusable> {
        let Some(mut f) = self.open_file(file_name)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(|e| {
            Unusable::bad(format!(
                "cannot read {}: {e}",
                self.dir.join(file_name).display()
            ))
        })?;
        Ok(Some(bytes))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn stem(container_id: &str, ifname: &str) -> String {
        format!("{container_id}-{ifname}")
    }

    /// Where the attachment's record is.
    pub(crate) fn record_path(&self, container_id: &str, ifname: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", Self::stem(container_id, ifname)))
    }

    /// Where the attachment's lock file (its in-flight journal) is.
    pub(crate) fn lock_path(&self, container_id: &str, ifname: &str) -> PathBuf {
        self.dir
            .join(format!(".{}.lock", Self::stem(container_id, ifname)))
    }

    /// Take the attachment's lock, waiting until `deadline` (or forever).
    /// `Ok(None)` if `deadline` passed, or at once when `wait` is false and
    /// someone else holds it.
    pub(crate) fn lock(
        &self,
        container_id: &str,
        ifname: &str,
        wait: bool,
        deadline: Option<Instant>,
    ) -> io::Result<Option<Lock>> {
        let stem = Self::stem(container_id, ifname);
        let lock_path = self.dir.join(format!(".{stem}.lock"));
        let state_path = self.dir.join(format!("{stem}.json"));
        let mut nap = Duration::from_millis(1);
        // The directories are made the first time only.
        let dir = self.made()?;
        let open = |how: Open| {
            dir.open_file_stat(name(&lock_path), how)
                .map_err(io::Error::from)
        };
        loop {
            let (f, st) = match open(READ.write()) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A new attachment: its lock file is a spare one if
                    // there is one (creating a file costs ~0.3 ms here when
                    // the file system is cold), else a new one.
                    self.reuse_lock_file(dir, &lock_path);
                    open(READ.write().create())?
                }
                f => f?,
            };
            match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                Ok(held) => {
                    // The holder before us may have removed the file: only a
                    // lock on the file that is still at the path counts.
                    let same = fs::symlink_metadata(&lock_path).is_ok_and(|m| m.ino() == st.st_ino);
                    if same {
                        return Ok(Some(Lock {
                            file: held,
                            lock_path,
                            state_path,
                            journal_used: AtomicBool::new(false),
                            journal_len: AtomicU64::new(0),
                        }));
                    }
                }
                Err((_, Errno::EWOULDBLOCK)) => {
                    if !wait || deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(50));
                }
                Err((_, e)) => return Err(e.into()),
            }
        }
    }

    /// The attachment's record: `Ok(None)` when there is none, `Err` (with
    /// the reason) when it cannot be read or parsed, or belongs to another
    /// attachment whose name maps to the same file. Records are replaced by
    /// rename, so reading one needs no lock; the lock keeps two operations
    /// off one attachment.
    ///
    /// A record (or directory) that is not trusted is an error with
    /// `untrusted` set: it must not be replayed.
    pub(crate) fn load(
        &self,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<Record>, Unusable> {
        let file_name = format!("{}.json", Self::stem(container_id, ifname));
        let path = self.dir.join(&file_name);
        let Some(bytes) = self.read(&file_name)? else {
            return Ok(None);
        };
        let bad = |why: String| Unusable::bad(why);
        let r: Record = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("{} does not parse: {e}", path.display())))?;
        if r.format != FORMAT {
            return Err(bad(format!(
                "{} has format {}, expected {FORMAT}",
                path.display(),
                r.format
            )));
        }
        if r.container_id != container_id || r.if_name != ifname {
            return Err(bad(format!(
                "{} belongs to container {:?} interface {:?}",
                path.display(),
                r.container_id,
                r.if_name
            )));
        }
        Ok(Some(r))
    }

    /// Write `record` atomically under `lock`: a temp file renamed into
    /// place, so no process ever sees a partial record, and a meta-cni
    /// killed at any point leaves either the old record or the new one.
    ///
    /// With `durable`, the record is also to survive a node crash: the
    /// caller gets it back as [`Unsynced`] and must [`Unsynced::sync`] it
    /// (ADD does so while its first delegate runs, and always before it
    /// answers). The first record of an ADD is written so; the later ones
    /// only add results to it and skip the fsync (a node crash at worst
    /// keeps the first version, which DEL can still use).
    pub(crate) fn save(
        &self,
        lock: &Lock,
        record: &Record,
        durable: bool,
    ) -> io::Result<Option<Unsynced>> {
        let mut bytes = serde_json::to_vec(record).map_err(io::Error::other)?;
        let mut tmp = lock.state_path.clone().into_os_string();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        // The record an update replaces is kept as a spare, not freed. (An
        // ADD's first record normally replaces none; a repeated ADD's old
        // record is simply freed.)
        let old = self.private("old");
        let replacing = !durable && fs::hard_link(&lock.state_path, &old).is_ok();
        let written = (|| {
            let f = self.open_for_record(self.made()?, &tmp)?;
            // A larger spare keeps its tail of spaces (it was wiped).
            let len = (bytes.len() + 1).next_multiple_of(RECORD_BLOCK);
            bytes.push(b'\n');
            bytes.resize(len, b' ');
            f.write_all_at(&bytes, 0)?;
            fs::rename(&tmp, &lock.state_path)?;
            Ok(f)
        })();
        if replacing {
            let _ = self.retire(&old);
        }
        let file = match written {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if !durable {
            return Ok(None);
        }
        Ok(Some(Unsynced { file }))
    }

    fn spare(&self, n: usize) -> PathBuf {
        self.dir.join(format!(".spare.{n}"))
    }

    fn lock_spare(&self, n: usize) -> PathBuf {
        self.dir.join(format!(".lockspare.{n}"))
    }

    /// A name of this process's own in the state directory.
    fn private(&self, what: &str) -> PathBuf {
        self.dir.join(format!(".{what}.{}", std::process::id()))
    }

    /// Keep the file at `private` under the first free `slot(n)` (link(2)
    /// never replaces: a taken slot fails with EEXIST), then drop the
    /// private name (which frees the file if no slot was free).
    fn park(&self, private: &Path, slot: impl Fn(usize) -> PathBuf) -> io::Result<()> {
        for n in 0..SPARES {
            if fs::hard_link(private, slot(n)).is_ok() {
                break;
            }
        }
        fs::remove_file(private)
    }

    /// Put a spare lock file at `lock_path` if there is one: taken over by
    /// renaming it to a private name (atomic: no two processes get the
    /// same), then linked into place (never replacing a lock file someone
    /// else made meanwhile; ours goes back to the spares then). Best effort.
    fn reuse_lock_file(&self, dir: &trust::Dir, lock_path: &Path) {
        let private = self.private("lockclaim");
        for n in 0..SPARES {
            if fs::rename(self.lock_spare(n), &private).is_ok() {
                // One that is not trusted goes (a spare holds nothing).
                if dir.check_entry(name(&private), false).is_err() {
                    let _ = fs::remove_file(&private);
                    continue;
                }
                if fs::hard_link(&private, lock_path).is_ok() {
                    let _ = fs::remove_file(&private);
                } else {
                    let _ = self.park(&private, |n| self.lock_spare(n));
                }
                return;
            }
        }
    }

    /// A file at `tmp` (in `dir`) to write a record into: a spare taken
    /// over (renaming it is atomic, so two writers never get the same one),
    /// else a new file.
    fn open_for_record(&self, dir: &trust::Dir, tmp: &Path) -> io::Result<File> {
        for n in 0..SPARES {
            if fs::rename(self.spare(n), tmp).is_ok() {
                match dir.open_file(name(tmp), WRITE) {
                    Ok(f) => return Ok(f),
                    // Not one to write into: a new file instead.
                    Err(_) => fs::remove_file(tmp)?,
                }
            }
        }
        Ok(dir.open_file(name(tmp), WRITE.create().truncate())?)
    }

    /// Take the file at `path` out of use: it is renamed away at once (so
    /// it is gone as a record), wiped, and kept as a spare if a slot is
    /// free, else deleted.
    fn retire(&self, path: &Path) -> io::Result<()> {
        let private = self.private("retired");
        match fs::rename(path, &private) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        let wiped = (|| {
            let f = self.made()?.open_file(name(&private), WRITE)?;
            let size = usize::try_from(f.metadata()?.len()).map_err(io::Error::other)?;
            f.write_all_at(&vec![b' '; size], 0)
        })();
        if wiped.is_err() {
            return fs::remove_file(&private);
        }
        self.park(&private, |n| self.spare(n))
    }

    /// Remove the record and the lock file (still holding the lock, so a
    /// waiter notices the file is gone and retries on a new one).
    pub(crate) fn remove(&self, lock: Lock) -> io::Result<()> {
        self.retire(&lock.state_path)?;
        lock.clear_in_flight()?;
        // The lock file is kept as a spare for the next attachment: renamed
        // into a free slot, so a waiter holding it open finds it gone from
        // the path once it gets the lock, and retries. Two removers that
        // pick the same free slot at once just free one of the two files.
        match (0..SPARES)
            .map(|n| self.lock_spare(n))
            .find(|p| !p.exists())
        {
            Some(slot) => {
                let _ = fs::rename(&lock.lock_path, slot);
            }
            None => {
                let _ = fs::remove_file(&lock.lock_path);
            }
        }
        drop(lock);
        Ok(())
    }

    /// Delete what a meta-cni killed in the middle of writing or retiring a
    /// record left behind (`*.tmp.<pid>`, `.old.<pid>`, `.retired.<pid>`
    /// of processes that no longer exist). Returns what was removed.
    pub(crate) fn sweep_leftovers(&self) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        // Nothing is removed from a directory that is not trusted.
        if !matches!(self.trusted(false), Ok(Some(_))) {
            return removed;
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return removed;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let pid = [".tmp.", ".old.", ".retired.", ".lockclaim."]
                .iter()
                .find_map(|mark| {
                    let (head, pid) = name.rsplit_once(mark)?;
                    let ok = match *mark {
                        ".tmp." => head.ends_with(".json"),
                        _ => head.is_empty(),
                    };
                    ok.then(|| pid.parse::<u32>().ok()).flatten()
                });
            let Some(pid) = pid else { continue };
            let gone = !Path::new(&format!("/proc/{pid}")).exists();
            if gone && fs::remove_file(e.path()).is_ok() {
                removed.push(e.path());
            }
        }
        removed
    }

    /// Every attachment with a record: (containerID, ifname), read from the
    /// records themselves. Files that cannot be used (or a directory that
    /// cannot be trusted) are reported by path, with why.
    pub(crate) fn list(&self) -> Listing {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        if let Err(why) = self.check() {
            bad.push((self.dir.clone(), why));
            return (ok, bad);
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return (ok, bad);
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            match self.read(&name) {
                Ok(None) => {}
                Ok(Some(b)) => match serde_json::from_slice::<Record>(&b) {
                    Ok(r) => ok.push((r.container_id, r.if_name)),
                    Err(e) => bad.push((
                        path.clone(),
                        Unusable::bad(format!("{} does not parse: {e}", path.display())),
                    )),
                },
                Err(why) => bad.push((path, why)),
            }
        }
        ok.sort();
        (ok, bad)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::os::unix::fs::PermissionsExt;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("meta-cni-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    fn record(cid: &str, ifname: &str) -> Record {
        Record {
            format: FORMAT,
            network: "net".into(),
            container_id: cid.into(),
            if_name: ifname.into(),
            request: RequestVars::default(),
            pipelines: vec![PipelineRecord {
                name: String::new(),
                if_name: ifname.into(),
                mode: ResultMode::Chained,
                delegates: vec![DelegateRecord {
                    name: "a".into(),
                    plugin: "a".into(),
                    cni_version: Version::V1_0_0,
                    stdin: r#"{"type":"a","big":123456789012345678901234567890}"#.into(),
                    env: EnvDelta::default(),
                    timeout_ms: None,
                }],
                result: None,
            }],
        }
    }

    #[test]
    fn save_load_remove_with_modes_and_no_stray_files() {
        let root = tmp("cycle");
        let s = Store::new(&root, "net");
        let lock = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        assert_eq!(s.load("c1", "eth0"), Ok(None));
        let r = record("c1", "eth0");
        s.save(&lock, &r, true)
            .unwrap()
            .expect("durable")
            .sync()
            .unwrap();
        assert_eq!(s.load("c1", "eth0"), Ok(Some(r.clone())));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(lock.state_path()), 0o600);
        assert_eq!(mode(s.dir()), 0o700);
        assert_eq!(mode(&root), 0o700);
        // Stored stdin bytes survive exactly (numbers beyond 64 bits included).
        let raw = fs::read_to_string(lock.state_path()).unwrap();
        assert!(raw.contains(r#"123456789012345678901234567890"#));
        assert_eq!(s.list().0, vec![("c1".to_string(), "eth0".to_string())]);
        s.remove(lock).unwrap();
        let left: Vec<String> = fs::read_dir(s.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            BTreeSet::from([".spare.0", ".lockspare.0"]),
            "no lock or temp file left, only the spares"
        );
        fs::remove_dir_all(&root).unwrap();
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
    fn removed_records_become_wiped_spares_that_the_next_records_are_written_over() {
        let root = tmp("spares");
        let s = Store::new(&root, "net");
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        // Six attachments come and go: four spares are kept, the rest freed.
        let mut inodes = Vec::new();
        for i in 0..6 {
            let cid = format!("c{i}");
            let lock = s.lock(&cid, "eth0", true, None).unwrap().unwrap();
            let r = record(&cid, "eth0");
            s.save(&lock, &r, true).unwrap().unwrap().sync().unwrap();
            let raw = fs::read(lock.state_path()).unwrap();
            assert_eq!(raw.len() % RECORD_BLOCK, 0, "padded to whole blocks");
            assert_eq!(s.load(&cid, "eth0"), Ok(Some(r)), "padding still parses");
            inodes.push(ino(lock.state_path()));
        }
        for i in 0..6 {
            let lock = s
                .lock(&format!("c{i}"), "eth0", true, None)
                .unwrap()
                .unwrap();
            s.remove(lock).unwrap();
        }
        assert_eq!(
            names(s.dir()),
            [
                ".lockspare.0",
                ".lockspare.1",
                ".lockspare.2",
                ".lockspare.3",
                ".spare.0",
                ".spare.1",
                ".spare.2",
                ".spare.3"
            ]
        );
        for n in 0..SPARES {
            let spare = s.spare(n);
            assert!(inodes.contains(&ino(&spare)), "a retired record");
            let data = fs::read(&spare).unwrap();
            assert!(!data.is_empty() && data.iter().all(|b| *b == b' '), "wiped");
            assert_eq!(
                fs::metadata(&spare).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Spares are not records.
        assert_eq!(s.list(), (vec![], vec![]));
        // The next record takes a spare over, whole.
        let spare_inode = ino(&s.spare(0));
        let lock = s.lock("new", "eth0", true, None).unwrap().unwrap();
        let r = record("new", "eth0");
        s.save(&lock, &r, true).unwrap().unwrap().sync().unwrap();
        assert_eq!(ino(lock.state_path()), spare_inode);
        assert_eq!(s.load("new", "eth0"), Ok(Some(r.clone())));
        // Rewriting a record keeps the one it replaces as a spare.
        let before = ino(lock.state_path());
        let mut r2 = r.clone();
        r2.pipelines[0].name = "changed".into();
        s.save(&lock, &r2, false).unwrap();
        assert_eq!(s.load("new", "eth0"), Ok(Some(r2)));
        assert_ne!(ino(lock.state_path()), before);
        assert!((0..SPARES).any(|n| s.spare(n).exists() && ino(&s.spare(n)) == before));
        // The first record took one spare, the rewrite another and gave the
        // record it replaced back: record, lock (a former spare lock file),
        // three spares and three spare lock files.
        assert_eq!(
            names(s.dir()).len(),
            2 + 2 * (SPARES - 1),
            "{:?}",
            names(s.dir())
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_held_lock_excludes_others_and_foreign_or_corrupt_records_are_errors() {
        let root = tmp("lock");
        let s = Store::new(&root, "net");
        let held = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        assert!(s.lock("c1", "eth0", false, None).unwrap().is_none());
        let soon = Some(Instant::now() + Duration::from_millis(30));
        assert!(s.lock("c1", "eth0", true, soon).unwrap().is_none());
        // A different attachment is independent.
        assert!(s.lock("c2", "eth0", false, None).unwrap().is_some());
        // "a-b" + "c" and "a" + "b-c" share a file name: a record knows whose it is.
        let ab = s.lock("a-b", "c", false, None).unwrap().unwrap();
        assert!(s.save(&ab, &record("a-b", "c"), false).unwrap().is_none());
        assert!(s
            .load("a", "b-c")
            .unwrap_err()
            .why
            .contains("belongs to container \"a-b\""));
        assert!(s.load("a-b", "c").unwrap().is_some());
        // Written 0644: others can read it, so it is not trusted.
        fs::write(held.state_path(), b"{not json").unwrap();
        let e = s.load("c1", "eth0").unwrap_err();
        assert!(e.untrusted && e.why.contains("has mode 0644"), "{e}");
        fs::set_permissions(held.state_path(), fs::Permissions::from_mode(0o600)).unwrap();
        let e = s.load("c1", "eth0").unwrap_err();
        assert!(!e.untrusted && e.why.contains("does not parse"), "{e}");
        drop((held, ab));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn leftovers_of_dead_writers_are_swept_and_nothing_else() {
        let root = tmp("sweep");
        let s = Store::new(&root, "net");
        s.made().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let dead = child.id();
        let alive = std::process::id();
        let lock = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        s.save(&lock, &record("c1", "eth0"), false).unwrap();
        for name in [
            format!("c1-eth0.json.tmp.{dead}"),
            format!(".old.{dead}"),
            format!(".retired.{dead}"),
            format!(".lockclaim.{dead}"),
            format!("c1-eth0.json.tmp.{alive}"),
            format!(".retired.{alive}"),
            ".spare.0".to_string(),
            format!("x.tmp.{dead}"),
        ] {
            fs::write(s.dir().join(name), b" ").unwrap();
        }
        let mut swept: Vec<String> = s
            .sweep_leftovers()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        swept.sort();
        let mut want = vec![
            format!(".lockclaim.{dead}"),
            format!(".old.{dead}"),
            format!(".retired.{dead}"),
            format!("c1-eth0.json.tmp.{dead}"),
        ];
        want.sort();
        assert_eq!(swept, want);
        assert_eq!(names(s.dir()).len(), 6, "{:?}", names(s.dir()));
        assert!(s.load("c1", "eth0").unwrap().is_some());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_in_flight_journal_keeps_one_entry_per_slot_until_cleared() {
        let root = tmp("journal");
        let s = Store::new(&root, "net");
        let lock = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        assert_eq!(lock.in_flight().unwrap(), vec![]);
        let entry = |pid, plugin: &str| InFlight {
            pid,
            boot_ms: 123_456,
            command: "ADD".into(),
            pipeline: 2,
            delegate: 1,
            plugin: plugin.into(),
            boot_id: Some(0x1f07_53c8_cf23_452b_a300_3924_419a_7c39),
        };
        lock.note_in_flight(2, &entry(41, "sriov")).unwrap();
        // A later delegate of the same pipeline takes the slot over.
        lock.note_in_flight(2, &entry(42, "rdma")).unwrap();
        // A plugin name that could break the line is not written.
        lock.note_in_flight(0, &entry(7, "a b\n")).unwrap();
        let got = lock.in_flight().unwrap();
        assert_eq!(got, vec![(0, entry(7, "?")), (2, entry(42, "rdma"))]);
        // A later holder (after a kill) reads the same.
        drop(lock);
        let again = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        assert_eq!(again.in_flight().unwrap(), got);
        again.clear_in_flight().unwrap();
        assert_eq!(again.in_flight().unwrap(), vec![]);
        assert_eq!(fs::metadata(&again.lock_path).unwrap().len(), 0);
        // Removing the attachment leaves no journal in the spare lock file.
        again.note_in_flight(0, &entry(9, "x")).unwrap();
        s.remove(again).unwrap();
        assert_eq!(fs::metadata(s.lock_spare(0)).unwrap().len(), 0);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_journal_slot_carries_the_boot_whole_or_is_no_entry() {
        let boot = 0x1f07_53c8_cf23_452b_a300_3924_419a_7c39;
        let entry = InFlight {
            pid: 4711,
            boot_ms: 123_456,
            command: "ADD".into(),
            pipeline: 1,
            delegate: 0,
            plugin: "sriov".into(),
            boot_id: Some(boot),
        };
        let slot = entry.encode();
        assert_eq!(slot.len(), SLOT);
        assert!(std::str::from_utf8(&slot)
            .unwrap()
            .starts_with("4711 123456 ADD 1 0 sriov 1f0753c8-cf23-452b-a300-3924419a7c39 "));
        assert_eq!(InFlight::decode(&slot), Some(entry.clone()));
        // A line too long for the slot gives up the plugin, never the boot.
        let long = InFlight {
            pid: i32::MIN,
            boot_ms: u64::MAX,
            pipeline: usize::MAX,
            delegate: usize::MAX,
            plugin: "p".repeat(48),
            ..entry.clone()
        };
        let got = InFlight::decode(&long.encode()).unwrap();
        assert_eq!((got.plugin.as_str(), got.boot_id), ("?", Some(boot)));
        // An entry of a meta-cni that wrote no boot; a boot that is not one.
        let old = InFlight::decode(b"4711 123456 ADD 1 0 sriov").unwrap();
        assert_eq!(old.boot_id, None);
        assert_eq!(
            InFlight::decode(b"4711 123456 ADD 1 0 sriov 1f0753c8-cf23"),
            None
        );
    }

    #[test]
    fn a_completed_add_leaves_a_marker_that_is_no_entry() {
        let root = tmp("marker");
        let s = Store::new(&root, "net");
        let lock = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        let entry = |pid, slot| InFlight {
            pid,
            boot_ms: 1,
            command: "ADD".into(),
            pipeline: slot,
            delegate: 0,
            plugin: "p".into(),
            boot_id: None,
        };
        assert_eq!(Journal::parse(b""), Journal::default());
        lock.in_flight().unwrap();
        lock.note_in_flight(0, &entry(7, 0)).unwrap();
        lock.note_in_flight(2, &entry(8, 2)).unwrap();
        lock.mark_add_complete().unwrap();
        let bytes = fs::read(s.lock_path("c1", "eth0")).unwrap();
        assert_eq!(bytes.len(), 3 * SLOT, "one write over the whole journal");
        assert_eq!(
            Journal::parse(&bytes),
            Journal {
                entries: vec![],
                add_complete: true
            }
        );
        // The next holder finds nothing to end, and its entries show.
        drop(lock);
        let next = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        assert_eq!(next.in_flight().unwrap(), vec![]);
        next.note_in_flight(1, &entry(9, 1)).unwrap();
        let j = Journal::parse(&fs::read(s.lock_path("c1", "eth0")).unwrap());
        assert_eq!(j.entries, vec![(1, entry(9, 1))]);
        assert!(j.add_complete);
        // A failed operation empties it: no marker.
        next.clear_in_flight().unwrap();
        assert_eq!(fs::metadata(s.lock_path("c1", "eth0")).unwrap().len(), 0);
        // A marker on a fresh journal takes one slot; removal wipes it.
        next.mark_add_complete().unwrap();
        assert_eq!(
            fs::metadata(s.lock_path("c1", "eth0")).unwrap().len(),
            SLOT as u64
        );
        s.remove(next).unwrap();
        assert_eq!(fs::metadata(s.lock_spare(0)).unwrap().len(), 0);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn lock_files_are_reused_and_still_exclude() {
        let root = tmp("lockspares");
        let s = Store::new(&root, "net");
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        let first = s.lock("c1", "eth0", true, None).unwrap().unwrap();
        let first_inode = ino(&first.lock_path);
        s.remove(first).unwrap();
        assert_eq!(ino(&s.lock_spare(0)), first_inode, "kept as a spare");
        // The next attachment gets that file, and it still excludes.
        let second = s.lock("c2", "eth0", true, None).unwrap().unwrap();
        assert_eq!(ino(&second.lock_path), first_inode);
        assert!(!s.lock_spare(0).exists());
        assert!(s.lock("c2", "eth0", false, None).unwrap().is_none());
        // A waiter that opened the file before it was recycled does not
        // keep the lock of the attachment it now belongs to.
        let waiter = fs::OpenOptions::new()
            .write(true)
            .open(&second.lock_path)
            .unwrap();
        s.remove(second).unwrap();
        let third = s.lock("c3", "eth0", true, None).unwrap().unwrap();
        assert_eq!(ino(&third.lock_path), first_inode);
        match Flock::lock(waiter, FlockArg::LockExclusiveNonblock) {
            Err((_, e)) => assert_eq!(e, Errno::EWOULDBLOCK, "c3 holds it"),
            Ok(_) => panic!("the stale waiter got the lock c3 holds"),
        }
        // No spare left: a new file.
        let fourth = s.lock("c4", "eth0", true, None).unwrap().unwrap();
        assert_ne!(ino(&fourth.lock_path), first_inode);
        drop((third, fourth));
        fs::remove_dir_all(&root).unwrap();
    }
}
