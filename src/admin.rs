//! The operators' commands over attachment records: `attachments` (what
//! every record says, read without any lock), `release` (the DEL a runtime
//! would run, driven by the record alone) and `gc` (release every record a
//! list of valid attachments does not name).
//!
//! `release` runs the whole plugin in process ([`plugin::run_with`]) with
//! a config that has no pipelines, so only the record can drive the DEL:
//! the same lock, time limit, replay and ending of delegates a killed
//! meta-cni left running as a runtime's DEL.

use crate::config::DEFAULT_STATE_DIR;
use crate::invoke::{fmt_duration, ProcessId, ProcessInvoker};
use crate::metrics::{DelegateCall, Invocation, Outcome};
use crate::plan::Label;
use crate::plugin;
use crate::protocol::{check_id, check_ifname, Env};
use crate::state::{InFlight, Journal, Record, Store, FORMAT};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ATTACHMENTS_USAGE: &str =
    "usage: meta-cni attachments [--state-dir DIR] [--network NAME] [--json]\n";
const RELEASE_USAGE: &str = "usage: meta-cni release --network NAME --container ID [--ifname IF] [--state-dir DIR] [--timeout SECS]\n";
const GC_USAGE: &str = "usage: meta-cni gc --network NAME --valid FILE [--dry-run] [--min-age SECS] [--state-dir DIR] [--timeout SECS]\n";

/// The largest `--min-age` of `gc` (a year).
const MAX_MIN_AGE_SECS: u64 = 31_536_000;

/// `timeoutSeconds` of a release's DEL unless `--timeout` says otherwise.
const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// Run `args` if they name one of these commands (`None` otherwise);
/// returns the exit code: 0 done, 1 something is left or could not be
/// read, 2 a usage or input error.
pub(crate) fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> Option<u8> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (cmd, rest) = args.split_first()?;
    let (usage, valued, flags): (&str, &[&str], &[&str]) = match cmd.as_str() {
        "attachments" => (
            ATTACHMENTS_USAGE,
            &["--state-dir", "--network"],
            &["--json"],
        ),
        "release" => (
            RELEASE_USAGE,
            &[
                "--network",
                "--container",
                "--ifname",
                "--state-dir",
                "--timeout",
            ],
            &[],
        ),
        "gc" => (
            GC_USAGE,
            &[
                "--network",
                "--valid",
                "--state-dir",
                "--timeout",
                "--min-age",
            ],
            &["--dry-run"],
        ),
        _ => return None,
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        let _ = out.write_all(usage.as_bytes());
        return Some(0);
    }
    let code = match Opts::parse(rest, valued, flags).and_then(|o| Common::read(&o).map(|c| (o, c)))
    {
        Err(why) => {
            let _ = write!(err, "meta-cni {cmd}: {why}\n{usage}");
            2
        }
        Ok((opts, common)) => {
            let mut io = Io { out, err, cmd };
            match cmd.as_str() {
                "attachments" => attachments(&opts, &common, &mut io),
                "release" => release(&opts, &common, &mut io),
                _ => gc(&opts, &common, &mut io),
            }
        }
    };
    Some(code)
}

/// Where a command writes: results on stdout, problems on stderr (with
/// the command's name).
struct Io<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    cmd: &'a str,
}

impl Io<'_> {
    fn say(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    fn complain(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.err, "meta-cni {}: {line}", self.cmd);
    }
}

/// The options given: `--name VALUE` (or `--name=VALUE`) and flags.
struct Opts {
    values: BTreeMap<String, String>,
    flags: BTreeSet<String>,
}

impl Opts {
    fn parse(args: &[String], valued: &[&str], flags: &[&str]) -> Result<Opts, String> {
        let mut o = Opts {
            values: BTreeMap::new(),
            flags: BTreeSet::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            if flags.contains(&name) && inline.is_none() {
                o.flags.insert(name.to_string());
            } else if valued.contains(&name) {
                // The next option is no value (`--container --ifname x`).
                let next = || it.next().filter(|v| !v.starts_with("--")).cloned();
                let v = inline
                    .or_else(next)
                    .ok_or_else(|| format!("{name} needs a value"))?;
                if o.values.insert(name.to_string(), v).is_some() {
                    return Err(format!("{name} is given twice"));
                }
            } else if name.starts_with('-') {
                return Err(format!("unknown option {a}"));
            } else {
                return Err(format!("unexpected argument {a:?}"));
            }
        }
        Ok(o)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("{name} is required"))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }
}

