//! The admin commands: a tenant's trust policy (`trust`), its installed
//! plugins (`install`, `upgrade`, `rollback`, `grant`, `revoke`), and what
//! was decided (`list-installed`, `show`, `audit`), through the facade's
//! [`PluginHost`] over the state kept in a home directory ([`State`]).
//!
//! A refusal by the host is [`exit::ADMISSION_REFUSED`] with the
//! [`AdmissionError::reason`]; a registry failure met on the way is
//! [`exit::REGISTRY_ERROR`]; an install store that cannot be opened or
//! written is a host error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use bitvault_abi::{Grants, LimitName};
use bitvault_plugins::registry::oci::Registry;
use bitvault_plugins::registry::review::{self, CapabilityRow};
use bitvault_plugins::registry::{
    AuditAction, InstallStore, Installation, RedbInstallStore, Reference, TrustPolicy,
};
use bitvault_plugins::{
    AdmissionError, Expect, Grant, InstallRequest, PluginConfig, PluginHost, Providers, Runtime,
    RuntimeConfig,
};
use bitvault_runtime::{CacheKey, DiskCache};
use serde_json::{Value, json};

use crate::exit;
use crate::host::{print_json, warn_error, write_stdout};
use crate::registry_cmds::{RegistryArgs, StderrProgress, short_digest, try_registry};

/// Appends one formatted line to a `String` (which cannot fail), as
/// `println!` would print it: text output is gathered, then written with
/// [`write_stdout`] so that a closed stdout is a host error, not a panic.
macro_rules! outln {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}
pub(crate) use outln;

/// The home directory that holds the CLI's registry and install state.
#[derive(Debug, Clone, clap::Args)]
pub struct HomeArg {
    /// The state directory: DIR/registry (the embedded OCI layout
    /// registry), DIR/installs.redb (installations, trust policies, audit
    /// log), DIR/cache (compiled modules); `demo` keeps its own in DIR/demo
    /// [default: $BITVAULT_HOME, else $HOME/.bitvault]
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
}

impl HomeArg {
    /// The home directory: `--home`, `$BITVAULT_HOME`, or `$HOME/.bitvault`.
    ///
    /// # Errors
    /// When none is given and neither `$BITVAULT_HOME` nor `$HOME` is set.
    pub fn dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.home {
            return Ok(dir.clone());
        }
        if let Some(dir) = std::env::var_os("BITVAULT_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| anyhow!("no home directory: pass --home DIR or set BITVAULT_HOME"))?;
        Ok(PathBuf::from(home).join(".bitvault"))
    }
}

/// The state kept in a home directory: the install store
/// (`HOME/installs.redb`), the compiled-module cache (`HOME/cache`, its key
/// in `HOME/cache.key`) and the default registry (`HOME/registry`).
#[derive(Debug)]
pub struct State {
    home: PathBuf,
    store: Arc<RedbInstallStore>,
}

