//! Reading the meta config JSON into [`MetaConfig`], field by field, so that
//! every problem names the field it is about.

use super::validate::{Problems, Rejection};
use super::*;
use crate::error::CniError;
use crate::protocol::{check_id, check_ifname};

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
/// that is not an object and an unsupported `cniVersion`).
fn parse_all(value: &Value) -> Result<(MetaConfig, Problems), Rejection> {
    let Value::Object(top) = value else {
        return Err(CniError::decode("config must be a JSON object").into());
    };
    let mut p = Problems::default();

    let version = match top.get("cniVersion") {
        None => Version::DEFAULT,
        Some(Value::String(s)) if s.is_empty() => Version::DEFAULT,
        Some(Value::String(s)) => Version::parse(s).ok_or_else(|| {
            CniError::version(format!(
                "cniVersion {s:?} is not supported (supported: {})",
                Version::all_strings().join(", ")
            ))
        })?,
        Some(other) => {
            p.push(
                "cniVersion",
                format!("must be a string, got {}", kind(other)),
            );
            Version::DEFAULT
        }
    };

    let name = string(top, "name", "name", &mut p).unwrap_or_default();
    if name.is_empty() && !p.mentions("name") {
        p.push("name", "is required");
    } else if !name.is_empty() {
        // The spec's network-name pattern; the name is also a directory name.
        if let Err(why) = check_id(&name) {
            p.push("name", why);
        }
    }
    // Checked to be a string; the runtime chose this binary by it.
    let _ = string(top, "type", "type", &mut p);

    let log_level = match string(top, "logLevel", "logLevel", &mut p).as_deref() {
        None | Some("") => LogLevel::Info,
        Some(s) => LogLevel::parse(s).unwrap_or_else(|| {
            p.warn(format!(
                "logLevel {s:?} is not one of error, warn, info, debug, trace; using info"
            ));
            LogLevel::Info
        }),
    };
    let log_file = string(top, "logFile", "logFile", &mut p)
        .filter(|s| !s.is_empty() && no_nul(s, "logFile", &mut p))
        .map(PathBuf::from);
    let log_max_bytes = match top.get("logMaxSizeMB") {
        None => DEFAULT_LOG_MAX_BYTES,
        Some(v) => match v.as_u64() {
            Some(mb) if (1..=4096).contains(&mb) => mb * 1024 * 1024,
            _ => {
                p.push("logMaxSizeMB", "must be an integer from 1 to 4096");
                DEFAULT_LOG_MAX_BYTES
            }
        },
    };
    let timeout = timeout_field(top, "timeoutSeconds", "timeoutSeconds", &mut p);
    let state_dir = string(top, "stateDir", "stateDir", &mut p)
        .filter(|s| !s.is_empty() && no_nul(s, "stateDir", &mut p))
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from);
    if !state_dir.is_absolute() {
        p.push("stateDir", "must be an absolute path");
    }
    let valid_attachments = attachments(top, &mut p);
    let attachment_state = match top.get("attachmentState") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            p.push(
                "attachmentState",
                format!("must be true or false, got {}", kind(other)),
            );
            true
        }
    };
    let parallel_pipelines = match top.get("parallelPipelines") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            p.push(
                "parallelPipelines",
                format!("must be true or false, got {}", kind(other)),
            );
            false
        }
    };
    let runtime_config_mode =
        match string(top, "runtimeConfigMode", "runtimeConfigMode", &mut p).as_deref() {
            None | Some("") | Some("capabilities") => RuntimeConfigMode::Capabilities,
            Some("all") => RuntimeConfigMode::All,
            Some(other) => {
                p.push(
                    "runtimeConfigMode",
                    format!("{other:?} is not \"capabilities\" or \"all\""),
                );
                RuntimeConfigMode::Capabilities
            }
        };

    let runtime_config = match top.get("runtimeConfig") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            p.push(
                "runtimeConfig",
                format!("must be an object, got {}", kind(other)),
            );
            Map::new()
        }
    };
    let prev_result = match top.get("prevResult") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(other) => {
            p.push(
                "prevResult",
                format!("must be an object, got {}", kind(other)),
            );
            None
        }
    };
    let capabilities = match top.get("capabilities") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(c) => {
            p.push(
                "capabilities",
                format!("must be an object, got {}", kind(c)),
            );
            Map::new()
        }
    };

    let runtime_override = override_field(top, "runtimeOverride", "runtimeOverride", true, &mut p);

    let delegates = top.get("delegates");
    let pipelines = top.get("pipelines");
    let multi = pipelines.is_some();
    let mut specs = Vec::new();
    match (delegates, pipelines) {
        (Some(_), Some(_)) => p.push(
            "delegates",
            "cannot be combined with pipelines (use one shape or the other)",
        ),
        (None, None) => p.push("delegates", "a config needs either delegates or pipelines"),
        (Some(d), None) => {
            // Trimmed and case-insensitive, as the Go plugin reads it.
            let raw = string(top, "resultMode", "resultMode", &mut p)
                .map(|m| m.trim().to_ascii_lowercase());
            let mode = match raw.as_deref() {
                None | Some("") => ResultMode::None,
                Some(m) => m.parse().unwrap_or_else(|why: String| {
                    p.push("resultMode", why);
                    ResultMode::None
                }),
            };
            let delegates = delegate_list(d, "delegates", version, false, &mut p);
            specs.push(PipelineSpec {
                name: String::new(),
                target: Target::Request,
                mode,
                runtime_override: Override::default(),
                delegates,
            });
        }
        (None, Some(pl)) => {
            if top.contains_key("resultMode") {
                p.warn(
                    "resultMode is ignored with pipelines: results are chained inside a pipeline and merged across pipelines",
                );
            }
            specs = pipeline_list(pl, version, &mut p);
        }
    }

    let config = MetaConfig {
        version,
        name,
        log_level,
        log_file,
        log_max_bytes,
        timeout,
        runtime_override,
        pipelines: specs,
        multi,
        runtime_config,
        capabilities,
        runtime_config_mode,
        prev_result,
        state_dir,
        attachment_state,
        parallel_pipelines,
        valid_attachments,
        broken: None,
        warnings: Vec::new(),
    };
    super::validate::check(&config, &mut p);
    Ok((config, p))
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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

