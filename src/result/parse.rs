//! Reading the wire form of every CNI version into the hub model.
//!
//! Each version's reader looks only at the keys that version defines; any
//! other key is ignored (see the module docs in `mod.rs`). JSON `null` is
//! treated as "absent" everywhere, as Go's `encoding/json` does for libcni's
//! types; a required field that is `null` is therefore reported as missing.

use super::error::{describe, Path, ResultError};
use super::{CniResult, Dns, Interface, IpConfig, Route};
use crate::version::Version;
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::net::IpAddr;

type Obj = Map<String, Value>;
type Res<T> = Result<T, ResultError>;

/// The version a result is written in: its `cniVersion`, or `default_version`
/// when that is absent, `null` or `""`.
pub(crate) fn detect_version(obj: &Obj, default_version: Version) -> Res<Version> {
    match opt_str(obj, "cniVersion", &Path::Root)? {
        None => Ok(default_version),
        Some(s) => Version::parse(s).ok_or_else(|| ResultError::UnsupportedVersion(s.to_string())),
    }
}

pub(crate) fn parse_object(obj: &Obj, version: Version) -> Res<CniResult> {
    let root = Path::Root;
    match version {
        Version::V0_1_0 | Version::V0_2_0 => parse_v02(obj, &root),
        _ => parse_v03_plus(obj, &root, version),
    }
}

/// 0.1.0 / 0.2.0: `ip4` and `ip6` objects, each with `ip`, `gateway` and its
/// own `routes`. Up-conversion as libcni does it: the IPv4 config then the
/// IPv6 one become `ips` (without `interface`), their routes are
/// concatenated in the same order, and there are no interfaces.
fn parse_v02(obj: &Obj, root: &Path) -> Res<CniResult> {
    let mut out = CniResult::default();
    for key in ["ip4", "ip6"] {
        let p = root.key(key);
        let Some(ipc) = opt_object(obj, key, root)? else {
            continue;
        };
        out.ips.push(IpConfig {
            address: req_net(ipc, "ip", &p)?,
            gateway: opt_addr(ipc, "gateway", &p)?,
            interface: None,
        });
        for (i, r) in opt_array(ipc, "routes", &p)?.iter().enumerate() {
            out.routes
                .push(parse_route(r, &p.key("routes").index(i), false)?);
        }
    }
    out.dns = parse_dns(obj, root)?;
    Ok(out)
}

/// 0.3.0 to 1.1.0: `interfaces`, `ips`, `routes`, `dns`.
///
/// The per-IP `version` of 0.3.x/0.4.0 must be a string if present, but its
/// value is not trusted: the address itself says which family it is. libcni
/// accepts any string there (and even none) and, when converting down to
/// 0.2.0, sorts IPs by that string, so an IP with a missing or wrong
/// `version` is silently lost or filed under the wrong family. We accept the
/// same inputs but always use the address family, so a mislabelled IP is
/// kept and lands where it belongs; on output `version` is regenerated from
/// the address. In 1.0.0 and later `version` is not part of the format and
/// is ignored like any unknown key.
fn parse_v03_plus(obj: &Obj, root: &Path, version: Version) -> Res<CniResult> {
    let v11 = version >= Version::V1_1_0;
    let mut out = CniResult::default();

    let p = root.key("interfaces");
    for (i, v) in opt_array(obj, "interfaces", root)?.iter().enumerate() {
        let ip = p.index(i);
        let o = as_object(v, &ip, "an interface object")?;
        out.interfaces.push(Interface {
            name: opt_str(o, "name", &ip)?.unwrap_or_default().to_string(),
            mac: opt_string(o, "mac", &ip)?,
            sandbox: opt_string(o, "sandbox", &ip)?,
            mtu: if v11 { opt_uint(o, "mtu", &ip)? } else { None },
            socket_path: if v11 {
                opt_string(o, "socketPath", &ip)?
            } else {
                None
            },
            pci_id: if v11 {
                opt_string(o, "pciID", &ip)?
            } else {
                None
            },
        });
    }

    let p = root.key("ips");
    for (i, v) in opt_array(obj, "ips", root)?.iter().enumerate() {
        let ip = p.index(i);
        let o = as_object(v, &ip, "an IP configuration object")?;
        if version < Version::V1_0_0 {
            // Type-checked, value deliberately unused (see above).
            opt_str(o, "version", &ip)?;
        }
        let interface = match opt_value(o, "interface") {
            None => None,
            Some(n) => {
                let ipath = ip.key("interface");
                let idx = n.as_u64().ok_or_else(|| {
                    wrong(
                        &ipath,
                        "a non-negative integer index into \"interfaces\"",
                        n,
                    )
                })?;
                if idx >= out.interfaces.len() as u64 {
                    return Err(ResultError::InterfaceIndexOutOfRange {
                        path: ipath.to_string(),
                        index: idx,
                        count: out.interfaces.len(),
                    });
                }
                // Below interfaces.len(), so it fits in usize.
                Some(idx as usize)
            }
        };
        out.ips.push(IpConfig {
            address: req_net(o, "address", &ip)?,
            gateway: opt_addr(o, "gateway", &ip)?,
            interface,
        });
    }

    let p = root.key("routes");
    for (i, r) in opt_array(obj, "routes", root)?.iter().enumerate() {
        out.routes.push(parse_route(r, &p.index(i), v11)?);
    }

    out.dns = parse_dns(obj, root)?;
    Ok(out)
}

