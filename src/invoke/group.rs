//! Delegates left running by a meta-cni that was killed (a runtime's
//! deadline SIGKILLs meta-cni only, not the delegates it started): how a
//! started delegate is identified later, and how a later operation ends
//! what is still running of it.
//!
//! Every delegate is the leader of its own process group (see `spawn`), so
//! its group ID is its PID. A PID alone could name another process later, so
//! the identity also carries the moment meta-cni recorded it, on the boot
//! clock the kernel uses for a process's start time: a process with that PID
//! that started *after* the moment is not ours (the PID was reused). The boot
//! clock restarts with each boot while the journal naming the group is kept
//! on disk, so the identity also carries the boot (the kernel's `boot_id`):
//! a group recorded in another boot is gone, whatever now has its PID.

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::{sysconf, Pid, SysconfVar};
use std::fs;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A started delegate's process group, identified so that a reused PID is
/// never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    /// The delegate's PID, which is also its process group ID.
    pub pid: i32,
    /// `CLOCK_BOOTTIME` in milliseconds when the PID was known to be ours
    /// (just after it was spawned, before it was given any work).
    pub boot_ms: u64,
    /// The boot it was recorded in (see [`this_boot`]); `None` when not
    /// known, and then only the PID and the moment tell it apart.
    pub boot_id: Option<u128>,
}

/// What ending a group came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Nothing of it was running any more.
    Gone,
    /// It stopped after SIGTERM.
    Terminated,
    /// It needed SIGKILL.
    Killed,
    /// Something of it is still running at the deadline.
    StillRunning,
}

/// The boot clock now, in milliseconds.
fn boot_ms() -> u64 {
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec().max(0) as u64 * 1000 + t.tv_nsec().max(0) as u64 / 1_000_000)
        .unwrap_or(0)
}

/// This boot's identity: the kernel's random `boot_id`, a new one at each
/// boot, read once per process; `None` when it cannot be read.
pub(crate) fn this_boot() -> Option<u128> {
    static BOOT: OnceLock<Option<u128>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .and_then(|s| parse_boot_id(s.trim()))
    })
}

