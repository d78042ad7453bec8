//! The engine of BitVault Plugins: admission, compilation, caching and
//! per-invocation execution of WebAssembly plugins on `wasmer`, with fuel,
//! memory, table, deadline, output, log and host-call limits, and the core
//! `bitvault_v1` host functions, plus a deny-by-default WASI preview 1 shim.
//!
//! ```
//! use bitvault_abi::{Grants, LimitPolicy};
//! use bitvault_runtime::{CallContext, Runtime, RuntimeConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let wasm = wat::parse_str(r#"
//!     (module
//!       (import "bitvault_v1" "input_len" (func $input_len (result i32)))
//!       (import "bitvault_v1" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
//!       (import "bitvault_v1" "write_output" (func $write_output (param i32 i32) (result i32)))
//!       (memory (export "memory") 1)
//!       (func (export "echo") (result i32) (local $n i32)
//!         (local.set $n (call $input_len))
//!         (drop (call $read_input (i32.const 0) (i32.const 0) (local.get $n)))
//!         (drop (call $write_output (i32.const 0) (local.get $n)))
//!         (i32.const 0)))
//! "#)?;
//!
//! let runtime = Runtime::new(RuntimeConfig::new())?;
//! let plugin = runtime.load(&wasm, &Grants::core())?;   // check once
//! let ctx = CallContext::new(LimitPolicy::standard().default);
//! let outcome = plugin.invoke("echo", b"hello".to_vec(), &ctx); // run many
//! assert_eq!(outcome.result?, b"hello");
//! assert!(outcome.metrics.fuel_used > 0);
//! # Ok(()) }
//! ```
//!
//! # Concepts
//! - [`Runtime`]: the host. It owns the admission limits, the limit policy,
//!   the compiled-module caches and the deadline watchdog. Build one and
//!   share it; it is `Send + Sync` and cheap to clone.
//! - [`Runtime::load`] admits a module (validation, admission limits,
//!   imports against [`Grants`]) **before** compiling
//!   it, then compiles it or takes it from a cache, and returns a
//!   [`Prepared`] plugin: the module plus its precomputed import plan.
//! - [`Prepared::invoke`] runs one export with a **fresh store and
//!   instance**, so nothing survives from one call to the next. Every way a
//!   call can end is an [`Outcome`]: the response or a typed
//!   [`InvokeError`], with [`Metrics`] either way.
//! - Scoped capabilities beyond the core: [`kv`] (a namespace per tenant and
//!   plugin), [`events`] (granted topics, causal depth), and outbound HTTP
//!   through [`net`] (the policy: origins, addresses, SSRF) and `http` (the
//!   client, feature `http-client`), which `http_request` uses; each
//!   request leaves an [`HttpRecord`] on the [`Outcome`].
//! - [`extism`]: the Extism kernel (`extism:host/env`) served natively, so
//!   plugins built with the official Extism PDKs run unmodified under the
//!   same grants and limits; their variables live in a
//!   [`VarStore`](extism::VarStore) bound with [`CallContext::with_vars`].
//! - [`wasi`]: a deny-by-default `wasi_snapshot_preview1` shim, so that
//!   modules from mainstream toolchains load: stdout and stderr go to the
//!   log, clocks and randomness follow the grants, `proc_exit` ends the
//!   call, and files and sockets answer "not capable". In stdio mode
//!   ([`Grants::stdio`]) a command's `_start` reads the request on fd 0 and
//!   writes the response on fd 1.
//! - Limits: fuel via `wasmer-middlewares` metering; memory and table
//!   ceilings via per-call engine tunables; the deadline via a shared
//!   watchdog thread that interrupts running guest code with
//!   `Store::interrupter()`.
//!
//! # Signals
//! The deadline interrupt is delivered as `SIGUSR1` to the thread running the
//! guest, and wasmer installs handlers for `SIGSEGV`, `SIGILL`, `SIGFPE` and
//! `SIGBUS` to turn faults in guest code into traps. The embedding process
//! must leave these signals to the engine: do not install other handlers for
//! them, and do not block `SIGUSR1` on threads that invoke plugins. A
//! blocking system call in a host function may return `EINTR` when the
//! signal arrives.
#![deny(unsafe_code)]

mod admission;
mod cache;
mod config;
mod error;
mod extism_host;
mod guest_mem;
mod host;
mod host_http;
mod invoke;
mod tunables;
mod watchdog;

