//! One delegate call: environment, stdin with `prevResult` in the
//! delegate's version, the time limit, the in-flight journal, the log line,
//! the result, and version negotiation when the delegate answers
//! "incompatible CNI version".

use super::Engine;
use super::Scope;
use crate::error::{code, CniError};
use crate::invoke::{fmt_duration, this_boot, Call, ChildEnv, Failure, Output, ProcessId};
use crate::log::LogLevel;
use crate::plan::{with_prev_result, Delegate, Pipeline};
use crate::protocol::Command;
use crate::result::CniResult;
use crate::state::InFlight;
use crate::version::{supported_versions, Version};
use serde_json::Value;
use std::time::Instant;

/// What a successful call produced.
#[derive(Debug, Default)]
pub(super) struct Called {
    /// The parsed result (ADD only; `None` when the delegate printed nothing).
    pub(super) result: Option<CniResult>,
    /// Set when version negotiation changed the config: the stdin (without
    /// `prevResult`) and version that worked.
    pub(super) renegotiated: Option<(Vec<u8>, Version)>,
}

/// The config one call sends: the delegate's bytes (without `prevResult`),
/// the version they are in, and the `prevResult` to splice in.
#[derive(Clone, Copy)]
pub(super) struct Sent<'s> {
    pub(super) stdin: &'s [u8],
    pub(super) version: Version,
    pub(super) prev: Option<&'s CniResult>,
}

