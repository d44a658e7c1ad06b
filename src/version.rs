//! CNI specification versions meta-cni speaks, what each one can do, and
//! reading a plugin's `VERSION` answer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A CNI specification version. Ordered: `V0_1_0 < … < V1_1_0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V0_1_0,
    V0_2_0,
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

impl Version {
    /// Every supported version, oldest first (the `VERSION` reply order).
    pub const ALL: [Version; 7] = [
        Version::V0_1_0,
        Version::V0_2_0,
        Version::V0_3_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ];

    /// Used when a config has no `cniVersion` at all.
    pub const DEFAULT: Version = Version::V1_0_0;

    pub fn parse(s: &str) -> Option<Version> {
        Some(match s {
            "0.1.0" => Version::V0_1_0,
            "0.2.0" => Version::V0_2_0,
            "0.3.0" => Version::V0_3_0,
            "0.3.1" => Version::V0_3_1,
            "0.4.0" => Version::V0_4_0,
            "1.0.0" => Version::V1_0_0,
            "1.1.0" => Version::V1_1_0,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
            Version::V0_3_0 => "0.3.0",
            Version::V0_3_1 => "0.3.1",
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }

    /// CHECK exists from 0.4.0 on.
    pub fn has_check(self) -> bool {
        self >= Version::V0_4_0
    }

    /// STATUS and GC exist from 1.1.0 on.
    pub fn has_status_gc(self) -> bool {
        self >= Version::V1_1_0
    }

    /// The supported versions as a JSON-ready list of strings.
    pub fn all_strings() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Version, String> {
        Version::parse(s).ok_or_else(|| {
            format!(
                "CNI version {s:?} is not one of {}",
                Version::all_strings().join(", ")
            )
        })
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The `supportedVersions` of a plugin's `VERSION` answer, as it lists
/// them (versions meta-cni does not know included).
pub fn supported_versions(answer: &[u8]) -> Result<Vec<String>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(answer).map_err(|e| format!("not JSON: {e}"))?;
    Ok(v.get("supportedVersions")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_version() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
        assert_eq!(Version::parse("1.2.0"), None);
        assert_eq!(Version::parse(""), None);
        assert!(Version::V0_3_1 < Version::V0_4_0);
        assert!(!Version::V0_3_1.has_check());
        assert!(Version::V0_4_0.has_check());
        assert_eq!("1.1.0".parse::<Version>(), Ok(Version::V1_1_0));
        assert!("2.0.0".parse::<Version>().is_err());
        let json = serde_json::to_string(&Version::V0_3_1).unwrap_or_default();
        assert_eq!(json, "\"0.3.1\"");
        assert_eq!(
            serde_json::from_str::<Version>(&json).ok(),
            Some(Version::V0_3_1)
        );
        assert!(serde_json::from_str::<Version>("\"9.9.9\"").is_err());
    }

    #[test]
    fn supported_versions_are_read_from_a_version_answer() {
        let a = br#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0","9.0.0"]}"#;
        assert_eq!(
            supported_versions(a),
            Ok(vec!["0.4.0".into(), "1.0.0".into(), "9.0.0".into()])
        );
        assert_eq!(supported_versions(b"{}"), Ok(vec![]));
        assert!(supported_versions(b"not json").is_err());
    }
}
