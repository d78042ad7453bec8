//! Integration tests of the runtime through its public API, one module per
//! concern.

mod abi;
mod c_plugin;
mod cache;
mod concurrency;
mod events;
mod extism;
mod extism_user;
#[cfg(feature = "http-client")]
mod http;
mod kv;
mod kv_host;
mod limits;
mod net;
mod outcomes;
mod wasi;

use std::sync::Arc;

use anyhow::Result;
use bitvault_abi::{Grants, LimitPolicy, Limits};
use bitvault_runtime::{CallContext, MemoryLogSink, Prepared, Runtime, RuntimeConfig};

/// An echo plugin: the response is the request.
const ECHO: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $input_len (result i32)))
  (import "bitvault_v1" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write_output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32) (local $n i32)
    (local.set $n (call $input_len))
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i32.const 1))))
    (drop (call $read_input (i32.const 0) (i32.const 0) (local.get $n)))
    (drop (call $write_output (i32.const 0) (local.get $n)))
    (i32.const 0)))
"#;

/// The start of a WAT module importing each `(name, signature)` of
/// `namespace` with exactly that signature; the caller adds the rest and
/// the closing parenthesis.
fn imports_wat<'a>(
    namespace: &str,
    fns: impl IntoIterator<Item = (&'a str, bitvault_abi::Signature)>,
) -> String {
    let list = |tys: &[bitvault_abi::ValType]| {
        tys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut wat = String::from("(module\n");
    for (name, sig) in fns {
        wat.push_str(&format!(
            "  (import \"{namespace}\" \"{name}\" (func (param {}) (result {})))\n",
            list(sig.params),
            list(sig.results)
        ));
    }
    wat
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::new()).expect("runtime")
}

fn defaults() -> Limits {
    LimitPolicy::standard().default
}

fn ctx() -> CallContext {
    CallContext::new(defaults())
}

fn ctx_with(limits: Limits) -> CallContext {
    CallContext::new(limits)
}

/// A context whose log lands in a sink the test can read.
fn ctx_logged(limits: Limits) -> (CallContext, Arc<MemoryLogSink>) {
    let sink = Arc::new(MemoryLogSink::new());
    (
        CallContext::new(limits)
            .for_plugin("tenant-a", "plugin-x")
            .with_log(sink.clone()),
        sink,
    )
}

fn load(rt: &Runtime, wat: &str) -> Result<Prepared> {
    Ok(rt.load(&wat::parse_str(wat)?, &Grants::core())?)
}

/// The host still serves an ordinary call after whatever the test did.
fn assert_serves(rt: &Runtime) -> Result<()> {
    let echo = load(rt, ECHO)?;
    let out = echo.invoke("echo", b"still serving".to_vec(), &ctx());
    assert_eq!(out.result?, b"still serving");
    Ok(())
}
