//! Integration tests: the built `meta-cni` binary against fake delegates
//! that record what they received (tests/fakes/fake-delegate).

mod harness;
#[path = "../fuzz/mutate.rs"]
mod mutate;

mod config_errors;
mod faults;
mod hostile;
mod pipelines;
mod protocol;
mod random;
mod seed;
mod state;
mod versions;