/// How long a command waits for a store another command holds open (the
/// install store, the kv store) before giving up.
pub const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl State {
    /// Opens the state in `home`, creating the directory and the install
    /// store if missing. The store is locked while the state is open; a
    /// command run while another holds it waits up to [`STORE_WAIT`].
    ///
    /// # Errors
    /// When the directory cannot be created or the store cannot be opened
    /// (another process still holds it, another schema).
    pub fn open(home: &Path) -> Result<State> {
        std::fs::create_dir_all(home)
            .with_context(|| format!("cannot create the home directory `{}`", home.display()))?;
        let store = RedbInstallStore::open_waiting(home.join("installs.redb"), STORE_WAIT)?;
        Ok(State {
            home: home.to_path_buf(),
            store: Arc::new(store),
        })
    }

    /// The install store.
    pub fn store(&self) -> &RedbInstallStore {
        &self.store
    }

    /// A plugin host over `registry` and this state's install store, its
    /// runtime caching compiled modules in `HOME/cache`.
    ///
    /// # Errors
    /// When the cache key cannot be read or created, or the runtime cannot
    /// start.
    pub fn host(&self, registry: Arc<dyn Registry>) -> Result<PluginHost> {
        self.host_with(registry, Providers::default())
    }

    /// As [`State::host`], handing `providers` to the plugins granted them.
    ///
    /// # Errors
    /// As [`State::host`].
    pub fn host_with(
        &self,
        registry: Arc<dyn Registry>,
        providers: Providers,
    ) -> Result<PluginHost> {
        let key_path = self.home.join("cache.key");
        let key = CacheKey::load_or_create(&key_path)
            .with_context(|| format!("cannot use the cache key `{}`", key_path.display()))?;
        let mut config = RuntimeConfig::new();
        config.disk_cache = Some(DiskCache {
            dir: self.home.join("cache"),
            key,
        });
        let runtime = Runtime::new(config).context("cannot start the plugin runtime")?;
        let store: Arc<dyn InstallStore> = self.store.clone();
        Ok(PluginHost::new(runtime, registry, store, providers))
    }
}

/// Arguments of every command that changes a tenant's state.
#[derive(Debug, clap::Args)]
pub struct ActorArgs {
    /// Who acts, for the audit log and the installation's `granted_by`
    /// [default: $USER, else `admin`]
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl ActorArgs {
    fn actor(&self) -> String {
        self.actor
            .clone()
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "admin".into())
    }
}

fn parse_tenant(s: &str) -> Result<String, String> {
    bitvault_plugins::registry::installs::check_tenant(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_config_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// `trust`: set a tenant's trust policy.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// The tenant (1 to 64 of a-z, 0-9 and -)
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The trust policy (TOML: `[publishers."NAME"] keys = [{ public_key,
    /// status }]`), replacing the tenant's current one
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    common: ActorArgs,
}

/// `install`: install a plugin for a tenant.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The tenant
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The package: NAME (the highest version), NAME@VERSION, NAME:VERSION
    /// or NAME@sha256:DIGEST
    reference: String,
    /// A grant file (TOML, the grant-file schema): grant exactly this,
    /// which must not exceed the request [default: what the package
    /// requests]
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    /// A configuration value the plugin reads with `config_get`; repeatable
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config_pair)]
    config: Vec<(String, String)>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    common: ActorArgs,
}

/// `upgrade`: move an installed plugin to another release.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The tenant
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The release: NAME (the highest version), NAME@VERSION, NAME:VERSION
    /// or NAME@sha256:DIGEST
    reference: String,
    /// Grant exactly what this grant file names
    #[arg(long, value_name = "FILE", group = "grant_choice")]
    grant: Option<PathBuf>,
    /// Keep the current grant; refused (review_required) when the new
    /// release requests more [the default]
    #[arg(long, group = "grant_choice")]
    keep_grant: bool,
    /// Grant everything the new release requests (after reviewing it)
    #[arg(long, group = "grant_choice")]
    grant_requested: bool,
    /// Replace the configuration with these values; repeatable [default:
    /// keep the current configuration]
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config_pair)]
    config: Vec<(String, String)>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    common: ActorArgs,
}

/// `rollback`: return an installed plugin to an earlier release.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The tenant
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The plugin
    name: String,
    /// The version to return to [default: the one installed before the
    /// current one]
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Allow the move to a lower version (refused without it)
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    common: ActorArgs,
}

/// `grant`: change what an installed plugin is granted.
#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    /// The tenant
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The plugin
    name: String,
    /// The grant file (TOML, the grant-file schema); it must not exceed
    /// the request
    #[arg(long, value_name = "FILE")]
    grant: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    common: ActorArgs,
}

/// `revoke`: uninstall a plugin for a tenant.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The tenant
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The plugin
    name: String,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    common: ActorArgs,
}