/// An optional string field; a wrong type is a problem.
fn string(m: &Map<String, Value>, key: &str, path: &str, p: &mut Problems) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            p.push(path, format!("must be a string, got {}", kind(other)));
            None
        }
    }
}

/// False (and a problem) when `s` holds a NUL byte: the value becomes a path
/// or an environment variable, both C strings.
fn no_nul(s: &str, path: &str, p: &mut Problems) -> bool {
    if s.contains('\0') {
        p.push(path, "cannot contain a NUL byte");
        return false;
    }
    true
}

/// `timeoutSeconds`: a whole number of seconds; 0 or negative means none.
/// `-0` (which serde_json reads as a float) is 0, as for upstream's Go
/// `int`; a whole number beyond 64 bits is "out of range", not "not whole".
fn timeout_field(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
    p: &mut Problems,
) -> Option<Duration> {
    let v = m.get(key)?;
    if v.is_null() {
        return None;
    }
    if let Some(n) = v.as_i64() {
        return (n > 0).then(|| Duration::from_secs(n.unsigned_abs()));
    }
    let float = v.as_f64().filter(|_| v.is_f64());
    if float == Some(0.0) {
        return None;
    }
    // Numbers are kept as written (serde_json's arbitrary_precision): a
    // whole number too big for 64 bits is still an integer token, and one
    // too big for a float (1e400) has no f64 at all.
    let integer_token = matches!(v, Value::Number(n) if !n.to_string().contains(['.', 'e', 'E']));
    let beyond_float = v.is_number() && v.as_f64().is_none();
    if integer_token || beyond_float || float.is_some_and(|f| f.fract() == 0.0 && f.abs() > 1e18) {
        p.push(path, "is out of range (at most 9223372036854775807)");
    } else {
        p.push(
            path,
            format!("must be a whole number of seconds, got {}", kind(v)),
        );
    }
    None
}

fn string_list(v: &Value, path: &str, p: &mut Problems) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Value::String(s) => Some(s.clone()),
                other => {
                    p.push(
                        &format!("{path}[{i}]"),
                        format!("must be a string, got {}", kind(other)),
                    );
                    None
                }
            })
            .collect(),
        other => {
            p.push(
                path,
                format!("must be an array of strings, got {}", kind(other)),
            );
            Vec::new()
        }
    }
}

fn manips(v: Option<&Value>, path: &str, for_args: bool, p: &mut Problems) -> Vec<Manip> {
    let Some(v) = v else { return Vec::new() };
    let mut out = Vec::new();
    for (i, s) in string_list(v, path, p).iter().enumerate() {
        match Manip::parse(s, for_args) {
            Ok(m) => out.push(m),
            Err(e) => p.push(&format!("{path}[{i}]"), e.to_string()),
        }
    }
    out
}

