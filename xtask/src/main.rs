//! Project automation: `cargo xtask <command>`.
//!
//! Commands:
//! - `build-plugins`: builds the reference plugins under `plugins/` for
//!   `wasm32-unknown-unknown` into `target/plugins/`, adding the Rust target
//!   if it is missing.
//! - `test`: installs the test prerequisites that are missing (the wasm32
//!   Rust targets, and the zig C compiler from PyPI for the C test plugin),
//!   builds the reference plugins, then runs `cargo test --workspace`. This
//!   is the README's test command.
//! - `tidy`: the repository's structural rules (see [`tidy`]); also run by
//!   `cargo test`.
//! - `conformance [--point P]... [PLUGIN.wasm ...]`: builds the reference
//!   plugins, then runs the extension points' conformance suites (the
//!   `bitvault-conformance` binary) over the given modules, or over every
//!   reference plugin, printing a table per plugin; fails if a case fails.
//! - `protos [--check]`: regenerates the extension points' Rust messages
//!   from their `.proto` contracts (see [`protos`]), or with `--check`
//!   fails if they are out of date; a test runs the check.

mod lang_as;
mod lang_c_zig;
mod lang_go;
mod lang_js;
mod lang_python;
mod polyglot;
mod protos;
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

/// The Rust targets plugins are built for.
const WASM_TARGETS: &[&str] = &["wasm32-unknown-unknown", "wasm32-wasip1"];

/// Adds the wasm32 targets to the toolchain where missing.
fn ensure_targets() -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let missing: Vec<&str> = WASM_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    missing.is_empty()
        || run(Command::new("rustup")
            .args(["target", "add"])
            .args(&missing))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn build_plugins() -> bool {
    if !ensure_targets() {
        eprintln!(
            "xtask: cannot add the wasm32 targets; run `rustup target add {}`",
            WASM_TARGETS.join(" ")
        );
        return false;
    }
    let root = root();
    run(cargo()
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--manifest-path",
        ])
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target/plugins")))
        && polyglot::build(&root)
}

fn test() -> ExitCode {
    if !build_plugins() {
        return ExitCode::FAILURE;
    }
    if !ensure_zig() {
        eprintln!(
            "xtask: cannot install {ZIGLANG}; install it with `python3 -m pip install {ZIGLANG}` or set BITVAULT_ZIG to a zig executable"
        );
        return ExitCode::FAILURE;
    }
    if run(cargo().args(["test", "--workspace"]).current_dir(root())) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn conformance(args: &[String]) -> ExitCode {
    if !build_plugins() {
        return ExitCode::FAILURE;
    }
    let status = cargo()
        .args(["run", "--quiet", "--package", "bitvault-conformance", "--"])
        .args(args)
        .current_dir(root())
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
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
        Some("build-plugins") => {
            if build_plugins() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
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
        Some("conformance") => conformance(&args[1..]),
        Some("protos") => match if args.get(1).is_some_and(|a| a == "--check") {
            protos::check(&root())
        } else {
            protos::write(&root())
        } {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: {e:#}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask <build-plugins|test|tidy|protos|conformance>");
            ExitCode::from(2)
        }
    }
}