/// `list-installed`: the installed plugins.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this tenant's [default: every tenant's]
    #[arg(value_parser = parse_tenant)]
    tenant: Option<String>,
    #[command(flatten)]
    home: HomeArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `show`: one installation, requested against granted, and its history.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The tenant
    #[arg(value_parser = parse_tenant)]
    tenant: String,
    /// The plugin
    name: String,
    #[command(flatten)]
    home: HomeArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `audit`: the audit log.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this tenant's entries [default: every tenant's]
    #[arg(value_parser = parse_tenant)]
    tenant: Option<String>,
    #[command(flatten)]
    home: HomeArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `text` with control characters escaped (`\n`), so that it stays on
/// one line of a table.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`2025-01-31T12:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

/// Lays `rows` out under `headers` in columns two spaces apart, the last
/// column unpadded; one line each, ending in a newline.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Reports a refusal and returns its exit status: a registry failure is
/// reported as by [`crate::registry_cmds::registry_error`]; a store
/// failure is a host error; anything else is [`exit::ADMISSION_REFUSED`],
/// with `json` as `{"ok": false, "error": {"kind": "admission_refused",
/// "reason", "message"}}` plus `new_capabilities` (`review_required`) or
/// `excess` (`grant_exceeds_request`), otherwise as `error:
/// admission_refused: REASON: MESSAGE` on stderr.
///
/// # Errors
/// The store's failure, or stdout closed.
pub(crate) fn refused(e: AdmissionError, json: bool) -> Result<u8> {
    match &e {
        AdmissionError::Registry(r) => return crate::registry_cmds::registry_error(r, json),
        AdmissionError::Store(_) => return Err(anyhow::Error::new(e)),
        _ => {}
    }
    if json {
        let mut error = json!({
            "kind": "admission_refused",
            "reason": e.reason(),
            "message": e.to_string(),
        });
        match &e {
            AdmissionError::ReviewRequired { new } => error["new_capabilities"] = json!(new),
            AdmissionError::GrantExceedsRequest { excess } => error["excess"] = json!(excess),
            _ => {}
        }
        print_json(&json!({ "ok": false, "error": error }))?;
    } else {
        warn_error(&format!("admission_refused: {}: {e}", e.reason()));
        if let AdmissionError::ReviewRequired { new } = &e {
            let mut text = String::from("new capabilities to review:\n");
            for n in new {
                text.push_str(&format!("  {n}\n"));
            }
            text.push_str("after review, upgrade with --grant-requested or --grant FILE\n");
            // Nothing useful is left to do if stderr is gone.
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
        }
    }
    Ok(exit::ADMISSION_REFUSED)
}

fn read_grant_file(path: &Path) -> Result<Grants> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read grant file `{}`", path.display()))?;
    Grants::from_toml(&text).with_context(|| format!("cannot use grant file `{}`", path.display()))
}

fn config_of(pairs: &[(String, String)]) -> Option<PluginConfig> {
    (!pairs.is_empty()).then(|| pairs.iter().cloned().collect())
}

/// An installation as JSON (configuration values left out: only their
/// keys, as they may be secrets).
pub fn installation_json(i: &Installation) -> Value {
    json!({
        "tenant": i.tenant,
        "name": i.name,
        "version": i.version,
        "digest": i.digest,
        "publisher": i.publisher,
        "key": i.key,
        "extension_points": i.extension_points,
        "event_types": i.event_types,
        "requested": i.requested,
        "granted": i.granted,
        "requested_limits": i.requested_limits,
        "limits": i.limits,
        "config_keys": i.config.keys().collect::<Vec<_>>(),
        "granted_by": i.granted_by,
        "granted_at": rfc3339(i.granted_at),
    })
}

