//! `bitvault-plugin invoke`: one call of a plugin installed for a tenant,
//! through the plugin host: the installation is looked up, the release
//! fetched and verified again under the tenant's trust policy and grant
//! (or taken from the prepared cache), and the export invoked with the
//! installation's limits and configuration.

use std::sync::Arc;

use anyhow::{Context, Result};
use bitvault_plugins::events::EventLimits;
use bitvault_plugins::extism::{DEFAULT_MAX_VAR_BYTES, MemoryVarStore};
use bitvault_plugins::http::{HttpClient, HttpLimits};
use bitvault_plugins::kv::{KvQuotas, RedbKv};
use bitvault_plugins::net::SystemResolver;
use bitvault_plugins::{CallError, Outcome, Providers};

use crate::admin::{State, refused};
use crate::host::{self, InputArg, StderrEvents, StderrLog};
use crate::json::Failure;
use crate::registry_cmds::{RegistryArgs, registry_error};

/// Arguments of `invoke`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tenant
    tenant: String,
    /// The installed plugin's name
    name: String,
    /// The export to invoke (`() -> i32`)
    export: String,
    #[command(flatten)]
    input: InputArg,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON object describing the outcome instead of the output.
    #[arg(long)]
    json: bool,
}

/// Runs `invoke`.
///
/// # Errors
/// Host errors: the input or the state cannot be read, stdout closed.
pub fn invoke(args: &Args) -> Result<u8> {
    let input = args.input.read()?;
    let registry = match args.registry.open()? {
        Ok(r) => r,
        Err(e) => return registry_error(&e, args.json),
    };
    let home = args.registry.home().dir()?;
    let state = State::open(&home)?;
    let kv_path = home.join("kv.redb");
    let kv = RedbKv::open_waiting(&kv_path, crate::admin::STORE_WAIT)
        .with_context(|| format!("cannot open the kv store `{}`", kv_path.display()))?;
    let providers = Providers {
        kv: Some((Arc::new(kv), KvQuotas::standard())),
        events: Some((Arc::new(StderrEvents), EventLimits::standard())),
        http: Some((
            HttpClient::new(None).context("cannot start the HTTP client")?,
            Arc::new(SystemResolver),
            HttpLimits::standard(),
        )),
        vars: Some((Arc::new(MemoryVarStore::new()), DEFAULT_MAX_VAR_BYTES)),
        log: Some(Arc::new(StderrLog)),
    };
    let plugin_host = state.host_with(registry, providers)?;
    let installed = match plugin_host.plugin(&args.tenant, &args.name) {
        Ok(p) => p,
        Err(e) => return refused(e, args.json),
    };
    let export = args.export.clone();
    let outcome: Outcome =
        match installed.call(|p, inv| Ok(p.prepared().invoke(&export, input, &inv.call))) {
            Ok(o) => o,
            Err(CallError::Ext(e)) => return Err(anyhow::Error::new(e)),
            Err(e @ CallError::Invalidated { .. }) => return Err(anyhow::Error::new(e)),
        };
    host::print_http(&outcome.http);
    let result = outcome.result.map_err(|e| Failure::from_invoke(&e));
    crate::run::report(outcome.invocation_id, &result, &outcome.metrics, args.json)?;
    Ok(result
        .as_ref()
        .err()
        .map_or(crate::exit::SUCCESS, Failure::exit_code))
}
