//! Integration tests: the built `meta-cni` binary against fake delegates
//! that record what they received (tests/fakes/fake-delegate).

mod harness;

mod cli;
mod config_errors;
mod faults;
mod logging;
mod pipelines;
mod protocol;
mod seed;
mod state;
mod verbs;
mod versions;
