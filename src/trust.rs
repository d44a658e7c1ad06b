//! What meta-cni trusts on disk. It runs as root, and some of what it reads
//! decides what it runs (an attachment record holds the stdin and the
//! environment a delegate is started with on DEL; the in-flight journal
//! names process groups to signal), while what it writes could be
//! redirected (a symlink in place of the log file). So a file is used only
//! when nobody but root (the effective uid) could have planted or replaced
//! it (docs/security.md):
//!
//! * a **directory** is trusted when every component of its path, from
//!   `/`, is a directory (not a symlink) owned by root or the effective uid
//!   and not writable by group or others, unless it is sticky (like
//!   `/tmp`): others cannot rename or remove in a sticky directory what they
//!   do not own, and everything below one that is used here is checked to
//!   be owned by root or the effective uid. The path is walked one
//!   component at a time, each opened (`O_PATH|O_NOFOLLOW`) relative to its
//!   parent and checked with `fstat`, so a component swapped during the
//!   walk cannot fool it;
//! * a **private** directory (a network's state directory, the last
//!   component of its path) is moreover owned by the effective uid, with no
//!   permission for group or others (0700);
//! * a **file** is opened relative to its trusted directory with
//!   `O_NOFOLLOW` (and `O_NONBLOCK`, so a FIFO cannot block the open),
//!   created 0600, and what was opened is checked with `fstat`: a regular
//!   file owned by the effective uid, with no permission for group or others
//!   (private: the state files) or not writable by them (the log and
//!   metrics files), and, in a directory others can write (sticky), with no
//!   other hard link (a link to a file root owns elsewhere, made there by
//!   someone else, is not ours to write). `O_TRUNC` is applied only after
//!   the check. The null device is accepted as the log file
//!   (`"logFile": "/dev/null"`).
//!
//! Nothing is cached across invocations: the check costs one `openat` and
//! one `fstat` per path component.

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, makedev, mkdirat, FileStat, Mode, SFlag};
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The user every trusted file and directory below the ancestors belongs
/// to: meta-cni's effective uid (root on a node), asked once per process.
pub(crate) fn euid() -> u32 {
    static EUID: OnceLock<u32> = OnceLock::new();
    *EUID.get_or_init(|| nix::unistd::geteuid().as_raw())
}

/// What is wrong with a path, or why it could not be checked.
#[derive(Debug)]
pub(crate) enum Problem {
    Symlink,
    NotDirectory,
    NotRegular,
    /// Owned by `uid`, not `want` (or root, when `or_root`).
    Owner {
        uid: u32,
        want: u32,
        or_root: bool,
    },
    GroupWritable,
    OtherWritable,
    /// Group or others have some (non-write) permission; `want` is the
    /// mode expected.
    Exposed {
        mode: u32,
        want: u32,
    },
    /// More than one hard link, in a directory others can write.
    Links(u64),
    /// It could not be opened or checked.
    Io(io::Error),
}

/// A path meta-cni refuses to trust, or could not check.
#[derive(Debug)]
pub(crate) struct Error {
    pub path: PathBuf,
    pub problem: Problem,
}

impl Error {
    fn new(path: impl Into<PathBuf>, problem: Problem) -> Error {
        Error {
            path: path.into(),
            problem,
        }
    }

    fn io(path: impl Into<PathBuf>, e: impl Into<io::Error>) -> Error {
        Error::new(path, Problem::Io(e.into()))
    }

    /// Whether the path is untrusted (not merely missing or unreadable).
    pub(crate) fn untrusted(&self) -> bool {
        !matches!(self.problem, Problem::Io(_))
    }

