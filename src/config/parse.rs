//! Reading the meta config JSON into [`MetaConfig`], field by field, so that
//! every problem names the field it is about.

use super::delegate::delegate_list;
use super::fields::{kind, no_nul, object, override_field, string, timeout_field};
use super::pipeline::pipeline_list;
use super::validate::{Problems, Rejection};
use super::*;
use crate::error::CniError;
use crate::protocol::check_id;

/// The config on stdin as JSON: code 6 when it is not.
pub fn parse_json(bytes: &[u8]) -> Result<Value, CniError> {
    serde_json::from_slice(bytes)
        .map_err(|e| CniError::decode(format!("config is not valid JSON: {e}")))
}

/// Parse and validate a meta config. JSON that does not decode is code 6, an
/// unsupported `cniVersion` code 1, anything else invalid code 7 with every
/// problem listed.
pub fn load(bytes: &[u8]) -> Result<MetaConfig, CniError> {
    load_value(&parse_json(bytes)?)
}

/// [`load`] of JSON already parsed (the plugin parses stdin once).
pub fn load_value(value: &Value) -> Result<MetaConfig, CniError> {
    let (mut config, p) = parse_all(value)?;
    config.warnings = p.into_result()?;
    Ok(config)
}

/// [`load`], keeping the problems apart (for `meta-cni validate`).
pub fn load_checked(bytes: &[u8]) -> Result<MetaConfig, Rejection> {
    let (mut config, p) = parse_all(&parse_json(bytes)?)?;
    config.warnings = p.into_result()?;
    Ok(config)
}

/// For DEL of a config that no longer loads: the settings needed to find
/// and replay the attachment's state record (name, stateDir, timeouts,
/// logging), with no pipelines. `None` when not even those can be had.
pub fn load_for_cleanup(value: &Value) -> Option<MetaConfig> {
    let (mut config, _) = parse_all(value).ok()?;
    if config.name.is_empty()
        || !crate::protocol::valid_container_id(&config.name)
        || !config.state_dir.is_absolute()
    {
        return None;
    }
    config.pipelines.clear();
    Some(config)
}

/// Read every field; problems are collected, not returned (except a config
/// that is not an object and an unsupported `cniVersion`). Fields are read
/// in a fixed order, which is the order their problems are listed in.
fn parse_all(value: &Value) -> Result<(MetaConfig, Problems), Rejection> {
    let Value::Object(top) = value else {
        return Err(CniError::decode("config must be a JSON object").into());
    };
    let mut p = Problems::default();
    let version = cni_version(top, &mut p)?;
    let name = identity(top, &mut p);
    let log = logging(top, &mut p);
    let metrics_file = metrics_file(top, &mut p);
    let timeout = timeout_field(top, "timeoutSeconds", "timeoutSeconds", &mut p);
    let state = state_fields(top, &mut p);
    let parallel_pipelines = flag(top, "parallelPipelines", false, &mut p);
    let runtime = runtime_fields(top, &mut p);
    let runtime_override = override_field(top, "runtimeOverride", "runtimeOverride", true, &mut p);
    let (pipelines, multi) = shape(top, version, &mut p);
    let config = MetaConfig {
        version,
        name,
        log_level: log.level,
        log_file: log.file,
        log_max_bytes: log.max_bytes,
        metrics_file,
        timeout,
        runtime_override,
        pipelines,
        multi,
        runtime_config: runtime.config,
        capabilities: runtime.capabilities,
        runtime_config_mode: runtime.mode,
        prev_result: runtime.prev_result,
        state_dir: state.dir,
        attachment_state: state.attachment_state,
        parallel_pipelines,
        valid_attachments: state.valid_attachments,
        broken: None,
        warnings: Vec::new(),
    };
    super::validate::check(&config, &mut p);
    Ok((config, p))
}

/// `cniVersion`: absent or empty is the default; an unsupported one is an
/// error of its own (code 1), returned at once.
fn cni_version(top: &Map<String, Value>, p: &mut Problems) -> Result<Version, CniError> {
    match top.get("cniVersion") {
        None => Ok(Version::DEFAULT),
        Some(Value::String(s)) if s.is_empty() => Ok(Version::DEFAULT),
        Some(Value::String(s)) => Version::parse(s).ok_or_else(|| {
            CniError::version(format!(
                "cniVersion {s:?} is not supported (supported: {})",
                Version::all_strings().join(", ")
            ))
        }),
        Some(other) => {
            p.push(
                "cniVersion",
                format!("must be a string, got {}", kind(other)),
            );
            Ok(Version::DEFAULT)
        }
    }
}