/// What every command reads the same way.
struct Common {
    state_dir: PathBuf,
    network: Option<String>,
    timeout: u64,
}

impl Common {
    fn read(o: &Opts) -> Result<Common, String> {
        let dir = o.get("--state-dir").unwrap_or(DEFAULT_STATE_DIR);
        if dir.is_empty() || dir.contains('\0') {
            return Err("--state-dir must be a directory path".into());
        }
        let state_dir =
            std::path::absolute(dir).map_err(|e| format!("--state-dir {dir:?}: {e}"))?;
        let network = o.get("--network").map(str::to_string);
        if let Some(n) = &network {
            check_id(n).map_err(|why| format!("--network {why}"))?;
        }
        let timeout = match o.get("--timeout") {
            None => DEFAULT_TIMEOUT_SECS,
            Some(t) => t
                .parse::<u64>()
                .ok()
                .filter(|t| (1..=86_400).contains(t))
                .ok_or_else(|| {
                    format!("--timeout {t:?} is not a whole number of seconds from 1 to 86400")
                })?,
        };
        Ok(Common {
            state_dir,
            network,
            timeout,
        })
    }
}

// ---------------------------------------------------------------------------
// Reading records without locks

/// One record as found on disk.
struct Found {
    network: String,
    path: PathBuf,
    record: Record,
    /// The record file's mtime: when ADD (or the last rewrite) wrote it.
    written: SystemTime,
    journal: Journal,
    /// The PID holding the attachment's lock, if one does now.
    holder: Option<i32>,
}

/// A record file that is there but cannot be used.
struct Unreadable {
    path: PathBuf,
    why: String,
}

/// How an attachment's last operation ended, from its journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The ADD completed: the journal holds its marker and no entry.
    Completed,
    /// A delegate in the journal still runs.
    InFlight,
    /// The journal names delegates that are gone: meta-cni was killed.
    Interrupted,
    /// No marker and no entry: an ADD whose rollback failed, or a DEL that
    /// failed, kept the record.
    Failed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Completed => "completed",
            State::InFlight => "in-flight",
            State::Interrupted => "interrupted",
            State::Failed => "failed",
        }
    }
}

impl Found {
    fn running(e: &InFlight) -> bool {
        ProcessId {
            pid: e.pid,
            boot_ms: e.boot_ms,
            boot_id: e.boot_id,
        }
        .running()
    }

    /// The journal's entries, each with whether it still runs.
    fn in_flight(&self) -> Vec<(&InFlight, bool)> {
        self.journal
            .entries
            .iter()
            .map(|(_, e)| (e, Self::running(e)))
            .collect()
    }

    fn state(&self, in_flight: &[(&InFlight, bool)]) -> State {
        if in_flight.iter().any(|(_, running)| *running) {
            State::InFlight
        } else if !in_flight.is_empty() {
            State::Interrupted
        } else if self.journal.add_complete {
            State::Completed
        } else {
            State::Failed
        }
    }

    fn netns(&self) -> Option<(&str, bool)> {
        let n = self.record.request.netns.as_deref()?;
        Some((n, Path::new(n).exists()))
    }

    fn interfaces(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for p in &self.record.pipelines {
            if !seen.contains(&p.if_name.as_str()) {
                seen.push(p.if_name.as_str());
            }
        }
        seen
    }

    /// How a journal entry's delegate is named: from the record.
    fn label(&self, e: &InFlight) -> String {
        let p = self.record.pipelines.get(e.pipeline);
        match p.and_then(|p| Some((p, p.delegates.get(e.delegate)?))) {
            Some((p, d)) => format!(
                "{} ({})",
                Label {
                    pipeline: &p.name,
                    delegate: &d.name
                },
                d.plugin
            ),
            None => format!(
                "pipeline #{} delegate #{} ({})",
                e.pipeline, e.delegate, e.plugin
            ),
        }
    }
}

