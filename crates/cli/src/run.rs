//! `bitvault-plugin run`: one invocation with the core ABI (or a grant
//! file's capabilities) granted.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use bitvault_runtime::Metrics;

use crate::host::{self, GrantArgs, InputArg, LimitArgs, StderrLog};
use crate::json::{self, Failure};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin: a `.wasm` binary or WebAssembly text.
    module: PathBuf,
    /// The export to invoke, a `() -> i32` function (or a WASI command's
    /// `_start`, `() -> ()`).
    export: String,
    #[command(flatten)]
    input: InputArg,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    grant: GrantArgs,
    /// Print one JSON object describing the outcome instead of the output.
    #[arg(long)]
    json: bool,
}

/// Runs the command and returns the exit status.
///
/// # Errors
/// Host errors: the module or input cannot be read, the runtime cannot
/// start, stdout cannot be written.
pub fn run(args: &Args) -> Result<u8> {
    let wasm = host::read_module(&args.module)?;
    let input = args.input.read()?;
    let runtime = host::runtime()?;
    let limits = args.limits.limits(&runtime.config().limits);
    let grants = args.grant.grants()?;

    let plugin = match wasm.and_then(|w| host::load(&runtime, &w, &grants)) {
        Ok(p) => p,
        Err(failure) => return host::fail_before_running(&failure, args.json),
    };
    let ctx = args
        .grant
        .context(&args.module, limits, Arc::new(StderrLog), &grants)?;
    let outcome = plugin.invoke(&args.export, input, &ctx);
    host::print_http(&outcome.http);
    let result = outcome.result.map_err(|e| Failure::from_invoke(&e));
    report(outcome.invocation_id, &result, &outcome.metrics, args.json)?;
    Ok(result
        .as_ref()
        .err()
        .map_or(crate::exit::SUCCESS, Failure::exit_code))
}

pub(crate) fn report(
    id: u64,
    result: &Result<Vec<u8>, Failure>,
    m: &Metrics,
    json: bool,
) -> Result<()> {
    if json {
        return host::print_json(&json::outcome(id, result, m));
    }
    match result {
        Ok(output) => host::write_stdout(output),
        Err(failure) => {
            host::print_failure(failure);
            Ok(())
        }
    }
}
