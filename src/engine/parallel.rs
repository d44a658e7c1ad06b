//! `parallelPipelines`: an ADD or DEL runs every pipeline (static, and each
//! template instance) at once, one thread each; the delegates of a pipeline
//! stay in order. Results, errors and the record come out exactly as the
//! sequential run would give them: merged in config order, the first
//! failure in config order returned, the record written by one writer at a
//! time.

use super::add::{merge_in_order, PipelineFailure, Undone};
use super::{Engine, Plan, Scope};
use crate::error::{code, CniError};
use crate::plan::Pipeline;
use crate::result::CniResult;
use crate::state::Record;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// One pipeline's ADD, as it ended.
type Outcome = Result<Option<CniResult>, PipelineFailure>;

impl Engine<'_> {
    /// ADD of every pipeline at once. When one fails, no further delegate
    /// starts anywhere; the pipelines still running finish their current
    /// delegate (or reach its limit); then everything that ran is undone.
    pub(super) fn add_parallel(
        &self,
        scope: Scope<'_>,
        pipelines: &mut [Pipeline],
        incoming: Option<CniResult>,
        record: Option<&mut Record>,
    ) -> Result<CniResult, Undone> {
        let stop = AtomicBool::new(false);
        let record = Mutex::new(record);
        let incoming_ref = incoming.as_ref();
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let running: Vec<_> = pipelines
                .iter_mut()
                .map(|p| {
                    let (stop, record) = (&stop, &record);
                    s.spawn(move || {
                        let out = self.add_pipeline(scope, p, incoming_ref, Some(stop));
                        match &out {
                            Ok(r) => {
                                let mut rec = record.lock().unwrap_or_else(|e| e.into_inner());
                                self.record_pipeline(scope, rec.as_deref_mut(), p, r.as_ref());
                            }
                            Err(_) => stop.store(true, Ordering::SeqCst),
                        }
                        out
                    })
                })
                .collect();
            running.into_iter().map(join_pipeline).collect()
        });
        if outcomes.iter().all(Result::is_ok) {
            let done = outcomes.into_iter().map(|o| o.ok().flatten()).collect();
            return Ok(merge_in_order(done, incoming));
        }
        Err(self.roll_back_parallel(scope, pipelines, outcomes))
    }

    /// After a parallel ADD failed: the first failure in config order is
    /// the error, the others go to its details; every pipeline is undone
    /// as far as it ran, all at once, with a fresh time budget.
    fn roll_back_parallel(
        &self,
        scope: Scope<'_>,
        pipelines: &[Pipeline],
        outcomes: Vec<Outcome>,
    ) -> Undone {
        let mut failures = pipelines
            .iter()
            .zip(&outcomes)
            .filter_map(|(p, o)| Some((p, o.as_ref().err()?.error.as_ref()?)));
        let mut error = failures.next().map_or_else(
            || CniError::new(code::INTERNAL, "ADD stopped without a failure"),
            |(_, e)| e.clone(),
        );
        for (p, e) in failures {
            error.add_detail(format!("pipeline {:?} also failed: {}", p.name, e.msg));
        }
        self.log
            .warn("", format_args!("ADD failed, rolling back: {}", error.msg));
        let budget = Scope {
            deadline: self.fresh_deadline(),
            ..scope
        };
        // Each pipeline: what ran of it, and the result to give its DELs.
        let undo: Vec<(&Pipeline, usize, Option<CniResult>)> = pipelines
            .iter()
            .zip(outcomes)
            .map(|(p, o)| match o {
                Ok(r) => (p, p.delegates.len(), r),
                Err(f) => (p, f.ran, f.partial.map(|b| *b)),
            })
            .collect();
        let problems = self.del_each(budget, &undo);
        let clean = problems.is_empty();
        for e in problems {
            error.add_detail(format!("rollback: {}", e.msg));
        }
        Undone { error, clean }
    }

    /// DEL of every pipeline of `plan` at once, each best effort; the
    /// first error in config order is returned.
    pub(super) fn del_parallel(&self, scope: Scope<'_>, plan: &Plan) -> Option<CniError> {
        let undo: Vec<(&Pipeline, usize, Option<CniResult>)> = plan
            .iter()
            .map(|(p, r)| (p, p.delegates.len(), r.clone()))
            .collect();
        self.del_each(scope, &undo).into_iter().next()
    }

    /// Undo each `(pipeline, delegates that ran, result)` on a thread of
    /// its own, delegates in reverse; the errors, in config order.
    fn del_each(
        &self,
        scope: Scope<'_>,
        undo: &[(&Pipeline, usize, Option<CniResult>)],
    ) -> Vec<CniError> {
        let per_pipeline: Vec<Vec<CniError>> = std::thread::scope(|s| {
            let running: Vec<_> = undo
                .iter()
                .filter(|(_, ran, _)| *ran > 0)
                .map(|(p, ran, r)| {
                    s.spawn(move || {
                        let mut errors = Vec::new();
                        let ran = (*ran).min(p.delegates.len());
                        self.del_delegates(scope, p, &p.delegates[..ran], r.as_ref(), &mut |e| {
                            errors.push(e)
                        });
                        errors
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![CniError::new(code::INTERNAL, "a DEL thread panicked")]
                    })
                })
                .collect()
        });
        per_pipeline.into_iter().flatten().collect()
    }
}

/// A pipeline thread's outcome; a panic in it is an internal error that
/// stops nothing already undone (its delegates are treated as all run).
fn join_pipeline(h: std::thread::ScopedJoinHandle<'_, Outcome>) -> Outcome {
    h.join().unwrap_or_else(|_| {
        Err(PipelineFailure {
            ran: usize::MAX,
            error: Some(CniError::new(
                code::INTERNAL,
                "meta-cni hit an internal error in a pipeline (a bug: please report it with the log)",
            )),
            partial: None,
        })
    })
}
