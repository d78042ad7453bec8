//! What the commands share: reading the module and the input, limits from
//! flags, the runtime, the stderr log sink, and writing to stdout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bitvault_abi::{Grants, LimitPolicy, Limits};
use std::sync::Arc;

use bitvault_runtime::events::{Event, EventBus, EventError, EventLimits};
use bitvault_runtime::extism::{DEFAULT_MAX_VAR_BYTES, MemoryVarStore};
use bitvault_runtime::http::{HttpClient, HttpLimits};
use bitvault_runtime::kv::{KvQuotas, RedbKv};
use bitvault_runtime::net::SystemResolver;
use bitvault_runtime::{
    CallContext, HttpRecord, LogRecord, LogSink, Metrics, PluginConfig, Prepared, Runtime,
    RuntimeConfig,
};

use crate::json::{self, Failure};

/// The per-invocation limits a command can override. Anything not given is
/// the host's default; anything over the host's maximum is lowered to it.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Fuel budget: one unit per executed wasm operator.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Ceiling on linear memory, in MiB.
    #[arg(long, value_name = "N")]
    memory_mib: Option<u64>,
    /// Wall-clock deadline of the invocation, in milliseconds.
    #[arg(long, value_name = "N")]
    timeout_ms: Option<u64>,
}

impl LimitArgs {
    /// `policy.default` overridden by the flags and bounded by `policy.max`,
    /// with a warning on stderr for each flag that had to be lowered.
    pub fn limits(&self, policy: &LimitPolicy) -> Limits {
        let mut asked = policy.default;
        if let Some(fuel) = self.fuel {
            asked.fuel = fuel;
        }
        if let Some(mib) = self.memory_mib {
            asked.memory_bytes = mib.saturating_mul(1 << 20);
        }
        if let Some(ms) = self.timeout_ms {
            asked.deadline_ms = ms;
        }
        for (name, value) in asked.exceeding(&policy.max) {
            warn(&format!(
                "{name} of {value} is over the host maximum of {}; using the maximum",
                policy.max.get(name)
            ));
        }
        policy.bound(&asked)
    }
}

/// What the plugin is granted, and its configuration.
#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    /// A grant file (TOML, see docs/abi.md) [default: the core ABI: io,
    /// log, config, clock and random]
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    /// A configuration value the plugin reads with `config_get`; repeatable
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config_pair)]
    config: Vec<(String, String)>,
    /// A directory for the plugin's durable key-value namespace
    /// (`DIR/kv.redb`, tenant `local`, plugin named after the module file);
    /// grants `kv` unless a grant file decides
    #[arg(long, value_name = "DIR")]
    kv_dir: Option<PathBuf>,
    /// Stdio mode for WASI command modules: fd 0 reads the request and fd 1
    /// writes the response (fd 2 still goes to the log); adds `stdio` to the
    /// grants, a grant file's included
    #[arg(long)]
    stdio: bool,
}

fn parse_config_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

impl GrantArgs {
    /// The grants: the file's, or the core ABI; with `--stdio`, in stdio
    /// mode either way.
    ///
    /// # Errors
    /// When the grant file cannot be read or is not a valid grant file.
    pub fn grants(&self) -> Result<Grants> {
        let mut grants = match &self.grant {
            None if self.kv_dir.is_some() => Grants::core_with_kv(),
            None => Grants::core(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read grant file `{}`", path.display()))?;
                Grants::from_toml(&text)
                    .with_context(|| format!("cannot use grant file `{}`", path.display()))?
            }
        };
        grants.stdio |= self.stdio;
        if grants.kv && self.kv_dir.is_none() {
            warn(
                "`kv` is granted but no --kv-dir was given: the plugin's kv_* calls answer `unavailable` (an Extism plugin's variables are kept in memory for this run)",
            );
        }
        Ok(grants)
    }

    /// The configuration given with `--config` (a later key wins).
    pub fn config(&self) -> PluginConfig {
        self.config.iter().cloned().collect()
    }

