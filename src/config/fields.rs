//! Readers of single fields, shared by the top level, pipelines and
//! delegates: each checks the field's type and reports a problem under the
//! path it is given.

use super::validate::Problems;
use super::{Manip, Override};
use crate::protocol::{check_id, check_ifname};
use serde_json::{Map, Value};
use std::time::Duration;

/// The fields a `runtimeOverride` object has.
const OVERRIDE_FIELDS: &[&str] = &["containerID", "netns", "ifName", "cniPath", "args", "envs"];

/// What a value is, for "must be X, got Y" messages.
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

/// An optional string field; a wrong type is a problem.
pub(super) fn string(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
    p: &mut Problems,
) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            p.push(path, format!("must be a string, got {}", kind(other)));
            None
        }
    }
}

/// An optional object field; a wrong type is a problem (and `None`).
pub(super) fn object<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
    p: &mut Problems,
) -> Option<&'a Map<String, Value>> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(other) => {
            p.push(path, format!("must be an object, got {}", kind(other)));
            None
        }
    }
}

/// False (and a problem) when `s` holds a NUL byte: the value becomes a path
/// or an environment variable, both C strings.
pub(super) fn no_nul(s: &str, path: &str, p: &mut Problems) -> bool {
    if s.contains('\0') {
        p.push(path, "cannot contain a NUL byte");
        return false;
    }
    true
}

/// A warning for each key of `m` not in `known`: "`path.key` is not a
/// `what` field (known...); ignored`hint`".
pub(super) fn warn_unknown(
    m: &Map<String, Value>,
    path: &str,
    what: &str,
    known: &[&str],
    hint: &str,
    p: &mut Problems,
) {
    for k in m.keys() {
        if !known.contains(&k.as_str()) {
            p.warn(format!(
                "{path}.{k} is not a {what} field ({}); ignored{hint}",
                known.join(", ")
            ));
        }
    }
}

/// `timeoutSeconds`: a whole number of seconds; 0 or negative means none.
/// `-0` (which serde_json reads as a float) is 0, as for upstream's Go
/// `int`; a whole number beyond 64 bits is "out of range", not "not whole".
pub(super) fn timeout_field(
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
pub(super) fn override_field(
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
    let ov = override_values(o, path, p);
    check_override(&ov, path, allow_ifname, p);
    warn_unknown(o, path, "runtimeOverride", OVERRIDE_FIELDS, "", p);
    ov
}

/// The fields of a `runtimeOverride` object, each checked for its type
/// (strings also for NUL bytes; `args` and `envs` parsed).
fn override_values(o: &Map<String, Value>, path: &str, p: &mut Problems) -> Override {
    let mut field = |k: &str| {
        let path = format!("{path}.{k}");
        string(o, k, &path, p).filter(|s| !s.is_empty() && no_nul(s, &path, p))
    };
    Override {
        container_id: field("containerID"),
        netns: field("netns"),
        ifname: field("ifName"),
        cni_path: field("cniPath"),
        args: manips(o.get("args"), &format!("{path}.args"), true, p),
        envs: manips(o.get("envs"), &format!("{path}.envs"), false, p),
    }
}

/// An override's `ifName` (where one is allowed) and `containerID` must be
/// valid as such.
fn check_override(ov: &Override, path: &str, allow_ifname: bool, p: &mut Problems) {
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
}