pub mod events;
pub mod extism;
#[cfg(feature = "http-client")]
pub mod http;
pub mod kv;
pub mod net;
pub mod wasi;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bitvault_abi::{ABI_VERSION, Grants, INITIALIZE_EXPORT, LogLevel};
use bytes::Bytes;
use wasmer::sys::{CpuFeature, EngineBuilder, NativeEngineExt};
use wasmer::{Engine, Module};
use wasmer_middlewares::Metering;

pub use admission::{
    Export, ExternDesc, FuncType, Import, Link, LinkedFn, MemoryDecl, ModuleReport, START_EXPORT,
    TableDecl, WasmType,
};
pub use cache::{CacheKey, CacheOrigin, Digest, Rejection, hex, sha256};
pub use config::{AdmissionLimit, AdmissionLimits, Compiler, DiskCache, RuntimeConfig};
pub use error::{
    DeniedImport, DenyReason, ErrorKind, Frame, InvalidModule, InvokeError, LoadError,
    RuntimeError, TrapInfo,
};
pub use host::{
    KvBinding, LogRecord, LogSink, MemoryLogSink, OwnedLogRecord, PluginConfig, TracingLogSink,
};
#[cfg(feature = "http-client")]
pub use host_http::HttpBinding;
pub use host_http::HttpRecord;
pub use invoke::{CallContext, Metrics, Outcome};
pub use tunables::{Refusal, Resource};
pub use watchdog::RETRY_INTERVAL;

use cache::{DiskStore, MemoryCache};
use watchdog::Watchdog;

/// The version of the fuel cost function. Part of the artifact fingerprint:
/// a change to what an operator costs must invalidate cached artifacts.
const METERING_VERSION: u32 = 1;

/// What one wasm operator costs in fuel: one unit each.
fn operator_cost(_: &wasmer::sys::wasmparser::Operator<'_>) -> u64 {
    1
}

pub(crate) struct RuntimeInner {
    config: RuntimeConfig,
    memory: Mutex<MemoryCache<Arc<CompiledModule>>>,
    disk: Option<DiskStore>,
    watchdog: Watchdog,
    next_invocation: AtomicU64,
}

impl RuntimeInner {
    fn next_invocation_id(&self) -> u64 {
        self.next_invocation.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The plugin host: admission, compilation, caches and the deadline
/// watchdog. Cloning shares everything.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("compiler", &self.inner.config.compiler)
            .finish_non_exhaustive()
    }
}

