//! The evaluator: walks the syntax tree against the [`Vars`], writing text.
//! Function calls are in `funcs.rs`.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::ast::{Cmd, Cond, Node, Operand, Pipe};
use super::fail::Fail;
use super::Vars;

/// Execute parsed nodes against `vars`, appending the output to `out`.
pub(super) fn execute<'v>(
    nodes: &'v [Node<'v>],
    vars: &'v Vars<'v>,
    out: &mut String,
) -> Result<(), Fail> {
    Exec { vars }.list(nodes, &Val::Root, out)
}

/// A value during evaluation.
#[derive(Clone, Debug)]
pub(super) enum Val<'v> {
    Str(Cow<'v, str>),
    Int(i64),
    Bool(bool),
    Gres,
    Args,
    Root,
}

impl Val<'_> {
    /// How errors name the type.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) => "int",
            Val::Bool(_) => "bool",
            Val::Gres => ".Gres (a struct)",
            Val::Args => ".Args (a map)",
            Val::Root => "the root data (a struct)",
        }
    }

    /// A string, integer or boolean.
    pub(super) fn is_basic(&self) -> bool {
        matches!(self, Val::Str(_) | Val::Int(_) | Val::Bool(_))
    }
}

pub(super) struct Exec<'v> {
    pub(super) vars: &'v Vars<'v>,
}

impl<'v> Exec<'v> {
    fn list(&self, nodes: &'v [Node<'v>], dot: &Val<'v>, out: &mut String) -> Result<(), Fail> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Print(pipe) => {
                    let v = self.pipe(pipe, dot)?;
                    print(&v, pipe.pos, out)?;
                }
                Node::Cond(cond) => self.cond(cond, dot, out)?,
            }
        }
        Ok(())
    }

    /// The first branch whose pipeline is true (with `with`, as dot), or the `else`.
    fn cond(&self, cond: &'v Cond<'v>, dot: &Val<'v>, out: &mut String) -> Result<(), Fail> {
        for (pipe, body) in &cond.branches {
            let v = self.pipe(pipe, dot)?;
            if self.truth(&v) {
                return if cond.with {
                    self.list(body, &v, out)
                } else {
                    self.list(body, dot, out)
                };
            }
        }
        self.list(&cond.els, dot, out)
    }

    /// Go's truth: empty string, 0, false and an empty `.Args` are false.
    pub(super) fn truth(&self, v: &Val) -> bool {
        match v {
            Val::Str(s) => !s.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Bool(b) => *b,
            Val::Args => !self.vars.args.is_empty(),
            Val::Gres | Val::Root => true,
        }
    }

    fn pipe(&self, pipe: &'v Pipe<'v>, dot: &Val<'v>) -> Result<Val<'v>, Fail> {
        let mut last = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        last.ok_or_else(|| Fail::new(pipe.pos, "empty pipeline"))
    }

    /// One command; `piped` is the previous command's value, if any.
    fn command(
        &self,
        cmd: &'v Cmd<'v>,
        dot: &Val<'v>,
        piped: Option<Val<'v>>,
    ) -> Result<Val<'v>, Fail> {
        let (first, rest) = cmd
            .args
            .split_first()
            .ok_or_else(|| Fail::new(cmd.pos, "empty command"))?;
        if let Operand::Func(f) = first {
            return self.call(*f, cmd.pos, rest, piped, dot);
        }
        if !rest.is_empty() || piped.is_some() {
            return Err(Fail::new(
                cmd.pos,
                format!(
                    "can't give arguments to {}: it is not a function",
                    first.describe()
                ),
            ));
        }
        self.operand(first, cmd.pos, dot)
    }

    pub(super) fn operand(
        &self,
        op: &'v Operand<'v>,
        cmd_pos: usize,
        dot: &Val<'v>,
    ) -> Result<Val<'v>, Fail> {
        match op {
            Operand::Field { pos, root, chain } => {
                let mut v = if *root { Val::Root } else { dot.clone() };
                if !chain.is_empty() {
                    for name in chain.split('.') {
                        v = self.field(v, name, *pos)?;
                    }
                }
                Ok(v)
            }
            Operand::Str(s) => Ok(Val::Str(Cow::Borrowed(s))),
            Operand::Int(i) => Ok(Val::Int(*i)),
            Operand::Bool(b) => Ok(Val::Bool(*b)),
            Operand::Func(f) => self.call(*f, cmd_pos, &[], None, dot),
            Operand::Pipe(p) => self.pipe(p, dot),
        }
    }

    /// Field `name` of `v`: only `.Gres`/`.Args` of the root, `Device`/`Index`
    /// of `.Gres`, and any key of `.Args` (missing: the empty string).
    fn field(&self, v: Val<'v>, name: &str, pos: usize) -> Result<Val<'v>, Fail> {
        let gres = self.vars.gres;
        match (v, name) {
            (Val::Root, "Gres") => Ok(Val::Gres),
            (Val::Root, "Args") => Ok(Val::Args),
            (Val::Root, _) => Err(Fail::new(
                pos,
                format!("can't evaluate field {name}: the data has only .Gres and .Args"),
            )),
            (Val::Gres, "Device") => Ok(Val::Str(Cow::Borrowed(gres.map_or("", |g| g.device)))),
            (Val::Gres, "Index") => Ok(Val::Str(Cow::Borrowed(gres.map_or("", |g| g.index)))),
            (Val::Gres, _) => Err(Fail::new(
                pos,
                format!("can't evaluate field {name} of .Gres: it has only Device and Index"),
            )),
            (Val::Args, _) => Ok(Val::Str(Cow::Borrowed(
                self.vars.args.get(name).map_or("", String::as_str),
            ))),
            (other, _) => Err(Fail::new(
                pos,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }
}

/// The text of a printed value: strings, integers and booleans only.
fn print(v: &Val, pos: usize, out: &mut String) -> Result<(), Fail> {
    match v {
        Val::Str(s) => out.push_str(s),
        Val::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        other => {
            return Err(Fail::new(
                pos,
                format!(
                    "cannot render {} as text; use a string such as .Gres.Device or .Args.KEY",
                    other.type_name()
                ),
            ))
        }
    }
    Ok(())
}
