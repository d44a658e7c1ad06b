//! What can be wrong with a result, phrased so a person can find the field.

use crate::error::{code, CniError};
use crate::version::Version;
use serde_json::Value;

/// Why a CNI result could not be read. Every variant that concerns a field
/// carries its path in the result (`ips[2].address`, `ip4.routes[0].dst`,
/// `dns.search[1]`), and the `Display` text starts with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// The bytes were empty or only whitespace (the delegate printed nothing).
    #[error("result is empty: expected a JSON object")]
    Empty,
    /// The bytes are not one JSON document.
    #[error("result is not valid JSON: {0}")]
    InvalidJson(String),
    /// The document is JSON but not an object.
    #[error("result must be a JSON object, found {found}")]
    NotAnObject { found: String },
    /// `cniVersion` names a version meta-cni does not know.
    #[error("cniVersion: {0:?} is not a supported CNI version (supported: {supported})", supported = Version::all_strings().join(", "))]
    UnsupportedVersion(String),
    /// A field holds the wrong kind of JSON value.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: String,
    },
    /// A required field is absent (or `null`).
    #[error("{path}: missing; {what} is required")]
    Missing { path: String, what: &'static str },
    /// An `address`, `ip` or `dst` that is not `address/prefix`.
    #[error(
        "{path}: {value:?} is not an IP network (expected address/prefix, e.g. \"10.0.0.2/24\")"
    )]
    BadNetwork { path: String, value: String },
    /// A `gateway` or `gw` that is not an IP address.
    #[error("{path}: {value:?} is not an IP address")]
    BadAddress { path: String, value: String },
    /// An IP's `interface` index with no such entry in `interfaces`.
    #[error(
        "{path}: interface index {index} points past the end of \"interfaces\" ({count} entries)"
    )]
    InterfaceIndexOutOfRange {
        path: String,
        index: u64,
        count: usize,
    },
}

impl ResultError {
    /// The CNI error code this maps to: 1 (incompatible version) for an
    /// unknown `cniVersion`, 6 (decoding failure) for everything else.
    pub fn code(&self) -> u32 {
        match self {
            ResultError::UnsupportedVersion(_) => code::INCOMPATIBLE_VERSION,
            _ => code::DECODE,
        }
    }
}

impl From<ResultError> for CniError {
    fn from(e: ResultError) -> Self {
        CniError::new(e.code(), e.to_string())
    }
}

/// Where a value sits in a result, built on the stack while parsing and only
/// rendered to text when an error needs it.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => f.write_str("result"),
            Path::Key(Path::Root, k) => f.write_str(k),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A short description of a JSON value for error messages: its kind and,
/// for scalars, the value (long strings cut).
pub(crate) fn describe(v: &Value) -> String {
    const MAX: usize = 60;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > MAX => {
            let cut: String = s.chars().take(MAX).collect();
            format!("string {cut:?}...")
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) => format!("an array of {} element(s)", a.len()),
        Value::Object(_) => "an object".into(),
    }
}
