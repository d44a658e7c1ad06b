//! `runtimeOverride` manipulator expressions (`KEY=value`, `-KEY`) and their
//! application to `CNI_ARGS` and to a delegate's environment.
//!
//! Grammar (behaviour.md section 4): optional `-`, a key
//! `[A-Za-z_][A-Za-z0-9_]*`, then for a set `=` and a value that is either
//! bare (everything after the first `=`, no whitespace) or single/double
//! quoted (quotes removed; may hold spaces). Surrounding whitespace is
//! ignored.

use std::collections::BTreeMap;

/// One parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manip {
    /// `KEY=value`
    Set(String, String),
    /// `-KEY`
    Delete(String),
}

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManipError {
    #[error("empty expression")]
    Empty,
    #[error("{0:?}: key must match [A-Za-z_][A-Za-z0-9_]*")]
    BadKey(String),
    #[error("{0:?}: missing value (write KEY=value, or -KEY to remove)")]
    MissingValue(String),
    #[error("{0:?}: a removal (-KEY) takes no value")]
    DeleteWithValue(String),
    #[error("{0:?}: unquoted value contains whitespace (quote it)")]
    Whitespace(String),
    #[error("{0:?}: unterminated quote")]
    Unterminated(String),
    #[error("{0:?}: text after the closing quote")]
    TrailingText(String),
    #[error("{0:?}: a CNI_ARGS value cannot contain ';'")]
    Semicolon(String),
    #[error("{0:?}: a value cannot contain a NUL byte (it becomes an environment variable)")]
    Nul(String),
}

fn valid_key(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl Manip {
    /// Parse one expression. `for_args` adds the `CNI_ARGS` rule (no `;`).
    pub fn parse(raw: &str, for_args: bool) -> Result<Manip, ManipError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ManipError::Empty);
        }
        let (delete, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (key, value) = match rest.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (rest, None),
        };
        if !valid_key(key) {
            return Err(ManipError::BadKey(raw.to_string()));
        }
        if delete {
            return match value {
                Some(_) => Err(ManipError::DeleteWithValue(raw.to_string())),
                None => Ok(Manip::Delete(key.to_string())),
            };
        }
        let value = match value {
            None | Some("") => return Err(ManipError::MissingValue(raw.to_string())),
            Some(v) => v,
        };
        let value = match value.as_bytes()[0] {
            q @ (b'\'' | b'"') => {
                let inner = &value[1..];
                let end = inner
                    .find(q as char)
                    .ok_or_else(|| ManipError::Unterminated(raw.to_string()))?;
                if end + 1 != inner.len() {
                    return Err(ManipError::TrailingText(raw.to_string()));
                }
                &inner[..end]
            }
            _ => {
                if value.chars().any(char::is_whitespace) {
                    return Err(ManipError::Whitespace(raw.to_string()));
                }
                value
            }
        };
        if for_args && value.contains(';') {
            return Err(ManipError::Semicolon(raw.to_string()));
        }
        if value.contains('\0') {
            return Err(ManipError::Nul(raw.to_string()));
        }
        Ok(Manip::Set(key.to_string(), value.to_string()))
    }

    /// Parse a list, reporting the index of the first bad entry.
    pub fn parse_list(list: &[String], for_args: bool) -> Result<Vec<Manip>, (usize, ManipError)> {
        list.iter()
            .enumerate()
            .map(|(i, s)| Manip::parse(s, for_args).map_err(|e| (i, e)))
            .collect()
    }
}

/// Malformed `CNI_ARGS` (an entry without `=`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CNI_ARGS entry {0:?} is not KEY=VALUE")]
pub struct ArgsError(pub String);

/// Parse `CNI_ARGS` (`K=V;K=V`). Empty entries are skipped; a later
/// duplicate key wins.
pub fn parse_cni_args(raw: &str) -> Result<BTreeMap<String, String>, ArgsError> {
    let mut out = BTreeMap::new();
    for pair in raw.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| ArgsError(pair.to_string()))?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Apply expressions to parsed `CNI_ARGS`.
pub fn apply_to_args(args: &mut BTreeMap<String, String>, manips: &[Manip]) {
    for m in manips {
        match m {
            Manip::Set(k, v) => {
                args.insert(k.clone(), v.clone());
            }
            Manip::Delete(k) => {
                args.remove(k);
            }
        }
    }
}