/// A `runtimeOverride` object. `allow_ifname` is false below the top level
/// of the pipelines shape.
fn override_field(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
    allow_ifname: bool,
    p: &mut Problems,
) -> Override {
    let o = match m.get(key) {
        None | Some(Value::Null) => return Override::default(),
        Some(Value::Object(o)) => o,
        Some(other) => {
            p.push(path, format!("must be an object, got {}", kind(other)));
            return Override::default();
        }
    };
    let mut field = |k: &str| {
        let path = format!("{path}.{k}");
        string(o, k, &path, p).filter(|s| !s.is_empty() && no_nul(s, &path, p))
    };
    let ov = Override {
        container_id: field("containerID"),
        netns: field("netns"),
        ifname: field("ifName"),
        cni_path: field("cniPath"),
        args: manips(o.get("args"), &format!("{path}.args"), true, p),
        envs: manips(o.get("envs"), &format!("{path}.envs"), false, p),
    };
    if let Some(ifn) = &ov.ifname {
        if !allow_ifname {
            p.push(
                &format!("{path}.ifName"),
                "is not allowed here: a pipeline's interface comes from its ifName/ifNamePrefix",
            );
        } else if let Err(why) = check_ifname(ifn) {
            p.push(&format!("{path}.ifName"), format!("{ifn:?} {why}"));
        }
    }
    if let Some(cid) = &ov.container_id {
        if let Err(why) = check_id(cid) {
            p.push(&format!("{path}.containerID"), why);
        }
    }
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "containerID" | "netns" | "ifName" | "cniPath" | "args" | "envs"
        ) {
            p.warn(format!(
                "{path}.{k} is not a runtimeOverride field (containerID, netns, ifName, cniPath, args, envs); ignored"
            ));
        }
    }
    ov
}

fn delegate_list(
    v: &Value,
    path: &str,
    parent_version: Version,
    in_pipeline: bool,
    p: &mut Problems,
) -> Vec<DelegateSpec> {
    let Value::Array(list) = v else {
        p.push(path, format!("must be an array, got {}", kind(v)));
        return Vec::new();
    };
    if list.is_empty() {
        p.push(path, "needs at least one delegate");
    }
    list.iter()
        .enumerate()
        .filter_map(|(i, d)| delegate(d, &format!("{path}[{i}]"), parent_version, in_pipeline, p))
        .collect()
}

fn delegate(
    v: &Value,
    path: &str,
    parent_version: Version,
    in_pipeline: bool,
    p: &mut Problems,
) -> Option<DelegateSpec> {
    let Value::Object(d) = v else {
        p.push(path, format!("must be an object, got {}", kind(v)));
        return None;
    };
    let entry_name = string(d, "name", &format!("{path}.name"), p).filter(|s| !s.is_empty());
    let entry_type = string(d, "type", &format!("{path}.type"), p).filter(|s| !s.is_empty());
    let mut conf = match d.get("conf") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(c.clone()),
        Some(other) => {
            p.push(
                &format!("{path}.conf"),
                format!("must be an object, got {}", kind(other)),
            );
            return None;
        }
    };
    let runtime_override = override_field(
        d,
        "runtimeOverride",
        &format!("{path}.runtimeOverride"),
        !in_pipeline,
        p,
    );
    let timeout = timeout_field(d, "timeoutSeconds", &format!("{path}.timeoutSeconds"), p);
    for k in d.keys() {
        if !matches!(
            k.as_str(),
            "name" | "type" | "conf" | "runtimeOverride" | "timeoutSeconds"
        ) {
            p.warn(format!(
                "{path}.{k} is not a delegate field (name, type, conf, runtimeOverride, timeoutSeconds); ignored (plugin settings go inside conf)"
            ));
        }
    }

    let conf_str = |c: &Option<Map<String, Value>>, key: &str, p: &mut Problems| {
        c.as_ref()
            .and_then(|c| string(c, key, &format!("{path}.conf.{key}"), p))
            .filter(|s| !s.is_empty())
    };
    let conf_type = conf_str(&conf, "type", p);
    let conf_name = conf_str(&conf, "name", p);
    let conf_version = conf_str(&conf, "cniVersion", p);

    let plugin = conf_type.clone().or_else(|| entry_type.clone());
    let Some(plugin) = plugin else {
        p.push(
            &format!("{path}.type"),
            "is required (set type, or conf.type)",
        );
        return None;
    };
    if let (Some(a), Some(b)) = (&conf_type, &entry_type) {
        if a != b {
            p.warn(format!(
                "{path}.type {b:?} disagrees with conf.type {a:?}; using {a:?}"
            ));
        }
    }
    if plugin.contains(['/', '\0']) || plugin == "." || plugin == ".." {
        p.push(
            &format!("{path}.type"),
            format!("{plugin:?} must be a plugin name, not a path"),
        );
    }
    let Some(name) = entry_name.clone().or_else(|| conf_name.clone()) else {
        p.push(
            &format!("{path}.name"),
            "is required (set name, or conf.name)",
        );
        return None;
    };
    let version = match &conf_version {
        None => parent_version,
        Some(s) => match Version::parse(s) {
            Some(v) => v,
            None => {
                p.push_code(
                    crate::error::code::INCOMPATIBLE_VERSION,
                    &format!("{path}.conf.cniVersion"),
                    format!("{s:?} is not a supported CNI version"),
                );
                parent_version
            }
        },
    };

    let conf = {
        let mut c = conf.take().unwrap_or_default();
        c.remove("prevResult");
        if conf_type.is_none() {
            c.insert("type".into(), plugin.clone().into());
        }
        if conf_version.is_none() {
            c.insert("cniVersion".into(), version.as_str().into());
        }
        if conf_name.is_none() {
            c.insert("name".into(), name.clone().into());
        }
        c
    };
    let templated = conf.values().any(crate::template::has_templates);
    Some(DelegateSpec {
        name,
        plugin,
        version,
        conf,
        templated,
        runtime_override,
        timeout,
    })
}

