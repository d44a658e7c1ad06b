//! The operations over resolved pipelines: ADD (chain, merge, two-level
//! rollback), DEL (reverse, best effort), CHECK (in order).

mod call;
pub mod resolve;

use crate::config::{MetaConfig, ResultMode};
use crate::error::{code, CniError};
use crate::invoke::Invoker;
use crate::log::Logger;
use crate::protocol::{Command, Env, Request};
use crate::result::CniResult;
use resolve::Pipeline;
use std::time::{Duration, Instant};

/// Everything one invocation works with.
pub struct Engine<'a> {
    pub conf: &'a MetaConfig,
    pub req: &'a Request,
    pub env: &'a Env,
    pub invoker: &'a dyn Invoker,
    pub log: &'a Logger,
}

/// A point in time by which an operation must be done (`None`: no limit).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn after(limit: Option<Duration>) -> Deadline {
        Deadline(limit.map(|l| Instant::now() + l))
    }

    /// The limit for one call: the smaller of what is left and `own`.
    pub fn limit(self, own: Option<Duration>) -> Option<Duration> {
        let left = self.0.map(|d| d.saturating_duration_since(Instant::now()));
        match (left, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn expired(self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }
}

/// Where a pipeline's ADD failed, and what it had produced so far.
struct PipelineFailure {
    at: usize,
    error: CniError,
    partial: Option<Box<CniResult>>,
}

impl Engine<'_> {
    /// The runtime's `prevResult`, parsed. On DEL a bad one is logged and
    /// ignored: cleanup must not depend on it.
    fn prev_result(&self) -> Result<Option<CniResult>, CniError> {
        let Some(v) = &self.conf.prev_result else {
            return Ok(None);
        };
        match CniResult::parse(v, self.conf.version) {
            Ok(r) => Ok(Some(r)),
            Err(e) if self.req.command == Command::Del => {
                self.log.warn(
                    "",
                    format_args!("ignoring prevResult that does not parse: {e}"),
                );
                Ok(None)
            }
            Err(e) => Err(CniError::new(e.code(), format!("prevResult: {e}"))),
        }
    }

    fn fresh_deadline(&self) -> Deadline {
        Deadline::after(self.conf.timeout)
    }

    /// ADD: pipelines in order; on failure undo the failing pipeline (the
    /// failed delegate included) and then every earlier pipeline, with a
    /// fresh time budget. Returns the combined result.
    pub fn add(&self) -> Result<CniResult, CniError> {
        let pipelines = self.resolve()?;
        let incoming = self.prev_result()?;
        let deadline = self.fresh_deadline();
        let mut done: Vec<Option<CniResult>> = Vec::with_capacity(pipelines.len());
        for p in &pipelines {
            match self.add_pipeline(p, incoming.as_ref(), deadline) {
                Ok(r) => done.push(r),
                Err(f) => {
                    let mut error = f.error;
                    let budget = self.fresh_deadline();
                    self.log
                        .warn("", format_args!("ADD failed, rolling back: {}", error.msg));
                    let mut note = |e: CniError| error.add_detail(format!("rollback: {}", e.msg));
                    self.del_delegates(
                        p,
                        &p.delegates[..=f.at],
                        f.partial.as_deref(),
                        budget,
                        &mut note,
                    );
                    for (q, r) in pipelines.iter().zip(&done).rev() {
                        self.del_delegates(q, &q.delegates, r.as_ref(), budget, &mut note);
                    }
                    return Err(error);
                }
            }
        }
        let mut results = done.into_iter().flatten();
        let mut out = match results.next() {
            Some(first) => first,
            None => return Ok(incoming.unwrap_or_default()),
        };
        for r in results {
            out.merge(&r);
        }
        Ok(out)
    }

    fn add_pipeline(
        &self,
        p: &Pipeline,
        incoming: Option<&CniResult>,
        deadline: Deadline,
    ) -> Result<Option<CniResult>, PipelineFailure> {
        self.log.info(
            &if p.name.is_empty() {
                String::new()
            } else {
                format!("pipeline={}", p.name)
            },
            format_args!(
                "ADD on {} ({} delegates, result mode {})",
                p.ifname,
                p.delegates.len(),
                p.mode.as_str()
            ),
        );
        let mut acc = match p.mode {
            ResultMode::None => None,
            ResultMode::Chained | ResultMode::Merged => incoming.cloned(),
        };
        let mut last = None;
        for (at, d) in p.delegates.iter().enumerate() {
            let prev = if p.mode == ResultMode::None {
                None
            } else {
                acc.as_ref()
            };
            match self
                .call(p, d, Command::Add, prev, deadline)
                .map(|c| c.result)
            {
                Ok(None) => {}
                Ok(Some(r)) => match p.mode {
                    ResultMode::None => last = Some(r),
                    ResultMode::Chained => acc = Some(r),
                    ResultMode::Merged => match &mut acc {
                        Some(a) => a.merge(&r),
                        None => acc = Some(r),
                    },
                },
                Err(error) => {
                    let partial = if p.mode == ResultMode::None {
                        last
                    } else {
                        acc
                    }
                    .map(Box::new);
                    return Err(PipelineFailure { at, error, partial });
                }
            }
        }
        Ok(match p.mode {
            ResultMode::None => last.or_else(|| incoming.cloned()),
            _ => acc,
        })
    }

    /// DEL `delegates` of `p` in reverse order, best effort, reporting each
    /// failure to `failed`.
    fn del_delegates(
        &self,
        p: &Pipeline,
        delegates: &[resolve::Delegate],
        prev: Option<&CniResult>,
        deadline: Deadline,
        failed: &mut dyn FnMut(CniError),
    ) {
        for d in delegates.iter().rev() {
            if let Err(e) = self.call(p, d, Command::Del, prev, deadline) {
                failed(e);
            }
        }
    }

    /// DEL: pipelines and delegates in reverse order, best effort; the
    /// first error is returned.
    pub fn del(&self) -> Result<(), CniError> {
        let pipelines = self.resolve()?;
        let prev = self.prev_result()?;
        let deadline = self.fresh_deadline();
        let mut first: Option<CniError> = None;
        for p in pipelines.iter().rev() {
            self.del_delegates(p, &p.delegates, prev.as_ref(), deadline, &mut |e| {
                first.get_or_insert(e);
            });
        }
        first.map_or(Ok(()), Err)
    }

    /// CHECK: needs `prevResult`; pipelines and delegates in order, stopping
    /// at the first error. Delegates configured below 0.4.0 have no CHECK.
    pub fn check(&self) -> Result<(), CniError> {
        if !self.conf.version.has_check() {
            return Err(CniError::version(format!(
                "config version {} does not allow CHECK (needs 0.4.0 or later)",
                self.conf.version
            )));
        }
        let prev = self.prev_result()?.ok_or_else(|| {
            CniError::new(code::INVALID_CONFIG, "prevResult is required for CHECK")
        })?;
        let pipelines = self.resolve()?;
        let deadline = self.fresh_deadline();
        for p in &pipelines {
            for d in &p.delegates {
                if !d.version.has_check() {
                    self.log.debug(
                        &p.scope(d),
                        format_args!("skipped: cniVersion {} has no CHECK", d.version),
                    );
                    continue;
                }
                self.call(p, d, Command::Check, Some(&prev), deadline)?;
            }
        }
        Ok(())
    }
}
