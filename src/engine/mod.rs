//! The operations over planned pipelines: ADD (chain, merge, two-level
//! rollback), DEL (reverse, best effort), CHECK (in order), STATUS and GC,
//! each replaying the attachment's state record when there is one.
//!
//! The engine holds no mutable state of its own: what one run of delegates
//! works under (its deadline and the attachment lock whose in-flight
//! journal records each delegate) travels as a [`Scope`].

mod add;
mod call;
mod inflight;
mod parallel;
mod record;
mod undo;
mod verbs;

use crate::config::MetaConfig;
use crate::error::{code, CniError};
use crate::invoke::{ChildEnv, Invoker};
use crate::log::Logger;
use crate::metrics::Invocation;
use crate::plan::{Pipeline, Planner};
use crate::protocol::{Command, Env, Request};
use crate::result::CniResult;
use crate::state::{Lock, Record, Store};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Everything one invocation works with.
pub(crate) struct Engine<'a> {
    conf: &'a MetaConfig,
    req: &'a Request,
    env: &'a Env,
    invoker: &'a (dyn Invoker + Sync),
    log: &'a Logger,
    /// What this invocation did, for the metrics (and `meta-cni release`).
    metrics: &'a Invocation,
    /// Attachment state, unless `attachmentState: false`.
    store: Option<Store>,
    /// Our environment as delegates inherit it, built on first use.
    inherited: OnceLock<ChildEnv>,
}

/// A point in time by which an operation must be done (`None`: no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `limit` from now. A limit too far away for an `Instant` (e.g.
    /// `timeoutSeconds: 9223372036854775807`) is no limit, not an overflow.
    pub(crate) fn after(limit: Option<Duration>) -> Deadline {
        Deadline(limit.and_then(|l| Instant::now().checked_add(l)))
    }

    /// The limit for one call: the smaller of what is left and `own`.
    pub(crate) fn limit(self, own: Option<Duration>) -> Option<Duration> {
        let left = self.0.map(|d| d.saturating_duration_since(Instant::now()));
        match (left, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn expired(self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }
}

/// What the delegates of one run work under: its deadline, and the held
/// attachment lock whose in-flight journal records each started delegate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'l> {
    deadline: Deadline,
    lock: Option<&'l Lock>,
}

impl Scope<'_> {
    /// No attachment: CHECK, STATUS, GC's forwarding.
    fn unlocked(deadline: Deadline) -> Scope<'static> {
        Scope {
            deadline,
            lock: None,
        }
    }
}

/// The pipelines to undo or verify, each with the result to pass it.
type Plan = Vec<(Pipeline, Option<CniResult>)>;

impl<'a> Engine<'a> {
    pub(crate) fn new(
        conf: &'a MetaConfig,
        req: &'a Request,
        env: &'a Env,
        invoker: &'a (dyn Invoker + Sync),
        log: &'a Logger,
        metrics: &'a Invocation,
    ) -> Engine<'a> {
        Engine {
            conf,
            req,
            env,
            invoker,
            log,
            metrics,
            store: conf
                .attachment_state
                .then(|| Store::new(&conf.state_dir, &conf.name)),
            inherited: OnceLock::new(),
        }
    }

    /// This engine acting for another request of the same network (GC's
    /// releases), without a store of its own: the caller holds the lock.
    fn for_request<'r>(&'r self, req: &'r Request) -> Engine<'r> {
        Engine {
            conf: self.conf,
            req,
            env: self.env,
            invoker: self.invoker,
            log: self.log,
            metrics: self.metrics,
            store: None,
            inherited: self.inherited.clone(),
        }
    }

    fn planner(&self) -> Planner<'_> {
        Planner::new(self.conf, self.req, self.log)
    }

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

    /// Take the attachment's lock (waiting at most until `deadline`).
    fn lock(&self, deadline: Deadline) -> Result<Option<Lock>, CniError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        match store.lock(&self.req.container_id, &self.req.ifname, true, deadline.0) {
            Ok(Some(l)) => Ok(Some(l)),
            Ok(None) => Err(CniError::new(
                code::TRY_AGAIN,
                format!(
                    "another operation on container {} interface {} still holds its lock",
                    self.req.container_id, self.req.ifname
                ),
            )),
            Err(e) => match crate::trust::untrusted(&e) {
                // Not trusted: an operator's mistake to fix, as a bad config.
                Some(t) => Err(CniError::config(format!(
                    "state directory {} not trusted: {t}",
                    store.dir().display()
                ))),
                None => Err(CniError::io(format!(
                    "state directory {}: {e}",
                    store.dir().display()
                ))),
            },
        }
    }

    /// After an undo (rollback or DEL): drop the record when everything was
    /// undone, keep it (so a later DEL retries) otherwise. Either way the
    /// in-flight journal is emptied: every delegate started has finished.
    fn finish_undo(&self, lock: Option<Lock>, record: Option<&Record>, clean: bool) {
        let (Some(store), Some(lock)) = (&self.store, lock) else {
            return;
        };
        let outcome = match record {
            Some(r) if !clean => store
                .save(&lock, r, false)
                .and_then(|_| lock.clear_in_flight()),
            // Clean, or nothing to keep: no record and no lock file stay.
            _ => store.remove(lock),
        };
        if let Err(e) = outcome {
            self.log.warn("", format_args!("state file: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_beyond_what_an_instant_holds_is_no_limit() {
        for secs in [u64::MAX, i64::MAX as u64, i64::MAX as u64 - 1] {
            let d = Deadline::after(Some(Duration::from_secs(secs)));
            assert!(!d.expired());
            assert_eq!(d.limit(None), None);
            assert_eq!(
                d.limit(Some(Duration::from_secs(3))),
                Some(Duration::from_secs(3))
            );
        }
        let d = Deadline::after(Some(Duration::from_secs(60)));
        assert!(d.limit(None).is_some_and(|l| l <= Duration::from_secs(60)));
    }
}
