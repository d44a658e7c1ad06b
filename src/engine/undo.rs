//! DEL (pipelines and delegates in reverse, best effort) and CHECK (in
//! order, first error), both from the attachment's record when there is a
//! usable one, else from the config. A record (or state directory) that is
//! not trusted is never replayed: it is logged as an error, left in place,
//! and the config is used.

use super::{Engine, Plan, Scope};
use crate::error::{code, CniError};
use crate::plan::{Delegate, Pipeline};
use crate::protocol::Command;
use crate::result::CniResult;
use crate::state::{Record, Store};

/// Where the pipelines to undo or verify came from.
enum Source {
    /// The attachment's record.
    Record(Record),
    /// The config: there is no record, or it cannot be used (a corrupt one
    /// goes once DEL succeeded, as no record could).
    Config,
    /// The config, because the record is not trusted: it stays where it is
    /// for the operator, whatever DEL does.
    Untrusted,
}

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

    /// What to undo or verify: the record's pipelines when `store` has a
    /// usable record, else the config's. Each pipeline carries the result
    /// to pass (its own stored one, else the runtime's `prevResult`).
    fn plan(
        &self,
        store: Option<&Store>,
        prev: Option<&CniResult>,
    ) -> Result<(Plan, Source), CniError> {
        let mut source = Source::Config;
        if let Some(store) = store {
            let loaded = match store.load(&self.req.container_id, &self.req.ifname) {
                Ok(r) => r
                    .map(|r| self.replay(&r).map(|p| (p, r)))
                    .transpose()
                    .map_err(|why| (why, false)),
                Err(u) => Err((u.why, u.untrusted)),
            };
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
                    return Ok((plan, Source::Record(record)));
                }
                Ok(None) => self
                    .log
                    .debug("", format_args!("no state record: using the config")),
                Err((why, true)) => {
                    source = Source::Untrusted;
                    self.log.error(
                        "",
                        format_args!(
                            "state record refused, {why}: not replayed, using the config (the file is left in place; see docs/security.md)"
                        ),
                    );
                }
                Err((why, false)) => self.log.warn(
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
        Ok((plan, source))
    }

    /// DEL: pipelines and delegates in reverse order, best effort; the
    /// first error is returned. The record goes once every DEL succeeded.
    pub(crate) fn del(&self) -> Result<(), CniError> {
        let prev = self.prev_result()?;
        let deadline = self.fresh_deadline();
        let mut store = self.store.as_ref();
        let lock = match self.lock(deadline) {
            Ok(l) => l,
            Err(e) if e.code == code::IO_FAILURE => {
                self.log
                    .warn("", format_args!("{}; deleting without state", e.msg));
                None
            }
            // Not trusted: nothing of it is read (no record replayed, no
            // journal acted on) or changed.
            Err(e) if e.code == code::INVALID_CONFIG => {
                self.log.error(
                    "",
                    format_args!(
                        "{}; deleting from the config, without state (see docs/security.md)",
                        e.msg
                    ),
                );
                store = None;
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(l) = &lock {
            self.end_in_flight(l, None, deadline)?;
        }
        let (plan, source) = self.plan(store, prev.as_ref())?;
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
        match source {
            Source::Record(record) => self.finish_undo(lock, Some(&record), first.is_none()),
            Source::Config => self.finish_undo(lock, None, first.is_none()),
            Source::Untrusted => {
                if let Some(Err(e)) = lock.as_ref().map(|l| l.clear_in_flight()) {
                    self.log.warn("", format_args!("in-flight journal: {e}"));
                }
            }
        }
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
        let (plan, _) = self.plan(self.store.as_ref(), Some(&prev))?;
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
