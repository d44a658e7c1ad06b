//! Tests for the result module. Fixtures are real plugin output, see
//! `tests/fixtures/results/README.md`.
#![allow(clippy::unwrap_used)]

mod convert;
mod fixtures;
mod malformed;
mod merge;

use super::*;
use serde_json::json;

macro_rules! fixture {
    ($name:literal, $version:ident) => {
        Fixture {
            name: $name,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/results/",
                $name,
                ".json"
            )),
            version: Version::$version,
        }
    };
}

pub(super) struct Fixture {
    pub name: &'static str,
    pub text: &'static str,
    pub version: Version,
}

impl Fixture {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(self.text).unwrap()
    }

    pub(super) fn result(&self) -> CniResult {
        CniResult::parse_slice(self.text.as_bytes(), Version::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

pub(super) const FIXTURES: &[Fixture] = &[
    fixture!("bridge-host-local-0.2.0", V0_2_0),
    fixture!("bridge-host-local-0.3.1", V0_3_1),
    fixture!("bridge-host-local-0.4.0", V0_4_0),
    fixture!("bridge-host-local-1.0.0", V1_0_0),
    fixture!("bridge-dualstack-0.2.0", V0_2_0),
    fixture!("bridge-dualstack-1.0.0", V1_0_0),
    fixture!("ptp-host-local-0.3.1", V0_3_1),
    fixture!("ptp-host-local-1.0.0", V1_0_0),
    fixture!("macvlan-host-local-0.4.0", V0_4_0),
    fixture!("macvlan-host-local-1.0.0", V1_0_0),
    fixture!("host-local-0.2.0", V0_2_0),
    fixture!("host-local-0.3.1", V0_3_1),
    fixture!("host-local-1.0.0", V1_0_0),
    fixture!("handwritten-1.1.0", V1_1_0),
];

/// Shorthand: parse a `json!` value, panicking with the error.
pub(super) fn parse(v: Value) -> CniResult {
    CniResult::parse(&v, Version::DEFAULT).unwrap_or_else(|e| panic!("{e}"))
}

/// Parse and return the error text (panics if it parses).
pub(super) fn parse_err(v: Value) -> String {
    match CniResult::parse(&v, Version::DEFAULT) {
        Ok(r) => panic!("expected an error, parsed {r:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn every_fixture_file_is_in_the_table() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/results");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|f| f.name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn fixture_versions_match_their_cni_version() {
    for f in FIXTURES {
        assert_eq!(
            f.json()["cniVersion"],
            json!(f.version.as_str()),
            "{}",
            f.name
        );
        let (_, v) = CniResult::parse_slice_versioned(f.text.as_bytes(), Version::V0_1_0).unwrap();
        assert_eq!(v, f.version, "{}", f.name);
    }
}
