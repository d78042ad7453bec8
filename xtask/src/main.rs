//! Project automation: `cargo xtask <command>`.
//!
//! Commands:
//! - `test`: installs the test prerequisites that are missing (the zig C
//!   compiler from PyPI, used to build the C test plugin), then runs
//!   `cargo test --workspace`. This is the README's test command.
//! - `tidy`: the repository's structural rules (see [`tidy`]); also run by
//!   `cargo test`.

mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The zig release the C test plugin is built with.
const ZIGLANG: &str = "ziglang==0.17.1";

fn run(cmd: &mut Command) -> bool {
    eprintln!("xtask: running {cmd:?}");
    cmd.status().is_ok_and(|s| s.success())
}

/// Makes sure `python3 -m ziglang` works, installing it with pip if not.
fn ensure_zig() -> bool {
    if std::env::var_os("BITVAULT_ZIG").is_some() {
        return true;
    }
    let present = Command::new("python3")
        .args(["-m", "ziglang", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    present || run(Command::new("python3").args(["-m", "pip", "install", "--quiet", ZIGLANG]))
}

fn test() -> ExitCode {
    if !ensure_zig() {
        eprintln!(
            "xtask: cannot install {ZIGLANG}; install it with `python3 -m pip install {ZIGLANG}` or set BITVAULT_ZIG to a zig executable"
        );
        return ExitCode::FAILURE;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if run(Command::new(cargo)
        .args(["test", "--workspace"])
        .current_dir(root()))
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("tidy") => {
            let problems = tidy::check(&root());
            if problems.is_empty() {
                println!("tidy: ok");
                ExitCode::SUCCESS
            } else {
                for p in &problems {
                    eprintln!("tidy: {p}");
                }
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo xtask <test|tidy>");
            ExitCode::from(2)
        }
    }
}
