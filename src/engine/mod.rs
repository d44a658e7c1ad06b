//! The operations over resolved pipelines: ADD (chain, merge, two-level
//! rollback), DEL (reverse, best effort), CHECK (in order), each replaying
//! the attachment's state record when there is one.

mod call;
mod record;
pub mod resolve;
mod verbs;

use crate::config::{MetaConfig, ResultMode};
use crate::error::{code, CniError};
use crate::invoke::{ChildEnv, Ended, Invoker, ProcessId};
use crate::log::Logger;
use crate::protocol::{Command, Env, Request};
use crate::result::CniResult;
use crate::state::{Lock, Record, Store, Unsynced};
use resolve::Pipeline;
use std::cell::{OnceCell, RefCell};
use std::time::{Duration, Instant};

/// Everything one invocation works with.
pub struct Engine<'a> {
    pub conf: &'a MetaConfig,
    pub req: &'a Request,
    pub env: &'a Env,
    pub invoker: &'a dyn Invoker,
    pub log: &'a Logger,
    /// Attachment state, unless `attachmentState: false`.
    pub state: Option<Store>,
    /// The first record's fsync: started once the first delegate runs,
    /// finished before ADD answers.
    pub unsynced: RefCell<PendingSync>,
    /// Our environment as delegates inherit it, built on first use.
    pub inherited: OnceCell<ChildEnv>,
    /// The attachment lock while delegates run under it: each delegate's
    /// process group goes into its in-flight journal.
    pub held: RefCell<Option<Lock>>,
}

/// Where the fsync of an ADD's first record stands.
#[derive(Debug, Default)]
pub enum PendingSync {
    #[default]
    Done,
    /// Written, not yet on disk.
    Waiting(Unsynced),
    /// On a helper thread, alongside the delegates.
    Running(std::thread::JoinHandle<std::io::Result<()>>),
}