/// Prints the outcome of a change: with `json`, `{"ok": true, "action",
/// "previous_version", "installation"}`; otherwise one line and the
/// granted capabilities.
fn changed(
    action: AuditAction,
    previous: Option<&str>,
    i: &Installation,
    json: bool,
) -> Result<u8> {
    if json {
        print_json(&json!({
            "ok": true,
            "action": action.to_string(),
            "previous_version": previous,
            "installation": installation_json(i),
        }))?;
        return Ok(exit::SUCCESS);
    }
    let verb = match action {
        AuditAction::Install => "installed",
        AuditAction::Upgrade => "upgraded",
        AuditAction::Rollback => "rolled back",
        AuditAction::Grant => "re-granted",
        _ => "changed",
    };
    let versions = match previous {
        Some(p) if p != i.version => format!("{p} -> {}", i.version),
        _ => i.version.clone(),
    };
    let mut out = String::new();
    outln!(
        out,
        "{verb} {} {versions} for tenant {} ({})",
        i.name,
        i.tenant,
        i.digest
    );
    let granted: Vec<String> = review::rows(&i.granted).iter().map(row_text).collect();
    outln!(
        out,
        "granted: {}",
        if granted.is_empty() {
            "nothing".into()
        } else {
            granted.join("; ")
        }
    );
    write_stdout(out.as_bytes())?;
    Ok(exit::SUCCESS)
}

fn row_text(r: &CapabilityRow) -> String {
    if r.scope.is_empty() {
        r.capability.to_owned()
    } else {
        format!("{} {}", r.capability, r.scope)
    }
}

/// Runs `trust`.
///
/// # Errors
/// Host errors: the policy file cannot be read, the state cannot be
/// opened, stdout closed.
pub fn trust(args: &TrustArgs) -> Result<u8> {
    let json = args.common.json;
    let text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("cannot read `{}`", args.policy.display()))?;
    let home = args.home.dir()?;
    let state = State::open(&home)?;
    let registry = try_registry!(
        crate::registry_cmds::open_registry_dir(&home.join("registry")),
        json
    );
    let host = state.host(registry)?;
    if let Err(e) = host.set_trust_policy(&args.tenant, &text, &args.common.actor()) {
        return refused(e, json);
    }
    // It parsed, or the host would have refused it.
    let policy = TrustPolicy::from_toml(&text).unwrap_or_default();
    let publishers: Vec<&String> = policy.publishers.keys().collect();
    let keys: usize = policy.publishers.values().map(|p| p.keys.len()).sum();
    if json {
        print_json(&json!({
            "ok": true,
            "tenant": args.tenant,
            "publishers": publishers,
            "keys": keys,
        }))?;
    } else {
        let plural = |n: usize, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        let names: Vec<&str> = publishers.iter().map(|p| p.as_str()).collect();
        let mut out = String::new();
        outln!(
            out,
            "trust policy set for tenant {}: {} ({}), {}",
            args.tenant,
            plural(names.len(), "publisher"),
            names.join(", "),
            plural(keys, "key")
        );
        write_stdout(out.as_bytes())?;
    }
    Ok(exit::SUCCESS)
}

/// The state and a host over the registry `args` name; `Err(code)` when the
/// registry failed to open and was reported.
pub(crate) fn open_host(
    args: &RegistryArgs,
    json: bool,
) -> Result<Result<(State, PluginHost), u8>> {
    let registry = match args.open()? {
        Ok(r) => r,
        Err(e) => return Ok(Err(crate::registry_cmds::registry_error(&e, json)?)),
    };
    let state = State::open(&args.home().dir()?)?;
    let host = state.host(registry)?;
    Ok(Ok((state, host)))
}

