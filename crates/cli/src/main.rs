//! `bitvault-plugin`: run, inspect and benchmark BitVault plugins from the
//! command line.
//!
//! - `run MODULE EXPORT` invokes one export once with the core ABI granted
//!   (or what a `--grant` file names)
//!   and prints the plugin's output, or with `--json` one JSON object
//!   describing the outcome;
//! - `inspect MODULE` reports a module's imports, exports, memories and
//!   tables without compiling it;
//! - `bench MODULE EXPORT` loads a module once and times many fresh
//!   invocations;
//! - `keygen`, `sign` and `verify` make publisher keys, sign packages and
//!   verify them against a trust policy.
//!
//! The JSON outcome format and the exit statuses are a contract, documented
//! in `docs/cli.md`: exit codes live in [`exit`], JSON rendering in [`json`].
#![forbid(unsafe_code)]

mod bench;
mod exit;
mod host;
mod inspect;
mod json;
mod package;
mod run;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run, inspect and benchmark BitVault plugins.
#[derive(Debug, Parser)]
#[command(name = "bitvault-plugin", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Invoke one export once, with the core ABI (or a grant file's) granted.
    Run(run::Args),
    /// Report a module's imports, exports, memories and tables without
    /// compiling it.
    Inspect(inspect::Args),
    /// Load a module once and time many fresh invocations of one export.
    Bench(bench::Args),
    /// Generate a publisher's Ed25519 key pair (PKCS#8 and SPKI PEM).
    Keygen(package::KeygenArgs),
    /// Sign a package: a manifest source and a module, with a publisher key.
    Sign(package::SignArgs),
    /// Verify a package against a trust policy, before anything compiles it.
    Verify(package::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Bench(args) => bench::bench(args),
        Command::Keygen(args) => package::keygen(args),
        Command::Sign(args) => package::sign_package(args),
        Command::Verify(args) => package::verify_package(args),
    };
    match status {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Nothing useful is left to do if stderr is gone too.
            let _ = writeln!(std::io::stderr().lock(), "error: {e:#}");
            ExitCode::from(exit::HOST_ERROR)
        }
    }
}