/// The inodes of files someone holds an `flock` on, with the holder's
/// PID, from `/proc/locks` (empty when it cannot be read).
fn held_locks() -> HashMap<u64, i32> {
    let text = fs::read_to_string("/proc/locks").unwrap_or_default();
    text.lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(1) != Some(&"FLOCK") {
                return None;
            }
            let pid = f.get(4)?.parse().ok()?;
            let inode = f.get(5)?.rsplit(':').next()?.parse().ok()?;
            Some((inode, pid))
        })
        .collect()
}

/// The networks (directories) under the state directory, sorted.
fn networks(state_dir: &Path) -> io::Result<Vec<String>> {
    let mut out: Vec<String> = fs::read_dir(state_dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| check_id(n).is_ok())
        .collect();
    out.sort();
    Ok(out)
}

/// Every record of `network`, read without a lock: a record that
/// vanishes meanwhile is skipped, one that cannot be used is reported.
fn read_network(
    state_dir: &Path,
    network: &str,
    locks: &HashMap<u64, i32>,
) -> io::Result<(Vec<Found>, Vec<Unreadable>)> {
    let dir = state_dir.join(network);
    let store = Store::new(state_dir, network);
    let mut found = Vec::new();
    let mut bad = Vec::new();
    // Nothing is read from a directory that is not trusted.
    match store.check() {
        Ok(true) => {}
        Ok(false) => return Err(io::ErrorKind::NotFound.into()),
        Err(why) => {
            bad.push(Unreadable {
                path: dir,
                why: why.why,
            });
            return Ok((found, bad));
        }
    }
    let mut names: Vec<String> = fs::read_dir(&dir)?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        match read_record(&store, &name) {
            Ok(None) => {}
            Ok(Some((record, written))) => {
                let lock = store.lock_path(&record.container_id, &record.if_name);
                let lock_name = lock.file_name().unwrap_or_default().to_string_lossy();
                let (bytes, inode) = match store.open_file(&lock_name) {
                    Ok(Some(mut f)) => {
                        let mut b = Vec::new();
                        let _ = f.read_to_end(&mut b);
                        (b, f.metadata().map(|m| m.ino()).ok())
                    }
                    _ => (Vec::new(), None),
                };
                found.push(Found {
                    network: network.to_string(),
                    path,
                    record,
                    written,
                    journal: Journal::parse(&bytes),
                    holder: inode.and_then(|i| locks.get(&i).copied()),
                });
            }
            Err(why) => bad.push(Unreadable { path, why }),
        }
    }
    Ok((found, bad))
}

/// The record named `name` in `store` and its mtime; `Ok(None)` when it
/// is gone.
fn read_record(store: &Store, name: &str) -> Result<Option<(Record, SystemTime)>, String> {
    let mut f = match store.open_file(name) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(u) => return Err(u.why),
    };
    let mut bytes = Vec::new();
    let written = f
        .read_to_end(&mut bytes)
        .and_then(|_| f.metadata()?.modified())
        .map_err(|e| format!("cannot read: {e}"))?;
    let record: Record =
        serde_json::from_slice(&bytes).map_err(|e| format!("does not parse: {e}"))?;
    if record.format != FORMAT {
        return Err(format!("has format {}, expected {FORMAT}", record.format));
    }
    if name != format!("{}-{}.json", record.container_id, record.if_name) {
        return Err(format!(
            "belongs to container {:?} interface {:?}",
            record.container_id, record.if_name
        ));
    }
    Ok(Some((record, written)))
}

// ---------------------------------------------------------------------------
// attachments

