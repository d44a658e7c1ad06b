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

/// Where a pipeline's ADD failed, and what it had produced so far.
struct PipelineFailure {
    at: usize,
    error: CniError,
    partial: Option<Box<CniResult>>,
}

/// A failed ADD after its rollback: the error to return, and whether
/// everything was undone.
struct Undone {
    error: CniError,
    clean: bool,
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
                if let Some(Err(e)) = lock.as_ref().map(Lock::clear_in_flight) {
                    self.log.warn("", format_args!("in-flight journal: {e}"));
                }
                Ok(result)
            }
            Err(Undone { error, clean }) => {
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
        let mut done: Vec<Option<CniResult>> = Vec::with_capacity(pipelines.len());
        // Each pipeline's result goes into the record for DEL and CHECK to
        // pass to that pipeline. With one pipeline it is the runtime's own
        // prevResult, so that record is only rewritten when version
        // negotiation changed what a delegate must be sent.
        let per_pipeline = pipelines.len() > 1;
        for i in 0..pipelines.len() {
            match self.add_pipeline(scope, &mut pipelines[i], incoming.as_ref()) {
                Ok(r) => {
                    if let (Some(rec), Some(lock)) = (record.as_deref_mut(), scope.lock) {
                        let now = pipeline_record(&pipelines[i], r.as_ref());
                        if per_pipeline || now.delegates != rec.pipelines[i].delegates {
                            rec.pipelines[i] = now;
                            if let Err(e) = self.save(lock, rec, false) {
                                self.log.warn("", format_args!("{e}"));
                            }
                        }
                    }
                    done.push(r);
                }
                Err(f) => return Err(self.roll_back(scope, pipelines, &done, i, f)),
            }
        }
        let mut results = done.into_iter().flatten();
        Ok(match results.next() {
            Some(mut first) => {
                for r in results {
                    first.merge(&r);
                }
                first
            }
            None => incoming.unwrap_or_default(),
        })
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
    ) -> Undone {
        let mut error = f.error;
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
            &p.delegates[..=f.at],
            f.partial.as_deref(),
            &mut note,
        );
        for (q, r) in pipelines.iter().zip(done).rev() {
            self.del_delegates(budget, q, &q.delegates, r.as_ref(), &mut note);
        }
        Undone { error, clean }
    }

    fn add_pipeline(
        &self,
        scope: Scope<'_>,
        p: &mut Pipeline,
        incoming: Option<&CniResult>,
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
            let prev = if chained { acc.as_ref() } else { None };
            let called = match self.call(scope, p, &p.delegates[at], Command::Add, prev) {
                Ok(c) => c,
                Err(error) => {
                    let partial = if chained { acc } else { last }.map(Box::new);
                    return Err(PipelineFailure { at, error, partial });
                }
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