/// Re-join `CNI_ARGS` with keys sorted; `None` when nothing is left.
pub fn join_cni_args(args: &BTreeMap<String, String>) -> Option<String> {
    if args.is_empty() {
        return None;
    }
    let mut s = String::new();
    for (k, v) in args {
        if !s.is_empty() {
            s.push(';');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    Some(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> Manip {
        Manip::Set(k.into(), v.into())
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(
            Manip::parse("NO_PROXY=svc.local", false),
            Ok(set("NO_PROXY", "svc.local"))
        );
        assert_eq!(Manip::parse("FOO=-1", false), Ok(set("FOO", "-1")));
        assert_eq!(Manip::parse("P=a/b:c", false), Ok(set("P", "a/b:c")));
        assert_eq!(Manip::parse("A=''", false), Ok(set("A", "")));
        assert_eq!(Manip::parse("A=\"x y\"", false), Ok(set("A", "x y")));
        assert_eq!(Manip::parse("A='x=y'", false), Ok(set("A", "x=y")));
        assert_eq!(
            Manip::parse("URL=http://h/?a=b", false),
            Ok(set("URL", "http://h/?a=b"))
        );
        assert_eq!(
            Manip::parse("  -K8S_POD_NAME ", true),
            Ok(Manip::Delete("K8S_POD_NAME".into()))
        );
        assert_eq!(
            Manip::parse("IgnoreUnknown=true", true),
            Ok(set("IgnoreUnknown", "true"))
        );
        assert_eq!(Manip::parse("_x1=1", true), Ok(set("_x1", "1")));
    }

    #[test]
    fn rejects_each_error_class() {
        use ManipError::*;
        type Make = fn(String) -> ManipError;
        let cases: &[(&str, Make)] = &[
            ("FOO", MissingValue),
            ("FOO=", MissingValue),
            ("-FOO=bar", DeleteWithValue),
            ("-FOO=", DeleteWithValue),
            ("1FOO=x", BadKey),
            ("FO-O=x", BadKey),
            ("=x", BadKey),
            ("-", BadKey),
            ("A=b c", Whitespace),
            ("A='b", Unterminated),
            ("A='b'c", TrailingText),
            ("A=\"b\" ", TrailingText),
        ];
        for (raw, mk) in cases {
            // the trailing-space case is trimmed first, so it parses
            if *raw == "A=\"b\" " {
                assert_eq!(Manip::parse(raw, false), Ok(set("A", "b")));
                continue;
            }
            assert_eq!(Manip::parse(raw, false), Err(mk(raw.to_string())), "{raw}");
        }
        assert_eq!(Manip::parse("  ", false), Err(Empty));
        assert_eq!(Manip::parse("A=x;y", true), Err(Semicolon("A=x;y".into())));
        assert_eq!(Manip::parse("A=x;y", false), Ok(set("A", "x;y")));
        for raw in ["A=x\0y", "A='\0'", "A=\"a\0\""] {
            assert_eq!(Manip::parse(raw, false), Err(Nul(raw.into())), "{raw:?}");
            assert_eq!(Manip::parse(raw, true), Err(Nul(raw.into())), "{raw:?}");
        }
        assert_eq!(Manip::parse("-A\0", false), Err(BadKey("-A\0".into())));
    }

    #[test]
    fn list_reports_the_bad_index() {
        let l = vec!["A=1".to_string(), "B".to_string()];
        assert_eq!(Manip::parse_list(&l, true).unwrap_err().0, 1);
    }

    #[test]
    fn args_round_trip_sorted_and_emptied() {
        let mut a = parse_cni_args("K8S_POD_NAME=p;IgnoreUnknown=1;;B=x=y").unwrap();
        assert_eq!(a.get("B").map(String::as_str), Some("x=y"));
        apply_to_args(
            &mut a,
            &[Manip::Delete("K8S_POD_NAME".into()), set("A", "2")],
        );
        assert_eq!(
            join_cni_args(&a).as_deref(),
            Some("A=2;B=x=y;IgnoreUnknown=1")
        );
        apply_to_args(
            &mut a,
            &[
                Manip::Delete("A".into()),
                Manip::Delete("B".into()),
                Manip::Delete("IgnoreUnknown".into()),
            ],
        );
        assert_eq!(join_cni_args(&a), None);
        assert_eq!(parse_cni_args("novalue"), Err(ArgsError("novalue".into())));
        assert!(parse_cni_args("").unwrap().is_empty());
    }
}
