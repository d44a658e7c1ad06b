//! ADD: pipelines in order, delegates in order, results chained inside a
//! pipeline and merged across; on failure the failing pipeline (the failed
//! delegate included) and every earlier one are undone, with a fresh time
//! budget.

use super::record::pipeline_record;
use super::{Engine, Scope};
use crate::config::ResultMode;
use crate::error::CniError;
use crate::plan::Pipeline;
use crate::protocol::Command;
use crate::result::CniResult;
use crate::state::{Lock, Record, Unsynced};
use std::sync::atomic::{AtomicBool, Ordering};

/// A pipeline's ADD that did not finish: its delegates `..ran` have run
/// (a failed one included) and must be undone, given what the pipeline had
/// produced so far.
pub(super) struct PipelineFailure {
    pub(super) ran: usize,
    /// Why; `None` when it stopped because another pipeline failed.
    pub(super) error: Option<CniError>,
    pub(super) partial: Option<Box<CniResult>>,
}

/// A failed ADD after its rollback: the error to return, and whether
/// everything was undone.
pub(super) struct Undone {
    pub(super) error: CniError,
    pub(super) clean: bool,
}

impl Engine<'_> {
    /// ADD; returns the combined result.
    pub(crate) fn add(&self) -> Result<CniResult, CniError> {
        let mut pipelines = self.planner().pipelines()?;
        let incoming = self.prev_result()?;
        let deadline = self.fresh_deadline();
        let lock = self.lock(deadline)?;
        if let Some(l) = &lock {
            self.end_in_flight(l, None, deadline)?;
        }
        // Recorded before the first delegate runs: a meta-cni killed half-way
        // still leaves what DEL needs. The record's fsync runs alongside the
        // delegates and is waited for before ADD answers.
        let mut record = lock.as_ref().map(|_| self.new_record(&pipelines));
        let syncing = match (&lock, &record) {
            (Some(l), Some(r)) => self.save(l, r, true)?.map(Unsynced::in_background),
            _ => None,
        };
        let scope = Scope {
            deadline,
            lock: lock.as_ref(),
        };
        let outcome = self.add_pipelines(scope, &mut pipelines, incoming, record.as_mut());
        if let Some(s) = syncing {
            if let Err(e) = s.wait() {
                self.log.warn(
                    "",
                    format_args!("attachment record not synced to disk: {e}"),
                );
            }
        }
        match outcome {
            Ok(result) => {
                // The journal's entries give way to the "complete ADD" line.
                if let Some(Err(e)) = lock.as_ref().map(Lock::mark_add_complete) {
                    self.log.warn("", format_args!("in-flight journal: {e}"));
                }
                Ok(result)
            }
            Err(Undone { error, clean }) => {
                self.metrics.rollback(clean);
                self.finish_undo(lock, record.as_ref(), clean);
                Err(error)
            }
        }
    }

    /// Write `record` under `lock` (`durable`: it comes back unsynced).
    fn save(
        &self,
        lock: &Lock,
        record: &Record,
        durable: bool,
    ) -> Result<Option<Unsynced>, CniError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        store.save(lock, record, durable).map_err(|e| {
            CniError::io(format!(
                "cannot write state file {}: {e}",
                lock.state_path().display()
            ))
        })
    }

    fn add_pipelines(
        &self,
        scope: Scope<'_>,
        pipelines: &mut [Pipeline],
        incoming: Option<CniResult>,
        mut record: Option<&mut Record>,
    ) -> Result<CniResult, Undone> {
        if self.conf.parallel_pipelines && pipelines.len() > 1 {
            return self.add_parallel(scope, pipelines, incoming, record);
        }
        let mut done: Vec<Option<CniResult>> = Vec::with_capacity(pipelines.len());
        for i in 0..pipelines.len() {
            match self.add_pipeline(scope, &mut pipelines[i], incoming.as_ref(), None) {
                Ok(r) => {
                    self.record_pipeline(scope, record.as_deref_mut(), &pipelines[i], r.as_ref());
                    done.push(r);
                }
                Err(f) => {
                    let error = f.error.clone().unwrap_or_else(|| {
                        CniError::new(crate::error::code::INTERNAL, "ADD stopped")
                    });
                    return Err(self.roll_back(scope, pipelines, &done, i, f, error));
                }
            }
        }
        Ok(merge_in_order(done, incoming))
    }

    /// Put pipeline `p`'s outcome into the record, for DEL and CHECK to
    /// pass to that pipeline. With one pipeline that is the runtime's own
    /// prevResult, so that record is only rewritten when version
    /// negotiation changed what a delegate must be sent.
    pub(super) fn record_pipeline(
        &self,
        scope: Scope<'_>,
        record: Option<&mut Record>,
        p: &Pipeline,
        result: Option<&CniResult>,
    ) {
        let (Some(rec), Some(lock)) = (record, scope.lock) else {
            return;
        };
        let now = pipeline_record(p, result);
        if rec.pipelines.len() > 1 || now.delegates != rec.pipelines[p.slot].delegates {
            rec.pipelines[p.slot] = now;
            if let Err(e) = self.save(lock, rec, false) {
                self.log.warn("", format_args!("{e}"));
            }
        }
    }

    /// Undo pipeline `failed` up to and including its failed delegate,
    /// then every pipeline before it (`done` holds their results), in
    /// reverse, with a fresh time budget.
    fn roll_back(
        &self,
        scope: Scope<'_>,
        pipelines: &[Pipeline],
        done: &[Option<CniResult>],
        failed: usize,
        f: PipelineFailure,
        mut error: CniError,
    ) -> Undone {
        let budget = Scope {
            deadline: self.fresh_deadline(),
            ..scope
        };
        self.log
            .warn("", format_args!("ADD failed, rolling back: {}", error.msg));
        let mut clean = true;
        let mut note = |e: CniError| {
            clean = false;
            error.add_detail(format!("rollback: {}", e.msg));
        };
        let p = &pipelines[failed];
        self.del_delegates(
            budget,
            p,
            &p.delegates[..f.ran],
            f.partial.as_deref(),
            &mut note,
        );
        for (q, r) in pipelines.iter().zip(done).rev() {
            self.del_delegates(budget, q, &q.delegates, r.as_ref(), &mut note);
        }
        Undone { error, clean }
    }

    /// Run pipeline `p`'s delegates in order, results chained (or merged,
    /// or the last kept, by its result mode). With `stop`, no delegate
    /// starts once it is set (another pipeline failed).
    pub(super) fn add_pipeline(
        &self,
        scope: Scope<'_>,
        p: &mut Pipeline,
        incoming: Option<&CniResult>,
        stop: Option<&AtomicBool>,
    ) -> Result<Option<CniResult>, PipelineFailure> {
        let scope_label = if p.name.is_empty() {
            String::new()
        } else {
            format!("pipeline={}", p.name)
        };
        self.log.info(
            &scope_label,
            format_args!(
                "ADD on {} ({} delegates, result mode {})",
                p.ifname,
                p.delegates.len(),
                p.mode
            ),
        );
        let chained = p.mode != ResultMode::None;
        let mut acc = if chained { incoming.cloned() } else { None };
        let mut last = None;
        for at in 0..p.delegates.len() {
            let failure = |ran, error, acc: Option<CniResult>, last: Option<CniResult>| {
                let partial = if chained { acc } else { last }.map(Box::new);
                PipelineFailure {
                    ran,
                    error,
                    partial,
                }
            };
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                self.log.info(
                    &scope_label,
                    format_args!(
                        "stopped before delegate {:?}: another pipeline failed",
                        p.delegates[at].name
                    ),
                );
                return Err(failure(at, None, acc, last));
            }
            let called = match self.call(
                scope,
                p,
                &p.delegates[at],
                Command::Add,
                if chained { acc.as_ref() } else { None },
            ) {
                Ok(c) => c,
                Err(error) => return Err(failure(at + 1, Some(error), acc, last)),
            };
            if let Some((stdin, version)) = called.renegotiated {
                // Later calls (rollback, DEL via the record) use what worked.
                let d = &mut p.delegates[at];
                d.stdin = stdin;
                d.version = version;
            }
            match (called.result, p.mode) {
                (None, _) => {}
                (Some(r), ResultMode::None) => last = Some(r),
                (Some(r), ResultMode::Chained) => acc = Some(r),
                (Some(r), ResultMode::Merged) => match &mut acc {
                    Some(a) => a.merge(&r),
                    None => acc = Some(r),
                },
            }
        }
        Ok(if chained {
            acc
        } else {
            last.or_else(|| incoming.cloned())
        })
    }
}

/// The pipelines' results merged in their order; the incoming
/// `prevResult` (or an empty result) when none produced one.
pub(super) fn merge_in_order(
    done: Vec<Option<CniResult>>,
    incoming: Option<CniResult>,
) -> CniResult {
    let mut results = done.into_iter().flatten();
    match results.next() {
        Some(mut first) => {
            for r in results {
                first.merge(&r);
            }
            first
        }
        None => incoming.unwrap_or_default(),
    }
}
