//! BitVault Plugins: sandboxed WebAssembly plugins with capability grants,
//! hard per-invocation limits and typed outcomes.
//!
//! This crate is the public API in one place. It re-exports the capability
//! ABI ([`abi`]) and the runtime ([`Runtime`], [`Prepared`], [`Outcome`]).
//!
//! ```
//! use bitvault_plugins::{CallContext, Grants, LimitPolicy, Runtime, RuntimeConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let wasm = wat::parse_str(r#"
//!     (module
//!       (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
//!       (memory (export "memory") 1)
//!       (data (i32.const 0) "hi")
//!       (func (export "greet") (result i32)
//!         (drop (call $w (i32.const 0) (i32.const 2)))
//!         (i32.const 0)))
//! "#)?;
//! let runtime = Runtime::new(RuntimeConfig::new())?;
//! let plugin = runtime.load(&wasm, &Grants::core())?;
//! let outcome = plugin.invoke("greet", Vec::new(), &CallContext::new(LimitPolicy::standard().default));
//! assert_eq!(outcome.result?, b"hi");
//! # Ok(()) }
//! ```
//!
//! Async embedders invoke with [`AsyncInvoke::invoke_async`], which runs
//! each call on tokio's blocking pool.
//!
//! What exists today: the runtime and the `bitvault_v1` functions for the
//! request, response, errors, logging, configuration, clocks, randomness,
//! the plugin's key-value namespace ([`kv`]) and events ([`events`]); the
//! deny-by-default WASI preview 1 shim with its stdio mode; scoped HTTP
//! (`http_request`, with its policy in [`net`] and client in [`http`]);
//! and the typed extension points ([`extpoints`]: contracts, typed host
//! API, discovery), with conformance suites in `bitvault-conformance`.
//! Signed packages, registries (an OCI image-layout directory, or any OCI
//! distribution registry) and tenant installations are in [`registry`];
//! [`PluginHost`] joins them to the runtime: it installs packages per
//! tenant through one admission pipeline, records grants and refusals, and
//! hands out prepared plugins that revocation invalidates.
#![forbid(unsafe_code)]

mod asynchronous;
pub mod host;

pub use asynchronous::AsyncInvoke;
pub use host::{
    AdmissionError, Admitted, CallError, Expect, Grant, InstallRequest, InstalledPlugin,
    PluginHost, Providers,
};

/// Signed packages, registries, trust policies and tenant installations.
pub use bitvault_registry as registry;

/// The capability ABI: host function names and signatures, error codes,
/// limits and grants.
pub use bitvault_abi as abi;

/// The typed extension points: protobuf contracts, one trait per point,
/// the plugin lifecycle.
pub use bitvault_extpoints as extpoints;

pub use bitvault_abi::{Grants, LimitPolicy, Limits};
pub use bitvault_runtime::{
    CallContext, CompiledModule, Compiler, ErrorKind, InvokeError, LoadError, LogSink, Metrics,
    ModuleReport, Outcome, PluginConfig, Prepared, Runtime, RuntimeConfig,
};
pub use bitvault_runtime::{events, extism, http, kv, net};