impl Engine<'_> {
    /// Run `command` on delegate `d` of pipeline `p`.
    pub(super) fn call(
        &self,
        scope: Scope<'_>,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        prev: Option<&CniResult>,
    ) -> Result<Called, CniError> {
        let sent = Sent {
            stdin: &d.stdin,
            version: d.version,
            prev,
        };
        let who = p.label(d).to_string();
        let out = match self.exec(scope, p, d, command, sent) {
            Ok(out) => out,
            Err(f @ Failure::Reported { code: 1, .. }) if command != Command::Version => {
                let original = f.into_error(&who);
                let Some((stdin, version)) = self.negotiate(scope, p, d, &original)? else {
                    return Err(original);
                };
                self.log.warn(
                    &p.label(d).scope(),
                    format_args!(
                        "{} does not take cniVersion {}; retrying {command} with {version}",
                        d.plugin, d.version
                    ),
                );
                let sent = Sent {
                    stdin: &stdin,
                    version,
                    prev,
                };
                let out = self
                    .exec(scope, p, d, command, sent)
                    .map_err(|f| f.into_error(&who))?;
                return Ok(Called {
                    result: self.parse_result(&who, command, &out, version)?,
                    renegotiated: Some((stdin, version)),
                });
            }
            Err(f) => return Err(f.into_error(&who)),
        };
        Ok(Called {
            result: self.parse_result(&who, command, &out, d.version)?,
            renegotiated: None,
        })
    }

    fn parse_result(
        &self,
        who: &str,
        command: Command,
        out: &Output,
        v: Version,
    ) -> Result<Option<CniResult>, CniError> {
        if command != Command::Add || out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        CniResult::parse_slice(&out.stdout, v)
            .map(Some)
            .map_err(|e| CniError::decode(format!("{who}: result does not parse: {e}")))
    }

    /// Spawn the delegate once, logging the outcome.
    pub(super) fn exec(
        &self,
        scope: Scope<'_>,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        sent: Sent<'_>,
    ) -> Result<Output, Failure> {
        let log_scope = || p.label(d).scope();
        if scope.deadline.expired() {
            self.log.error(
                &log_scope(),
                format_args!("{command} {} not run: time is up", d.plugin),
            );
            return Err(Failure::Reported {
                code: code::DELEGATE_TIMEOUT,
                msg: "not run: the operation's timeoutSeconds was used up".into(),
                details: String::new(),
            });
        }
        let stdin = match command {
            Command::Version => format!("{{\"cniVersion\":\"{}\"}}", sent.version).into_bytes(),
            _ => {
                let prev = sent.prev.map(|r| {
                    self.note_losses(&log_scope(), r, sent.version, &d.plugin);
                    r.to_json(sent.version)
                });
                with_prev_result(sent.stdin, prev.as_ref())
            }
        };
        if self.log.enabled(LogLevel::Debug) && command != Command::Version {
            let shown = serde_json::from_slice(&stdin)
                .map(|v| crate::log::redact(&v).to_string())
                .unwrap_or_default();
            self.log.debug(
                &log_scope(),
                format_args!("{command} {} config: {shown}", d.plugin),
            );
        }
        let call = Call {
            plugin: &d.plugin,
            cni_path: d.cni_path(),
            env: d.env.environment(
                self.inherited
                    .get_or_init(|| ChildEnv::inherited(&self.env.vars)),
                command.as_str(),
            ),
            stdin: &stdin,
            limit: scope.deadline.limit(d.timeout),
        };
        let started = Instant::now();
        let outcome = self.invoker.start(&call).and_then(|running| {
            if let (Some(id), Some(lock)) = (running.process(), scope.lock) {
                self.note_in_flight(lock, p, d, command, id);
            }
            running.wait()
        });
        self.log_outcome(&log_scope(), command, d, started, &outcome);
        let who = || p.label(d).to_string();
        let took = started.elapsed();
        self.metrics
            .delegate_call(command.as_str(), &d.plugin, who, took, &outcome);
        outcome
    }

    /// Say what `r` loses when given to `to` in `version` (fields or
    /// addresses an older version has no room for), if anything.
    pub(crate) fn note_losses(&self, scope: &str, r: &CniResult, version: Version, to: &str) {
        if version >= Version::V1_1_0 || !self.log.enabled(LogLevel::Info) {
            return;
        }
        let lost = r.conversion_losses(version);
        if !lost.is_empty() {
            self.log.info(
                scope,
                format_args!(
                    "the result given to {to} in {version} leaves out: {}",
                    lost.join("; ")
                ),
            );
        }
    }

    fn log_outcome(
        &self,
        scope: &str,
        command: Command,
        d: &Delegate,
        started: Instant,
        outcome: &Result<Output, Failure>,
    ) {
        let level = if outcome.is_ok() {
            LogLevel::Info
        } else {
            LogLevel::Error
        };
        if !self.log.enabled(level) {
            return;
        }
        let took = fmt_duration(started.elapsed());
        match outcome {
            Ok(_) => self
                .log
                .info(scope, format_args!("{command} {} ok in {took}", d.plugin)),
            Err(f) => {
                let details = f.details();
                self.log.error(
                    scope,
                    format_args!(
                        "{command} {} failed in {took}: [{}] {f}{}{details}{}",
                        d.plugin,
                        f.code(),
                        if details.is_empty() { "" } else { " (" },
                        if details.is_empty() { "" } else { ")" },
                    ),
                )
            }
        }
    }

    /// Write the started delegate's process group into the in-flight
    /// journal of the held attachment lock, before it gets its config. A
    /// journal that cannot be written is logged and the call goes on: it
    /// only matters if this meta-cni is killed while the delegate runs.
    fn note_in_flight(
        &self,
        lock: &crate::state::Lock,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        id: ProcessId,
    ) {
        let entry = InFlight {
            pid: id.pid,
            boot_ms: id.boot_ms,
            command: command.as_str().to_string(),
            pipeline: p.slot,
            delegate: p.position(d),
            plugin: d.plugin.clone(),
            boot_id: this_boot(),
        };
        if let Err(e) = lock.note_in_flight(p.slot, &entry) {
            self.log.warn(
                &p.label(d).scope(),
                format_args!("cannot record the delegate in the in-flight journal: {e}"),
            );
        }
    }

    /// The plugin's `supportedVersions`, from its `VERSION` answer.
    pub(super) fn versions_of(
        &self,
        scope: Scope<'_>,
        p: &Pipeline,
        d: &Delegate,
        asked_in: Version,
    ) -> Result<Vec<String>, Failure> {
        let sent = Sent {
            stdin: &[],
            version: asked_in,
            prev: None,
        };
        let out = self.exec(scope, p, d, Command::Version, sent)?;
        Ok(supported_versions(&out.stdout).unwrap_or_default())
    }

    /// After a code-1 answer: ask the delegate's `VERSION` and pick the
    /// highest version both sides speak. `Ok(None)` when the delegate already
    /// claims to speak the configured version (the error stands as it is).
    fn negotiate(
        &self,
        scope: Scope<'_>,
        p: &Pipeline,
        d: &Delegate,
        original: &CniError,
    ) -> Result<Option<(Vec<u8>, Version)>, CniError> {
        let who = p.label(d);
        let theirs = self.versions_of(scope, p, d, d.version).map_err(|f| {
            f.into_error(&format!(
                "{who} (asking its VERSION after: {})",
                original.msg
            ))
        })?;
        if theirs.iter().any(|v| v == d.version.as_str()) {
            return Ok(None);
        }
        let Some(best) = theirs
            .iter()
            .filter_map(|s| s.parse::<Version>().ok())
            .max()
        else {
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
