//! CNI results: a typed model (the hub), parsing and printing per spec
//! version, conversion between versions, and merging.
//!
//! PLACEHOLDER: 1.0.0-shaped only; the full per-version model replaces it
//! (issue 3). The public API below is what the engine relies on.

use crate::version::Version;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("result is not a JSON object")]
    NotAnObject,
    #[error("result has unsupported cniVersion {0:?}")]
    UnsupportedVersion(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A CNI result in the hub (newest) model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
}

impl CniResult {
    /// Parse a result in whatever version its `cniVersion` says;
    /// `default_version` applies when it has none.
    pub fn parse(value: &Value, default_version: Version) -> Result<CniResult, ResultError> {
        let obj = value.as_object().ok_or(ResultError::NotAnObject)?;
        if let Some(v) = obj.get("cniVersion").and_then(Value::as_str) {
            if Version::parse(v).is_none() {
                return Err(ResultError::UnsupportedVersion(v.to_string()));
            }
        }
        let _ = default_version;
        serde_json::from_value(value.clone()).map_err(|e| ResultError::Invalid(e.to_string()))
    }

    /// Parse bytes a delegate printed.
    pub fn parse_slice(bytes: &[u8], default_version: Version) -> Result<CniResult, ResultError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| ResultError::Invalid(format!("not valid JSON: {e}")))?;
        Self::parse(&v, default_version)
    }

    /// The result printed in `version`'s wire form.
    pub fn to_json(&self, version: Version) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Value::Object(m) = &mut v {
            m.insert("cniVersion".into(), version.as_str().into());
        }
        v
    }

    /// Merge `other` into `self` (see behaviour.md section 6).
    pub fn merge(&mut self, other: &CniResult) {
        self.interfaces.extend(other.interfaces.iter().cloned());
        self.ips.extend(other.ips.iter().cloned());
        self.routes.extend(other.routes.iter().cloned());
    }
}