/// Runs `install`: a first install; a plugin the tenant already has at any
/// version is refused (`already_installed`) and left to `upgrade`,
/// `rollback` or `grant`.
///
/// # Errors
/// Host errors: the grant file or the state cannot be read, stdout closed.
pub fn install(args: &InstallArgs) -> Result<u8> {
    let json = args.common.json;
    let reference: Reference = try_registry!(args.reference.parse(), json);
    let grant = match &args.grant {
        Some(path) => Grant::Exactly(read_grant_file(path)?),
        None => Grant::AsRequested,
    };
    let (_state, host) = match open_host(&args.registry, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let request = InstallRequest {
        tenant: args.tenant.clone(),
        reference,
        grant,
        config: config_of(&args.config),
        actor: args.common.actor(),
        force: false,
        expect: Expect::New,
    };
    match host.install(&request, &StderrProgress::new("fetching")) {
        Ok(i) => changed(AuditAction::Install, None, &i, json),
        Err(e) => refused(e, json),
    }
}

/// Runs `upgrade`: moves an installed plugin to a higher release (a lower
/// one is refused, `rollback_refused`: that is `rollback --force`).
///
/// # Errors
/// Host errors: the grant file or the state cannot be read, stdout closed.
pub fn upgrade(args: &UpgradeArgs) -> Result<u8> {
    let json = args.common.json;
    let reference: Reference = try_registry!(args.reference.parse(), json);
    let grant = match (&args.grant, args.grant_requested) {
        (Some(path), _) => Grant::Exactly(read_grant_file(path)?),
        (None, true) => Grant::AsRequested,
        (None, false) => Grant::Keep,
    };
    let (_state, host) = match open_host(&args.registry, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let previous = host
        .store()
        .installed(&args.tenant, &reference.name)?
        .map(|i| i.version);
    let request = InstallRequest {
        tenant: args.tenant.clone(),
        reference,
        grant,
        config: config_of(&args.config),
        actor: args.common.actor(),
        force: false,
        expect: Expect::Installed,
    };
    match host.install(&request, &StderrProgress::new("fetching")) {
        Ok(i) => {
            let action = if previous.as_deref() == Some(i.version.as_str()) {
                AuditAction::Grant
            } else {
                AuditAction::Upgrade
            };
            changed(action, previous.as_deref(), &i, json)
        }
        Err(e) => refused(e, json),
    }
}

/// Runs `rollback`.
///
/// # Errors
/// Host errors: the state cannot be read, stdout closed.
pub fn rollback(args: &RollbackArgs) -> Result<u8> {
    let json = args.common.json;
    let (_state, host) = match open_host(&args.registry, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let previous = host
        .store()
        .installed(&args.tenant, &args.name)?
        .map(|i| i.version);
    let result = host.rollback(
        &args.tenant,
        &args.name,
        args.to.as_deref(),
        &args.common.actor(),
        args.force,
    );
    match result {
        Ok(i) => changed(AuditAction::Rollback, previous.as_deref(), &i, json),
        Err(e) => refused(e, json),
    }
}

/// Runs `grant`.
///
/// # Errors
/// Host errors: the grant file or the state cannot be read, stdout closed.
pub fn grant(args: &GrantArgs) -> Result<u8> {
    let json = args.common.json;
    let grants = read_grant_file(&args.grant)?;
    let (_state, host) = match open_host(&args.registry, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    match host.grant(&args.tenant, &args.name, grants, &args.common.actor()) {
        Ok(i) => changed(AuditAction::Grant, Some(i.version.as_str()), &i, json),
        Err(e) => refused(e, json),
    }
}

/// Runs `revoke`.
///
/// # Errors
/// Host errors: the state cannot be read, stdout closed.
pub fn revoke(args: &RevokeArgs) -> Result<u8> {
    let json = args.common.json;
    let home = args.home.dir()?;
    let state = State::open(&home)?;
    // Revoking fetches nothing; the host wants a registry all the same.
    let registry = try_registry!(
        crate::registry_cmds::open_registry_dir(&home.join("registry")),
        json
    );
    let host = state.host(registry)?;
    match host.revoke(&args.tenant, &args.name, &args.common.actor()) {
        Ok(i) => {
            if json {
                print_json(&json!({ "ok": true, "revoked": installation_json(&i) }))?;
            } else {
                write_stdout(
                    format!("revoked {} {} for tenant {}\n", i.name, i.version, i.tenant)
                        .as_bytes(),
                )?;
            }
            Ok(exit::SUCCESS)
        }
        Err(e) => refused(e, json),
    }
}

/// Runs `list-installed`.
///
/// # Errors
/// Host errors: the state cannot be read, stdout closed.
pub fn list_installed(args: &ListArgs) -> Result<u8> {
    let state = State::open(&args.home.dir()?)?;
    let list = state.store().list(args.tenant.as_deref())?;
    if args.json {
        print_json(&json!({
            "ok": true,
            "installations": list.iter().map(installation_json).collect::<Vec<_>>(),
        }))?;
        return Ok(exit::SUCCESS);
    }
    let mut out = String::new();
    if list.is_empty() {
        match &args.tenant {
            Some(t) => outln!(out, "nothing installed for tenant {t}"),
            None => outln!(out, "nothing installed"),
        }
        write_stdout(out.as_bytes())?;
        return Ok(exit::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            vec![
                i.tenant.clone(),
                i.name.clone(),
                i.version.clone(),
                i.publisher.clone(),
                i.granted_by.clone(),
                rfc3339(i.granted_at),
                short_digest(i.digest.as_str()),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "TENANT",
            "NAME",
            "VERSION",
            "PUBLISHER",
            "GRANTED BY",
            "GRANTED AT",
            "DIGEST",
        ],
        &rows,
    ));
    write_stdout(out.as_bytes())?;
    Ok(exit::SUCCESS)
}

/// What identifies a row across a request and a grant: the capability,
/// and for HTTP the origin (methods aside), the private range or the
/// request budget.
fn row_key(r: &CapabilityRow) -> String {
    if r.capability != "http" {
        return r.capability.to_owned();
    }
    if r.scope.starts_with("max ") {
        "http max".into()
    } else if r.scope.starts_with("private range ") {
        format!("http {}", r.scope)
    } else {
        let origin = r.scope.split(" (").next().unwrap_or_default();
        format!("http {origin}")
    }
}

/// One row per capability and scope, requested against granted: the
/// capability, then each side's scope (`yes` for a capability without
/// one), `None` where that side lacks it.
pub fn side_by_side(
    requested: &Grants,
    granted: &Grants,
) -> Vec<(String, Option<String>, Option<String>)> {
    let text = |r: &CapabilityRow| {
        if r.scope.is_empty() {
            "yes".to_owned()
        } else {
            r.scope.clone()
        }
    };
    let asked = review::rows(requested);
    let given = review::rows(granted);
    let mut out: Vec<(String, Option<String>, Option<String>)> = asked
        .iter()
        .map(|r| {
            let g = given.iter().find(|g| row_key(g) == row_key(r));
            (r.capability.to_owned(), Some(text(r)), g.map(text))
        })
        .collect();
    for g in &given {
        if !asked.iter().any(|r| row_key(r) == row_key(g)) {
            out.push((g.capability.to_owned(), None, Some(text(g))));
        }
    }
    out
}

/// Runs `show`.
///
/// # Errors
/// Host errors: the state cannot be read, stdout closed.
pub fn show(args: &ShowArgs) -> Result<u8> {
    let state = State::open(&args.home.dir()?)?;
    let Some(i) = state.store().installed(&args.tenant, &args.name)? else {
        let e = AdmissionError::NotInstalled {
            tenant: args.tenant.clone(),
            name: args.name.clone(),
        };
        return refused(e, args.json);
    };
    let history = state.store().history(&args.tenant, &args.name)?;
    let capabilities = side_by_side(&i.requested, &i.granted);
    let limits: Vec<(LimitName, Option<u64>, u64)> = LimitName::ALL
        .iter()
        .map(|n| {
            (
                *n,
                i.requested_limits.as_ref().map(|l| l.get(*n)),
                i.limits.get(*n),
            )
        })
        .collect();
    if args.json {
        print_json(&json!({
            "ok": true,
            "installation": installation_json(&i),
            "capabilities": capabilities.iter().map(|(c, r, g)| json!({
                "capability": c,
                "requested": r,
                "granted": g,
            })).collect::<Vec<_>>(),
            "limits": limits.iter().map(|(n, r, e)| json!({
                "limit": n.name(),
                "requested": r,
                "effective": e,
            })).collect::<Vec<_>>(),
            "history": history.iter().map(|h| json!({
                "version": h.version,
                "digest": h.digest,
                "granted_by": h.granted_by,
                "granted_at": rfc3339(h.granted_at),
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(exit::SUCCESS);
    }
    let or_none = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.join(", ")
        }
    };
    let config_keys: Vec<String> = i.config.keys().cloned().collect();
    let mut out = String::new();
    outln!(out, "{} {} for tenant {}", i.name, i.version, i.tenant);
    outln!(out, "publisher:   {}", i.publisher);
    outln!(out, "key:         {}", i.key);
    outln!(out, "digest:      {}", i.digest);
    outln!(
        out,
        "granted by:  {} at {}",
        i.granted_by,
        rfc3339(i.granted_at)
    );
    outln!(out, "points:      {}", or_none(&i.extension_points));
    outln!(out, "event types: {}", or_none(&i.event_types));
    outln!(out, "config keys: {}", or_none(&config_keys));
    outln!(out);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = capabilities
        .iter()
        .map(|(c, r, g)| vec![c.clone(), dash(r), dash(g)])
        .collect();
    out.push_str(&table(&["CAPABILITY", "REQUESTED", "GRANTED"], &rows));
    outln!(out);
    let rows: Vec<Vec<String>> = limits
        .iter()
        .map(|(n, r, e)| {
            vec![
                n.name().to_owned(),
                r.map_or_else(|| "(host default)".into(), |v| v.to_string()),
                e.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&["LIMIT", "REQUESTED", "EFFECTIVE"], &rows));
    outln!(out);
    let rows: Vec<Vec<String>> = history
        .iter()
        .enumerate()
        .map(|(n, h)| {
            vec![
                (n + 1).to_string(),
                h.version.clone(),
                short_digest(h.digest.as_str()),
                h.granted_by.clone(),
                rfc3339(h.granted_at),
            ]
        })
        .collect();
    out.push_str(&table(
        &["#", "VERSION", "DIGEST", "GRANTED BY", "GRANTED AT"],
        &rows,
    ));
    write_stdout(out.as_bytes())?;
    Ok(exit::SUCCESS)
}

/// Runs `audit`.
///
/// # Errors
/// Host errors: the state cannot be read, stdout closed.
pub fn audit(args: &AuditArgs) -> Result<u8> {
    let state = State::open(&args.home.dir()?)?;
    let entries = state.store().audit_log(args.tenant.as_deref())?;
    if args.json {
        print_json(&json!({
            "ok": true,
            "entries": entries.iter().map(|e| json!({
                "seq": e.seq,
                "time": rfc3339(e.at),
                "tenant": e.tenant,
                "actor": e.actor,
                "action": e.action.to_string(),
                "plugin": e.plugin,
                "allowed": e.allowed,
                "reason": e.reason,
                "message": e.message,
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(exit::SUCCESS);
    }
    if entries.is_empty() {
        write_stdout(b"the audit log is empty\n")?;
        return Ok(exit::SUCCESS);
    }
    let mut out = String::new();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                rfc3339(e.at),
                e.tenant.clone(),
                e.actor.clone(),
                e.action.to_string(),
                e.plugin.clone(),
                if e.allowed { "allowed" } else { "refused" }.into(),
                e.reason.clone().unwrap_or_else(|| "-".into()),
                one_line(&e.message),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "SEQ", "TIME", "TENANT", "ACTOR", "ACTION", "PLUGIN", "OUTCOME", "REASON", "MESSAGE",
        ],
        &rows,
    ));
    write_stdout(out.as_bytes())?;
    Ok(exit::SUCCESS)
}