    /// The `io::ErrorKind` of a path that could not be opened (`NotFound`
    /// for a missing one); `PermissionDenied` for an untrusted one.
    pub(crate) fn kind(&self) -> io::ErrorKind {
        match &self.problem {
            Problem::Io(e) => e.kind(),
            _ => io::ErrorKind::PermissionDenied,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.problem {
            Problem::Symlink => write!(f, "{p} is a symlink"),
            Problem::NotDirectory => write!(f, "{p} is not a directory"),
            Problem::NotRegular => write!(f, "{p} is not a regular file"),
            Problem::Owner { uid, want, or_root } => {
                if *or_root && *want != 0 {
                    write!(f, "{p} is owned by uid {uid}, not 0 or {want}")
                } else {
                    write!(f, "{p} is owned by uid {uid}, not {want}")
                }
            }
            Problem::GroupWritable => write!(f, "{p} is writable by its group"),
            Problem::OtherWritable => write!(f, "{p} is writable by others"),
            Problem::Exposed { mode, want } => write!(
                f,
                "{p} has mode {mode:04o}, not {want:04o} (group or others have access)"
            ),
            Problem::Links(n) => {
                write!(f, "{p} has {n} hard links, in a directory others can write")
            }
            Problem::Io(e) => write!(f, "{p}: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// The trust problem `e` carries, if it is one (an [`Error`] converted to
/// an `io::Error`).
pub(crate) fn untrusted(e: &io::Error) -> Option<&Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .filter(|t| t.untrusted())
}

/// How the last component of a directory path is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Last {
    /// As every other component (a log file's directory).
    Shared,
    /// Owned by the effective uid, mode 0700 (a network's state directory).
    Private,
}

const GROUP_OTHER: u32 = 0o077;
const STICKY: u32 = 0o1000;

fn perms(st: &FileStat) -> u32 {
    st.st_mode & 0o7777
}

fn is(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// Group or others can write: which one, as a problem.
fn writable(mode: u32) -> Option<Problem> {
    if mode & 0o002 != 0 {
        Some(Problem::OtherWritable)
    } else if mode & 0o020 != 0 {
        Some(Problem::GroupWritable)
    } else {
        None
    }
}

/// Check one directory of a path; `Ok(true)` when it is sticky and others
/// can write it.
fn check_dir(st: &FileStat, rule: Last, euid: u32) -> Result<bool, Problem> {
    if !is(st, SFlag::S_IFDIR) {
        return Err(Problem::NotDirectory);
    }
    let mode = perms(st);
    match rule {
        Last::Shared => {
            if st.st_uid != 0 && st.st_uid != euid {
                return Err(Problem::Owner {
                    uid: st.st_uid,
                    want: euid,
                    or_root: true,
                });
            }
            match writable(mode) {
                Some(_) if mode & STICKY != 0 => Ok(true),
                Some(p) => Err(p),
                None => Ok(false),
            }
        }
        Last::Private => {
            if st.st_uid != euid {
                return Err(Problem::Owner {
                    uid: st.st_uid,
                    want: euid,
                    or_root: false,
                });
            }
            if mode & GROUP_OTHER != 0 {
                return Err(writable(mode).unwrap_or(Problem::Exposed { mode, want: 0o700 }));
            }
            Ok(false)
        }
    }
}

/// How a file is opened in a trusted directory, and what it must be.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Open {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    /// Group and others may read it (never write): the log and metrics
    /// files. Otherwise they have no permission at all (state files).
    shared: bool,
    /// The null device passes too (the log: `"logFile": "/dev/null"`).
    null: bool,
    /// Its creation mode (0600 unless set).
    mode: Option<u32>,
}

impl Open {
    pub(crate) const fn new() -> Open {
        Open {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            shared: false,
            null: false,
            mode: None,
        }
    }
    pub(crate) const fn read(mut self) -> Open {
        self.read = true;
        self
    }
    pub(crate) const fn write(mut self) -> Open {
        self.write = true;
        self
    }
    pub(crate) const fn append(mut self) -> Open {
        self.append = true;
        self.write = true;
        self
    }
    /// Emptied once it has passed the check.
    pub(crate) const fn truncate(mut self) -> Open {
        self.truncate = true;
        self
    }
    /// Created (mode 0600 unless [`Open::mode`]) when missing.
    pub(crate) const fn create(mut self) -> Open {
        self.create = true;
        self
    }
    /// A file others may read but never write (the log, the metrics).
    pub(crate) const fn shared(mut self) -> Open {
        self.shared = true;
        self
    }
    /// The null device passes too: it keeps nothing (the log file).
    pub(crate) const fn or_null(mut self) -> Open {
        self.null = true;
        self
    }
    /// The mode a created file gets (0600 unless set; the metrics file,
    /// which node_exporter reads: 0644). Never writable by group or others.
    pub(crate) const fn mode(mut self, mode: u32) -> Open {
        self.mode = Some(mode & !0o022);
        self
    }

    fn flags(self) -> OFlag {
        let mut f = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        f |= match (self.read, self.write) {
            (true, true) => OFlag::O_RDWR,
            (false, true) => OFlag::O_WRONLY,
            _ => OFlag::O_RDONLY,
        };
        if self.append {
            f |= OFlag::O_APPEND;
        }
        if self.create {
            f |= OFlag::O_CREAT;
        }
        f
    }
}

/// A directory that passed the check, held open: files are opened
/// relative to it.
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    /// Sticky and writable by others: a file in it may be someone else's.
    shared: bool,
}

impl Dir {
    /// Check the directory `path` (made absolute first) component by
    /// component from `/`, the last one by `last`. Missing components are
    /// created (0700) with `create`, else the answer is `Ok(None)`.
    pub(crate) fn open(path: &Path, create: bool, last: Last) -> Result<Option<Dir>, Error> {
        let euid = euid();
        let path = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut fd = openat(nix::fcntl::AT_FDCWD, "/", flags, Mode::empty())
            .map_err(|e| Error::io("/", e))?;
        let mut shared = {
            let st = fstat(&fd).map_err(|e| Error::io("/", e))?;
            check_dir(&st, Last::Shared, euid).map_err(|p| Error::new("/", p))?
        };
        let names: Vec<&OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                Component::ParentDir => Some(OsStr::new("..")),
                _ => None,
            })
            .collect();
        let mut at = PathBuf::from("/");
        for (i, name) in names.iter().enumerate() {
            at.push(name);
            let rule = if i + 1 == names.len() {
                last
            } else {
                Last::Shared
            };
            let Some(next) = step(&fd, name, &at, create)? else {
                return Ok(None);
            };
            let st = fstat(&next).map_err(|e| Error::io(&at, e))?;
            shared = check_dir(&st, rule, euid).map_err(|p| Error::new(&at, p))?;
            fd = next;
        }
        // `/` itself as a private directory: only when the path is `/`.
        if names.is_empty() && last == Last::Private {
            let st = fstat(&fd).map_err(|e| Error::io("/", e))?;
            check_dir(&st, last, euid).map_err(|p| Error::new("/", p))?;
        }
        Ok(Some(Dir { fd, path, shared }))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Open the file `name` (one path component) in this directory as
    /// `how` says, and check what was opened.
    pub(crate) fn open_file(&self, name: &OsStr, how: Open) -> Result<File, Error> {
        self.open_file_stat(name, how).map(|(f, _)| f)
    }

    /// [`Dir::open_file`], with what `fstat` said of the file when it was
    /// checked (its size and inode, without asking again).
    pub(crate) fn open_file_stat(
        &self,
        name: &OsStr,
        how: Open,
    ) -> Result<(File, FileStat), Error> {
        let path = self.path.join(name);
        let mode = Mode::from_bits_truncate(how.mode.unwrap_or(0o600));
        let fd = match openat(&self.fd, name, how.flags(), mode) {
            Ok(fd) => fd,
            Err(Errno::ELOOP) => return Err(Error::new(path, Problem::Symlink)),
            // A FIFO without a reader, opened for writing; a socket.
            Err(Errno::ENXIO) => return Err(Error::new(path, Problem::NotRegular)),
            Err(e) => return Err(Error::io(path, e)),
        };
        let st = fstat(&fd).map_err(|e| Error::io(&path, e))?;
        self.check_file(&st, how.shared, how.null)
            .map_err(|p| Error::new(&path, p))?;
        let file = File::from(fd);
        let mut st = st;
        if how.truncate && is(&st, SFlag::S_IFREG) && st.st_size != 0 {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
            st.st_size = 0;
        }
        Ok((file, st))
    }

    /// Check the entry `name` without opening it (as [`Dir::open_file`]
    /// would check it); `Ok(false)` when there is none.
    pub(crate) fn check_entry(&self, name: &OsStr, shared: bool) -> Result<bool, Error> {
        let path = self.path.join(name);
        let st = match fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(Error::io(path, e)),
        };
        if is(&st, SFlag::S_IFLNK) {
            return Err(Error::new(path, Problem::Symlink));
        }
        self.check_file(&st, shared, false)
            .map_err(|p| Error::new(&path, p))?;
        Ok(true)
    }

