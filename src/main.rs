//! Entry point: all logic lives in the library; this only maps it to an exit code.

fn main() -> std::process::ExitCode {
    meta_cni::main_entry()
}
