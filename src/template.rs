//! PLACEHOLDER for the Go-template renderer (issue 4).

use serde_json::Value;
use std::collections::BTreeMap;

pub struct Vars<'a> {
    pub gres: Option<Gres<'a>>,
    pub args: &'a BTreeMap<String, String>,
}

pub struct Gres<'a> {
    pub device: &'a str,
    pub index: &'a str,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TemplateError {
    pub path: String,
    pub reason: String,
}

pub fn render_value(_conf: &mut Value, _vars: &Vars) -> Result<(), TemplateError> {
    Ok(())
}

pub fn has_templates(conf: &Value) -> bool {
    match conf {
        Value::String(s) => s.contains("{{"),
        Value::Array(a) => a.iter().any(has_templates),
        Value::Object(m) => m.values().any(has_templates),
        _ => false,
    }
}
