//! One delegate call: environment, stdin with `prevResult` in the
//! delegate's version, the time limit, the log line, the result, and version
//! negotiation when the delegate answers "incompatible CNI version".

use super::resolve::{with_prev_result, Delegate, Pipeline};
use super::{Deadline, Engine};
use crate::error::{code, CniError};
use crate::invoke::{fmt_duration, Call, ChildEnv, Failure, Output, ProcessId};
use crate::protocol::Command;
use crate::result::CniResult;
use crate::state::InFlight;
use crate::version::Version;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Instant;

/// What a successful call produced.
#[derive(Debug, Default)]
pub struct Called {
    /// The parsed result (ADD only; `None` when the delegate printed nothing).
    pub result: Option<CniResult>,
    /// Set when version negotiation changed the config: the stdin (without
    /// `prevResult`) and version that worked.
    pub renegotiated: Option<(Vec<u8>, Version)>,
}

impl Engine<'_> {
    /// Run `command` on delegate `d` of pipeline `p`.
    pub(super) fn call(
        &self,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        prev: Option<&CniResult>,
        deadline: Deadline,
    ) -> Result<Called, CniError> {
        let first = self.exec(p, d, command, &d.stdin, d.version, prev, deadline);
        let reported_v1 = matches!(&first, Err(Failure::Reported { code: 1, .. }));
        let out = match first {
            Ok(out) => out,
            Err(f) if reported_v1 && command != Command::Version => {
                let who = p.who(d);
                let original = f.into_error(&who);
                let Some((stdin, v)) = self.negotiate(p, d, deadline, &original)? else {
                    return Err(original);
                };
                self.log.warn(
                    &p.scope(d),
                    format_args!(
                        "{} does not take cniVersion {}; retrying {command} with {v}",
                        d.plugin, d.version
                    ),
                );
                let out = self
                    .exec(p, d, command, &stdin, v, prev, deadline)
                    .map_err(|f| f.into_error(&who))?;
                return Ok(Called {
                    result: self.parse_result(p, d, command, &out, v)?,
                    renegotiated: Some((stdin, v)),
                });
            }
            Err(f) => return Err(f.into_error(&p.who(d))),
        };
        Ok(Called {
            result: self.parse_result(p, d, command, &out, d.version)?,
            renegotiated: None,
        })
    }

    fn parse_result(
        &self,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        out: &Output,
        v: Version,
    ) -> Result<Option<CniResult>, CniError> {
        if command != Command::Add || out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        CniResult::parse_slice(&out.stdout, v)
            .map(Some)
            .map_err(|e| CniError::decode(format!("{}: result does not parse: {e}", p.who(d))))
    }

    /// Spawn the delegate once, logging the outcome.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn exec(
        &self,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        stdin: &[u8],
        version: Version,
        prev: Option<&CniResult>,
        deadline: Deadline,
    ) -> Result<Output, Failure> {
        use crate::config::LogLevel;
        if deadline.expired() {
            let e = Failure::Reported {
                code: code::DELEGATE_TIMEOUT,
                msg: "not run: the operation's timeoutSeconds was used up".into(),
                details: String::new(),
            };
            self.log.error(
                &p.scope(d),
                format_args!("{command} {} not run: time is up", d.plugin),
            );
            return Err(e);
        }
        let prev_json = prev.map(|r| r.to_json(version));
        let stdin = match command {
            Command::Version => {
                Cow::Owned(format!("{{\"cniVersion\":\"{version}\"}}").into_bytes())
            }
            _ => Cow::Owned(with_prev_result(stdin, prev_json.as_ref())),
        };
        if self.log.enabled(LogLevel::Debug) && command != Command::Version {
            let shown = serde_json::from_slice(&stdin)
                .map(|v| crate::log::redact(&v).to_string())
                .unwrap_or_default();
            self.log.debug(
                &p.scope(d),
                format_args!("{command} {} config: {shown}", d.plugin),
            );
        }
        // While the delegate runs we would only wait: start the record's
        // fsync if it is pending, and write the log lines kept so far.
        let meanwhile = || {
            self.start_sync();
            self.log.flush();
        };
        let call = Call {
            plugin: &d.plugin,
            cni_path: d.env.get("CNI_PATH").unwrap_or(""),
            env: d.env.environment(
                self.inherited
                    .get_or_init(|| ChildEnv::inherited(&self.env.vars)),
                command.as_str(),
            ),
            stdin: &stdin,
            limit: deadline.limit(d.timeout),
            while_running: (matches!(*self.unsynced.borrow(), super::PendingSync::Waiting(_))
                || self.log.has_pending())
            .then_some(&meanwhile as &dyn Fn()),
        };
        let started = Instant::now();
        let outcome = self.invoker.start(&call).and_then(|running| {
            if let Some(id) = running.process() {
                self.note_in_flight(p, d, command, id);
            }
            running.wait()
        });
        let level = match outcome {
            Ok(_) => LogLevel::Info,
            Err(_) => LogLevel::Error,
        };
        if self.log.enabled(level) {
            let took = fmt_duration(started.elapsed());
            match &outcome {
                Ok(_) => self.log.info(
                    &p.scope(d),
                    format_args!("{command} {} ok in {took}", d.plugin),
                ),
                Err(f) => self.log.error(
                    &p.scope(d),
                    format_args!(
                        "{command} {} failed in {took}: {}",
                        d.plugin,
                        f.clone().into_error("")
                    ),
                ),
            }
        }
        outcome
    }

    /// Write the started delegate's process group into the in-flight
    /// journal of the attachment whose lock is held, before it gets its
    /// config. A journal that cannot be written is logged and the call goes
    /// on: it only matters if this meta-cni is killed while it runs.
    fn note_in_flight(&self, p: &Pipeline, d: &Delegate, command: Command, id: ProcessId) {
        let held = self.held.borrow();
        let Some(lock) = held.as_ref() else { return };
        let entry = InFlight {
            pid: id.pid,
            boot_ms: id.boot_ms,
            command: command.as_str().to_string(),
            pipeline: p.slot,
            delegate: p
                .delegates
                .iter()
                .position(|x| std::ptr::eq(x, d))
                .or_else(|| p.delegates.iter().position(|x| x.name == d.name))
                .unwrap_or(0),
            plugin: d.plugin.clone(),
        };
        if let Err(e) = lock.note_in_flight(p.slot, &entry) {
            self.log.warn(
                &p.scope(d),
                format_args!("cannot record the delegate in the in-flight journal: {e}"),
            );
        }
    }

    /// After a code-1 answer: ask the delegate's `VERSION` and pick the
    /// highest version both sides speak. `Ok(None)` when the delegate already
    /// claims to speak the configured version (the error stands as it is).
    fn negotiate(
        &self,
        p: &Pipeline,
        d: &Delegate,
        deadline: Deadline,
        original: &CniError,
    ) -> Result<Option<(Vec<u8>, Version)>, CniError> {
        let who = p.who(d);
        let out = self
            .exec(p, d, Command::Version, &[], d.version, None, deadline)
            .map_err(|f| {
                f.into_error(&format!(
                    "{who} (asking its VERSION after: {})",
                    original.msg
                ))
            })?;
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let theirs: Vec<&str> = answer
            .get("supportedVersions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if theirs.contains(&d.version.as_str()) {
            return Ok(None);
        }
        let Some(best) = theirs.iter().filter_map(|s| Version::parse(s)).max() else {
            return Err(CniError::version(format!(
                "{who}: no CNI version in common: the plugin supports [{}], meta-cni supports [{}] (configured: {})",
                theirs.join(", "),
                Version::all_strings().join(", "),
                d.version
            ))
            .with_details(original.msg.clone()));
        };
        let mut conf: serde_json::Map<String, Value> = serde_json::from_slice(&d.stdin)
            .map_err(|e| CniError::decode(format!("{who}: re-reading its config: {e}")))?;
        conf.insert("cniVersion".into(), best.as_str().into());
        let stdin =
            serde_json::to_vec(&conf).map_err(|e| CniError::decode(format!("{who}: {e}")))?;
        Ok(Some((stdin, best)))
    }
}
