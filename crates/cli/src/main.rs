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
//!   verify them against a trust policy;
//! - `push`, `pull` and `search` publish, fetch and list packages in an OCI
//!   registry (an image-layout directory or a remote registry);
//! - `trust`, `install`, `upgrade`, `rollback`, `grant`, `revoke`,
//!   `list-installed`, `show` and `audit` administer tenants' installed
//!   plugins through the plugin host, with the state in a home directory;
//!   `invoke` calls an installed plugin;
//!
//! - `new NAME --lang LANG` writes a plugin project to start from (Rust, C,
//!   Zig, Go or AssemblyScript) that builds, passes its extension point's
//!   conformance suite and runs as generated, or (JavaScript, Python) a
//!   WASI command in stdio mode that builds and runs;
//! - `demo` builds the reference plugins, signs and publishes them to the
//!   embedded registry, installs them for two tenants, calls every
//!   extension point and shows one refusal of each kind.
//!
//! The JSON outcome format and the exit statuses are a contract, documented
//! in `docs/cli.md`: exit codes live in [`exit`], JSON rendering in [`json`].
#![forbid(unsafe_code)]

mod admin;
mod bench;
mod demo;
mod exit;
mod host;
mod inspect;
mod invoke;
mod json;
mod package;
mod registry_cmds;
mod release;
mod run;
mod scaffold;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run, inspect, benchmark, sign, publish and install BitVault plugins.
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
    /// Publish a signed package to a registry.
    Push(registry_cmds::PushArgs),
    /// Fetch a package from a registry, every digest checked, into a
    /// directory.
    Pull(registry_cmds::PullArgs),
    /// List a registry's packages: versions, publishers, capabilities and
    /// signers.
    Search(registry_cmds::SearchArgs),
    /// Set a tenant's trust policy.
    Trust(admin::TrustArgs),
    /// Install a plugin for a tenant, through the whole admission pipeline.
    Install(admin::InstallArgs),
    /// Move a tenant's installed plugin to a higher release.
    Upgrade(admin::UpgradeArgs),
    /// Return a tenant's installed plugin to an earlier release.
    Rollback(admin::RollbackArgs),
    /// Change what a tenant's installed plugin is granted.
    Grant(admin::GrantArgs),
    /// Uninstall a plugin for a tenant.
    Revoke(admin::RevokeArgs),
    /// List installed plugins, of one tenant or all.
    ListInstalled(admin::ListArgs),
    /// Show one installation: requested against granted, limits, history.
    Show(admin::ShowArgs),
    /// Print the audit log, of one tenant or all.
    Audit(admin::AuditArgs),
    /// Invoke one export of a plugin installed for a tenant, through the
    /// admission pipeline, with the installation's grant and limits.
    Invoke(invoke::Args),
    /// Sign, publish, install and invoke the reference plugins at every
    /// extension point, and show one refusal of each kind.
    Demo(demo::DemoArgs),
    /// Write a new plugin project (Rust, C, Zig, Go, AssemblyScript, or a WASI
    /// command in JavaScript or Python) that builds, passes its point's
    /// conformance suite and runs as generated.
    New(scaffold::NewArgs),
    /// Build a plugin project, run its points' conformance suites under its
    /// manifest's grant and limits, sign it and push it, in one command.
    Release(release::Args),
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
        Command::Push(args) => registry_cmds::push(args),
        Command::Pull(args) => registry_cmds::pull(args),
        Command::Search(args) => registry_cmds::search(args),
        Command::Trust(args) => admin::trust(args),
        Command::Install(args) => admin::install(args),
        Command::Upgrade(args) => admin::upgrade(args),
        Command::Rollback(args) => admin::rollback(args),
        Command::Grant(args) => admin::grant(args),
        Command::Revoke(args) => admin::revoke(args),
        Command::ListInstalled(args) => admin::list_installed(args),
        Command::Show(args) => admin::show(args),
        Command::Audit(args) => admin::audit(args),
        Command::Invoke(args) => invoke::invoke(args),
        Command::Demo(args) => demo::demo(args),
        Command::New(args) => scaffold::new_project(args),
        Command::Release(args) => release::release(args),
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