fn parse_route(v: &Value, p: &Path, v11: bool) -> Res<Route> {
    let o = as_object(v, p, "a route object")?;
    let mut r = Route::new(req_net(o, "dst", p)?);
    r.gw = opt_addr(o, "gw", p)?;
    if v11 {
        r.mtu = opt_uint(o, "mtu", p)?;
        r.advmss = opt_uint(o, "advmss", p)?;
        r.priority = opt_uint(o, "priority", p)?;
        r.table = opt_u32_keep_zero(o, "table", p)?;
        r.scope = match opt_value(o, "scope") {
            None => None,
            Some(n) => {
                let sp = p.key("scope");
                let s = n
                    .as_u64()
                    .and_then(|s| u8::try_from(s).ok())
                    .ok_or_else(|| wrong(&sp, "an integer from 0 to 255", n))?;
                Some(s)
            }
        };
    }
    Ok(r)
}

fn parse_dns(obj: &Obj, root: &Path) -> Res<Dns> {
    let Some(d) = opt_object(obj, "dns", root)? else {
        return Ok(Dns::default());
    };
    let p = root.key("dns");
    Ok(Dns {
        nameservers: str_list(d, "nameservers", &p)?,
        domain: opt_string(d, "domain", &p)?,
        search: str_list(d, "search", &p)?,
        options: str_list(d, "options", &p)?,
    })
}

// ---- typed readers; `null` counts as absent ----

fn wrong(p: &Path, expected: &'static str, found: &Value) -> ResultError {
    ResultError::WrongType {
        path: p.to_string(),
        expected,
        found: describe(found),
    }
}

fn opt_value<'v>(o: &'v Obj, key: &str) -> Option<&'v Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn as_object<'v>(v: &'v Value, p: &Path, expected: &'static str) -> Res<&'v Obj> {
    v.as_object().ok_or_else(|| wrong(p, expected, v))
}

fn opt_object<'v>(o: &'v Obj, key: &str, parent: &Path) -> Res<Option<&'v Obj>> {
    opt_value(o, key)
        .map(|v| as_object(v, &parent.key(key), "an object"))
        .transpose()
}

fn opt_array<'v>(o: &'v Obj, key: &str, parent: &Path) -> Res<&'v [Value]> {
    match opt_value(o, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(wrong(&parent.key(key), "an array", v)),
    }
}

fn opt_str<'v>(o: &'v Obj, key: &str, parent: &Path) -> Res<Option<&'v str>> {
    match opt_value(o, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(wrong(&parent.key(key), "a string", v)),
    }
}

/// An optional string field; `""` is the same as absent (libcni omits empty
/// strings when printing, so the two cannot be told apart downstream).
fn opt_string(o: &Obj, key: &str, parent: &Path) -> Res<Option<String>> {
    Ok(opt_str(o, key, parent)?.map(str::to_string))
}

fn str_list(o: &Obj, key: &str, parent: &Path) -> Res<Vec<String>> {
    let p = parent.key(key);
    opt_array(o, key, parent)?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(wrong(&p.index(i), "a string", v)),
        })
        .collect()
}

/// A uint field that libcni prints with `omitempty`: 0 is the same as absent.
fn opt_uint(o: &Obj, key: &str, parent: &Path) -> Res<Option<u32>> {
    Ok(opt_u32_keep_zero(o, key, parent)?.filter(|n| *n != 0))
}

/// A uint field where 0 is a real value (route `table`).
fn opt_u32_keep_zero(o: &Obj, key: &str, parent: &Path) -> Res<Option<u32>> {
    match opt_value(o, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                wrong(
                    &parent.key(key),
                    "a non-negative integer (at most 4294967295)",
                    v,
                )
            }),
    }
}

fn req_net(o: &Obj, key: &str, parent: &Path) -> Res<IpNet> {
    let p = parent.key(key);
    match opt_value(o, key) {
        None => Err(ResultError::Missing {
            path: p.to_string(),
            what: "an IP network such as \"10.0.0.2/24\"",
        }),
        Some(Value::String(s)) => s.parse().map_err(|_| ResultError::BadNetwork {
            path: p.to_string(),
            value: s.clone(),
        }),
        Some(v) => Err(wrong(&p, "a string such as \"10.0.0.2/24\"", v)),
    }
}

/// An optional address. `""` counts as absent: Go's `net.IP` decodes an
/// empty string to "no address" without error, and libcni then omits it.
fn opt_addr(o: &Obj, key: &str, parent: &Path) -> Res<Option<IpAddr>> {
    match opt_str(o, key, parent)? {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| ResultError::BadAddress {
            path: parent.key(key).to_string(),
            value: s.to_string(),
        }),
    }
}