/// A compiled module: wasmer's module, the engine it belongs to, and what
/// admission reported. Shared between every [`Prepared`] made from it.
pub struct CompiledModule {
    digest: Digest,
    module: Module,
    /// The module's own engine. The metering middleware can serve exactly
    /// one module, so each module is compiled by an engine of its own.
    engine: Engine,
    report: ModuleReport,
    origin: CacheOrigin,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("digest", &hex(&self.digest))
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl CompiledModule {
    /// SHA-256 of the module bytes as given.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// What admission learnt about the module.
    pub fn report(&self) -> &ModuleReport {
        &self.report
    }

    /// Whether it was compiled now or loaded from the disk cache.
    pub fn origin(&self) -> CacheOrigin {
        self.origin
    }
}

/// A module admitted for one grant set, ready to invoke: the shared
/// compiled module plus the precomputed import plan. Check once, run many.
#[derive(Clone)]
pub struct Prepared {
    runtime: Arc<RuntimeInner>,
    module: Arc<CompiledModule>,
    plan: Arc<[Link]>,
    has_initialize: bool,
    log_min_level: Option<LogLevel>,
    clock: bool,
    random: bool,
    stdio: bool,
    topics: Option<Arc<bitvault_abi::EventsGrant>>,
    http: Option<Arc<net::HttpPolicy>>,
    /// Whether the module imports `extism:host/env`, so each call gets the
    /// kernel's state.
    extism: bool,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("module", &self.module)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds a runtime and starts its watchdog thread.
    ///
    /// # Errors
    /// [`RuntimeError::Watchdog`] if the thread cannot start;
    /// [`RuntimeError::Cache`] if the disk cache directory cannot be created.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let fingerprint = sha256(
            format!(
                "bitvault-runtime {}; wasmer 7.4.2; compiler {}; abi {ABI_VERSION}; \
                 metering v{METERING_VERSION} max {}; target {} {:?}",
                env!("CARGO_PKG_VERSION"),
                config.compiler.name(),
                config.limits.max.fuel,
                std::env::consts::ARCH,
                CpuFeature::for_host(),
            )
            .as_bytes(),
        );
        let disk = match &config.disk_cache {
            Some(d) => Some(
                DiskStore::open(d.dir.clone(), d.key.clone(), fingerprint).map_err(|source| {
                    RuntimeError::Cache {
                        path: d.dir.clone(),
                        source,
                    }
                })?,
            ),
            None => None,
        };
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                memory: Mutex::new(MemoryCache::new(config.memory_cache_entries)),
                disk,
                watchdog: Watchdog::start().map_err(RuntimeError::Watchdog)?,
                next_invocation: AtomicU64::new(0),
                config,
            }),
        })
    }

    /// The configuration this runtime was built from.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Validates and measures `wasm` against the admission limits and
    /// reports its imports, exports, memories and tables, without compiling.
    ///
    /// # Errors
    /// [`LoadError::InvalidModule`] as in [`Runtime::load`].
    pub fn inspect(&self, wasm: &[u8]) -> Result<ModuleReport, LoadError> {
        Ok(admission::admit(wasm, &self.inner.config.admission)?.report)
    }

    /// Admits `wasm` under `grants` and prepares it for invocation.
    ///
    /// Order: validation and admission limits, then every import checked
    /// against `grants`, and only then compilation (or a cache hit). Nothing
    /// that fails admission is compiled.
    ///
    /// # Errors
    /// [`LoadError::InvalidModule`] for malformed, invalid or over-limit
    /// modules and compiler refusals; [`LoadError::CapabilityDenied`] naming
    /// every import that is unknown, ungranted or mistyped.
    pub fn load(&self, wasm: &[u8], grants: &Grants) -> Result<Prepared, LoadError> {
        let digest = sha256(wasm);
        let cached = self.lock_memory().get(&digest);
        let module = match cached {
            Some(m) => {
                m.report
                    .link_plan(grants, &self.inner.config.user_functions)?;
                m
            }
            None => {
                let admitted = admission::admit(wasm, &self.inner.config.admission)?;
                admitted
                    .report
                    .link_plan(grants, &self.inner.config.user_functions)?;
                let compiled = self.compile_admitted(digest, wasm, admitted)?;
                self.lock_memory().insert(digest, Arc::new(compiled))
            }
        };
        self.prepare(module, grants)
    }

    /// Admits and compiles `wasm` (or takes it from a cache) without
    /// checking imports against a grant set; [`Runtime::prepare`] does that.
    ///
    /// # Errors
    /// [`LoadError::InvalidModule`] as in [`Runtime::load`].
    pub fn compile(&self, wasm: &[u8]) -> Result<Arc<CompiledModule>, LoadError> {
        let digest = sha256(wasm);
        if let Some(m) = self.lock_memory().get(&digest) {
            return Ok(m);
        }
        let admitted = admission::admit(wasm, &self.inner.config.admission)?;
        let compiled = self.compile_admitted(digest, wasm, admitted)?;
        Ok(self.lock_memory().insert(digest, Arc::new(compiled)))
    }

    /// Prepares a compiled module for `grants`: computes the import plan.
    ///
    /// # Errors
    /// [`LoadError::CapabilityDenied`] naming every refused import;
    /// [`LoadError::InvalidGrant`] when the HTTP grant's origins, methods or
    /// private ranges do not parse.
    pub fn prepare(
        &self,
        module: Arc<CompiledModule>,
        grants: &Grants,
    ) -> Result<Prepared, LoadError> {
        let plan = module
            .report
            .link_plan(grants, &self.inner.config.user_functions)?;
        let http = match &grants.http {
            Some(g) => Some(Arc::new(net::HttpPolicy::from_grant(g).map_err(|e| {
                LoadError::InvalidGrant {
                    capability: bitvault_abi::CapabilityKind::Http,
                    reason: e.to_string(),
                }
            })?)),
            None => None,
        };
        // Admission guarantees an exported `_initialize` is `() -> ()`.
        let has_initialize = module.report.export_func(INITIALIZE_EXPORT).is_some();
        let extism = plan.iter().any(Link::is_extism);
        Ok(Prepared {
            extism,
            runtime: self.inner.clone(),
            has_initialize,
            plan: plan.into(),
            log_min_level: grants.log.as_ref().map(|l| l.min_level),
            clock: grants.clock,
            random: grants.random,
            stdio: grants.stdio,
            topics: grants.events.clone().map(Arc::new),
            http,
            module,
        })
    }

    /// Drops a module from the in-memory cache (a revoked or upgraded
    /// plugin). [`Prepared`] values already made keep working until dropped.
    pub fn evict(&self, digest: &Digest) {
        self.lock_memory().remove(digest);
    }

    /// Deadline interrupts the watchdog has sent since this runtime started.
    pub fn deadline_interrupts(&self) -> u64 {
        self.inner.watchdog.interrupts_sent()
    }

    fn lock_memory(&self) -> std::sync::MutexGuard<'_, MemoryCache<Arc<CompiledModule>>> {
        self.inner.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn compile_admitted(
        &self,
        digest: Digest,
        wasm: &[u8],
        admitted: admission::Admitted,
    ) -> Result<CompiledModule, LoadError> {
        let config = &self.inner.config;
        let mut rejection = None;
        if let Some(disk) = &self.inner.disk {
            let engine = Engine::headless();
            match disk.load(&digest, &engine) {
                Ok(Some(module)) => {
                    return Ok(CompiledModule {
                        digest,
                        module,
                        engine,
                        report: admitted.report,
                        origin: CacheOrigin::Disk,
                    });
                }
                Ok(None) => {}
                Err(r) => {
                    tracing::warn!(digest = %hex(&digest), reason = ?r, "rejected cached artifact; recompiling");
                    rejection = Some(r);
                }
            }
        }

        let engine = compiling_engine(config.compiler, config.limits.max.fuel);
        let bytes = admitted.rewritten.as_deref().unwrap_or(wasm);
        let module = Module::new(&engine, bytes).map_err(|e| {
            LoadError::InvalidModule(InvalidModule::Compile {
                message: e.to_string(),
            })
        })?;
        if let Some(disk) = &self.inner.disk
            && let Err(e) = disk.store(&digest, &module)
        {
            tracing::warn!(digest = %hex(&digest), error = %e, "cannot write cached artifact");
        }
        Ok(CompiledModule {
            digest,
            module,
            engine,
            report: admitted.report,
            origin: rejection.map_or(CacheOrigin::Compiled, CacheOrigin::Recompiled),
        })
    }

    /// The path of the on-disk artifact of a module digest, when the runtime
    /// has a disk cache.
    pub fn artifact_path(&self, digest: &Digest) -> Option<std::path::PathBuf> {
        self.inner.disk.as_ref().map(|d| d.path(digest))
    }
}

