//! The fuzz targets' properties under stable `cargo test`:
//!
//! * every saved input under `tests/fixtures/fuzz/<target>/` (crashes the
//!   fuzzers found, kept as regressions) and every seed (the examples, the
//!   result fixtures, `fuzz/seeds/`) goes through every target's check;
//! * a bounded run of structure-aware random mutations of those seeds
//!   (`tests/fuzz/mutate.rs`) goes through the same checks, reproducible
//!   from `META_CNI_FUZZ_SEED` (printed on failure), sized by
//!   `META_CNI_FUZZ_ITERS` (default 1500).
//!
//! The long runs are `make fuzz` (cargo-fuzz, nightly; see `fuzz/README.md`).

mod checks;
mod mutate;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("README"))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every seed, for every target.
fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let r = root();
    let mut dirs = vec![r.join("examples"), r.join("tests/fixtures/results")];
    for (t, _) in checks::TARGETS {
        dirs.push(r.join("fuzz/seeds").join(t));
    }
    dirs.iter()
        .flat_map(|d| files_in(d))
        .filter(|p| p.extension().map_or(true, |e| e != "sh"))
        .map(|p| {
            let b = std::fs::read(&p).expect("read seed");
            (p, b)
        })
        .collect()
}

fn run_all(what: &str, data: &[u8]) {
    for (name, check) in checks::TARGETS {
        let r = std::panic::catch_unwind(|| check(data));
        if let Err(e) = r {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "target {name} on {what}: {why}\ninput ({} bytes): {:?}",
                data.len(),
                String::from_utf8_lossy(&data[..data.len().min(2000)])
            );
        }
    }
}

#[test]
fn saved_regressions_pass_their_target() {
    let dir = root().join("tests/fixtures/fuzz");
    let mut n = 0;
    for (name, check) in checks::TARGETS {
        for p in files_in(&dir.join(name)) {
            let data = std::fs::read(&p).expect("read");
            check(&data);
            n += 1;
        }
    }
    // Also each regression through every other target (cheap, and their
    // inputs are good at finding edges elsewhere too).
    for (name, _) in checks::TARGETS {
        for p in files_in(&dir.join(name)) {
            run_all(&p.display().to_string(), &std::fs::read(&p).expect("read"));
        }
    }
    eprintln!("{n} saved fuzz inputs replayed");
}

#[test]
fn every_seed_passes_every_target() {
    let seeds = seeds();
    assert!(seeds.len() >= 20, "only {} seeds", seeds.len());
    for (p, data) in &seeds {
        run_all(&p.display().to_string(), data);
    }
}

#[test]
fn random_mutations_of_the_seeds_pass_every_target() {
    let seed = mutate::seed_from_env(0x6d65_7461_2d63_6e69);
    let iters = mutate::count_from_env("META_CNI_FUZZ_ITERS", 1500);
    let seeds = seeds();
    let started = std::time::Instant::now();
    for i in 0..iters {
        // One generator per case: any case can be replayed alone.
        let case_seed = seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
        let mut rng = mutate::Rng::new(case_seed);
        let (p, base) = rng.pick(&seeds);
        let mut data = mutate::mutate(&mut rng, base);
        if rng.one_in(4) {
            data = mutate::mutate(&mut rng, &data);
        }
        let r = std::panic::catch_unwind(|| run_all(&p.display().to_string(), &data));
        if let Err(e) = r {
            let why = e.downcast_ref::<String>().cloned().unwrap_or_default();
            panic!(
                "case {i} failed (rerun with META_CNI_FUZZ_SEED={seed:#x}): mutant of {}\n{why}",
                p.display()
            );
        }
    }
    eprintln!(
        "{iters} mutants checked in {:?} (META_CNI_FUZZ_SEED={seed:#x})",
        started.elapsed()
    );
}