fn attachments(o: &Opts, c: &Common, io: &mut Io<'_>) -> u8 {
    let json = o.flag("--json");
    let nets = match networks(&c.state_dir) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            io.complain(format_args!(
                "{} does not exist: no attachment records",
                c.state_dir.display()
            ));
            return 0;
        }
        Err(e) => {
            io.complain(format_args!(
                "cannot read state directory {}: {e}",
                c.state_dir.display()
            ));
            return 1;
        }
    };
    let nets: Vec<String> = match &c.network {
        Some(n) if !nets.contains(n) => {
            io.complain(format_args!(
                "no network {n:?} in {} (networks there: {})",
                c.state_dir.display(),
                list_or_none(&nets)
            ));
            return 1;
        }
        Some(n) => vec![n.clone()],
        None => nets,
    };
    let locks = held_locks();
    let mut found = Vec::new();
    let mut bad = Vec::new();
    for n in &nets {
        match read_network(&c.state_dir, n, &locks) {
            Ok((f, b)) => {
                found.extend(f);
                bad.extend(b);
            }
            // Removed while we listed: nothing of it left to show.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => bad.push(Unreadable {
                path: c.state_dir.join(n),
                why: format!("cannot read the network's directory: {e}"),
            }),
        }
    }
    let now = SystemTime::now();
    if json {
        for f in &found {
            io.say(attachment_json(f, now));
        }
        for b in &bad {
            io.say(json!({"path": b.path, "error": b.why}));
        }
    } else {
        attachment_table(&found, now, io);
        for b in &bad {
            io.say(format_args!("unreadable: {}: {}", b.path.display(), b.why));
        }
        if found.is_empty() && bad.is_empty() {
            io.say(format_args!(
                "no attachment records in {}",
                c.state_dir.display()
            ));
        }
    }
    u8::from(!bad.is_empty())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn attachment_json(f: &Found, now: SystemTime) -> Value {
    let in_flight = f.in_flight();
    let state = f.state(&in_flight);
    let (netns, exists) = match f.netns() {
        Some((n, e)) => (Value::from(n), Value::from(e)),
        None => (Value::Null, Value::Null),
    };
    json!({
        "network": f.network,
        "containerID": f.record.container_id,
        "ifName": f.record.if_name,
        "state": state.as_str(),
        "busy": f.holder.is_some(),
        "lockHolderPid": f.holder,
        "added": utc(f.written),
        "ageSeconds": age(f.written, now).as_secs(),
        "netns": netns,
        "netnsExists": exists,
        "interfaces": f.interfaces(),
        "pipelines": f.record.pipelines.iter().map(|p| json!({
            "name": p.name,
            "ifName": p.if_name,
            "delegates": p.delegates.iter().map(|d| json!({"name": d.name, "plugin": d.plugin})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "inFlight": in_flight.iter().map(|(e, running)| json!({
            "command": e.command,
            "pid": e.pid,
            "running": running,
            "delegate": f.label(e),
            "plugin": e.plugin,
        })).collect::<Vec<_>>(),
        "record": f.path,
    })
}

fn attachment_table(found: &[Found], now: SystemTime, io: &mut Io<'_>) {
    let mut rows = vec![[
        "NETWORK",
        "CONTAINER",
        "IFNAME",
        "STATE",
        "BUSY",
        "ADDED",
        "AGE",
        "NETNS",
        "INTERFACES",
        "PIPELINES",
    ]
    .map(String::from)];
    let mut details: Vec<Vec<String>> = vec![Vec::new()];
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for f in found {
        let in_flight = f.in_flight();
        let state = f.state(&in_flight);
        *states.entry(state.as_str()).or_default() += 1;
        let netns = match f.netns() {
            Some((_, true)) => "present",
            Some((_, false)) => "gone",
            None => "-",
        };
        rows.push([
            f.network.clone(),
            f.record.container_id.clone(),
            f.record.if_name.clone(),
            state.as_str().to_string(),
            f.holder.map_or("-".into(), |p| format!("pid {p}")),
            utc(f.written),
            fmt_age(age(f.written, now)),
            netns.to_string(),
            f.interfaces().join(","),
            pipelines_text(&f.record),
        ]);
        details.push(
            in_flight
                .iter()
                .map(|(e, running)| {
                    format!(
                        "  {}: {} {} (process group {}) {}",
                        if *running { "in flight" } else { "interrupted" },
                        f.label(e),
                        e.command,
                        e.pid,
                        if *running { "still runs" } else { "is gone" }
                    )
                })
                .collect(),
        );
    }
    if found.is_empty() {
        return;
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (row, lines) in rows.iter().zip(&details) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        io.say(line);
        for d in lines {
            io.say(d);
        }
    }
    let summary: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    io.say(format_args!(
        "{} attachment(s): {}",
        found.len(),
        summary.join(", ")
    ));
}

/// `eth0: calico(bridge) portmap; roce-0(roce0): sriov`.
fn pipelines_text(r: &Record) -> String {
    r.pipelines
        .iter()
        .map(|p| {
            let head = if p.name.is_empty() || p.name == p.if_name {
                p.if_name.clone()
            } else {
                format!("{}({})", p.name, p.if_name)
            };
            let ds: Vec<String> = p
                .delegates
                .iter()
                .map(|d| {
                    if d.name == d.plugin {
                        d.name.clone()
                    } else {
                        format!("{}({})", d.name, d.plugin)
                    }
                })
                .collect();
            format!("{head}: {}", ds.join(" "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn age(t: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

/// `45s`, `12m3s`, `3h12m`, `2d3h`.
fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{}h", s / 86_400, s / 3600 % 24),
    }
}

/// RFC 3339 UTC to the second.
fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a proleptic Gregorian date.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------
// release

fn release(o: &Opts, c: &Common, io: &mut Io<'_>) -> u8 {
    let fields = (|| {
        let network = c.network.clone().ok_or("--network is required")?;
        let cid = o.required("--container")?.to_string();
        check_id(&cid).map_err(|why| format!("--container {why}"))?;
        let ifname = o.get("--ifname").map(str::to_string);
        if let Some(i) = &ifname {
            check_ifname(i).map_err(|why| format!("--ifname {i:?} {why}"))?;
        }
        Ok::<_, String>((network, cid, ifname))
    })();
    let (network, cid, ifname) = match fields {
        Ok(f) => f,
        Err(why) => {
            io.complain(why);
            let _ = io.err.write_all(RELEASE_USAGE.as_bytes());
            return 2;
        }
    };
    let store = Store::new(&c.state_dir, &network);
    if let Err(code) = network_dir(c, &network, io).and_then(|()| trusted(&store, io)) {
        return code;
    }
    let ifnames = match ifname {
        Some(i) => vec![i],
        None => {
            let (records, unreadable) = store.list();
            let prefix = format!("{cid}-");
            for (path, why) in unreadable.iter().filter(|(p, _)| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            }) {
                io.complain(format_args!(
                    "{} cannot be used ({why}): left alone (release it with --ifname once it is fixed)",
                    path.display()
                ));
            }
            let mine: Vec<String> = records
                .into_iter()
                .filter(|(c, _)| *c == cid)
                .map(|(_, i)| i)
                .collect();
            if mine.is_empty() {
                io.complain(format_args!(
                    "no attachment record of container {cid} in network {network} ({})",
                    store.dir().display()
                ));
                return 1;
            }
            mine
        }
    };
    let mut left = 0;
    for ifname in &ifnames {
        match release_one(c, &store, &network, &cid, ifname, io) {
            Released::Yes => {}
            Released::Gone => {
                io.complain(format_args!(
                    "no attachment record of container {cid} interface {ifname} in network {network} ({})",
                    store.record_path(&cid, ifname).display()
                ));
                left += 1;
            }
            Released::Kept => left += 1,
        }
    }
    u8::from(left > 0)
}

/// How one release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Released {
    /// Every DEL succeeded: the record is removed.
    Yes,
    /// There was no record (any more) to release.
    Gone,
    /// The record is kept: a DEL failed, or it cannot be used.
    Kept,
}

/// Whether the network's directory is there; if not, says so (and which
/// networks there are), and the exit code.
fn network_dir(c: &Common, network: &str, io: &mut Io<'_>) -> Result<(), u8> {
    let dir = c.state_dir.join(network);
    match fs::read_dir(&dir) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let known = networks(&c.state_dir).unwrap_or_default();
            io.complain(format_args!(
                "no network {network:?} in {} (networks there: {})",
                c.state_dir.display(),
                list_or_none(&known)
            ));
            Err(1)
        }
        Err(e) => {
            io.complain(format_args!(
                "cannot read state directory {}: {e}",
                dir.display()
            ));
            Err(1)
        }
    }
}

/// Whether the network's directory can be trusted; if not, says why (see
/// docs/security.md), and the exit code.
fn trusted(store: &Store, io: &mut Io<'_>) -> Result<(), u8> {
    match store.check() {
        Ok(_) => Ok(()),
        Err(why) => {
            io.complain(format_args!(
                "{}: {why}: nothing in it is used (see docs/security.md)",
                store.dir().display()
            ));
            Err(1)
        }
    }
}

/// Run the DEL the record of `cid`/`ifname` describes, as a runtime's DEL
/// would (in process, with a config of no pipelines); print what it did.
/// How it ended (a missing record is the caller's to report).
fn release_one(
    c: &Common,
    store: &Store,
    network: &str,
    cid: &str,
    ifname: &str,
    io: &mut Io<'_>,
) -> Released {
    let what = format!("{network}/{cid}/{ifname}");
    let record = match store.load(cid, ifname) {
        Ok(Some(r)) => r,
        Ok(None) => return Released::Gone,
        Err(why) => {
            io.complain(format_args!(
                "the record of {what} cannot be used ({why}): left alone"
            ));
            return Released::Kept;
        }
    };
    let delegates: usize = record.pipelines.iter().map(|p| p.delegates.len()).sum();
    io.say(format_args!(
        "releasing {what}: {} pipeline(s), {delegates} delegate(s), from {}",
        record.pipelines.len(),
        store.record_path(cid, ifname).display()
    ));
    let env = release_env(&record);
    let conf = json!({
        "cniVersion": "1.1.0",
        "name": network,
        "type": "meta-cni",
        "stateDir": c.state_dir,
        "timeoutSeconds": c.timeout,
        "logLevel": "info",
    })
    .to_string();
    let calls = Invocation::new();
    calls.switch_on();
    let mut reply = Vec::new();
    let code = plugin::run_with(
        &env,
        &mut conf.as_bytes(),
        &mut reply,
        &ProcessInvoker,
        &calls,
    );
    for call in calls.calls() {
        io.say(call_line(&call));
    }
    let gone = matches!(store.load(cid, ifname), Ok(None));
    if code == 0 && gone {
        io.say(format_args!(
            "released {what}: every delegate's DEL succeeded; the record is removed"
        ));
        return Released::Yes;
    }
    let why = serde_json::from_slice::<Value>(&reply)
        .ok()
        .map(|v| {
            let msg = v["msg"].as_str().unwrap_or("").to_string();
            match v["details"].as_str() {
                Some(d) if !d.is_empty() => format!("{msg} ({d})"),
                _ => msg,
            }
        })
        .unwrap_or_else(|| "the record is still there".into());
    io.say(format_args!(
        "NOT released {what}: {why}; the record is kept: run release again once the cause is fixed"
    ));
    Released::Kept
}

/// What the record's delegates ran.
fn call_line(call: &DelegateCall) -> String {
    match (call.outcome, &call.detail) {
        (Outcome::KilledInFlight, what) => format!(
            "  ended {}: {}, left running by a meta-cni that was killed",
            call.who,
            what.as_deref().unwrap_or("")
        ),
        (Outcome::Ok, _) => format!(
            "  {} {} ({}): ok in {}",
            call.verb,
            call.who,
            call.plugin,
            call.took.map_or_else(String::new, fmt_duration)
        ),
        (outcome, detail) => format!(
            "  {} {} ({}): {} in {}: {}",
            call.verb,
            call.who,
            call.plugin,
            outcome.as_str(),
            call.took.map_or_else(String::new, fmt_duration),
            detail.as_deref().unwrap_or("")
        ),
    }
}

/// The environment a runtime's DEL of this record would have: ours
/// without any `CNI_` variable, then the request's.
fn release_env(r: &Record) -> Env {
    let cni_path = r
        .request
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| std::env::var("CNI_PATH").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "/opt/cni/bin".into());
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.to_string_lossy().starts_with("CNI_"))
        .collect();
    let mut set = |k: &str, v: &str| vars.push((k.into(), v.into()));
    set("CNI_COMMAND", "DEL");
    set("CNI_CONTAINERID", &r.container_id);
    set("CNI_IFNAME", &r.if_name);
    set("CNI_PATH", &cni_path);
    if let Some(n) = r.request.netns.as_deref().filter(|n| Path::new(n).exists()) {
        set("CNI_NETNS", n);
    }
    Env { vars }
}

// ---------------------------------------------------------------------------
// gc

/// The attachments a valid list names: pairs, and container IDs that
/// stand for all their interfaces.
#[derive(Debug, Default, PartialEq, Eq)]
struct Valid {
    pairs: BTreeSet<(String, String)>,
    containers: BTreeSet<String>,
}

impl Valid {
    fn parse(text: &str) -> Result<Valid, String> {
        let mut v = Valid::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = || format!("line {}", n + 1);
            let cid = words[0];
            check_id(cid).map_err(|why| format!("{}: container ID {why}", at()))?;
            match words[1..] {
                [] => {
                    v.containers.insert(cid.to_string());
                }
                [ifname] => {
                    check_ifname(ifname)
                        .map_err(|why| format!("{}: interface {ifname:?} {why}", at()))?;
                    v.pairs.insert((cid.to_string(), ifname.to_string()));
                }
                _ => {
                    return Err(format!(
                        "{}: expected \"containerID [ifname]\", got {line:?}",
                        at()
                    ))
                }
            }
        }
        Ok(v)
    }

    fn contains(&self, cid: &str, ifname: &str) -> bool {
        self.containers.contains(cid) || self.pairs.contains(&(cid.to_string(), ifname.to_string()))
    }
}

fn gc(o: &Opts, c: &Common, io: &mut Io<'_>) -> u8 {
    let input = (|| {
        let network = c.network.clone().ok_or("--network is required")?;
        let file = o.required("--valid")?;
        let text = if file == "-" {
            let mut s = String::new();
            io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("cannot read the valid list from stdin: {e}"))?;
            s
        } else {
            fs::read_to_string(file)
                .map_err(|e| format!("cannot read the valid list {file}: {e}"))?
        };
        let valid = Valid::parse(&text).map_err(|why| format!("valid list {file}: {why}"))?;
        let min_age = match o.get("--min-age") {
            None => 0,
            Some(t) => t
                .parse::<u64>()
                .ok()
                .filter(|t| *t <= MAX_MIN_AGE_SECS)
                .ok_or_else(|| {
                    format!(
                        "--min-age {t:?} is not a whole number of seconds from 0 to {MAX_MIN_AGE_SECS}"
                    )
                })?,
        };
        Ok::<_, String>((network, valid, Duration::from_secs(min_age)))
    })();
    let (network, valid, min_age) = match input {
        Ok(i) => i,
        Err(why) => {
            io.complain(why);
            return 2;
        }
    };
    if let Err(code) = network_dir(c, &network, io) {
        return code;
    }
    let store = Store::new(&c.state_dir, &network);
    if let Err(code) = trusted(&store, io) {
        return code;
    }
    let (records, unreadable) = store.list();
    for (path, why) in &unreadable {
        io.say(format_args!(
            "left alone: {} cannot be used as a record ({why})",
            path.display()
        ));
    }
    let stale: Vec<&(String, String)> = records
        .iter()
        .filter(|(cid, ifname)| !valid.contains(cid, ifname))
        .collect();
    io.say(format_args!(
        "gc of network {network}: {} record(s), {} not in the valid list",
        records.len(),
        stale.len()
    ));
    // Records younger than --min-age may belong to attachments made after
    // the list was: they are left for a later gc.
    let now = SystemTime::now();
    let (young, stale): (Vec<_>, Vec<_>) = stale.into_iter().partition(|(cid, ifname)| {
        fs::symlink_metadata(store.record_path(cid, ifname))
            .and_then(|m| m.modified())
            .is_ok_and(|t| age(t, now) < min_age)
    });
    for (cid, ifname) in &young {
        io.say(format_args!(
            "skipped {network}/{cid}/{ifname}: younger than --min-age {}s (it may be newer than the valid list)",
            min_age.as_secs()
        ));
    }
    if o.flag("--dry-run") {
        for (cid, ifname) in &stale {
            io.say(format_args!("would release {network}/{cid}/{ifname}"));
        }
        return 0;
    }
    for path in store.sweep_leftovers() {
        io.say(format_args!(
            "removed {}, left by a killed meta-cni",
            path.display()
        ));
    }
    let (mut released, mut kept, mut busy, mut gone) = (0, 0, 0, 0);
    for (cid, ifname) in stale {
        // Deleted since the list was read (the runtime's own DEL): not
        // locked, so that no lock file is made for it.
        if matches!(store.load(cid, ifname), Ok(None)) {
            io.say(format_args!(
                "{network}/{cid}/{ifname} is already gone (deleted meanwhile)"
            ));
            gone += 1;
            continue;
        }
        // As the CNI GC: an attachment an operation holds is skipped.
        match store.lock(cid, ifname, false, None) {
            Ok(Some(held)) => drop(held),
            Ok(None) => {
                io.say(format_args!(
                    "skipped {network}/{cid}/{ifname}: busy (an operation holds its lock)"
                ));
                busy += 1;
                continue;
            }
            Err(e) => {
                io.complain(format_args!("lock of {network}/{cid}/{ifname}: {e}"));
                kept += 1;
                continue;
            }
        }
        match release_one(c, &store, &network, cid, ifname, io) {
            Released::Yes => released += 1,
            Released::Gone => {
                io.say(format_args!(
                    "{network}/{cid}/{ifname} is already gone (deleted meanwhile)"
                ));
                gone += 1;
            }
            Released::Kept => kept += 1,
        }
    }
    io.say(format_args!(
        "gc of network {network}: {released} released, {kept} kept (their DEL failed), {busy} skipped (busy), {gone} already gone{}",
        if young.is_empty() {
            String::new()
        } else {
            format!(", {} skipped (younger than --min-age)", young.len())
        }
    ));
    u8::from(kept > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_list_takes_pairs_containers_and_comments_and_names_bad_lines() {
        let v =
            Valid::parse("# kept\nc1 eth0\n\n  c2   # all of c2\nc3 net1 # trailing\n").unwrap();
        assert!(v.contains("c1", "eth0") && !v.contains("c1", "net1"));
        assert!(v.contains("c2", "anything"));
        assert!(v.contains("c3", "net1"));
        for (bad, says) in [
            ("c1 eth0 extra\n", "line 1: expected"),
            ("ok\n-bad\n", "line 2: container ID"),
            ("c1 a/b\n", "line 1: interface \"a/b\""),
            ("c1 waytoolonginterfacename\n", "longer than 15"),
        ] {
            let e = Valid::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn options_are_named_when_wrong() {
        let args = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let o = Opts::parse(
            &args(&["--network=n", "--json"]),
            &["--network"],
            &["--json"],
        )
        .unwrap();
        assert_eq!(o.get("--network"), Some("n"));
        assert!(o.flag("--json"));
        for (a, says) in [
            (&["--bogus"][..], "unknown option --bogus"),
            (&["--network"][..], "--network needs a value"),
            (&["--network", "a", "--network", "b"][..], "given twice"),
            (&["stray"][..], "unexpected argument"),
        ] {
            let e = Opts::parse(&args(a), &["--network"], &["--json"])
                .err()
                .unwrap();
            assert!(e.contains(says), "{a:?}: {e}");
        }
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(fmt_age(Duration::from_secs(59)), "59s");
        assert_eq!(fmt_age(Duration::from_secs(3 * 3600 + 12 * 60)), "3h12m");
        assert_eq!(fmt_age(Duration::from_secs(2 * 86_400 + 3600)), "2d1h");
    }

    #[test]
    fn proc_locks_lines_give_inode_and_holder() {
        // The parser is checked on this machine's own file: our own flock
        // shows up with our PID.
        let dir = std::env::temp_dir().join(format!("meta-cni-admin-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l");
        let f = fs::File::create(&path).unwrap();
        let ino = f.metadata().unwrap().ino();
        let held = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).unwrap();
        if fs::metadata("/proc/locks").is_ok() {
            assert_eq!(
                held_locks().get(&ino),
                Some(&i32::try_from(std::process::id()).unwrap())
            );
        }
        drop(held);
        fs::remove_dir_all(&dir).unwrap();
    }
}
