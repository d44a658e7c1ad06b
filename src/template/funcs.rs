//! The functions, with Go's semantics and error cases: `and`, `or`, `not`,
//! `len`, `index`, `eq`, `ne`, `lt`, `le`, `gt`, `ge` and `printf` (its
//! formatting is in `printf.rs`).

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::Operand;
use super::eval::{Exec, Val};
use super::fail::Fail;
use super::printf::printf;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Func {
    And,
    Or,
    Not,
    Len,
    Index,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Printf,
}

impl Func {
    pub(super) fn lookup(name: &str) -> Option<Func> {
        Some(match name {
            "and" => Func::And,
            "or" => Func::Or,
            "not" => Func::Not,
            "len" => Func::Len,
            "index" => Func::Index,
            "eq" => Func::Eq,
            "ne" => Func::Ne,
            "lt" => Func::Lt,
            "le" => Func::Le,
            "gt" => Func::Gt,
            "ge" => Func::Ge,
            "printf" => Func::Printf,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Func::And => "and",
            Func::Or => "or",
            Func::Not => "not",
            Func::Len => "len",
            Func::Index => "index",
            Func::Eq => "eq",
            Func::Ne => "ne",
            Func::Lt => "lt",
            Func::Le => "le",
            Func::Gt => "gt",
            Func::Ge => "ge",
            Func::Printf => "printf",
        }
    }

    /// (minimum, maximum) argument count, as Go's function signatures.
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::And | Func::Or | Func::Index | Func::Eq | Func::Printf => (1, None),
            Func::Not | Func::Len => (1, Some(1)),
            Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => (2, Some(2)),
        }
    }

    /// Go's "wrong number of args" error when `n` arguments do not fit.
    fn check_arity(self, n: usize) -> Result<(), String> {
        let (min, max) = self.arity();
        if n >= min && !max.is_some_and(|m| n > m) {
            return Ok(());
        }
        let want = match max {
            Some(m) => m.to_string(),
            None => format!("at least {min}"),
        };
        Err(format!(
            "wrong number of args for {}: want {want} got {n}",
            self.name()
        ))
    }
}

impl<'v> Exec<'v> {
    /// Call `f` with `args` and, last, the `piped` value.
    pub(super) fn call(
        &self,
        f: Func,
        pos: usize,
        args: &'v [Operand<'v>],
        piped: Option<Val<'v>>,
        dot: &Val<'v>,
    ) -> Result<Val<'v>, Fail> {
        let n = args.len() + usize::from(piped.is_some());
        f.check_arity(n).map_err(|msg| Fail::new(pos, msg))?;
        if matches!(f, Func::And | Func::Or) {
            return self.and_or(f == Func::Or, pos, args, piped, dot);
        }
        let mut vals = Vec::with_capacity(n);
        for a in args {
            vals.push(self.operand(a, pos, dot)?);
        }
        vals.extend(piped);
        self.apply(f, vals)
            .map_err(|msg| Fail::new(pos, format!("error calling {}: {msg}", f.name())))
    }

    /// `and`/`or` as Go >= 1.18: evaluate left to right, stop at the first
    /// deciding value and return it (not a boolean).
    fn and_or(
        &self,
        or: bool,
        pos: usize,
        args: &'v [Operand<'v>],
        piped: Option<Val<'v>>,
        dot: &Val<'v>,
    ) -> Result<Val<'v>, Fail> {
        let mut last = Val::Bool(false);
        for a in args {
            let v = self.operand(a, pos, dot)?;
            if self.truth(&v) == or {
                return Ok(v);
            }
            last = v;
        }
        Ok(piped.unwrap_or(last))
    }

    /// Every function but `and`/`or`, on evaluated arguments.
    fn apply(&self, f: Func, vals: Vec<Val<'v>>) -> Result<Val<'v>, String> {
        let mut it = vals.into_iter();
        let Some(first) = it.next() else {
            return Err("missing argument".into());
        };
        match f {
            Func::Not => Ok(Val::Bool(!self.truth(&first))),
            Func::Len => self.len_of(first),
            Func::Index => self.index(first, it),
            Func::Eq | Func::Ne => {
                let found = eq_any(&first, it)?;
                Ok(Val::Bool(if found { f == Func::Eq } else { f == Func::Ne }))
            }
            Func::Lt | Func::Le | Func::Gt | Func::Ge => compare(f, &first, it.next()),
            Func::Printf => printf(first, it.collect()),
            Func::And | Func::Or => Ok(first),
        }
    }

    /// Bytes of a string, entries of `.Args`.
    fn len_of(&self, v: Val<'v>) -> Result<Val<'v>, String> {
        match v {
            Val::Str(s) => Ok(Val::Int(len_i64(s.len()))),
            Val::Args => Ok(Val::Int(len_i64(self.vars.args.len()))),
            other => Err(format!("len of {}", other.type_name())),
        }
    }

    /// `index .Args "KEY"…` (missing key: the empty string); no keys: the item.
    fn index(
        &self,
        first: Val<'v>,
        keys: impl Iterator<Item = Val<'v>>,
    ) -> Result<Val<'v>, String> {
        let mut item = first;
        for key in keys {
            item = match (item, key) {
                (Val::Args, Val::Str(k)) => Val::Str(Cow::Borrowed(
                    self.vars.args.get(k.as_ref()).map_or("", String::as_str),
                )),
                (Val::Args, other) => {
                    return Err(format!(
                        "a key of .Args must be a string, not {}",
                        other.type_name()
                    ))
                }
                (other, _) => {
                    return Err(format!(
                        "can't index item of type {} (only .Args)",
                        other.type_name()
                    ))
                }
            };
        }
        Ok(item)
    }
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `eq`: is `first` equal to any of the others (compared in order)?
fn eq_any<'v>(first: &Val<'v>, others: impl Iterator<Item = Val<'v>>) -> Result<bool, String> {
    let mut others = others.peekable();
    if others.peek().is_none() {
        return Err("missing argument for comparison".into());
    }
    for other in others {
        if equal(first, &other)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `lt`, `le`, `gt`, `ge`.
fn compare<'v>(f: Func, first: &Val<'v>, second: Option<Val<'v>>) -> Result<Val<'v>, String> {
    let second = second.ok_or("missing argument")?;
    let ord = order(first, &second)?;
    Ok(Val::Bool(match f {
        Func::Lt => ord == Ordering::Less,
        Func::Le => ord != Ordering::Greater,
        Func::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }))
}

/// Go's `eq` for one pair: same basic kind only.
fn equal(a: &Val, b: &Val) -> Result<bool, &'static str> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x == y),
        (Val::Int(x), Val::Int(y)) => Ok(x == y),
        (Val::Bool(x), Val::Bool(y)) => Ok(x == y),
        _ if a.is_basic() && b.is_basic() => Err("incompatible types for comparison"),
        _ => Err("invalid type for comparison (only strings, integers and booleans)"),
    }
}

/// Go's `lt` family: strings and integers of the same kind.
fn order(a: &Val, b: &Val) -> Result<Ordering, &'static str> {
    const BAD_TYPE: &str = "invalid type for comparison (only strings and integers)";
    if !a.is_basic() || !b.is_basic() {
        return Err(BAD_TYPE);
    }
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.as_bytes().cmp(y.as_bytes())),
        (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
        (Val::Bool(_), Val::Bool(_)) => Err(BAD_TYPE),
        _ => Err("incompatible types for comparison"),
    }
}
