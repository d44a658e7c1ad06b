//! CNI results: a typed model (the hub), parsing and printing per spec
//! version, conversion between versions, and merging.
//!
//! # Model
//!
//! [`CniResult`] is the 1.1.0 result with real address types. Every version
//! is read into it ([`CniResult::parse`]) and printed from it
//! ([`CniResult::to_json`]), so converting from version A to B is "parse as A,
//! print as B", with libcni's conversion rules:
//!
//! * up from 0.1.0/0.2.0: `ip4` then `ip6` become `ips` (no `interface`), their
//!   routes are concatenated in that order, there are no interfaces;
//! * down to 0.1.0/0.2.0: the first IPv4 and the first IPv6 address become
//!   `ip4`/`ip6`, each route goes to the config of its `dst` family (and is
//!   dropped if that family has no address), interfaces are dropped;
//! * 0.3.0/0.3.1/0.4.0 print `version` on each IP, derived from the address;
//! * fields a version does not define are never printed in it (1.1.0's
//!   interface `mtu`/`socketPath`/`pciID` and route
//!   `mtu`/`advmss`/`priority`/`table`/`scope` are dropped below 1.1.0), and
//!   never invented going up.
//!
//! Deliberate differences from libcni, all in the direction of not losing or
//! mislabelling data:
//!
//! * libcni converts 1.1.0 to 1.0.0 and 0.x without removing the 1.1.0 route
//!   fields (its 0.4.0 and 1.0.0 routes share the 1.1.0 route type); we print
//!   exactly the fields of the target version.
//! * A 0.3.x/0.4.0 IP's `version` label is type-checked but not trusted: the
//!   address says which family it is (libcni files a mislabelled or unlabelled
//!   IP by the label and loses it when converting to 0.2.0).
//! * Converting an address-less result to 0.2.0 is an error in libcni; here
//!   printing cannot fail and gives `{"cniVersion":"0.2.0","dns":{}}`.
//!   [`CniResult::conversion_losses`] says so, for logging.
//!
//! # Parsing
//!
//! Each version's reader looks only at the keys that version defines. Any
//! other key (vendor extensions, or e.g. a route `mtu` in a 1.0.0 result) is
//! ignored and not kept: libcni drops them too, so nothing downstream of a
//! runtime could see them, and keeping them would need merge rules for
//! values we do not understand. `null` is the same as absent; empty strings
//! in optional string fields are the same as absent (libcni prints neither).
//! Wrong JSON types, unparsable addresses, and IP `interface` indexes that are
//! not valid indexes into `interfaces` are errors naming the field.

mod convert;
mod emit;
mod error;
mod merge;
mod parse;

#[cfg(test)]
mod tests;

pub use error::ResultError;

use crate::version::Version;
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// An interface created by an attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
    /// The netns path for interfaces in the container; `None` on the host.
    pub sandbox: Option<String>,
    /// 1.1.0.
    pub mtu: Option<u32>,
    /// 1.1.0.
    pub socket_path: Option<String>,
    /// 1.1.0.
    pub pci_id: Option<String>,
}

/// An address assigned by an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpConfig {
    /// Address with prefix length; host bits are kept (`10.0.0.2/24`).
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    /// Index into [`CniResult::interfaces`].
    pub interface: Option<usize>,
}

/// A route created by an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
    /// 1.1.0. `None` and `Some(0)` print the same (omitted).
    pub mtu: Option<u32>,
    /// 1.1.0. `None` and `Some(0)` print the same (omitted).
    pub advmss: Option<u32>,
    /// 1.1.0. `None` and `Some(0)` print the same (omitted).
    pub priority: Option<u32>,
    /// 1.1.0. `Some(0)` is printed.
    pub table: Option<u32>,
    /// 1.1.0. `Some(0)` (universe) is printed.
    pub scope: Option<u8>,
}

impl Route {
    /// A route to `dst` with nothing else set.
    pub fn new(dst: IpNet) -> Route {
        Route {
            dst,
            gw: None,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

/// DNS settings of an attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Dns {
    pub nameservers: Vec<String>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.as_deref().unwrap_or("").is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// A CNI result in the hub (1.1.0) model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CniResult {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

impl CniResult {
    /// The version whose model this is.
    pub const HUB_VERSION: Version = Version::V1_1_0;

    /// Parse a result in whatever version its `cniVersion` says;
    /// `default_version` applies when it is absent, `null` or `""` (libcni
    /// assumes the config's version for delegates that omit it).
    pub fn parse(value: &Value, default_version: Version) -> Result<CniResult, ResultError> {
        Self::parse_versioned(value, default_version).map(|(r, _)| r)
    }

    /// Like [`CniResult::parse`], also returning the version the result was
    /// written in.
    pub fn parse_versioned(
        value: &Value,
        default_version: Version,
    ) -> Result<(CniResult, Version), ResultError> {
        let obj = value.as_object().ok_or_else(|| ResultError::NotAnObject {
            found: error::describe(value),
        })?;
        let version = parse::detect_version(obj, default_version)?;
        Ok((parse::parse_object(obj, version)?, version))
    }

    /// Parse a result from raw bytes (a delegate's stdout). Empty output and
    /// invalid JSON (including anything after the document) are errors.
    pub fn parse_slice(bytes: &[u8], default_version: Version) -> Result<CniResult, ResultError> {
        Self::parse_slice_versioned(bytes, default_version).map(|(r, _)| r)
    }

    /// Like [`CniResult::parse_slice`], also returning the version the result
    /// was written in.
    pub fn parse_slice_versioned(
        bytes: &[u8],
        default_version: Version,
    ) -> Result<(CniResult, Version), ResultError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ResultError::Empty);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ResultError::InvalidJson(e.to_string()))?;
        Self::parse_versioned(&value, default_version)
    }

    /// The result in `version`'s wire form, with `cniVersion` set. Cannot
    /// fail; what an older version cannot hold is left out (see the module
    /// docs and [`CniResult::conversion_losses`]).
    pub fn to_json(&self, version: Version) -> Value {
        emit::to_json(self, version)
    }

    /// Human-readable notes on what [`CniResult::to_json`] at `version` leaves
    /// out (extra addresses, interfaces, 1.1.0 fields...). Empty when the
    /// conversion keeps everything.
    pub fn conversion_losses(&self, version: Version) -> Vec<String> {
        convert::losses(self, version)
    }

    /// True when the result has no interfaces, IPs, routes or DNS settings.
    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty()
            && self.ips.is_empty()
            && self.routes.is_empty()
            && self.dns.is_empty()
    }

    /// Merge `other` into `self` (behaviour.md section 6):
    ///
    /// * interfaces are de-duplicated by `(name, sandbox)`; a repeated one
    ///   keeps its position and values, missing fields filled from `other`;
    /// * `other`'s IP `interface` indexes are remapped into the merged list
    ///   (an index past `other.interfaces` is dropped);
    /// * IPs and routes are appended in order, skipping ones already present:
    ///   exact duplicates, and also copies that only lack information the
    ///   present one has (an IP without `interface`, a route without its
    ///   1.1.0 fields), which is what a `prevResult` passed through an
    ///   older-version delegate comes back as;
    /// * DNS: `domain` from `other` when set; nameservers, search and options
    ///   unioned, first occurrence order.
    ///
    /// Hash-based: linear in the sizes of both results.
    pub fn merge(&mut self, other: &CniResult) {
        merge::merge(self, other);
    }
}