fn pipeline_list(v: &Value, version: Version, p: &mut Problems) -> Vec<PipelineSpec> {
    let Value::Array(list) = v else {
        p.push("pipelines", format!("must be an array, got {}", kind(v)));
        return Vec::new();
    };
    if list.is_empty() {
        p.push("pipelines", "needs at least one pipeline");
    }
    let mut out = Vec::new();
    for (i, pv) in list.iter().enumerate() {
        let Value::Object(pm) = pv else {
            p.push(
                &format!("pipelines[{i}]"),
                format!("must be an object, got {}", kind(pv)),
            );
            continue;
        };
        let name = string(pm, "name", &format!("pipelines[{i}].name"), p).unwrap_or_default();
        let path = if name.is_empty() {
            p.push(&format!("pipelines[{i}].name"), "is required");
            format!("pipelines[{i}]")
        } else {
            format!("pipelines[{i}] ({name:?})")
        };
        let ifname = string(pm, "ifName", &format!("{path}.ifName"), p).filter(|s| !s.is_empty());
        let prefix = string(pm, "ifNamePrefix", &format!("{path}.ifNamePrefix"), p)
            .filter(|s| !s.is_empty());
        let target = match (ifname, prefix) {
            (Some(_), Some(_)) => {
                p.push(
                    &format!("{path}.ifName"),
                    "and ifNamePrefix are mutually exclusive: set exactly one",
                );
                None
            }
            (None, None) => {
                p.push(
                    &format!("{path}.ifName"),
                    "or ifNamePrefix is required: set exactly one",
                );
                None
            }
            (Some(n), None) => {
                if let Err(why) = check_ifname(&n) {
                    p.push(&format!("{path}.ifName"), format!("{n:?} {why}"));
                }
                Some(Target::Static(n))
            }
            (None, Some(pre)) => {
                if let Err(why) = check_ifname(&format!("{pre}0")) {
                    p.push(
                        &format!("{path}.ifNamePrefix"),
                        format!("{pre:?}: instance names {why}"),
                    );
                }
                Some(Target::Template(pre))
            }
        };
        let runtime_override = override_field(
            pm,
            "runtimeOverride",
            &format!("{path}.runtimeOverride"),
            false,
            p,
        );
        let delegates = match pm.get("delegates") {
            None => {
                p.push(&format!("{path}.delegates"), "is required");
                Vec::new()
            }
            Some(d) => delegate_list(d, &format!("{path}.delegates"), version, true, p),
        };
        for k in pm.keys() {
            if !matches!(
                k.as_str(),
                "name" | "ifName" | "ifNamePrefix" | "runtimeOverride" | "delegates"
            ) {
                p.warn(format!(
                    "{path}.{k} is not a pipeline field (name, ifName, ifNamePrefix, runtimeOverride, delegates); ignored"
                ));
            }
        }
        if let Some(target) = target {
            out.push(PipelineSpec {
                name,
                target,
                mode: ResultMode::Chained,
                runtime_override,
                delegates,
            });
        }
    }
    out
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
    fn nul_bytes_in_values_that_become_paths_or_environment_are_code_7() {
        let base = || {
            serde_json::json!({"name": "n", "pipelines": [
                {"name": "p", "ifName": "eth0", "delegates": [{"name": "a", "type": "a"}]}]})
        };
        let cases: Vec<(&str, Value)> = vec![
            ("stateDir", serde_json::json!({"stateDir": "/tmp/x\u{0}y"})),
            ("logFile", serde_json::json!({"logFile": "/tmp/l\u{0}"})),
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
