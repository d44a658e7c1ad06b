//! meta-cni: a CNI meta-plugin that runs delegate plugins in pipelines.
//!
//! The product is the `meta-cni` binary; `main.rs` calls [`main_entry`].
//! Modules, lowest layer first (a module uses only modules above it in
//! this list; `tests/layers.rs` checks it):
//!
//! * `error`, `version`: the CNI error object and its codes; CNI versions.
//! * `protocol`: the CNI exec protocol (environment table, commands).
//! * `trust`: which directories and files meta-cni, running as root, may
//!   use: checked ownership and modes, opened without following symlinks
//!   (`docs/security.md`).
//! * `log`, `invoke`, `result`, `template`, `overrides`: services: the
//!   logger; running one delegate; typed results; the Go-template subset;
//!   `runtimeOverride` expressions.
//! * `config`: the meta config (both shapes), validation listing every
//!   problem.
//! * `metrics`: what one invocation did (operations, delegate calls,
//!   rollbacks, durations), added to the Prometheus text file `metricsFile`
//!   names; the engine reports into it.
//! * `plan`: the concrete pipelines of one request (template expansion,
//!   rendering, each delegate's environment and stdin bytes).
//! * `state`: attachment records and the in-flight journal.
//! * `engine`: ADD, DEL, CHECK, STATUS, GC over planned pipelines.
//! * `plugin`, `cli`, `admin`: one invocation end to end; the commands for
//!   people; the operators' commands over attachment records
//!   (`attachments`, `release`, `gc`).
//!
//! # Library surface
//!
//! Public only for the fuzz targets (`fuzz/`, sharing `tests/fuzz/checks.rs`)
//! and the tests, which drive components without a process: [`config`]
//! (loading), [`overrides`], [`template`], [`result`], [`version`],
//! [`protocol`] (the injected environment), [`invoke`] (the seam a fake
//! delegate plugs into), [`plugin`] (one whole invocation in process).
//! Everything else is internal.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod admin;
mod cli;
pub mod config;
mod engine;
mod error;
pub mod invoke;
mod log;
mod metrics;
pub mod overrides;
mod plan;
pub mod plugin;
pub mod protocol;
pub mod result;
mod state;
pub mod template;
mod trust;
pub mod version;

pub use error::{code, CniError, Result};

/// Process entry point used by `main.rs`.
pub fn main_entry() -> std::process::ExitCode {
    // Runtimes run plugins without arguments; any argument means a person.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if !args.is_empty() {
        let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
        if let Some(code) = admin::run(&args, &mut stdout, &mut stderr) {
            return std::process::ExitCode::from(code);
        }
        let mut out = String::new();
        let code = cli::run(&args, &mut out);
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.as_bytes());
        return std::process::ExitCode::from(code);
    }
    let env = protocol::Env::from_process();
    let code = plugin::run(
        &env,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &invoke::ProcessInvoker,
    );
    std::process::ExitCode::from(code)
}