    fn check_file(&self, st: &FileStat, shared: bool, null: bool) -> Result<(), Problem> {
        if null && is(st, SFlag::S_IFCHR) && st.st_rdev == makedev(1, 3) {
            return Ok(()); // the null device: it keeps nothing
        }
        if !is(st, SFlag::S_IFREG) {
            return Err(Problem::NotRegular);
        }
        let euid = euid();
        if st.st_uid != euid {
            return Err(Problem::Owner {
                uid: st.st_uid,
                want: euid,
                or_root: false,
            });
        }
        let mode = perms(st);
        if let Some(p) = writable(mode) {
            return Err(p);
        }
        if !shared && mode & GROUP_OTHER != 0 {
            return Err(Problem::Exposed { mode, want: 0o600 });
        }
        if self.shared && st.st_nlink != 1 {
            return Err(Problem::Links(st.st_nlink));
        }
        Ok(())
    }
}

/// Open the directory `name` under `parent` (`at` is its path), creating
/// it (0700) with `create`; `Ok(None)` when it does not exist.
fn step(parent: &OwnedFd, name: &OsStr, at: &Path, create: bool) -> Result<Option<OwnedFd>, Error> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let open = || openat(parent, name, flags, Mode::empty());
    let fd = match open() {
        Err(Errno::ENOENT) if create => {
            match mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::io(at, e)),
            }
            open()
        }
        r => r,
    };
    match fd {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        // A symlink, or not a directory: which one, for the message.
        Err(Errno::ENOTDIR | Errno::ELOOP) => {
            let link = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|st| is(&st, SFlag::S_IFLNK));
            let problem = if link {
                Problem::Symlink
            } else {
                Problem::NotDirectory
            };
            Err(Error::new(at, problem))
        }
        Err(e) => Err(Error::io(at, e)),
    }
}

