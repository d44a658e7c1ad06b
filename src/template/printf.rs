//! `printf`: Go's `fmt.Sprintf` restricted to the verbs `%s`, `%v`, `%d`
//! and `%%`, with Go's notes for bad verbs, missing and extra arguments.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::eval::Val;

/// `printf FORMAT ARGS…`.
pub(super) fn printf<'v>(format: Val<'v>, args: Vec<Val<'v>>) -> Result<Val<'v>, String> {
    let Val::Str(format) = format else {
        return Err(format!(
            "the format must be a string, not {}",
            format.type_name()
        ));
    };
    sprintf(&format, &args).map(|s| Val::Str(Cow::Owned(s)))
}

/// Go's `fmt.Sprintf` restricted to `%s`, `%v`, `%d` and `%%`.
fn sprintf(format: &str, args: &[Val]) -> Result<String, String> {
    let mut out = String::with_capacity(format.len());
    let mut next = 0;
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = match chars.next() {
            Some('%') => {
                out.push('%');
                continue;
            }
            Some(v @ ('s' | 'v' | 'd')) => v,
            _ => {
                return Err("only the verbs %s, %v, %d and %% are supported \
                            (no flags, width, precision or argument indexes)"
                    .into())
            }
        };
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        format_arg(verb, arg, &mut out)?;
    }
    if let Some(extra) = args.get(next..).filter(|e| !e.is_empty()) {
        format_extra(extra, &mut out)?;
    }
    Ok(out)
}

/// One argument for `%s`, `%v` or `%d`, or Go's `%!d(string=x)` for a bad verb.
fn format_arg(verb: char, arg: &Val, out: &mut String) -> Result<(), String> {
    match (verb, arg) {
        ('s' | 'v', Val::Str(s)) => out.push_str(s),
        ('v' | 'd', Val::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        ('v', Val::Bool(b)) => {
            let _ = write!(out, "{b}");
        }
        (_, Val::Str(_) | Val::Int(_) | Val::Bool(_)) => {
            let _ = write!(out, "%!{verb}(");
            go_typed(arg, out);
            out.push(')');
        }
        (_, other) => return Err(format!("cannot format {}", other.type_name())),
    }
    Ok(())
}

/// Go's `%!(EXTRA int=1, bool=true)` for arguments the format did not use.
fn format_extra(extra: &[Val], out: &mut String) -> Result<(), String> {
    out.push_str("%!(EXTRA ");
    for (i, arg) in extra.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if !arg.is_basic() {
            return Err(format!("cannot format {}", arg.type_name()));
        }
        go_typed(arg, out);
    }
    out.push(')');
    Ok(())
}

/// `type=value` as Go's fmt writes it in bad-verb and EXTRA notes.
fn go_typed(v: &Val, out: &mut String) {
    let _ = match v {
        Val::Str(s) => write!(out, "string={s}"),
        Val::Int(i) => write!(out, "int={i}"),
        Val::Bool(b) => write!(out, "bool={b}"),
        _ => Ok(()),
    };
}
