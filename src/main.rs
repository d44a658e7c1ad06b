//! Entry point: all logic lives in the library; this only maps it to an
//! exit code and installs the allocator.

mod arena;

#[global_allocator]
static ALLOCATOR: arena::Arena<{ arena::SIZE }> = arena::Arena::new();

fn main() -> std::process::ExitCode {
    meta_cni::main_entry()
}