/// The directory a file path is in, checked (not created), and the file's
/// name: for the log and metrics files.
pub(crate) fn parent_of(file: &Path) -> Result<(Dir, &OsStr), Error> {
    let name = file
        .file_name()
        .ok_or_else(|| Error::io(file, io::Error::other("names no file")))?;
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match Dir::open(parent, false, Last::Shared)? {
        Some(dir) => Ok((dir, name)),
        None => Err(Error::io(
            parent,
            io::Error::new(io::ErrorKind::NotFound, "no such directory"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::{Read, Write};
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A fresh directory under the temp dir (sticky, like /tmp), 0755.
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p =
                std::env::temp_dir().join(format!("meta-cni-trust-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir(&p).unwrap();
            chmod(&p, 0o755);
            Tmp(p)
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mkdir(p: &Path, mode: u32) {
        fs::create_dir(p).unwrap();
        chmod(p, mode);
    }

    fn why(r: Result<Option<Dir>, Error>) -> String {
        r.expect_err("refused").to_string()
    }

    fn root() -> bool {
        euid() == 0
    }

    /// Give `p` to `nobody` (root only).
    fn give_away(p: &Path) {
        std::os::unix::fs::lchown(p, Some(65534), Some(65534)).unwrap();
    }

    #[test]
    fn a_trusted_tree_passes_and_missing_directories_are_made_0700() {
        let t = Tmp::new("tree");
        let want = t.0.join("a/b/net");
        assert!(Dir::open(&want, false, Last::Private).unwrap().is_none());
        let d = Dir::open(&want, true, Last::Private).unwrap().unwrap();
        assert_eq!(d.path(), want);
        assert!(!d.shared);
        for p in [t.0.join("a"), t.0.join("a/b"), want.clone()] {
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
                0o700
            );
        }
        // Made absolute first; `..` walks to the real parent.
        let rel = t.0.join("a/b/../b/net");
        assert!(Dir::open(&rel, false, Last::Private).unwrap().is_some());
    }

    #[test]
    fn writable_symlinked_and_foreign_directories_are_refused_by_name() {
        let t = Tmp::new("refused");
        let w = t.0.join("w");
        mkdir(&w, 0o777);
        let msg = why(Dir::open(&w.join("state"), true, Last::Shared));
        assert_eq!(msg, format!("{} is writable by others", w.display()));
        assert!(!w.join("state").exists(), "nothing made below it");
        let g = t.0.join("g");
        mkdir(&g, 0o775);
        assert_eq!(
            why(Dir::open(&g, false, Last::Shared)),
            format!("{} is writable by its group", g.display())
        );
        // A symlink, as the directory or as a component.
        let l = t.0.join("l");
        symlink(&t.0, &l).unwrap();
        assert_eq!(
            why(Dir::open(&l, false, Last::Shared)),
            format!("{} is a symlink", l.display())
        );
        assert_eq!(
            why(Dir::open(&l.join("w"), true, Last::Shared)),
            format!("{} is a symlink", l.display())
        );
        // A file where a directory should be.
        let f = t.0.join("f");
        fs::write(&f, b"").unwrap();
        assert_eq!(
            why(Dir::open(&f.join("x"), true, Last::Shared)),
            format!("{} is not a directory", f.display())
        );
        // A private directory others can read.
        let p = t.0.join("p");
        mkdir(&p, 0o750);
        assert_eq!(
            why(Dir::open(&p, false, Last::Private)),
            format!(
                "{} has mode 0750, not 0700 (group or others have access)",
                p.display()
            )
        );
        assert!(Dir::open(&p, false, Last::Shared).unwrap().is_some());
        if root() {
            let n = t.0.join("nobody");
            mkdir(&n, 0o700);
            give_away(&n);
            assert_eq!(
                why(Dir::open(&n.join("net"), true, Last::Private)),
                format!("{} is owned by uid 65534, not 0", n.display())
            );
            assert!(!n.join("net").exists());
        }
    }

    #[test]
    fn a_sticky_directory_passes_when_what_is_below_it_is_ours() {
        let t = Tmp::new("sticky");
        let s = t.0.join("s");
        mkdir(&s, 0o1777);
        let d = Dir::open(&s, false, Last::Shared).unwrap().unwrap();
        assert!(d.shared);
        let below = Dir::open(&s.join("mine/net"), true, Last::Private)
            .unwrap()
            .unwrap();
        assert!(!below.shared);
        if root() {
            // Pre-created by someone else: refused, nothing made in it.
            let theirs = s.join("theirs");
            mkdir(&theirs, 0o755);
            give_away(&theirs);
            assert_eq!(
                why(Dir::open(&theirs.join("net"), true, Last::Private)),
                format!("{} is owned by uid 65534, not 0", theirs.display())
            );
            assert!(!theirs.join("net").exists());
        }
    }

    #[test]
    fn files_are_opened_without_following_links_and_checked() {
        let t = Tmp::new("files");
        let d = Dir::open(&t.0, false, Last::Shared).unwrap().unwrap();
        let name = OsStr::new;
        // Created 0600, whatever the mode asked for the shared case.
        let mut f = d
            .open_file(name("log"), Open::new().append().create().shared())
            .unwrap();
        f.write_all(b"x").unwrap();
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&t.0.join("log")), 0o600);
        assert!(d.check_entry(name("log"), true).unwrap());
        assert!(!d.check_entry(name("none"), true).unwrap());
        // A symlink is not followed: its target stays as it was.
        let target = t.0.join("target");
        fs::write(&target, b"keep").unwrap();
        chmod(&target, 0o600);
        symlink(&target, t.0.join("link")).unwrap();
        let e = d
            .open_file(name("link"), Open::new().append().create().shared())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is a symlink", t.0.join("link").display())
        );
        assert!(e.untrusted());
        assert!(d.check_entry(name("link"), true).unwrap_err().untrusted());
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        // Nor is a truncating open of an untrusted file done before the check.
        chmod(&target, 0o666);
        let e = d
            .open_file(name("target"), Open::new().write().truncate())
            .unwrap_err();
        assert!(
            e.to_string().ends_with("target is writable by others"),
            "{e}"
        );
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        // A private file others can read is refused; a shared one is not.
        chmod(&target, 0o644);
        let e = d.open_file(name("target"), Open::new().read()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("has mode 0644, not 0600 (group or others have access)"),
            "{e}"
        );
        let mut s = String::new();
        d.open_file(name("target"), Open::new().read().shared())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "keep");
        // A FIFO neither blocks the open nor passes.
        let fifo = t.0.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = d
            .open_file(name("fifo"), Open::new().append().shared())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is not a regular file", fifo.display())
        );
        // A missing file is an I/O error of kind NotFound, not a trust problem.
        let e = d.open_file(name("none"), Open::new().read()).unwrap_err();
        assert!(!e.untrusted());
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::NotFound);
        if root() {
            let theirs = t.0.join("theirs");
            fs::write(&theirs, b"planted").unwrap();
            chmod(&theirs, 0o600);
            give_away(&theirs);
            let e = d.open_file(name("theirs"), Open::new().read()).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{} is owned by uid 65534, not 0", theirs.display())
            );
            let io = io::Error::from(e);
            assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
            assert!(untrusted(&io).is_some());
        }
    }

    #[test]
    fn in_a_sticky_directory_a_hard_link_is_not_ours_to_write() {
        let t = Tmp::new("links");
        let s = t.0.join("s");
        mkdir(&s, 0o1777);
        let elsewhere = t.0.join("elsewhere");
        fs::write(&elsewhere, b"keep").unwrap();
        chmod(&elsewhere, 0o600);
        fs::hard_link(&elsewhere, s.join("log")).unwrap();
        let d = Dir::open(&s, false, Last::Shared).unwrap().unwrap();
        let e = d
            .open_file(OsStr::new("log"), Open::new().append().shared())
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("log has 2 hard links, in a directory others can write"),
            "{e}"
        );
        assert_eq!(fs::read(&elsewhere).unwrap(), b"keep");
        // Outside a directory others can write, links are ours.
        let d = Dir::open(&t.0, false, Last::Shared).unwrap().unwrap();
        assert!(d
            .open_file(OsStr::new("elsewhere"), Open::new().read())
            .is_ok());
    }

    #[test]
    fn the_null_device_is_a_log_file_but_nothing_else() {
        let (d, name) = parent_of(Path::new("/dev/null")).unwrap();
        assert!(d
            .open_file(name, Open::new().append().create().shared().or_null())
            .is_ok());
        for how in [Open::new().read(), Open::new().read().shared()] {
            let e = d.open_file(name, how).unwrap_err();
            assert_eq!(e.to_string(), "/dev/null is not a regular file");
        }
        // parent_of names what is missing.
        let e = parent_of(Path::new("/nonexistent-meta-cni/x.log")).unwrap_err();
        assert!(!e.untrusted());
        assert!(e.to_string().starts_with("/nonexistent-meta-cni: "), "{e}");
    }
}