/// `name`, the network name (required), and `type`, only checked to be a
/// string: the runtime chose this binary by it.
fn identity(top: &Map<String, Value>, p: &mut Problems) -> String {
    let name = string(top, "name", "name", p).unwrap_or_default();
    if name.is_empty() && !p.mentions("name") {
        p.push("name", "is required");
    } else if !name.is_empty() {
        // The spec's network-name pattern; the name is also a directory name.
        if let Err(why) = check_id(&name) {
            p.push("name", why);
        }
    }
    let _ = string(top, "type", "type", p);
    name
}

/// `logLevel`, `logFile`, `logMaxSizeMB`.
struct Logging {
    level: LogLevel,
    file: Option<PathBuf>,
    max_bytes: u64,
}

fn logging(top: &Map<String, Value>, p: &mut Problems) -> Logging {
    let level = log_level(top, p);
    let file = string(top, "logFile", "logFile", p)
        .filter(|s| !s.is_empty() && no_nul(s, "logFile", p))
        .map(PathBuf::from);
    let max_bytes = log_max_bytes(top, p);
    Logging {
        level,
        file,
        max_bytes,
    }
}

/// `metricsFile`: an absolute path, without a NUL byte.
fn metrics_file(top: &Map<String, Value>, p: &mut Problems) -> Option<PathBuf> {
    let file = string(top, "metricsFile", "metricsFile", p)
        .filter(|s| !s.is_empty() && no_nul(s, "metricsFile", p))
        .map(PathBuf::from)?;
    if !file.is_absolute() {
        p.push("metricsFile", "must be an absolute path");
        return None;
    }
    Some(file)
}

/// `logLevel`: an unknown level is a warning, and info.
fn log_level(top: &Map<String, Value>, p: &mut Problems) -> LogLevel {
    match string(top, "logLevel", "logLevel", p).as_deref() {
        None | Some("") => LogLevel::Info,
        Some(s) => LogLevel::parse(s).unwrap_or_else(|| {
            p.warn(format!(
                "logLevel {s:?} is not one of error, warn, info, debug, trace; using info"
            ));
            LogLevel::Info
        }),
    }
}

/// `logMaxSizeMB`, in bytes.
fn log_max_bytes(top: &Map<String, Value>, p: &mut Problems) -> u64 {
    let Some(v) = top.get("logMaxSizeMB") else {
        return DEFAULT_LOG_MAX_BYTES;
    };
    match v.as_u64() {
        Some(mb) if (1..=4096).contains(&mb) => mb * 1024 * 1024,
        _ => {
            p.push("logMaxSizeMB", "must be an integer from 1 to 4096");
            DEFAULT_LOG_MAX_BYTES
        }
    }
}

/// `stateDir`, GC's valid attachments, `attachmentState`.
struct StateFields {
    dir: PathBuf,
    valid_attachments: Vec<(String, String)>,
    attachment_state: bool,
}

fn state_fields(top: &Map<String, Value>, p: &mut Problems) -> StateFields {
    let dir = string(top, "stateDir", "stateDir", p)
        .filter(|s| !s.is_empty() && no_nul(s, "stateDir", p))
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from);
    if !dir.is_absolute() {
        p.push("stateDir", "must be an absolute path");
    }
    let valid_attachments = attachments(top, p);
    let attachment_state = flag(top, "attachmentState", true, p);
    StateFields {
        dir,
        valid_attachments,
        attachment_state,
    }
}

/// GC's list of valid attachments, under either of libcni's names.
fn attachments(m: &Map<String, Value>, p: &mut Problems) -> Vec<(String, String)> {
    let Some((key, v)) = ["cni.dev/valid-attachments", "cni.dev/attachments"]
        .iter()
        .find_map(|k| m.get(*k).map(|v| (*k, v)))
    else {
        return Vec::new();
    };
    let Value::Array(list) = v else {
        p.push(key, format!("must be an array, got {}", kind(v)));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let path = format!("{key}[{i}]");
        let field = |f: &str| a.get(f).and_then(Value::as_str).map(str::to_string);
        match (field("containerID"), field("ifname")) {
            (Some(c), Some(n)) => out.push((c, n)),
            _ => p.push(
                &path,
                "must be an object with string containerID and ifname",
            ),
        }
    }
    out
}

