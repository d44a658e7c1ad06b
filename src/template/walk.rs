//! The walk over a JSON value: every string is rendered, errors get the
//! JSON path of their string.

use std::fmt::Write as _;

use serde_json::Value;

use super::{render_template, TemplateError, Vars, MAX_JSON_DEPTH};

/// One step of a JSON path.
enum Seg {
    Key(String),
    Index(usize),
}

/// The path from the failing string up to the root (innermost first), and
/// the reason.
type WalkError = (Vec<Seg>, String);

/// [`super::render_value`]: render in place, report the path of a failure.
pub(super) fn render(conf: &mut Value, vars: &Vars) -> Result<(), TemplateError> {
    render_at(conf, vars, 0).map_err(|(mut segs, reason)| {
        segs.reverse();
        TemplateError {
            path: json_path(&segs),
            reason,
        }
    })
}

/// [`super::has_templates`].
pub(super) fn has_templates(conf: &Value) -> bool {
    has_at(conf, 0)
}

fn render_at(v: &mut Value, vars: &Vars, depth: usize) -> Result<(), WalkError> {
    match v {
        Value::String(s) => {
            if s.contains("{{") {
                *s = render_template(s, vars).map_err(|reason| (Vec::new(), reason))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            if depth >= MAX_JSON_DEPTH {
                return Err((Vec::new(), too_deep_json()));
            }
            for (i, item) in items.iter_mut().enumerate() {
                render_at(item, vars, depth + 1).map_err(|(mut segs, reason)| {
                    segs.push(Seg::Index(i));
                    (segs, reason)
                })?;
            }
            Ok(())
        }
        Value::Object(map) => {
            if depth >= MAX_JSON_DEPTH {
                return Err((Vec::new(), too_deep_json()));
            }
            for (key, item) in map.iter_mut() {
                render_at(item, vars, depth + 1).map_err(|(mut segs, reason)| {
                    segs.push(Seg::Key(key.clone()));
                    (segs, reason)
                })?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn too_deep_json() -> String {
    format!("JSON nested deeper than {MAX_JSON_DEPTH} levels")
}

fn has_at(v: &Value, depth: usize) -> bool {
    match v {
        Value::String(s) => s.contains("{{"),
        // Too deep: say yes, so that render_value reports the error.
        Value::Array(items) => {
            depth >= MAX_JSON_DEPTH || items.iter().any(|x| has_at(x, depth + 1))
        }
        Value::Object(map) => depth >= MAX_JSON_DEPTH || map.values().any(|x| has_at(x, depth + 1)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `$`, then `["key"]` (the key JSON-encoded) or `[index]` per step.
fn json_path(segs: &[Seg]) -> String {
    let mut path = String::from("$");
    for seg in segs {
        path.push('[');
        match seg {
            // Display of a JSON string value is its JSON encoding.
            Seg::Key(k) => {
                let _ = write!(path, "{}", Value::String(k.clone()));
            }
            Seg::Index(i) => {
                let _ = write!(path, "{i}");
            }
        }
        path.push(']');
    }
    path
}