fn compiling_engine(compiler: Compiler, max_fuel: u64) -> Engine {
    let metering = Arc::new(Metering::new(max_fuel, operator_cost));
    match compiler {
        Compiler::Cranelift => {
            let mut c = wasmer::sys::Cranelift::default();
            wasmer::sys::CompilerConfig::push_middleware(&mut c, metering);
            EngineBuilder::new(c).into()
        }
        Compiler::Singlepass => {
            let mut c = wasmer::sys::Singlepass::default();
            wasmer::sys::CompilerConfig::push_middleware(&mut c, metering);
            EngineBuilder::new(c).into()
        }
    }
}

impl Prepared {
    /// Invokes `export` (a `() -> i32` function, or a WASI command's
    /// `_start` of type `() -> ()`) with `input` as the request, on a fresh
    /// store and instance.
    ///
    /// Before the export, the module's start function (if any) and then
    /// `_initialize` (if exported as `() -> ()`) run on the same instance,
    /// all under one fuel budget and one deadline. A `_start` that returns
    /// succeeds like an entry point returning 0; WASI `proc_exit(code)`
    /// anywhere ends the call as if the entry point had returned `code`.
    pub fn invoke(&self, export: &str, input: impl Into<Bytes>, ctx: &CallContext) -> Outcome {
        invoke::invoke(self, export, input.into(), ctx)
    }

    /// The compiled module behind this plugin.
    pub fn module(&self) -> &Arc<CompiledModule> {
        &self.module
    }

    /// The host functions linked into every instance, in import order.
    pub fn linked(&self) -> &[Link] {
        &self.plan
    }

    /// Checks that `export` can be invoked; `Ok(true)` for a `() -> ()`
    /// command (`_start`), `Ok(false)` for a `() -> i32` entry point.
    fn check_export(&self, export: &str) -> Result<bool, InvokeError> {
        let report = &self.module.report;
        match report.exports.iter().find(|e| e.name == export) {
            Some(Export {
                desc: ExternDesc::Func(t),
                ..
            }) if t.is_invocable_as(export) => Ok(!t.is_entry_point()),
            Some(Export { desc, .. }) => Err(InvokeError::MissingExport {
                export: export.to_owned(),
                found: Some(match desc {
                    ExternDesc::Func(t) => format!("a function {t}"),
                    other => format!("a {}", other.kind()),
                }),
            }),
            None => Err(InvokeError::MissingExport {
                export: export.to_owned(),
                found: None,
            }),
        }
    }
}
