//! Cross-field validation of a parsed config, and the collector that turns
//! every problem found into one code-7 error.

use super::{is_canonical_index, prefix_produces, MetaConfig, Target};
use crate::error::{code, CniError};
use std::collections::HashSet;

/// Problems found while loading, each tied to the field it is about.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    errors: Vec<String>,
    code: Option<u32>,
    warnings: Vec<String>,
}

impl Problems {
    pub(super) fn push(&mut self, path: &str, msg: impl AsRef<str>) {
        self.errors.push(format!("{path}: {}", msg.as_ref()));
    }

    /// A problem with its own code (e.g. 1 for an unsupported version); the
    /// first such code wins over the default 7.
    pub(super) fn push_code(&mut self, c: u32, path: &str, msg: impl AsRef<str>) {
        self.code.get_or_insert(c);
        self.push(path, msg);
    }

    pub(super) fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }

    pub(super) fn mentions(&self, path: &str) -> bool {
        self.errors.iter().any(|e| e.starts_with(path))
    }

    /// The warnings, or the rejection listing every problem.
    pub(super) fn into_result(self) -> Result<Vec<String>, Rejection> {
        if self.errors.is_empty() {
            return Ok(self.warnings);
        }
        Err(Rejection {
            code: self.code.unwrap_or(code::INVALID_CONFIG),
            problems: self.errors,
            warnings: self.warnings,
        })
    }
}

/// Why a config was rejected: every problem (`field: what is wrong`), the
/// warnings found on the way, and the CNI code to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: u32,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl From<CniError> for Rejection {
    fn from(e: CniError) -> Rejection {
        Rejection {
            code: e.code,
            problems: vec![e.msg],
            warnings: Vec::new(),
        }
    }
}

impl From<Rejection> for CniError {
    fn from(r: Rejection) -> CniError {
        let msg = match r.problems.as_slice() {
            [one] if r.code != code::INVALID_CONFIG => one.clone(),
            [one] => format!("invalid config: {one}"),
            many => format!(
                "invalid config ({} problems): {}",
                many.len(),
                many.join("; ")
            ),
        };
        CniError::new(r.code, msg)
    }
}

/// Checks that span pipelines: unique names, interface names that cannot
/// collide, whatever the GRES annotations turn out to be.
pub(crate) fn check(c: &MetaConfig, p: &mut Problems) {
    let mut names: HashSet<&str> = HashSet::new();
    // In config order, so that problems are reported in it.
    let mut statics: Vec<(&str, &str)> = Vec::new();
    let mut prefixes: Vec<(&str, &str)> = Vec::new();
    for pl in c.pipelines.iter().filter(|pl| !pl.name.is_empty()) {
        if !names.insert(&pl.name) {
            p.push(
                &format!("pipeline {:?}", pl.name),
                "duplicate pipeline name",
            );
        }
        match &pl.target {
            Target::Static(n) => {
                if let Some((_, other)) = statics.iter().find(|(m, _)| m == n) {
                    p.push(
                        &format!("pipeline {:?}.ifName", pl.name),
                        format!("{n:?} is already the ifName of pipeline {other:?}"),
                    );
                } else {
                    statics.push((n, &pl.name));
                }
            }
            Target::Template(pre) => {
                if let Some((_, other)) = prefixes.iter().find(|(q, _)| q == pre) {
                    p.push(
                        &format!("pipeline {:?}.ifNamePrefix", pl.name),
                        format!("{pre:?} is already the ifNamePrefix of pipeline {other:?}"),
                    );
                } else {
                    prefixes.push((pre, &pl.name));
                }
            }
            Target::Request => {}
        }
    }
    for (ifn, owner) in &statics {
        for (pre, tmpl) in &prefixes {
            if prefix_produces(pre, ifn) {
                p.push(
                    &format!("pipeline {owner:?}.ifName"),
                    format!(
                        "{ifn:?} can also be produced by pipeline {tmpl:?}'s ifNamePrefix {pre:?}"
                    ),
                );
            }
        }
    }
    for (i, (a, an)) in prefixes.iter().enumerate() {
        for (b, bn) in &prefixes[i + 1..] {
            let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
            if let Some(rest) = long.strip_prefix(short) {
                // long + i == short + rest + i: a collision needs rest+i to be
                // a canonical index, i.e. rest all digits not starting with 0.
                if !rest.is_empty()
                    && rest.bytes().all(|b| b.is_ascii_digit())
                    && !rest.starts_with('0')
                {
                    p.push(
                        &format!("pipeline {an:?}.ifNamePrefix"),
                        format!(
                            "{a:?} and pipeline {bn:?}'s {b:?} can produce the same interface name (e.g. {:?})",
                            format!("{long}0")
                        ),
                    );
                }
            }
        }
    }
    // Instance names are "<template>-<index>": a pipeline may not be named like one.
    for pl in &c.pipelines {
        for (_, tmpl) in &prefixes {
            if let Some(rest) = pl.name.strip_prefix(tmpl).and_then(|r| r.strip_prefix('-')) {
                if is_canonical_index(rest) {
                    p.push(
                        &format!("pipeline {:?}.name", pl.name),
                        format!("collides with the instance names of template pipeline {tmpl:?}"),
                    );
                }
            }
        }
    }
}
