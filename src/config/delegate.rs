//! Reading delegate entries into [`DelegateSpec`]s: the entry's own fields,
//! the identity inside its `conf`, and the `conf` filled in from both.

use super::fields::{kind, override_field, string, timeout_field, warn_unknown};
use super::validate::Problems;
use super::{DelegateSpec, Override};
use crate::version::Version;
use serde_json::{Map, Value};
use std::time::Duration;

/// The fields a delegate entry has.
const DELEGATE_FIELDS: &[&str] = &["name", "type", "conf", "runtimeOverride", "timeoutSeconds"];

/// A delegate entry's own fields (empty `name` and `type` read as absent).
struct Entry {
    name: Option<String>,
    plugin: Option<String>,
    conf: Option<Map<String, Value>>,
    runtime_override: Override,
    timeout: Option<Duration>,
}

/// The identity fields inside a delegate's `conf` (empty ones read as
/// absent).
struct ConfIdentity {
    plugin: Option<String>,
    name: Option<String>,
    version: Option<String>,
}

/// A `delegates` array at `path`; entries that cannot make a delegate are
/// left out (with their problems).
pub(super) fn delegate_list(
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

/// One delegate entry; `None` when it has no object, `conf`, plugin or name
/// to make a delegate of.
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
    let entry = entry(d, path, in_pipeline, p)?;
    let ids = conf_identity(entry.conf.as_ref(), path, p);
    let plugin = plugin(&entry, &ids, path, p)?;
    let name = name(&entry, &ids, path, p)?;
    let version = version(ids.version.as_deref(), parent_version, path, p);
    let conf = filled_conf(entry.conf, &ids, &plugin, &name, version);
    let templated = conf.values().any(crate::template::has_templates);
    Some(DelegateSpec {
        name,
        plugin,
        version,
        conf,
        templated,
        runtime_override: entry.runtime_override,
        timeout: entry.timeout,
    })
}

/// The entry's own fields; `None` when `conf` is not an object. Runtime
/// overrides may set `ifName` only outside a pipeline.
fn entry(d: &Map<String, Value>, path: &str, in_pipeline: bool, p: &mut Problems) -> Option<Entry> {
    let name = string(d, "name", &format!("{path}.name"), p).filter(|s| !s.is_empty());
    let plugin = string(d, "type", &format!("{path}.type"), p).filter(|s| !s.is_empty());
    let conf = match d.get("conf") {
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
    let hint = " (plugin settings go inside conf)";
    warn_unknown(d, path, "delegate", DELEGATE_FIELDS, hint, p);
    Some(Entry {
        name,
        plugin,
        conf,
        runtime_override,
        timeout,
    })
}

/// `conf.type`, `conf.name` and `conf.cniVersion`, each checked to be a
/// string.
fn conf_identity(conf: Option<&Map<String, Value>>, path: &str, p: &mut Problems) -> ConfIdentity {
    let mut conf_str = |key: &str| {
        conf.and_then(|c| string(c, key, &format!("{path}.conf.{key}"), p))
            .filter(|s| !s.is_empty())
    };
    ConfIdentity {
        plugin: conf_str("type"),
        name: conf_str("name"),
        version: conf_str("cniVersion"),
    }
}

/// The plugin to run: `conf.type`, else `type` (a warning when both are set
/// and differ); it must be a name, not a path. `None` when neither is set.
fn plugin(entry: &Entry, ids: &ConfIdentity, path: &str, p: &mut Problems) -> Option<String> {
    let Some(plugin) = ids.plugin.clone().or_else(|| entry.plugin.clone()) else {
        p.push(
            &format!("{path}.type"),
            "is required (set type, or conf.type)",
        );
        return None;
    };
    if let (Some(a), Some(b)) = (&ids.plugin, &entry.plugin) {
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
    Some(plugin)
}

/// The delegate's name: `name`, else `conf.name`; `None` when neither is set.
fn name(entry: &Entry, ids: &ConfIdentity, path: &str, p: &mut Problems) -> Option<String> {
    let name = entry.name.clone().or_else(|| ids.name.clone());
    if name.is_none() {
        p.push(
            &format!("{path}.name"),
            "is required (set name, or conf.name)",
        );
    }
    name
}

/// The delegate's CNI version: `conf.cniVersion`, else the config's. An
/// unsupported one is a code-1 problem (and the config's is used).
fn version(conf_version: Option<&str>, parent: Version, path: &str, p: &mut Problems) -> Version {
    let Some(s) = conf_version else {
        return parent;
    };
    Version::parse(s).unwrap_or_else(|| {
        p.push_code(
            crate::error::code::INCOMPATIBLE_VERSION,
            &format!("{path}.conf.cniVersion"),
            format!("{s:?} is not a supported CNI version"),
        );
        parent
    })
}

/// The config the delegate receives: its `conf` without `prevResult`, with
/// `type`, `cniVersion` and `name` added where `conf` has none.
fn filled_conf(
    conf: Option<Map<String, Value>>,
    ids: &ConfIdentity,
    plugin: &str,
    name: &str,
    version: Version,
) -> Map<String, Value> {
    let mut c = conf.unwrap_or_default();
    c.remove("prevResult");
    if ids.plugin.is_none() {
        c.insert("type".into(), plugin.into());
    }
    if ids.version.is_none() {
        c.insert("cniVersion".into(), version.as_str().into());
    }
    if ids.name.is_none() {
        c.insert("name".into(), name.into());
    }
    c
}
