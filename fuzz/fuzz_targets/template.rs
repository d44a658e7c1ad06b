//! cargo-fuzz target `template`: see `checks::template` (tests/fuzz/checks.rs, shared
//! with the stable replay in `cargo test --test fuzz`).
#![no_main]

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::template(data));
