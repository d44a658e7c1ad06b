//! Reading the `pipelines` shape into [`PipelineSpec`]s: each pipeline's
//! name, interface (`ifName` or `ifNamePrefix`), override and delegates.

use super::delegate::delegate_list;
use super::fields::{kind, override_field, string, warn_unknown};
use super::validate::Problems;
use super::{PipelineSpec, ResultMode, Target};
use crate::protocol::check_ifname;
use crate::version::Version;
use serde_json::{Map, Value};

/// The fields a pipeline has.
const PIPELINE_FIELDS: &[&str] = &[
    "name",
    "ifName",
    "ifNamePrefix",
    "runtimeOverride",
    "delegates",
];

/// The `pipelines` array; pipelines without an interface are left out (with
/// their problems).
pub(super) fn pipeline_list(v: &Value, version: Version, p: &mut Problems) -> Vec<PipelineSpec> {
    let Value::Array(list) = v else {
        p.push("pipelines", format!("must be an array, got {}", kind(v)));
        return Vec::new();
    };
    if list.is_empty() {
        p.push("pipelines", "needs at least one pipeline");
    }
    list.iter()
        .enumerate()
        .filter_map(|(i, pv)| pipeline(pv, i, version, p))
        .collect()
}

/// `pipelines[i]`; `None` when it is not an object or has no valid choice
/// of interface.
fn pipeline(v: &Value, i: usize, version: Version, p: &mut Problems) -> Option<PipelineSpec> {
    let Value::Object(pm) = v else {
        p.push(
            &format!("pipelines[{i}]"),
            format!("must be an object, got {}", kind(v)),
        );
        return None;
    };
    let (name, path) = name_and_path(pm, i, p);
    let target = target(pm, &path, p);
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
    warn_unknown(pm, &path, "pipeline", PIPELINE_FIELDS, "", p);
    Some(PipelineSpec {
        name,
        target: target?,
        mode: ResultMode::Chained,
        runtime_override,
        delegates,
    })
}

/// The pipeline's name (required), and the path its other problems are
/// reported under: `pipelines[i] ("name")`, or `pipelines[i]` without one.
fn name_and_path(pm: &Map<String, Value>, i: usize, p: &mut Problems) -> (String, String) {
    let name = string(pm, "name", &format!("pipelines[{i}].name"), p).unwrap_or_default();
    let path = if name.is_empty() {
        p.push(&format!("pipelines[{i}].name"), "is required");
        format!("pipelines[{i}]")
    } else {
        format!("pipelines[{i}] ({name:?})")
    };
    (name, path)
}

/// The interface: exactly one of `ifName` (a valid interface name) and
/// `ifNamePrefix` (whose instance names are valid); `None` unless one.
fn target(pm: &Map<String, Value>, path: &str, p: &mut Problems) -> Option<Target> {
    let ifname = string(pm, "ifName", &format!("{path}.ifName"), p).filter(|s| !s.is_empty());
    let prefix =
        string(pm, "ifNamePrefix", &format!("{path}.ifNamePrefix"), p).filter(|s| !s.is_empty());
    match (ifname, prefix) {
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
    }
}