/// A boot ID as the kernel writes it (`1f0753c8-cf23-452b-a300-3924419a7c39`).
pub(crate) fn parse_boot_id(s: &str) -> Option<u128> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let dashes = s.bytes().filter(|b| *b == b'-').count();
    if s.len() != 36 || dashes != 4 || hex.len() != 32 {
        return None;
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// A boot ID in the kernel's form (see [`parse_boot_id`]).
pub(crate) fn fmt_boot_id(id: u128) -> String {
    let h = format!("{id:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl ProcessId {
    /// The identity of `pid`, spawned just now: in this boot, so no boot ID
    /// is needed to tell it apart (the in-flight journal, which outlives the
    /// boot, asks [`this_boot`] when it writes the entry; reading it here
    /// would cost every invocation a file read, state or not).
    pub fn spawned_now(pid: i32) -> ProcessId {
        ProcessId {
            pid,
            boot_ms: boot_ms(),
            boot_id: None,
        }
    }

    /// Whether any process of this group is still running (zombies do not
    /// count: they can do nothing more).
    pub fn running(self) -> bool {
        if self.pid <= 1 {
            return false;
        }
        // Recorded in an earlier boot: that group ended with it, and the
        // boot clock restarted, so a process of this boot can match both
        // the PID and the moment.
        if self
            .boot_id
            .is_some_and(|b| this_boot().is_some_and(|now| now != b))
        {
            return false;
        }
        match Stat::read(self.pid) {
            // The PID was reused: the group it led is gone (a PID is not
            // reused while any process still has it as its group ID).
            Some(s) if s.start_ticks > self.ticks() => false,
            Some(s) if s.state != 'Z' => true,
            // The leader is a zombie or gone; members may remain.
            _ => self.members_running(),
        }
    }

    /// The recorded moment in clock ticks (the unit of a process's start
    /// time in `/proc/<pid>/stat`).
    fn ticks(self) -> u64 {
        let hz = sysconf(SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|h| u64::try_from(h).ok())
            .filter(|h| *h > 0)
            .unwrap_or(100);
        self.boot_ms.saturating_mul(hz) / 1000
    }

    /// Whether a process other than a zombie has this group ID.
    fn members_running(self) -> bool {
        if killpg(Pid::from_raw(self.pid), None) == Err(Errno::ESRCH) {
            return false;
        }
        let Ok(dir) = fs::read_dir("/proc") else {
            return false;
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(Stat::read)
            .any(|s| s.pgrp == self.pid && s.state != 'Z')
    }

    /// End the group: SIGTERM, up to `grace` for it to go, then SIGKILL,
    /// and wait until nothing of it runs, giving up at `deadline`.
    pub fn end(self, grace: Duration, deadline: Option<Instant>) -> Ended {
        if !self.running() {
            return Ended::Gone;
        }
        let group = Pid::from_raw(self.pid);
        let _ = killpg(group, Signal::SIGTERM);
        let term_until = Instant::now() + grace;
        let term_until = deadline.map_or(term_until, |d| d.min(term_until));
        if self.wait_gone(term_until) {
            return Ended::Terminated;
        }
        let _ = killpg(group, Signal::SIGKILL);
        // SIGKILL cannot be ignored, but a process in uninterruptible
        // sleep dies only when it wakes: wait for it, within the deadline
        // (or a minute without one).
        let kill_until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        if self.wait_gone(kill_until) {
            Ended::Killed
        } else {
            Ended::StillRunning
        }
    }

    fn wait_gone(self, until: Instant) -> bool {
        let mut nap = Duration::from_millis(2);
        loop {
            if !self.running() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep(nap.min(until - now));
            nap = (nap * 2).min(Duration::from_millis(50));
        }
    }
}

/// The fields of `/proc/<pid>/stat` used here.
struct Stat {
    state: char,
    pgrp: i32,
    start_ticks: u64,
}

impl Stat {
    fn read(pid: i32) -> Option<Stat> {
        let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid pgrp ...`: comm may hold spaces and
        // parentheses, so fields are counted after its last ')'.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(Stat {
            state: fields.first()?.chars().next()?,
            pgrp: fields.get(2)?.parse().ok()?,
            // Field 22 of the whole line; this list starts at field 3.
            start_ticks: fields.get(19)?.parse().ok()?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn group_of(script: &str) -> (std::process::Child, ProcessId) {
        let child = Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap();
        let id = ProcessId::spawned_now(i32::try_from(child.id()).unwrap());
        (child, id)
    }

    #[test]
    fn a_running_group_is_ended_and_reaped_parents_see_it_gone() {
        // A leader with a child of its own, both ignoring nothing.
        let (mut child, id) = group_of("sleep 30 & sleep 30");
        std::thread::sleep(Duration::from_millis(50));
        assert!(id.running());
        let ended = id.end(Duration::from_secs(1), None);
        assert_eq!(ended, Ended::Terminated);
        let _ = child.wait();
        assert!(!id.running());
        assert_eq!(id.end(Duration::from_secs(1), None), Ended::Gone);
    }

    #[test]
    fn a_group_that_ignores_sigterm_is_killed() {
        let (mut child, id) = group_of("trap '' TERM; sleep 30 & trap '' TERM; sleep 30");
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let ended = id.end(Duration::from_millis(200), None);
        assert_eq!(ended, Ended::Killed);
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = child.wait();
    }

    #[test]
    fn members_left_by_a_dead_leader_are_found_and_ended() {
        // The leader exits at once; its background child keeps the group.
        let (mut child, id) = group_of("sleep 30 & exit 0");
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(id.running(), "the member keeps the group alive");
        assert_eq!(id.end(Duration::from_secs(1), None), Ended::Terminated);
        assert!(!id.running());
    }

    #[test]
    fn a_group_recorded_in_another_boot_is_not_ours() {
        let (mut child, id) = group_of("sleep 30");
        // The boot clock restarts: the moment says nothing across boots.
        let Some(boot) = this_boot() else {
            panic!("no /proc/sys/kernel/random/boot_id")
        };
        let id = ProcessId {
            boot_id: Some(boot),
            ..id
        };
        let earlier = ProcessId {
            boot_id: Some(boot ^ 1),
            ..id
        };
        assert!(!earlier.running());
        assert_eq!(earlier.end(Duration::from_millis(100), None), Ended::Gone);
        assert!(id.running(), "left alone");
        // Unknown: the PID and the moment decide, as before.
        assert!(ProcessId {
            boot_id: None,
            ..id
        }
        .running());
        child.kill().unwrap();
        child.wait().unwrap();
        let kernel = "1f0753c8-cf23-452b-a300-3924419a7c39";
        assert_eq!(fmt_boot_id(parse_boot_id(kernel).unwrap()), kernel);
        for bad in [
            "",
            "1f0753c8cf23452ba3003924419a7c39",
            "1f0753c8-cf23-452b-a300-3924419a7c3g",
        ] {
            assert_eq!(parse_boot_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_pid_that_started_after_the_record_is_not_ours() {
        let (mut child, id) = group_of("sleep 30");
        // Recorded a second before the process existed: it is a reuse.
        let earlier = ProcessId {
            boot_ms: id.boot_ms.saturating_sub(2000),
            ..id
        };
        assert!(!earlier.running());
        assert_eq!(earlier.end(Duration::from_millis(100), None), Ended::Gone);
        assert!(id.running(), "left alone");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
