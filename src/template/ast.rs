//! The syntax tree of one template string. Positions are byte offsets into
//! the string, for error columns.

use std::borrow::Cow;

use super::funcs::Func;

pub(super) enum Node<'s> {
    Text(&'s str),
    Print(Pipe<'s>),
    Cond(Cond<'s>),
}

/// `if`/`with` with its `else if`/`else with` chain and final `else`.
pub(super) struct Cond<'s> {
    pub(super) with: bool,
    pub(super) branches: Vec<(Pipe<'s>, Vec<Node<'s>>)>,
    pub(super) els: Vec<Node<'s>>,
}

/// Commands separated by `|`.
pub(super) struct Pipe<'s> {
    pub(super) pos: usize,
    pub(super) cmds: Vec<Cmd<'s>>,
}

/// A function and its arguments, or a single operand.
pub(super) struct Cmd<'s> {
    pub(super) pos: usize,
    pub(super) args: Vec<Operand<'s>>,
}

pub(super) enum Operand<'s> {
    /// `.`/`$` followed by a chain of field names (`Args.KEY`, or empty).
    Field {
        pos: usize,
        root: bool,
        chain: &'s str,
    },
    Str(Cow<'s, str>),
    Int(i64),
    Bool(bool),
    Func(Func),
    Pipe(Box<Pipe<'s>>),
}

impl Operand<'_> {
    /// A literal or dot: cannot take arguments (Go: "non executable command").
    pub(super) fn is_literal(&self) -> bool {
        match self {
            Operand::Str(_) | Operand::Int(_) | Operand::Bool(_) => true,
            Operand::Field { root, chain, .. } => !*root && chain.is_empty(),
            Operand::Func(_) | Operand::Pipe(_) => false,
        }
    }

    /// How to name it in an error (never the content of a string literal).
    pub(super) fn describe(&self) -> String {
        match self {
            Operand::Field { root, chain, .. } => {
                let head = if *root { "$" } else { "" };
                if chain.is_empty() {
                    if *root {
                        "$".into()
                    } else {
                        ".".into()
                    }
                } else {
                    format!("{head}.{chain}")
                }
            }
            Operand::Str(_) => "a string literal".into(),
            Operand::Int(_) => "a number".into(),
            Operand::Bool(_) => "a boolean".into(),
            Operand::Func(f) => f.name().into(),
            Operand::Pipe(_) => "a parenthesized pipeline".into(),
        }
    }
}
