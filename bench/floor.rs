//! The Rust floor for the ADD case: what any Rust meta plugin pays at
//! least. It only runs the delegates in `FLOOR_DELEGATES` (paths separated
//! by ':') in sequence with `std::process` (posix_spawn), giving the first
//! its stdin and each next one the previous output, and prints the last
//! output. Built by bench/run like meta-cni (static musl when available).
use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let Ok(list) = std::env::var("FLOOR_DELEGATES") else {
        return ExitCode::from(2);
    };
    let mut data = Vec::new();
    if std::io::stdin().read_to_end(&mut data).is_err() {
        return ExitCode::from(2);
    }
    for path in list.split(':') {
        let Ok(mut child) = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        else {
            return ExitCode::from(2);
        };
        // Configs and these results are small: one write fits the pipe.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&data);
        }
        let mut out = Vec::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_end(&mut out);
        }
        match child.wait() {
            Ok(s) if s.success() => data = out,
            _ => return ExitCode::from(1),
        }
    }
    let _ = std::io::stdout().write_all(&data);
    ExitCode::SUCCESS
}
