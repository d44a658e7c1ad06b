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
    let env = protocol::Env::from_process();
    let code = plugin::run(
        &env,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &invoke::ProcessInvoker,
    );
    std::process::ExitCode::from(code)
}
