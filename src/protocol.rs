//! The CNI exec protocol: commands, the table of required environment
//! variables, and reading one request out of an environment.

use crate::error::CniError;
use std::ffi::{OsStr, OsString};
use std::fmt;

/// A `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The process environment, as given (injected in tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub vars: Vec<(OsString, OsString)>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os().collect(),
        }
    }

    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&OsStr> {
        // The last definition wins, as with getenv on a duplicated environ.
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_os_str())
    }
}

/// One CNI request, validated against the table for its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    /// Empty for STATUS, GC and VERSION.
    pub container_id: String,
    pub netns: Option<String>,
    /// Empty for STATUS, GC and VERSION.
    pub ifname: String,
    pub args: Option<String>,
    pub path: String,
}

/// The spec's container ID pattern: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
/// It ends up in file names, so it is checked strictly.
pub fn valid_container_id(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Interface-name rules (libcni's `ValidateInterfaceName`): 1–15 bytes, not
/// `.` or `..`, no `/`, `:` or whitespace; and no NUL (the name becomes
/// `CNI_IFNAME`, a C string, and the kernel would cut it there).
pub fn check_ifname(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 15 {
        return Err("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return Err("cannot be . or ..");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        return Err("cannot contain '/', ':', NUL or whitespace");
    }
    Ok(())
}

/// A container ID (or network name: the same pattern) as the spec allows
/// it; the message names what is wrong.
pub fn check_id(s: &str) -> Result<(), String> {
    if valid_container_id(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must start with a letter or digit and hold only letters, digits, '_', '.', '-'"
        ))
    }
}

type Check = fn(&str) -> Result<(), String>;

/// The environment table: variable, the commands that require it, and its check.
const TABLE: &[(&str, &[Command], Check)] = {
    use Command::*;
    &[
        ("CNI_CONTAINERID", &[Add, Del, Check], check_id),
        ("CNI_NETNS", &[Add, Check], |_| Ok(())),
        ("CNI_IFNAME", &[Add, Del, Check], |v| {
            check_ifname(v).map_err(|why| format!("{v:?} {why}"))
        }),
        ("CNI_ARGS", &[], |_| Ok(())),
        ("CNI_PATH", &[Add, Del, Check, Status, Gc], |_| Ok(())),
    ]
};

/// Read the request from `env`. Every missing or malformed variable is
/// named in one code-4 error.
pub fn parse_request(env: &Env) -> Result<Request, CniError> {
    let cmd_raw = env
        .get("CNI_COMMAND")
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let command = Command::parse(&cmd_raw).ok_or_else(|| {
        CniError::env(if cmd_raw.is_empty() {
            "CNI_COMMAND is not set".to_string()
        } else {
            format!(
                "unknown CNI_COMMAND {cmd_raw:?} (expected ADD, DEL, CHECK, STATUS, GC or VERSION)"
            )
        })
    })?;
    let mut problems = Vec::new();
    let mut values: [Option<String>; 5] = Default::default();
    let uses_container = matches!(command, Command::Add | Command::Del | Command::Check);
    for (slot, (name, required_for, check)) in values.iter_mut().zip(TABLE) {
        let required = required_for.contains(&command);
        // Only the variables the command uses are checked: a stray
        // CNI_IFNAME must not fail VERSION, STATUS or GC.
        let used = required
            || (*name == "CNI_ARGS" && command != Command::Version)
            || (*name == "CNI_NETNS" && uses_container);
        match env.get(name).map(|v| v.to_str()) {
            None | Some(Some("")) => {
                if required {
                    problems.push(format!("{name} is required for {command} but not set"));
                }
            }
            Some(None) => {
                if used {
                    problems.push(format!("{name} is not valid UTF-8"));
                }
            }
            Some(Some(v)) => {
                if used {
                    if let Err(why) = check(v) {
                        problems.push(format!("{name}: {why}"));
                    }
                }
                *slot = Some(v.to_string());
            }
        }
    }
    if !problems.is_empty() {
        return Err(CniError::env(problems.join("; ")));
    }
    let [container_id, netns, ifname, args, path] = values;
    Ok(Request {
        command,
        container_id: if uses_container {
            container_id.unwrap_or_default()
        } else {
            String::new()
        },
        netns: if uses_container { netns } else { None },
        ifname: if uses_container {
            ifname.unwrap_or_default()
        } else {
            String::new()
        },
        args,
        path: path.unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn add_needs_all_container_parameters_and_names_each_missing_one() {
        let e = parse_request(&env(&[("CNI_COMMAND", "ADD")])).unwrap_err();
        assert_eq!(e.code, 4);
        for v in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"] {
            assert!(e.msg.contains(v), "{v} not named in {}", e.msg);
        }
        assert!(!e.msg.contains("CNI_ARGS"));
    }

    #[test]
    fn del_does_not_need_netns_and_status_gc_need_no_container() {
        let r = parse_request(&env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "abc"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
        ]))
        .unwrap();
        assert_eq!(r.netns, None);
        for cmd in ["STATUS", "GC"] {
            let r = parse_request(&env(&[
                ("CNI_COMMAND", cmd),
                ("CNI_PATH", "/x"),
                ("CNI_CONTAINERID", "../bad"),
            ]))
            .unwrap();
            assert_eq!(r.container_id, "");
        }
        assert!(parse_request(&env(&[("CNI_COMMAND", "VERSION")])).is_ok());
    }

    #[test]
    fn container_id_and_ifname_are_validated() {
        let e = parse_request(&env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "../../etc"),
            ("CNI_IFNAME", "eth0/x"),
            ("CNI_PATH", "/x"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, 4);
        assert!(
            e.msg.contains("CNI_CONTAINERID") && e.msg.contains("CNI_IFNAME"),
            "{}",
            e.msg
        );
        assert!(valid_container_id("a-b_c.d9"));
        assert!(!valid_container_id("-a"));
        assert!(!valid_container_id(""));
    }

    #[test]
    fn invalid_utf8_counts_only_in_the_variables_the_command_uses() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(b"x\xffy".to_vec());
        let with = |cmd: &str, var: &str| {
            let mut e = env(&[
                ("CNI_COMMAND", cmd),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_NETNS", "/x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ]);
            e.vars.push((var.into(), bad()));
            parse_request(&e)
        };
        for var in [
            "CNI_CONTAINERID",
            "CNI_NETNS",
            "CNI_IFNAME",
            "CNI_ARGS",
            "CNI_PATH",
        ] {
            for cmd in ["ADD", "CHECK"] {
                let e = with(cmd, var).unwrap_err();
                assert_eq!(e.code, 4);
                assert!(e.msg.contains(var) && e.msg.contains("UTF-8"), "{}", e.msg);
            }
            assert!(with("VERSION", var).is_ok(), "VERSION with a bad {var}");
        }
        for var in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
            assert!(with("STATUS", var).is_ok(), "STATUS with a bad {var}");
            assert!(with("GC", var).is_ok(), "GC with a bad {var}");
        }
        assert!(with("DEL", "CNI_NETNS").is_err());
        assert_eq!(with("GC", "CNI_ARGS").unwrap_err().code, 4);
        assert_eq!(with("STATUS", "CNI_PATH").unwrap_err().code, 4);
    }

    #[test]
    fn unknown_or_missing_command_is_code_4() {
        assert_eq!(
            parse_request(&env(&[("CNI_COMMAND", "FROB")]))
                .unwrap_err()
                .code,
            4
        );
        assert_eq!(parse_request(&env(&[])).unwrap_err().code, 4);
    }
}
