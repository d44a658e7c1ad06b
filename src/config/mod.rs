//! The meta config: both shapes (seed `delegates` and multi-NIC `pipelines`),
//! defaults, and validation that reports every problem it finds.
//!
//! Both shapes normalise to a list of [`PipelineSpec`]s: the seed shape is one
//! pipeline on the runtime's `CNI_IFNAME` whose result mode is `resultMode`.

mod delegate;
mod fields;
mod parse;
mod pipeline;
mod validate;

use crate::log::LogLevel;
use crate::overrides::Manip;
use crate::version::Version;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use parse::{load, load_checked, load_for_cleanup, load_value, parse_json};

/// Default directory of attachment state files.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cni/meta-cni";
/// Default cap of the log file before it is rotated to `.1`.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// How results travel along one pipeline (`resultMode`). Written as
/// `none`, `chained`, `merged` in configs and attachment records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultMode {
    /// No `prevResult` to delegates; output is the last non-null result.
    None,
    /// Each delegate gets the previous delegate's result.
    Chained,
    /// Results are merged as they come; the merge is passed on and returned.
    Merged,
}

impl ResultMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultMode::None => "none",
            ResultMode::Chained => "chained",
            ResultMode::Merged => "merged",
        }
    }
}

impl fmt::Display for ResultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResultMode {
    type Err = String;

    fn from_str(s: &str) -> Result<ResultMode, String> {
        match s {
            "none" => Ok(ResultMode::None),
            "chained" => Ok(ResultMode::Chained),
            "merged" => Ok(ResultMode::Merged),
            other => Err(format!("{other:?} is not one of none, chained, merged")),
        }
    }
}

/// Which `runtimeConfig` keys each delegate receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeConfigMode {
    /// Like libcni for a conflist: only the keys the delegate's
    /// `capabilities` declare true.
    Capabilities,
    /// Upstream's behaviour: the whole runtimeConfig to every delegate.
    All,
}

/// One `runtimeOverride` object, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    pub container_id: Option<String>,
    pub netns: Option<String>,
    pub ifname: Option<String>,
    pub cni_path: Option<String>,
    pub args: Vec<Manip>,
    pub envs: Vec<Manip>,
}

/// Which interface a pipeline works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Seed shape: whatever `CNI_IFNAME` the runtime asked for.
    Request,
    /// `ifName`: a static pipeline.
    Static(String),
    /// `ifNamePrefix`: a template pipeline, one instance per GRES annotation.
    Template(String),
}

/// One delegate entry, with its config filled in (`type`, `name`,
/// `cniVersion`) and any `prevResult` removed.
#[derive(Debug, Clone)]
pub struct DelegateSpec {
    pub name: String,
    pub plugin: String,
    pub version: Version,
    pub conf: Map<String, Value>,
    /// Whether any string in `conf` holds `{{` (rendering needed).
    pub templated: bool,
    pub runtime_override: Override,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// Pipeline name; empty for the seed shape's implicit pipeline.
    pub name: String,
    pub target: Target,
    pub mode: ResultMode,
    pub runtime_override: Override,
    pub delegates: Vec<DelegateSpec>,
}

/// The whole meta config.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    pub version: Version,
    pub name: String,
    pub log_level: LogLevel,
    pub log_file: Option<PathBuf>,
    pub log_max_bytes: u64,
    /// Where the Prometheus metrics are kept (`metricsFile`), if anywhere.
    pub metrics_file: Option<PathBuf>,
    /// One deadline for the whole operation.
    pub timeout: Option<Duration>,
    pub runtime_override: Override,
    pub pipelines: Vec<PipelineSpec>,
    /// True for the `pipelines` shape.
    pub multi: bool,
    pub runtime_config: Map<String, Value>,
    /// The top-level `capabilities` the runtime was told about.
    pub capabilities: Map<String, Value>,
    pub runtime_config_mode: RuntimeConfigMode,
    pub prev_result: Option<Value>,
    pub state_dir: PathBuf,
    /// GC's `cni.dev/valid-attachments` (or the older `cni.dev/attachments`):
    /// (containerID, ifname) pairs.
    pub valid_attachments: Vec<(String, String)>,
    /// Whether attachment state files are kept (`attachmentState`, default true).
    pub attachment_state: bool,
    /// Whether an ADD or DEL runs all pipelines at once
    /// (`parallelPipelines`, default false).
    pub parallel_pipelines: bool,
    /// Set (on DEL only) when the config does not load: why. Such a config
    /// has no pipelines; only a state record can drive the DEL.
    pub broken: Option<crate::error::CniError>,
    /// Problems that did not stop loading (unknown log level, ignored keys).
    pub warnings: Vec<String>,
}

impl MetaConfig {
    /// Pod annotations the runtime passed (`io.kubernetes.cri.pod-annotations`).
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        self.runtime_config
            .get("io.kubernetes.cri.pod-annotations")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            })
    }
}

/// Whether `ifname` is an instance name a template `prefix` can produce:
/// `prefix` followed by a canonical non-negative decimal.
pub fn prefix_produces(prefix: &str, ifname: &str) -> bool {
    match ifname.strip_prefix(prefix) {
        Some(rest) => is_canonical_index(rest),
        None => false,
    }
}

/// `0`, or digits not starting with `0`.
pub fn is_canonical_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}
