//! One delegate call: environment, stdin with `prevResult` in the
//! delegate's version, the time limit, the log line, and the result.

use super::resolve::{with_prev_result, Delegate, Pipeline};
use super::{Deadline, Engine};
use crate::error::{code, CniError};
use crate::invoke::{fmt_duration, Call};
use crate::protocol::Command;
use crate::result::CniResult;
use std::time::Instant;

impl Engine<'_> {
    /// Run `command` on delegate `d` of pipeline `p`. For ADD, the parsed
    /// result (`None` when the delegate printed nothing).
    pub(super) fn call(
        &self,
        p: &Pipeline,
        d: &Delegate,
        command: Command,
        prev: Option<&CniResult>,
        deadline: Deadline,
    ) -> Result<Option<CniResult>, CniError> {
        let scope = p.scope(d);
        let who = p.who(d);
        if deadline.expired() {
            let e = CniError::new(
                code::DELEGATE_TIMEOUT,
                format!("{who}: not run, the operation's timeoutSeconds was used up"),
            );
            self.log.error(&scope, format_args!("{command}: {}", e.msg));
            return Err(e);
        }
        let prev_json = prev.map(|r| r.to_json(d.version));
        let stdin = with_prev_result(&d.stdin, prev_json.as_ref());
        if self.log.enabled(crate::config::LogLevel::Debug) {
            let shown = serde_json::from_slice(&stdin)
                .map(|v| crate::log::redact(&v).to_string())
                .unwrap_or_default();
            self.log.debug(
                &scope,
                format_args!("{command} {} config: {shown}", d.plugin),
            );
        }
        let call = Call {
            plugin: &d.plugin,
            cni_path: d.env.get("CNI_PATH").unwrap_or(""),
            env: d.env.environment(&self.env.vars, command.as_str()),
            stdin: &stdin,
            limit: deadline.limit(d.timeout),
        };
        let started = Instant::now();
        let outcome = self.invoker.invoke(&call);
        let took = fmt_duration(started.elapsed());
        match outcome {
            Ok(out) => {
                self.log
                    .info(&scope, format_args!("{command} {} ok in {took}", d.plugin));
                if command != Command::Add || out.stdout.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                CniResult::parse_slice(&out.stdout, d.version)
                    .map(Some)
                    .map_err(|e| CniError::decode(format!("{who}: result does not parse: {e}")))
            }
            Err(f) => {
                let e = f.into_error(&who);
                self.log.error(
                    &scope,
                    format_args!("{command} {} failed in {took}: {e}", d.plugin),
                );
                Err(e)
            }
        }
    }
}