/// An optional boolean field (`default` when absent or null); a wrong type is
/// a problem.
fn flag(top: &Map<String, Value>, key: &str, default: bool, p: &mut Problems) -> bool {
    match top.get(key) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            p.push(key, format!("must be true or false, got {}", kind(other)));
            default
        }
    }
}

/// What the runtime passes on: `runtimeConfigMode`, `runtimeConfig`,
/// `prevResult`, `capabilities`.
struct RuntimeFields {
    mode: RuntimeConfigMode,
    config: Map<String, Value>,
    prev_result: Option<Value>,
    capabilities: Map<String, Value>,
}

fn runtime_fields(top: &Map<String, Value>, p: &mut Problems) -> RuntimeFields {
    let mode = runtime_config_mode(top, p);
    let config = object(top, "runtimeConfig", "runtimeConfig", p)
        .cloned()
        .unwrap_or_default();
    let prev_result = object(top, "prevResult", "prevResult", p).map(|o| Value::Object(o.clone()));
    let capabilities = object(top, "capabilities", "capabilities", p)
        .cloned()
        .unwrap_or_default();
    RuntimeFields {
        mode,
        config,
        prev_result,
        capabilities,
    }
}

fn runtime_config_mode(top: &Map<String, Value>, p: &mut Problems) -> RuntimeConfigMode {
    match string(top, "runtimeConfigMode", "runtimeConfigMode", p).as_deref() {
        None | Some("") | Some("capabilities") => RuntimeConfigMode::Capabilities,
        Some("all") => RuntimeConfigMode::All,
        Some(other) => {
            p.push(
                "runtimeConfigMode",
                format!("{other:?} is not \"capabilities\" or \"all\""),
            );
            RuntimeConfigMode::Capabilities
        }
    }
}

/// The pipelines of either shape (exactly one must be given), and whether
/// it is the `pipelines` shape.
fn shape(
    top: &Map<String, Value>,
    version: Version,
    p: &mut Problems,
) -> (Vec<PipelineSpec>, bool) {
    let pipelines = top.get("pipelines");
    let specs = match (top.get("delegates"), pipelines) {
        (Some(_), Some(_)) => {
            p.push(
                "delegates",
                "cannot be combined with pipelines (use one shape or the other)",
            );
            Vec::new()
        }
        (None, None) => {
            p.push("delegates", "a config needs either delegates or pipelines");
            Vec::new()
        }
        (Some(d), None) => vec![seed_pipeline(top, d, version, p)],
        (None, Some(pl)) => {
            if top.contains_key("resultMode") {
                p.warn(
                    "resultMode is ignored with pipelines: results are chained inside a pipeline and merged across pipelines",
                );
            }
            pipeline_list(pl, version, p)
        }
    };
    (specs, pipelines.is_some())
}

/// The `delegates` shape's one pipeline, on the runtime's `CNI_IFNAME`.
fn seed_pipeline(
    top: &Map<String, Value>,
    delegates: &Value,
    version: Version,
    p: &mut Problems,
) -> PipelineSpec {
    let mode = result_mode(top, p);
    let delegates = delegate_list(delegates, "delegates", version, false, p);
    PipelineSpec {
        name: String::new(),
        target: Target::Request,
        mode,
        runtime_override: Override::default(),
        delegates,
    }
}