/// A point in time by which an operation must be done (`None`: no limit).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// `limit` from now. A limit too far away for an `Instant` (e.g.
    /// `timeoutSeconds: 9223372036854775807`) is no limit, not an overflow.
    pub fn after(limit: Option<Duration>) -> Deadline {
        Deadline(limit.and_then(|l| Instant::now().checked_add(l)))
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

/// The pipelines to undo or verify, each with the result to pass it.
type Plan = Vec<(Pipeline, Option<CniResult>)>;

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

    /// Take the attachment's lock (waiting at most until `deadline`).
    fn lock(&self, deadline: Deadline) -> Result<Option<Lock>, CniError> {
        let Some(store) = &self.state else {
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
            Err(e) => Err(CniError::io(format!(
                "state directory {}: {e}",
                store.dir().display()
            ))),
        }
    }

    fn save(
        &self,
        lock: Option<&Lock>,
        record: &Record,
        durable: bool,
    ) -> Result<Option<Unsynced>, CniError> {
        match (&self.state, lock) {
            (Some(store), Some(lock)) => store.save(lock, record, durable).map_err(|e| {
                CniError::io(format!(
                    "cannot write state file {}: {e}",
                    lock.state_path().display()
                ))
            }),
            _ => Ok(None),
        }
    }

    /// ADD: pipelines in order; on failure undo the failing pipeline (the
    /// failed delegate included) and then every earlier pipeline, with a
    /// fresh time budget. Returns the combined result.
    pub fn add(&self) -> Result<CniResult, CniError> {
        let mut pipelines = self.resolve()?;
        let incoming = self.prev_result()?;
        let deadline = self.fresh_deadline();
        let lock = self.lock(deadline)?;
        if let Some(l) = &lock {
            self.end_in_flight(l, None, deadline)?;
        }
        // Recorded before the first delegate runs: a meta-cni killed half-way
        // still leaves what DEL needs. Its fsyncs run while the first
        // delegates do, and in any case before ADD answers.
        let mut record = lock.as_ref().map(|_| self.new_record(&pipelines));
        if let Some(r) = &record {
            if let Some(u) = self.save(lock.as_ref(), r, true)? {
                *self.unsynced.borrow_mut() = PendingSync::Waiting(u);
            }
        }
        *self.held.borrow_mut() = lock;
        let outcome = self.add_pipelines(&mut pipelines, incoming, deadline, record.as_mut());
        self.finish_sync();
        outcome
    }

    /// End what an earlier operation on this attachment left running when
    /// it was killed (its in-flight journal), before anything else runs:
    /// no effect of that operation may come after this one's. Each one
    /// ended is logged at warn. `TRY_AGAIN` when something of it is still
    /// running at the deadline.
    fn end_in_flight(
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
        // Named from the record when there is one (rare path: read here).
        let loaded;
        let record = match record {
            Some(r) => Some(r),
            None => {
                loaded = self.state.as_ref().and_then(|s| {
                    s.load(&self.req.container_id, &self.req.ifname)
                        .ok()
                        .flatten()
                });
                loaded.as_ref()
            }
        };
        for (_, e) in entries {
            let id = ProcessId {
                pid: e.pid,
                boot_ms: e.boot_ms,
            };
            let who = record::label(record, &e);
            match id.end(crate::invoke::KILL_GRACE, deadline.0) {
                Ended::Gone => self.log.debug(
                    "",
                    format_args!("{who}: {} of process group {} finished before", e.command, e.pid),
                ),
                how @ (Ended::Terminated | Ended::Killed) => self.log.warn(
                    "",
                    format_args!(
                        "{who}: ended its {} (process group {}, {}) left running by a meta-cni that was killed",
                        e.command,
                        e.pid,
                        if how == Ended::Killed { "SIGKILL" } else { "SIGTERM" }
                    ),
                ),
                Ended::StillRunning => {
                    return Err(CniError::new(
                        code::TRY_AGAIN,
                        format!(
                            "{who}: its {} (process group {}), left running by a meta-cni that was killed, is still running after SIGKILL; try again",
                            e.command, e.pid
                        ),
                    ))
                }
            }
        }
        lock.clear_in_flight()
            .map_err(|e| CniError::io(format!("cannot clear the in-flight journal: {e}")))
    }

    /// The lock delegates run under, handed back by [`Engine::add`] and
    /// [`Engine::del`] when they are done with it.
    fn release(&self) -> Option<Lock> {
        self.held.borrow_mut().take()
    }

    /// Start the record's fsync on a helper thread, so that the two device
    /// flushes it takes overlap with the delegates (all of them, not just
    /// the one running now). Called once the first delegate runs, so
    /// starting the thread costs no time either. Without a thread, it is
    /// done here.
    pub(crate) fn start_sync(&self) {
        let mut slot = self.unsynced.borrow_mut();
        let PendingSync::Waiting(record) = std::mem::take(&mut *slot) else {
            return;
        };
        // The record goes over a channel so that it is still ours if the
        // thread cannot be started.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Unsynced>(1);
        let spawned = std::thread::Builder::new()
            .name("fsync".into())
            .stack_size(64 * 1024)
            .spawn(move || rx.recv().map_or(Ok(()), Unsynced::sync));
        let inline = match spawned {
            Ok(handle) => match tx.send(record) {
                Ok(()) => {
                    *slot = PendingSync::Running(handle);
                    return;
                }
                Err(std::sync::mpsc::SendError(record)) => record,
            },
            Err(_) => record,
        };
        drop(slot);
        self.synced(inline.sync());
    }

    /// Make sure the record is on disk (waiting for the helper thread, or
    /// doing the fsync here if it was never started).
    pub(crate) fn finish_sync(&self) {
        let done = match std::mem::take(&mut *self.unsynced.borrow_mut()) {
            PendingSync::Done => return,
            PendingSync::Waiting(record) => record.sync(),
            PendingSync::Running(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the fsync thread panicked"))),
        };
        self.synced(done);
    }

    fn synced(&self, done: std::io::Result<()>) {
        if let Err(e) = done {
            self.log.warn(
                "",
                format_args!("attachment record not synced to disk: {e}"),
            );
        }
    }

    fn add_pipelines(
        &self,
        pipelines: &mut [Pipeline],
        incoming: Option<CniResult>,
        deadline: Deadline,
        mut record: Option<&mut Record>,
    ) -> Result<CniResult, CniError> {
        let mut done: Vec<Option<CniResult>> = Vec::with_capacity(pipelines.len());
        // Each pipeline's result goes into the record for DEL and CHECK to
        // pass to that pipeline. With one pipeline it is the runtime's own
        // prevResult, so that record is only rewritten when version
        // negotiation changed what a delegate must be sent.
        let per_pipeline = pipelines.len() > 1;
        for i in 0..pipelines.len() {
            match self.add_pipeline(&mut pipelines[i], incoming.as_ref(), deadline) {
                Ok(r) => {
                    if let Some(rec) = record.as_deref_mut() {
                        let now = record::pipeline_record(&pipelines[i], r.as_ref());
                        if per_pipeline || now.delegates != rec.pipelines[i].delegates {
                            rec.pipelines[i] = now;
                            if let Err(e) = self.save(self.held.borrow().as_ref(), rec, false) {
                                self.log.warn("", format_args!("{e}"));
                            }
                        }
                    }
                    done.push(r);
                }
                Err(f) => {
                    let failed = &pipelines[i];
                    let mut error = f.error;
                    let budget = self.fresh_deadline();
                    self.log
                        .warn("", format_args!("ADD failed, rolling back: {}", error.msg));
                    let mut clean = true;
                    let mut note = |e: CniError| {
                        clean = false;
                        error.add_detail(format!("rollback: {}", e.msg));
                    };
                    self.del_delegates(
                        failed,
                        &failed.delegates[..=f.at],
                        f.partial.as_deref(),
                        budget,
                        &mut note,
                    );
                    for (q, r) in pipelines.iter().zip(&done).rev() {
                        self.del_delegates(q, &q.delegates, r.as_ref(), budget, &mut note);
                    }
                    self.finish_undo(self.release(), record.as_deref(), clean);
                    return Err(error);
                }
            }
        }
        if let Some(lock) = self.release() {
            if let Err(e) = lock.clear_in_flight() {
                self.log.warn("", format_args!("in-flight journal: {e}"));
            }
        }
        let mut results = done.into_iter().flatten();
        let out = match results.next() {
            Some(mut first) => {
                for r in results {
                    first.merge(&r);
                }
                first
            }
            None => incoming.unwrap_or_default(),
        };
        Ok(out)
    }

    /// After an undo (rollback or DEL): drop the record when everything was
    /// undone, keep it (so a later DEL retries) otherwise.
    fn finish_undo(&self, lock: Option<Lock>, record: Option<&Record>, clean: bool) {
        let (Some(store), Some(lock)) = (&self.state, lock) else {
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

    fn add_pipeline(
        &self,
        p: &mut Pipeline,
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
        for at in 0..p.delegates.len() {
            let prev = if p.mode == ResultMode::None {
                None
            } else {
                acc.as_ref()
            };
            match self.call(p, &p.delegates[at], Command::Add, prev, deadline) {
                Ok(called) => {
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

    /// What to undo or verify: the record's pipelines when there is a
    /// usable record, else the config's. Each pipeline carries the result
    /// to pass (its own stored one, else the runtime's `prevResult`).
    fn plan(&self, prev: Option<&CniResult>) -> Result<(Plan, Option<Record>), CniError> {
        if let Some(store) = &self.state {
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
            .resolve()?
            .into_iter()
            .map(|p| (p, prev.cloned()))
            .collect();
        Ok((plan, None))
    }

    /// DEL: pipelines and delegates in reverse order, best effort; the
    /// first error is returned. The record goes once every DEL succeeded.
    pub fn del(&self) -> Result<(), CniError> {
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
        *self.held.borrow_mut() = lock;
        let mut first: Option<CniError> = None;
        for (p, r) in plan.iter().rev() {
            self.del_delegates(p, &p.delegates, r.as_ref(), deadline, &mut |e| {
                first.get_or_insert(e);
            });
        }
        self.finish_undo(self.release(), record.as_ref(), first.is_none());
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
        let deadline = self.fresh_deadline();
        // Reading the record needs no lock, and CHECK changes nothing.
        let (plan, _) = self.plan(Some(&prev))?;
        for (p, r) in &plan {
            for d in &p.delegates {
                if !d.version.has_check() {
                    self.log.debug(
                        &p.scope(d),
                        format_args!("skipped: cniVersion {} has no CHECK", d.version),
                    );
                    continue;
                }
                self.call(p, d, Command::Check, r.as_ref().or(Some(&prev)), deadline)?;
            }
        }
        Ok(())
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

    /// Answers ADD with an empty 1.0.0 result; notes, per call, whether it
    /// was given work to run and whether it ran it.
    struct Recorder {
        run_work: bool,
        calls: RefCell<Vec<bool>>,
    }

    impl Invoker for Recorder {
        fn start<'a>(
            &self,
            call: &'a crate::invoke::Call<'a>,
        ) -> Result<crate::invoke::Started<'a>, crate::invoke::Failure> {
            self.calls.borrow_mut().push(call.while_running.is_some());
            if let (true, Some(work)) = (self.run_work, call.while_running) {
                work();
            }
            Ok(crate::invoke::Started::Answered(Ok(
                crate::invoke::Output {
                    stdout: br#"{"cniVersion":"1.0.0"}"#.to_vec(),
                    stderr_tail: String::new(),
                },
            )))
        }
    }

    #[test]
    fn the_first_record_is_synced_during_the_first_delegates_or_before_add_answers() {
        use serde_json::json;
        let dir = std::env::temp_dir().join(format!("meta-cni-engine-sync-{}", std::process::id()));
        let env = Env::from_pairs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/var/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/nonexistent"),
        ]);
        let req = crate::protocol::parse_request(&env).expect("request");
        let log = Logger::stderr(crate::config::LogLevel::Error);
        let delegates = [
            json!({"name": "a", "type": "a"}),
            json!({"name": "b", "type": "b"}),
        ];
        // Offered to the first delegate call, and to the next ones only
        // while the invoker did not take it. Done either way once ADD
        // answers, with one delegate too.
        for (n, run_work, offered) in [
            (2, true, vec![true, false]),
            (2, false, vec![true, true]),
            (1, true, vec![true]),
        ] {
            let conf = json!({"cniVersion": "1.0.0", "name": "n", "stateDir": dir,
                "delegates": delegates[..n]});
            let conf = crate::config::load(conf.to_string().as_bytes()).expect("config");
            let invoker = Recorder {
                run_work,
                calls: RefCell::default(),
            };
            let engine = Engine {
                conf: &conf,
                req: &req,
                env: &env,
                invoker: &invoker,
                log: &log,
                state: Some(Store::new(&conf.state_dir, &conf.name)),
                unsynced: RefCell::default(),
                inherited: OnceCell::new(),
                held: RefCell::default(),
            };
            engine.add().expect("ADD");
            assert_eq!(*invoker.calls.borrow(), offered);
            assert!(matches!(*engine.unsynced.borrow(), PendingSync::Done));
            engine.del().expect("DEL");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
