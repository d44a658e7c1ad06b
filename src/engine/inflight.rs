//! Delegates an earlier, killed operation on the attachment left running:
//! found in the lock's in-flight journal and ended before anything else
//! runs, so that no effect of that operation comes after this one's.

use super::record::label;
use super::{Deadline, Engine};
use crate::error::{code, CniError};
use crate::invoke::{Ended, ProcessId, KILL_GRACE};
use crate::state::{InFlight, Lock, Record};

impl Engine<'_> {
    /// End what the journal of `lock` names that still runs, logging each
    /// one at warn; `TRY_AGAIN` when something of it is still running at
    /// the deadline. `record` names the delegates (read here when `None`).
    pub(super) fn end_in_flight(
        &self,
        lock: &Lock,
        record: Option<&Record>,
        deadline: Deadline,
    ) -> Result<(), CniError> {
        let entries = lock.in_flight().map_err(|e| {
            CniError::io(format!(
                "cannot read the in-flight journal of container {} interface {}: {e}",
                self.req.container_id, self.req.ifname
            ))
        })?;
        if entries.is_empty() {
            return Ok(());
        }
        // Rare: only after a kill. The record, if any, names the delegates.
        let loaded = match record {
            Some(_) => None,
            None => self.store.as_ref().and_then(|s| {
                s.load(&self.req.container_id, &self.req.ifname)
                    .ok()
                    .flatten()
            }),
        };
        let record = record.or(loaded.as_ref());
        for (_, e) in &entries {
            self.end_one(e, &label(record, e), deadline)?;
        }
        lock.clear_in_flight()
            .map_err(|e| CniError::io(format!("cannot clear the in-flight journal: {e}")))
    }

    fn end_one(&self, e: &InFlight, who: &str, deadline: Deadline) -> Result<(), CniError> {
        let id = ProcessId {
            pid: e.pid,
            boot_ms: e.boot_ms,
            boot_id: e.boot_id,
        };
        let what = format!("its {} (process group {})", e.command, e.pid);
        match id.end(KILL_GRACE, deadline.0) {
            Ended::Gone => {
                self.log
                    .debug("", format_args!("{who}: {what} had finished"));
                Ok(())
            }
            Ended::Terminated | Ended::Killed => {
                self.metrics
                    .killed_in_flight(&e.command, &e.plugin, who, &what);
                self.log.warn(
                    "",
                    format_args!("{who}: ended {what}, left running by a meta-cni that was killed"),
                );
                Ok(())
            }
            Ended::StillRunning => Err(CniError::new(
                code::TRY_AGAIN,
                format!(
                    "{who}: {what}, left running by a meta-cni that was killed, still runs after SIGKILL; try again"
                ),
            )),
        }
    }
}