/// `resultMode`: trimmed and case-insensitive, as the Go plugin reads it.
fn result_mode(top: &Map<String, Value>, p: &mut Problems) -> ResultMode {
    let raw = string(top, "resultMode", "resultMode", p).map(|m| m.trim().to_ascii_lowercase());
    match raw.as_deref() {
        None | Some("") => ResultMode::None,
        Some(m) => m.parse().unwrap_or_else(|why: String| {
            p.push("resultMode", why);
            ResultMode::None
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn timeout(raw: &str) -> Result<Option<Duration>, CniError> {
        let text = format!(
            r#"{{"name": "n", "timeoutSeconds": {raw}, "delegates": [{{"name": "a", "type": "a"}}]}}"#
        );
        load(text.as_bytes()).map(|c| c.timeout)
    }

    #[test]
    fn timeout_seconds_edge_values() {
        assert_eq!(timeout("10").unwrap(), Some(Duration::from_secs(10)));
        // -0 is 0 (upstream's Go int reads it so): no timeout.
        for none in ["0", "-0", "-1", "-9223372036854775808", "null"] {
            assert_eq!(timeout(none).unwrap(), None, "{none}");
        }
        // The largest accepted value is a (practically unlimited) deadline.
        assert_eq!(
            timeout("9223372036854775807").unwrap(),
            Some(Duration::from_secs(i64::MAX.unsigned_abs()))
        );
        for (raw, want) in [
            ("9223372036854775808", "out of range"),
            ("99999999999999999999999", "out of range"),
            ("1e30", "out of range"),
            ("-1e30", "out of range"),
            ("1.5", "whole number"),
            ("1e3", "whole number"),
            ("\"10\"", "whole number"),
            ("true", "whole number"),
        ] {
            let e = timeout(raw).unwrap_err();
            assert_eq!(e.code, 7, "{raw}");
            assert!(
                e.msg.contains("timeoutSeconds") && e.msg.contains(want),
                "{raw}: {}",
                e.msg
            );
        }
    }

    #[test]
    fn metrics_file_is_an_absolute_path_or_off() {
        let conf = |m: Value| {
            let mut c = serde_json::json!({"name": "n", "delegates": [{"name": "a", "type": "a"}]});
            if !m.is_null() {
                c["metricsFile"] = m;
            }
            load_value(&c)
        };
        assert_eq!(conf(Value::Null).unwrap().metrics_file, None);
        assert_eq!(conf("".into()).unwrap().metrics_file, None);
        assert_eq!(
            conf("/var/lib/node-exporter/meta-cni.prom".into())
                .unwrap()
                .metrics_file,
            Some(PathBuf::from("/var/lib/node-exporter/meta-cni.prom"))
        );
        for (bad, says) in [
            (
                Value::from("m.prom"),
                "metricsFile: must be an absolute path",
            ),
            (Value::from(3), "metricsFile: must be a string"),
        ] {
            let e = conf(bad.clone()).unwrap_err();
            assert_eq!(e.code, 7, "{bad}");
            assert!(e.msg.contains(says), "{bad}: {}", e.msg);
        }
    }

    #[test]
    fn nul_bytes_in_values_that_become_paths_or_environment_are_code_7() {
        let base = || {
            serde_json::json!({"name": "n", "pipelines": [
                {"name": "p", "ifName": "eth0", "delegates": [{"name": "a", "type": "a"}]}]})
        };
        let cases: Vec<(&str, Value)> = vec![
            ("stateDir", serde_json::json!({"stateDir": "/tmp/x\u{0}y"})),
            ("logFile", serde_json::json!({"logFile": "/tmp/l\u{0}"})),
            (
                "metricsFile",
                serde_json::json!({"metricsFile": "/tmp/m\u{0}"}),
            ),
            (
                "runtimeOverride.netns",
                serde_json::json!({"runtimeOverride": {"netns": "/x\u{0}"}}),
            ),
            (
                "runtimeOverride.cniPath",
                serde_json::json!({"runtimeOverride": {"cniPath": "/opt\u{0}"}}),
            ),
            (
                "runtimeOverride.containerID",
                serde_json::json!({"runtimeOverride": {"containerID": "c\u{0}"}}),
            ),
            (
                "runtimeOverride.envs[0]",
                serde_json::json!({"runtimeOverride": {"envs": ["A=\u{0}"]}}),
            ),
            (
                "runtimeOverride.args[0]",
                serde_json::json!({"runtimeOverride": {"args": ["A='\u{0}'"]}}),
            ),
            (
                "runtimeOverride.ifName",
                serde_json::json!({"runtimeOverride": {"ifName": "e\u{0}"}}),
            ),
        ];
        for (field, extra) in cases {
            let mut c = base();
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            let e = load(c.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.code, 7, "{field}: {}", e.msg);
            assert!(e.msg.contains(field), "{field}: {}", e.msg);
        }
        let mut c = base();
        c["pipelines"][0]["ifName"] = "e\u{0}".into();
        let e = load(c.to_string().as_bytes()).unwrap_err();
        assert!(
            e.msg.contains("ifName") && e.msg.contains("NUL"),
            "{}",
            e.msg
        );
        let mut c = base();
        c["pipelines"][0]["delegates"][0]["type"] = "a\u{0}".into();
        let e = load(c.to_string().as_bytes()).unwrap_err();
        assert!(e.msg.contains("delegates[0].type"), "{}", e.msg);
        // Inside a delegate's conf a NUL is just JSON text: passed on.
        let mut c = base();
        c["pipelines"][0]["delegates"][0]["conf"] = serde_json::json!({"x": "\u{0}"});
        assert!(load(c.to_string().as_bytes()).is_ok());
    }
}
