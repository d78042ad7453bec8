//! `extism:host/user`: host functions the embedder registers, imported by a
//! plugin built with the official Extism PDK's `#[host_fn]`
//! (`plugins/extism-hostfns`). A function links only when it is
//! registered, imported with its exact signature and granted by name; its
//! handler sees the call's tenant and plugin and the kernel memory, is
//! counted and guarded like every host function, and its failures end the
//! call with typed outcomes.

use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Result, bail};
use bitvault_abi::{CapabilityKind, Grants, LimitName, Limits};
use bitvault_runtime::extism::{
    USER_NAMESPACE, UserCall, UserFunction, UserFunctions, UserType, UserVal,
};
use bitvault_runtime::{
    CallContext, DeniedImport, DenyReason, InvokeError, LoadError, Prepared, Resource, Runtime,
    RuntimeConfig,
};

use crate::defaults;
use crate::extism::{build_pdk_plugin, host_error};

/// The plugin, built once per test binary.
fn plugin() -> Result<&'static [u8]> {
    static WASM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    match WASM.get_or_init(|| build_pdk_plugin("extism-hostfns").map_err(|e| format!("{e:#}"))) {
        Ok(wasm) => Ok(wasm),
        Err(e) => bail!("{e}"),
    }
}

/// What `record` was given: tenant, plugin and the entry's bytes.
type Records = Arc<Mutex<Vec<(String, String, String)>>>;

