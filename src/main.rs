//! Entry point: all logic lives in the library; this only maps it to an
//! exit code and, in the shipped (optimised) build, installs the allocator.

#[cfg_attr(debug_assertions, allow(dead_code))]
mod arena;

/// The bump arena in front of the system allocator: it saves about 9% of a
/// 3-delegate ADD (docs/performance.md). Debug builds, which the tests run,
/// use the system allocator; the arena has its own unit tests.
#[cfg(not(debug_assertions))]
#[global_allocator]
static ALLOCATOR: arena::Arena<{ arena::SIZE }> = arena::Arena::new();

fn main() -> std::process::ExitCode {
    meta_cni::main_entry()
}
