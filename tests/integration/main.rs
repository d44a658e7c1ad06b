//! Integration tests: the built `meta-cni` binary against fake delegates
//! that record what they received (tests/fakes/fake-delegate).

mod harness;
#[path = "../fuzz/mutate.rs"]
mod mutate;
#[path = "../common/tempdir.rs"]
mod tempdir;

mod admin;
mod cli;
mod config_errors;
mod examples;
mod faults;
mod hostile;
mod inflight;
mod logging;
mod metrics;
mod parallel;
mod pipelines;
mod protocol;
mod random;
mod seed;
mod state;
mod trust;
mod verbs;
mod versions;
