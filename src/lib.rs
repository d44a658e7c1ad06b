//! meta-cni: a CNI meta-plugin that runs delegate plugins in pipelines.
//!
//! Module map:
//! * [`protocol`]: the CNI exec protocol (environment table, commands).
//! * [`config`]: the meta config (both shapes), defaults and validation.
//! * [`overrides`]: `runtimeOverride` expressions for `CNI_ARGS` and env vars.
//! * [`template`]: the Go-template subset rendered into delegate configs.
//! * [`invoke`]: finding and running one delegate with a deadline.
//! * [`result`]: typed CNI results, version conversion and merge.
//! * [`engine`]: ADD / DEL / CHECK over resolved pipelines.
//! * [`state`]: attachment state files (what ADD ran, for DEL/CHECK/GC).
//! * [`log`]: the stderr / file logger.
//! * [`plugin`]: one invocation end to end: stdin, env, dispatch, stdout.
//! * [`cli`]: `--version`, `--help` and `validate`, for people.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod invoke;
pub mod log;
pub mod overrides;
pub mod plugin;
pub mod protocol;
pub mod result;
pub mod state;
pub mod template;
pub mod version;

pub use error::{CniError, Result};

/// Process entry point used by `main.rs`.
pub fn main_entry() -> std::process::ExitCode {
    // Runtimes run plugins without arguments; any argument means a person.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if !args.is_empty() {
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
