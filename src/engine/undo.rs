//! DEL (pipelines and delegates in reverse, best effort) and CHECK (in
//! order, first error), both from the attachment's record when there is a
//! usable one, else from the config.

use super::{Engine, Plan, Scope};
use crate::error::{code, CniError};
use crate::plan::{Delegate, Pipeline};
use crate::protocol::Command;
use crate::result::CniResult;
use crate::state::Record;

impl Engine<'_> {
    /// DEL `delegates` of `p` in reverse order, best effort, reporting each
    /// failure to `failed`.
    pub(super) fn del_delegates(
        &self,
        scope: Scope<'_>,
        p: &Pipeline,
        delegates: &[Delegate],
        prev: Option<&CniResult>,
        failed: &mut dyn FnMut(CniError),
    ) {
        for d in delegates.iter().rev() {
            if let Err(e) = self.call(scope, p, d, Command::Del, prev) {
                failed(e);
            }
        }
    }

    /// What to undo or verify: the record's pipelines when there is a
    /// usable record, else the config's. Each pipeline carries the result
    /// to pass (its own stored one, else the runtime's `prevResult`).
    fn plan(&self, prev: Option<&CniResult>) -> Result<(Plan, Option<Record>), CniError> {
        if let Some(store) = &self.store {
            let loaded = store
                .load(&self.req.container_id, &self.req.ifname)
                .and_then(|r| r.map(|r| self.replay(&r).map(|p| (p, r))).transpose());
            match loaded {
                Ok(Some((plan, record))) => {
                    self.log.debug(
                        "",
                        format_args!(
                            "replaying {} pipeline(s) from the attachment record",
                            plan.len()
                        ),
                    );
                    let plan = plan
                        .into_iter()
                        .map(|(p, r)| (p, r.or_else(|| prev.cloned())))
                        .collect();
                    return Ok((plan, Some(record)));
                }
                Ok(None) => self
                    .log
                    .debug("", format_args!("no state record: using the config")),
                Err(why) => self.log.warn(
                    "",
                    format_args!("state record unusable ({why}): using the config"),
                ),
            }
        }
        if let Some(e) = &self.conf.broken {
            return Err(e.clone());
        }
        let plan = self
            .planner()
            .pipelines()?
            .into_iter()
            .map(|p| (p, prev.cloned()))
            .collect();
        Ok((plan, None))
    }

    /// DEL: pipelines and delegates in reverse order, best effort; the
    /// first error is returned. The record goes once every DEL succeeded.
    pub(crate) fn del(&self) -> Result<(), CniError> {
        let prev = self.prev_result()?;
        let deadline = self.fresh_deadline();
        let lock = match self.lock(deadline) {
            Ok(l) => l,
            Err(e) if e.code == code::IO_FAILURE => {
                self.log
                    .warn("", format_args!("{}; deleting without state", e.msg));
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(l) = &lock {
            self.end_in_flight(l, None, deadline)?;
        }
        let (plan, record) = self.plan(prev.as_ref())?;
        let scope = Scope {
            deadline,
            lock: lock.as_ref(),
        };
        let mut first: Option<CniError> = None;
        if self.conf.parallel_pipelines && plan.len() > 1 {
            first = self.del_parallel(scope, &plan);
        } else {
            for (p, r) in plan.iter().rev() {
                self.del_delegates(scope, p, &p.delegates, r.as_ref(), &mut |e| {
                    first.get_or_insert(e);
                });
            }
        }
        self.finish_undo(lock, record.as_ref(), first.is_none());
        first.map_or(Ok(()), Err)
    }

    /// CHECK: needs `prevResult`; pipelines and delegates in order, stopping
    /// at the first error. Delegates configured below 0.4.0 have no CHECK.
    pub(crate) fn check(&self) -> Result<(), CniError> {
        if !self.conf.version.has_check() {
            return Err(CniError::version(format!(
                "config version {} does not allow CHECK (needs 0.4.0 or later)",
                self.conf.version
            )));
        }
        let prev = self.prev_result()?.ok_or_else(|| {
            CniError::new(code::INVALID_CONFIG, "prevResult is required for CHECK")
        })?;
        let scope = Scope::unlocked(self.fresh_deadline());
        // Reading the record needs no lock, and CHECK changes nothing.
        let (plan, _) = self.plan(Some(&prev))?;
        for (p, r) in &plan {
            for d in &p.delegates {
                if !d.version.has_check() {
                    self.log.debug(
                        &p.label(d).scope(),
                        format_args!("skipped: cniVersion {} has no CHECK", d.version),
                    );
                    continue;
                }
                self.call(scope, p, d, Command::Check, r.as_ref().or(Some(&prev)))?;
            }
        }
        Ok(())
    }
}