/// The text of the block an argument names.
fn text_arg(call: &UserCall<'_>, arg: &UserVal) -> Result<String, String> {
    let offset = arg.offset().ok_or("expected an offset")?;
    let bytes = call
        .block(offset)
        .ok_or_else(|| format!("invalid handle offset: {offset}"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8".to_owned())
}

/// `lookup_user(id) -> name`: the directory of the call's tenant; `panic`
/// panics, `huge` answers 2 MiB, `wrong` answers an `i32`.
fn lookup_user() -> UserFunction {
    UserFunction::new(
        "lookup_user",
        [UserType::I64],
        [UserType::I64],
        |call, args| {
            let id = text_arg(call, &args[0])?;
            let name = match (call.tenant(), id.as_str()) {
                (_, "panic") => panic!("the directory is gone"),
                (_, "huge") => "x".repeat(2 << 20),
                (_, "wrong") => return Ok(vec![UserVal::I32(1)]),
                ("acme", "1") => "Ada".to_owned(),
                ("acme", "2") => "Grace".to_owned(),
                ("globex", "1") => "Hank".to_owned(),
                (tenant, _) => return Err(format!("no user {id} in {tenant}")),
            };
            let name = format!("{name} ({})", call.plugin());
            let block = call.new_block(name.as_bytes()).map_err(|e| e.to_string())?;
            Ok(vec![UserVal::I64(block as i64)])
        },
    )
    .expect("a valid name")
}

/// `record(entry)`: appends to `records`.
fn record(records: Records) -> UserFunction {
    UserFunction::new("record", [UserType::I64], [], move |call, args| {
        let entry = text_arg(call, &args[0])?;
        let mut r = records.lock().map_err(|_| "poisoned")?;
        r.push((call.tenant().to_owned(), call.plugin().to_owned(), entry));
        Ok(Vec::new())
    })
    .expect("a valid name")
}

fn runtime_with(functions: Vec<UserFunction>) -> Runtime {
    let mut user_functions = UserFunctions::new();
    for f in functions {
        user_functions.register(f).expect("distinct names");
    }
    Runtime::new(RuntimeConfig {
        user_functions,
        ..RuntimeConfig::new()
    })
    .expect("runtime")
}

fn both(records: &Records) -> Runtime {
    runtime_with(vec![lookup_user(), record(records.clone())])
}

fn grants(names: &[&str]) -> Grants {
    Grants {
        host_functions: names.iter().map(|n| (*n).to_owned()).collect(),
        ..Grants::core()
    }
}

fn load(rt: &Runtime, granted: &[&str]) -> Result<Prepared> {
    Ok(rt.load(plugin()?, &grants(granted))?)
}

fn call(p: &Prepared, export: &str, input: &str, ctx: &CallContext) -> Result<String> {
    let out = p.invoke(export, input.as_bytes().to_vec(), ctx);
    Ok(String::from_utf8(out.result?)?)
}

fn acme() -> CallContext {
    CallContext::new(defaults()).for_plugin("acme", "greeter")
}

fn denied(result: Result<Prepared, LoadError>) -> Result<Vec<DeniedImport>> {
    match result {
        Err(LoadError::CapabilityDenied { imports }) => Ok(imports),
        other => bail!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn registered_and_granted_functions_serve_the_pdk_plugin_per_tenant() -> Result<()> {
    let records = Records::default();
    let rt = both(&records);
    let p = load(&rt, &["lookup_user", "record"])?;
    assert_eq!(call(&p, "greet", "1", &acme())?, "Hello, Ada (greeter)!");
    let globex = CallContext::new(defaults()).for_plugin("globex", "greeter");
    assert_eq!(call(&p, "greet", "1", &globex)?, "Hello, Hank (greeter)!");
    assert_eq!(
        call(&p, "greet_all", "1,2", &acme())?,
        "Hello, Ada (greeter)!\nHello, Grace (greeter)!\n"
    );
    let out = p.invoke(
        "audit",
        br#"{"action":"share","count":3}"#.to_vec(),
        &acme(),
    );
    assert_eq!(out.result?, b"recorded");
    // Each host function call is one host call; the kernel's are free.
    assert_eq!(out.metrics.host_calls, 1);
    let r = records.lock().expect("not poisoned");
    assert_eq!(r.len(), 1);
    let (tenant, plugin, entry) = &r[0];
    assert_eq!((tenant.as_str(), plugin.as_str()), ("acme", "greeter"));
    let entry: serde_json::Value = serde_json::from_str(entry)?;
    assert_eq!(entry, serde_json::json!({"action": "share", "count": 3}));
    Ok(())
}

#[test]
fn an_unregistered_function_is_refused_naming_it() -> Result<()> {
    let records = Records::default();
    let rt = runtime_with(vec![record(records)]);
    let imports = denied(rt.load(plugin()?, &grants(&["lookup_user", "record"])))?;
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(imports[0].module, USER_NAMESPACE);
    assert_eq!(imports[0].name, "lookup_user");
    assert_eq!(imports[0].reason, DenyReason::Unknown);
    // With nothing registered, as by default, both are refused.
    let imports = denied(runtime_with(Vec::new()).load(plugin()?, &grants(&["lookup_user"])))?;
    let names: Vec<&str> = imports.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["lookup_user", "record"]);
    Ok(())
}

#[test]
fn a_registered_function_needs_a_grant_by_name() -> Result<()> {
    let rt = both(&Records::default());
    let imports = denied(rt.load(plugin()?, &grants(&["lookup_user", "lookup"])))?;
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(imports[0].name, "record");
    assert_eq!(
        imports[0].reason,
        DenyReason::NotGranted {
            capability: CapabilityKind::HostFunctions
        }
    );
    assert!(
        imports[0]
            .to_string()
            .contains("extism:host/user.record (capability `host_functions` not granted)"),
        "{}",
        imports[0]
    );
    Ok(())
}

#[test]
fn a_function_registered_with_another_signature_is_refused() -> Result<()> {
    let f = UserFunction::new("lookup_user", [UserType::I32], [UserType::I64], |_, _| {
        Ok(vec![UserVal::I64(0)])
    })?;
    let rt = runtime_with(vec![f, record(Records::default())]);
    let imports = denied(rt.load(plugin()?, &grants(&["lookup_user", "record"])))?;
    assert_eq!(
        imports[0].reason,
        DenyReason::WrongSignature {
            expected: "(i32) -> i64".into(),
            found: "(i64) -> i64".into(),
        }
    );
    Ok(())
}

#[test]
fn a_handler_error_fails_the_call_with_its_message() -> Result<()> {
    let rt = both(&Records::default());
    let p = load(&rt, &["lookup_user", "record"])?;
    let out = p.invoke("greet", b"7".to_vec(), &acme());
    host_error(
        out.result,
        "extism:host/user.lookup_user: no user 7 in acme",
    )?;
    // The host is unharmed.
    assert_eq!(call(&p, "greet", "2", &acme())?, "Hello, Grace (greeter)!");
    Ok(())
}

#[test]
fn a_panicking_handler_ends_the_call_as_a_host_panic() -> Result<()> {
    let rt = both(&Records::default());
    let p = load(&rt, &["lookup_user", "record"])?;
    match p.invoke("greet", b"panic".to_vec(), &acme()).result {
        Err(InvokeError::HostPanic { message }) => {
            assert!(message.contains("the directory is gone"), "{message}")
        }
        other => bail!("expected a host panic, got {other:?}"),
    }
    assert_eq!(call(&p, "greet", "1", &acme())?, "Hello, Ada (greeter)!");
    Ok(())
}

#[test]
fn results_of_the_wrong_type_end_the_call_as_a_host_panic() -> Result<()> {
    let rt = both(&Records::default());
    let p = load(&rt, &["lookup_user", "record"])?;
    match p.invoke("greet", b"wrong".to_vec(), &acme()).result {
        Err(InvokeError::HostPanic { message }) => {
            assert!(message.contains("returned (i32) but declares"), "{message}")
        }
        other => bail!("expected a host panic, got {other:?}"),
    }
    Ok(())
}

#[test]
fn blocks_a_handler_makes_count_against_the_memory_ceiling() -> Result<()> {
    let rt = both(&Records::default());
    let p = load(&rt, &["lookup_user", "record"])?;
    let limits = Limits {
        memory_bytes: 2 << 20,
        ..defaults()
    };
    let ctx = CallContext::new(limits).for_plugin("acme", "greeter");
    match p.invoke("greet", b"huge".to_vec(), &ctx).result {
        Err(InvokeError::MemoryLimit { resource, .. }) => assert_eq!(resource, Resource::Memory),
        other => bail!("expected the memory limit, got {other:?}"),
    }
    // Within a larger ceiling the same answer is served (the PDK copies
    // it 8 bytes per kernel call, hence the longer deadline).
    let roomy = CallContext::new(Limits {
        memory_bytes: 64 << 20,
        deadline_ms: 20_000,
        ..defaults()
    })
    .for_plugin("acme", "greeter");
    assert_eq!(call(&p, "greet", "huge", &roomy)?.len(), (2 << 20) + 18);
    Ok(())
}

#[test]
fn every_handler_call_counts_against_host_calls() -> Result<()> {
    let rt = both(&Records::default());
    let p = load(&rt, &["lookup_user", "record"])?;
    let limits = Limits {
        host_calls: 3,
        ..defaults()
    };
    let ctx = CallContext::new(limits).for_plugin("acme", "greeter");
    assert!(call(&p, "greet_all", "1,2,1", &ctx).is_ok());
    match p.invoke("greet_all", b"1,2,1,2".to_vec(), &ctx).result {
        Err(InvokeError::LimitExceeded { limit, value }) => {
            assert_eq!((limit, value), (LimitName::HostCalls, 3));
        }
        other => bail!("expected the host-call limit, got {other:?}"),
    }
    Ok(())
}