    /// The invocation context for the plugin in `module`: limits, log sink,
    /// configuration, with `--kv-dir` its key-value namespace, and when
    /// `grants` grant HTTP an HTTP client resolving names with the system
    /// resolver.
    ///
    /// # Errors
    /// When the key-value store cannot be opened or the HTTP client cannot
    /// start.
    pub fn context(
        &self,
        module: &Path,
        limits: Limits,
        log: Arc<dyn LogSink>,
        grants: &Grants,
    ) -> Result<CallContext> {
        let plugin = module
            .file_stem()
            .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
        let ctx = CallContext::new(limits)
            .for_plugin("local", &plugin)
            .with_log(log)
            .with_config(self.config())
            .with_events(Arc::new(StderrEvents), 0, EventLimits::standard());
        // Extism plugins keep their variables under `kv`, for this run.
        let ctx = if grants.kv {
            ctx.with_vars(Arc::new(MemoryVarStore::new()), DEFAULT_MAX_VAR_BYTES)
        } else {
            ctx
        };
        let ctx = if grants.http.is_some() {
            let client = HttpClient::new(None).context("cannot start the HTTP client")?;
            ctx.with_http(client, Arc::new(SystemResolver), HttpLimits::standard())
        } else {
            ctx
        };
        let Some(dir) = &self.kv_dir else {
            return Ok(ctx);
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the kv directory `{}`", dir.display()))?;
        let path = dir.join("kv.redb");
        let store = RedbKv::open_waiting(&path, crate::admin::STORE_WAIT)
            .with_context(|| format!("cannot open the kv store `{}`", path.display()))?;
        ctx.with_kv(Arc::new(store), KvQuotas::standard(), None)
            .context("cannot bind the plugin's kv namespace")
    }
}

/// Reports each HTTP request of an invocation as one line on stderr:
/// `[http] <METHOD> <url> -> <status> (<ms> ms)` or
/// `[http] <METHOD> <url> refused: <code>: <reason>`.
pub fn print_http(records: &[HttpRecord]) {
    let mut err = std::io::stderr().lock();
    for r in records {
        let ms = r.elapsed.as_millis();
        // Nothing useful is left to do if stderr is gone.
        let _ = match (r.status, r.code) {
            (Some(status), _) => {
                writeln!(err, "[http] {} {} -> {status} ({ms} ms)", r.method, r.url)
            }
            (None, code) => writeln!(
                err,
                "[http] {} {} refused: {}: {}",
                r.method,
                r.url,
                code.map_or("error", |c| c.name()),
                r.error.as_deref().unwrap_or("")
            ),
        };
    }
}

/// Reports each event a plugin publishes as one line on stderr:
/// `[event] <topic> (<n> bytes, depth <d>)`.
pub(crate) struct StderrEvents;

impl EventBus for StderrEvents {
    fn publish(&self, e: Event) -> Result<(), EventError> {
        // Nothing useful is left to do if stderr is gone.
        let _ = writeln!(
            std::io::stderr().lock(),
            "[event] {} ({} bytes, depth {})",
            e.topic.escape_debug(),
            e.payload.len(),
            e.depth
        );
        Ok(())
    }
}

/// The request given to the plugin.
#[derive(Debug, clap::Args)]
pub struct InputArg {
    /// A file whose bytes are the request, or `-` for stdin [default: empty]
    #[arg(long, value_name = "FILE|-")]
    input: Option<PathBuf>,
}

impl InputArg {
    /// Reads the request: the file, stdin, or nothing.
    ///
    /// # Errors
    /// When the file or stdin cannot be read.
    pub fn read(&self) -> Result<Vec<u8>> {
        match &self.input {
            None => Ok(Vec::new()),
            Some(p) if p.as_os_str() == "-" => {
                let mut buf = Vec::new();
                std::io::stdin()
                    .lock()
                    .read_to_end(&mut buf)
                    .context("cannot read the input from stdin")?;
                Ok(buf)
            }
            Some(p) => {
                std::fs::read(p).with_context(|| format!("cannot read input `{}`", p.display()))
            }
        }
    }
}

/// Reads a module file. WebAssembly text is compiled to a binary; anything
/// else is passed on as it is, for the runtime to judge.
///
/// # Errors
/// The outer error is a host error (the file cannot be read); the inner one
/// is an `invalid_module` failure for text that does not parse.
pub fn read_module(path: &Path) -> Result<Result<Vec<u8>, Failure>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read module `{}`", path.display()))?;
    if wat::Detect::from_bytes(&bytes) != wat::Detect::WasmText {
        return Ok(Ok(bytes));
    }
    Ok(match wat::Parser::new().parse_bytes(Some(path), &bytes) {
        Ok(wasm) => Ok(wasm.into_owned()),
        Err(e) => Err(Failure::unparsable_text(&e)),
    })
}

/// A runtime with the standard configuration.
///
/// # Errors
/// When the runtime cannot start (its watchdog thread).
pub fn runtime() -> Result<Runtime> {
    Runtime::new(RuntimeConfig::new()).context("cannot start the plugin runtime")
}

/// Admits and compiles `wasm` under `grants`.
pub fn load(runtime: &Runtime, wasm: &[u8], grants: &Grants) -> Result<Prepared, Failure> {
    runtime
        .load(wasm, grants)
        .map_err(|e| Failure::from_load(&e))
}

/// Reports a failure that happened before anything ran (the module could
/// not be parsed, admitted or linked) and returns its exit status: with
/// `json`, the outcome object with zero metrics; otherwise the error line.
///
/// # Errors
/// When stdout cannot be written.
pub fn fail_before_running(failure: &Failure, json: bool) -> Result<u8> {
    if json {
        print_json(&json::outcome(
            0,
            &Err(failure.clone()),
            &Metrics::default(),
        ))?;
    } else {
        print_failure(failure);
    }
    Ok(failure.exit_code())
}

/// Prints `error: <message>` on stderr.
pub fn warn_error(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
}

/// Prints a failure as `error: <kind>: <message>` on stderr.
pub fn print_failure(failure: &Failure) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "error: {}: {}",
        failure.kind(),
        failure.message()
    );
}

/// Prints a warning on stderr.
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
}

/// Writes bytes to stdout.
///
/// # Errors
/// When stdout is closed or cannot be written.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// Writes one JSON value and a newline to stdout.
///
/// # Errors
/// When stdout is closed or cannot be written.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    write_stdout(format!("{value}\n").as_bytes())
}

/// A [`LogSink`] writing each plugin message to stderr as one line,
/// `[level] message`, with control characters escaped so that a message
/// cannot forge further lines.
#[derive(Debug, Clone, Copy)]
pub struct StderrLog;

impl LogSink for StderrLog {
    fn log(&self, record: &LogRecord<'_>) {
        let mut line = format!("[{}] ", record.level);
        for c in record.message.chars() {
            if c.is_control() {
                line.extend(c.escape_default());
            } else {
                line.push(c);
            }
        }
        line.push('\n');
        // A log line that cannot be written must not end the invocation.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}
