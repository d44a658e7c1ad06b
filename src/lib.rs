//! meta-cni: a CNI meta-plugin that runs delegate plugins in pipelines.
//!
//! Module map:
//! * [`protocol`]: the CNI exec protocol (environment table, commands, replies).
//! * [`config`]: the meta config (both shapes), defaults and validation.
//! * [`overrides`]: `runtimeOverride` expressions for `CNI_ARGS` and env vars.
//! * [`invoke`]: finding and running one delegate with a deadline.
//! * [`result`]: typed CNI results, version conversion and merge.
//! * [`template`]: Go-template subset rendered into delegate conf strings.
//! * [`engine`]: ADD / DEL / CHECK / STATUS / GC over resolved pipelines.
//! * [`log`]: the stderr / file logger.

pub mod error;
pub mod result;
pub mod template;
pub mod version;

pub use error::{CniError, Result};

/// Process entry point used by `main.rs`.
pub fn main_entry() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
