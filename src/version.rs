//! CNI specification versions meta-cni speaks, and what each one can do.

use std::fmt;

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
    }
}
