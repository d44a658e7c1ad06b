//! Go-template rendering of string values inside delegate configs.
//!
//! Every string value of a delegate `conf` is rendered as Go's
//! `text/template` (option `missingkey=zero`) renders it against
//! `{Gres: {Device, Index}, Args: map[string]string}`, for the subset of that
//! language an operator plausibly writes in a CNI config: field chains
//! (`.Gres.Device`, `.Args.KEY`), literals, pipelines, `if`/`with`/`else`,
//! trim markers, comments, and the functions `and`, `or`, `not`, `len`,
//! `index`, `eq`, `ne`, `lt`, `le`, `gt`, `ge` and `printf`. A template either
//! renders exactly as Go would render it, or fails with a [`TemplateError`]
//! carrying the JSON path of the string; it never renders something else.
//!
//! The exact subset, how errors read, and why the renderer is hand-written
//! (with the measurements against the `gtmpl` and `gotmpl` crates) are in
//! `docs/templates.md`.
//!
//! Files: `walk.rs` (the JSON walk), `lex.rs`, `parse.rs` and `pipeline.rs`
//! (the parser), `ast.rs` (the syntax tree), `eval.rs` (the evaluator),
//! `funcs.rs` and `printf.rs` (the functions), `fail.rs` (an error inside one
//! string), `tests.rs`.

mod ast;
mod eval;
mod fail;
mod funcs;
mod lex;
mod parse;
mod pipeline;
mod printf;
mod walk;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

/// Deepest nesting of `{{if}}`/`{{with}}` blocks and parentheses in one string.
pub const MAX_NESTING: usize = 100;
/// Deepest nesting of JSON arrays/objects walked by [`render_value`].
pub const MAX_JSON_DEPTH: usize = 256;

/// The data a template sees: Go's `{Gres: {Device, Index}, Args: map}`.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// The template-pipeline instance; `None` for static pipelines, where
    /// `.Gres.Device` and `.Gres.Index` render as empty strings.
    pub gres: Option<Gres<'a>>,
    /// The `CNI_ARGS` entries, for `.Args.KEY` and `index .Args "KEY"`.
    pub args: &'a BTreeMap<String, String>,
}

/// One GRES device of a template pipeline instance.
#[derive(Debug, Clone, Copy)]
pub struct Gres<'a> {
    /// The device id from the pod annotation (`.Gres.Device`).
    pub device: &'a str,
    /// The instance index as a decimal string (`.Gres.Index`).
    pub index: &'a str,
}

/// A template that does not parse or does not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TemplateError {
    /// JSON path of the string value: `$`, then `["key"]` or `[index]` per level.
    pub path: String,
    /// What is wrong, with the column inside the string.
    pub reason: String,
}

/// Render every string value inside `conf` (recursing into objects and
/// arrays) in place. Object keys and non-string values are never changed.
///
/// On error `conf` may be partly rendered; callers render a copy and drop it.
pub fn render_value(conf: &mut Value, vars: &Vars) -> Result<(), TemplateError> {
    walk::render(conf, vars)
}

/// Cheap test: does any string inside `conf` contain `{{`? Configs without
/// templates can then skip [`render_value`] (and the copy it implies).
pub fn has_templates(conf: &Value) -> bool {
    walk::has_templates(conf)
}

/// Render one string (path `$` in errors). Borrows when there is no `{{`.
pub fn render_str<'t>(template: &'t str, vars: &Vars) -> Result<Cow<'t, str>, TemplateError> {
    if !template.contains("{{") {
        return Ok(Cow::Borrowed(template));
    }
    render_template(template, vars)
        .map(Cow::Owned)
        .map_err(|reason| TemplateError {
            path: "$".to_owned(),
            reason,
        })
}

/// Parse and execute one template string; the error is the reason text.
fn render_template(src: &str, vars: &Vars) -> Result<String, String> {
    let nodes = parse::parse(src).map_err(|e| e.reason(src, "syntax"))?;
    let mut out = String::with_capacity(src.len());
    eval::execute(&nodes, vars, &mut out).map_err(|e| e.reason(src, "execution"))?;
    Ok(out)
}
