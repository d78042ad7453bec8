//! Every outcome kind, each arising from a real module, and the host serving
//! normally afterwards.

use anyhow::Result;
use bitvault_abi::{CapabilityKind, Grants, LimitName, Limits};
use bitvault_runtime::{
    AdmissionLimit, AdmissionLimits, DenyReason, ErrorKind, InvalidModule, InvokeError, LoadError,
    LogRecord, LogSink, Resource, Runtime, RuntimeConfig,
};
use std::sync::Arc;
use std::time::Duration;

use crate::{assert_serves, ctx, ctx_logged, ctx_with, defaults, load, runtime};

const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "spin") (result i32)
    (loop $l (br $l))
    (i32.const 0)))
"#;

#[test]
fn success_returns_output_and_metrics() -> Result<()> {
    let rt = runtime();
    let echo = load(&rt, crate::ECHO)?;
    let out = echo.invoke("echo", b"hello".to_vec(), &ctx());
    assert_eq!(out.result?, b"hello");
    assert!(out.metrics.fuel_used > 0);
    assert_eq!(out.metrics.input_bytes, 5);
    assert_eq!(out.metrics.output_bytes, 5);
    assert_eq!(out.metrics.host_calls, 3);
    assert_eq!(out.metrics.memory_peak_bytes, 65_536);
    Ok(())
}

#[test]
fn infinite_loop_exhausts_fuel() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, SPIN)?;
    let limits = Limits {
        fuel: 1_000_000,
        deadline_ms: 30_000,
        ..defaults()
    };
    let out = p.invoke("spin", Vec::new(), &ctx_with(limits));
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::FuelExhausted { limit: 1_000_000 }
    );
    assert_eq!(out.metrics.fuel_used, 1_000_000);
    assert_serves(&rt)
}

#[test]
fn infinite_loop_with_unlimited_fuel_hits_the_deadline() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, SPIN)?;
    let limits = Limits {
        fuel: u64::MAX,
        deadline_ms: 50,
        ..defaults()
    };
    let out = p.invoke("spin", Vec::new(), &ctx_with(limits));
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::Deadline { deadline_ms: 50 }
    );
    assert!(out.metrics.wall >= Duration::from_millis(50));
    assert!(
        out.metrics.wall < Duration::from_millis(50 + 200),
        "{:?}",
        out.metrics.wall
    );
    assert_serves(&rt)
}

const START_SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "run") (result i32) (i32.const 0)))
"#;

#[test]
fn loop_in_start_function_hits_the_deadline() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, START_SPIN)?;
    let limits = Limits {
        fuel: u64::MAX,
        deadline_ms: 50,
        ..defaults()
    };
    let out = p.invoke("run", Vec::new(), &ctx_with(limits));
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::Deadline { deadline_ms: 50 }
    );
    assert!(
        out.metrics.wall < Duration::from_millis(50 + 200),
        "{:?}",
        out.metrics.wall
    );
    assert_serves(&rt)
}

#[test]
fn loop_in_start_function_runs_on_the_call_fuel_budget() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, START_SPIN)?;
    let limits = Limits {
        fuel: 10_000,
        ..defaults()
    };
    let out = p.invoke("run", Vec::new(), &ctx_with(limits));
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::FuelExhausted { limit: 10_000 }
    );
    assert_serves(&rt)
}

#[test]
fn start_function_and_initialize_run_on_every_fresh_instance() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $g (mut i32) (i32.const 0))
          (func $start (global.set $g (i32.add (global.get $g) (i32.const 1))))
          (start $start)
          (func (export "_initialize") (global.set $g (i32.add (global.get $g) (i32.const 10))))
          (func (export "count") (result i32)
            (i32.store (i32.const 0) (global.get $g))
            (drop (call $w (i32.const 0) (i32.const 4)))
            (i32.const 0)))
        "#,
    )?;
    for _ in 0..3 {
        let out = p.invoke("count", Vec::new(), &ctx());
        // 1 from start + 10 from _initialize, every time: nothing leaks.
        assert_eq!(out.result?, 11i32.to_le_bytes());
    }
    Ok(())
}

#[test]
fn memory_grow_loop_hits_the_memory_limit_with_the_trap_as_cause() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (memory (export "memory") 1)
          (func (export "grow") (result i32)
            (loop $l
              (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
                (then unreachable))
              (br $l))
            (i32.const 0)))
        "#,
    )?;
    let limits = Limits {
        memory_bytes: 4 << 20,
        ..defaults()
    };
    let out = p.invoke("grow", Vec::new(), &ctx_with(limits));
    match out.result.unwrap_err() {
        InvokeError::MemoryLimit {
            resource: Resource::Memory,
            requested,
            allowed,
            trap: Some(trap),
        } => {
            assert_eq!(allowed, 4 << 20);
            assert_eq!(requested, (4 << 20) + 65_536);
            assert_eq!(trap.code.as_deref(), Some("unreachable_code_reached"));
        }
        other => panic!("unexpected outcome {other:?}"),
    }
    assert_eq!(out.metrics.memory_peak_bytes, 4 << 20);
    assert_serves(&rt)
}

#[test]
fn refused_grow_without_a_trap_is_not_a_failure() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (memory (export "memory") 1)
          (func (export "try") (result i32)
            (i32.ne (memory.grow (i32.const 1000)) (i32.const -1))))
        "#,
    )?;
    let limits = Limits {
        memory_bytes: 1 << 20,
        ..defaults()
    };
    // The guest sees -1 from memory.grow and returns 0: a handled refusal.
    let out = p.invoke("try", Vec::new(), &ctx_with(limits));
    assert_eq!(out.result?, b"");
    Ok(())
}

#[test]
fn declared_memory_over_the_call_ceiling_is_a_memory_limit() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"(module (memory (export "memory") 2000) (func (export "run") (result i32) (i32.const 0)))"#,
    )?;
    let out = p.invoke("run", Vec::new(), &ctx());
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::MemoryLimit {
            resource: Resource::Memory,
            requested: 2000 * 65_536,
            allowed: 64 << 20,
            trap: None,
        }
    );
    assert_serves(&rt)
}

#[test]
fn declared_table_over_the_call_ceiling_is_a_memory_limit() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"(module (table 20000 funcref) (func (export "run") (result i32) (i32.const 0)))"#,
    )?;
    let out = p.invoke("run", Vec::new(), &ctx());
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::MemoryLimit {
            resource: Resource::Table,
            requested: 20_000,
            allowed: 10_000,
            trap: None,
        }
    );
    assert_serves(&rt)
}

#[test]
fn huge_declared_memory_or_table_fails_admission() -> Result<()> {
    let rt = runtime();
    let err = rt
        .load(&wat::parse_str("(module (memory 60000))")?, &Grants::core())
        .unwrap_err();
    assert_eq!(
        err,
        LoadError::InvalidModule(InvalidModule::AdmissionLimit {
            limit: AdmissionLimit::MemoryMinPages,
            value: 60_000,
            max: 16_384,
        })
    );
    let err = rt
        .load(
            &wat::parse_str("(module (table 1000000 funcref))")?,
            &Grants::core(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidModule);
    assert!(err.to_string().contains("table_min_elements"), "{err}");
    assert_serves(&rt)
}

#[test]
fn over_limit_modules_fail_admission_by_name() -> Result<()> {
    let mut config = RuntimeConfig::new();
    config.admission = AdmissionLimits {
        functions: 3,
        module_bytes: 4096,
        ..AdmissionLimits::standard()
    };
    let rt = Runtime::new(config)?;
    let many = "(module (func) (func) (func) (func))";
    match rt
        .load(&wat::parse_str(many)?, &Grants::core())
        .unwrap_err()
    {
        LoadError::InvalidModule(InvalidModule::AdmissionLimit { limit, value, max }) => {
            assert_eq!((limit, value, max), (AdmissionLimit::Functions, 4, 3));
        }
        other => panic!("{other:?}"),
    }
    let big = vec![0u8; 5000];
    match rt.load(&big, &Grants::core()).unwrap_err() {
        LoadError::InvalidModule(InvalidModule::AdmissionLimit { limit, .. }) => {
            assert_eq!(limit, AdmissionLimit::ModuleBytes)
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn unbounded_recursion_exhausts_the_stack() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (func $r (param i64) (result i64) (call $r (i64.add (local.get 0) (i64.const 1))))
          (func (export "recurse") (result i32) (drop (call $r (i64.const 0))) (i32.const 0)))
        "#,
    )?;
    let out = p.invoke("recurse", Vec::new(), &ctx());
    assert_eq!(out.result.unwrap_err(), InvokeError::StackExhausted);
    assert_serves(&rt)
}

#[test]
fn unreachable_is_a_trap_with_a_backtrace() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module $m
          (func $inner unreachable)
          (func (export "boom") (result i32) (call $inner) (i32.const 0)))
        "#,
    )?;
    let out = p.invoke("boom", Vec::new(), &ctx());
    match out.result.unwrap_err() {
        InvokeError::Trap(t) => {
            assert_eq!(t.code.as_deref(), Some("unreachable_code_reached"));
            assert_eq!(
                t.frames.first().and_then(|f| f.func_name.as_deref()),
                Some("inner")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_serves(&rt)
}

#[test]
fn a_trap_carries_the_error_message_the_guest_set_before_it() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "set_error" (func $set_error (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "index out of range")
          (func (export "boom") (result i32)
            (drop (call $set_error (i32.const 16) (i32.const 18)))
            unreachable))
        "#,
    )?;
    match p.invoke("boom", Vec::new(), &ctx()).result.unwrap_err() {
        InvokeError::Trap(t) => {
            assert_eq!(t.code.as_deref(), Some("unreachable_code_reached"));
            assert!(
                t.message
                    .ends_with("; the plugin's error message: index out of range"),
                "{}",
                t.message
            );
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn output_flood_hits_the_output_limit() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "flood") (result i32)
            (loop $l (drop (call $w (i32.const 0) (i32.const 65536))) (br $l))
            (i32.const 0)))
        "#,
    )?;
    let limits = Limits {
        output_bytes: 1 << 20,
        ..defaults()
    };
    let out = p.invoke("flood", Vec::new(), &ctx_with(limits));
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::OutputLimit {
            limit: 1 << 20,
            attempted: (1 << 20) + 65_536
        }
    );
    assert_eq!(out.metrics.output_bytes, 1 << 20);
    assert_serves(&rt)
}

const LOGGER: &str = r#"
(module
  (import "bitvault_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from the guest")
  (func (export "once") (result i32)
    (call $log (i32.const 2) (i32.const 0) (i32.const 20)))
  (func (export "flood") (result i32)
    (loop $l (drop (call $log (i32.const 2) (i32.const 0) (i32.const 20))) (br $l))
    (i32.const 0)))
"#;

#[test]
fn log_messages_reach_the_sink_with_tags() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, LOGGER)?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke("once", Vec::new(), &ctx);
    let id = out.invocation_id;
    out.result?;
    let logs = sink.take();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].message, "hello from the guest");
    assert_eq!(logs[0].tenant, "tenant-a");
    assert_eq!(logs[0].plugin, "plugin-x");
    assert_eq!(logs[0].invocation_id, id);
    Ok(())
}

#[test]
fn log_flood_exceeds_the_log_limit() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, LOGGER)?;
    let (ctx, sink) = ctx_logged(Limits {
        log_lines: 10,
        ..defaults()
    });
    let out = p.invoke("flood", Vec::new(), &ctx);
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::LimitExceeded {
            limit: LimitName::LogLines,
            value: 10
        }
    );
    assert_eq!(sink.take().len(), 10);
    assert_eq!(out.metrics.log_lines, 10);

    let (ctx, _) = ctx_logged(Limits {
        log_bytes: 100,
        ..defaults()
    });
    let out = p.invoke("flood", Vec::new(), &ctx);
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::LimitExceeded {
            limit: LimitName::LogBytes,
            value: 100
        }
    );
    assert_serves(&rt)
}

#[test]
fn host_call_flood_exceeds_the_host_call_limit() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "input_len" (func $n (result i32)))
          (func (export "flood") (result i32) (loop $l (drop (call $n)) (br $l)) (i32.const 0)))
        "#,
    )?;
    let out = p.invoke(
        "flood",
        Vec::new(),
        &ctx_with(Limits {
            host_calls: 1000,
            ..defaults()
        }),
    );
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::LimitExceeded {
            limit: LimitName::HostCalls,
            value: 1000
        }
    );
    assert_eq!(out.metrics.host_calls, 1001);
    assert_serves(&rt)
}

#[test]
fn ungranted_imports_are_denied_by_name_before_compiling() -> Result<()> {
    let rt = runtime();
    let wasm = wat::parse_str(
        r#"
        (module
          (import "bitvault_v1" "log" (func (param i32 i32 i32) (result i32)))
          (import "bitvault_v1" "write_output" (func (param i32 i32) (result i32)))
          (import "env" "open" (func (param i32) (result i32)))
          (import "bitvault_v1" "input_len" (func (param i32) (result i32))))
        "#,
    )?;
    let grants = Grants {
        log: None,
        ..Grants::core()
    };
    match rt.load(&wasm, &grants).unwrap_err() {
        LoadError::CapabilityDenied { imports } => {
            let names: Vec<_> = imports
                .iter()
                .map(|d| format!("{}.{}", d.module, d.name))
                .collect();
            assert_eq!(
                names,
                ["bitvault_v1.log", "env.open", "bitvault_v1.input_len"]
            );
            assert_eq!(
                imports[0].reason,
                DenyReason::NotGranted {
                    capability: CapabilityKind::Log
                }
            );
            assert_eq!(imports[1].reason, DenyReason::Unknown);
            assert_eq!(
                imports[2].reason,
                DenyReason::WrongSignature {
                    expected: "() -> i32".into(),
                    found: "(i32) -> i32".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing granted: even the core functions are refused.
    let err = rt
        .load(&wat::parse_str(crate::ECHO)?, &Grants::none())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapabilityDenied);
    assert_serves(&rt)
}

#[test]
fn garbage_bytes_are_an_invalid_module() -> Result<()> {
    let rt = runtime();
    for bytes in [
        &b""[..],
        b"\0asm",
        b"not wasm at all",
        b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f",
    ] {
        let err = rt.load(bytes, &Grants::core()).unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::InvalidModule(InvalidModule::Malformed { .. })
            ),
            "{err:?}"
        );
    }
    // Well-formed but invalid: type mismatch.
    let err = rt
        .load(
            &wat::parse_str("(module (func (result i32) (i64.const 0)))")?,
            &Grants::core(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::InvalidModule(InvalidModule::Validation { .. })
        ),
        "{err:?}"
    );
    assert_serves(&rt)
}

#[test]
fn reserved_export_names_are_refused() -> Result<()> {
    let rt = runtime();
    let err = rt
        .load(
            &wat::parse_str(r#"(module (global (export "wasmer_metering_remaining_points") i64 (i64.const 0)))"#)?,
            &Grants::core(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::InvalidModule(InvalidModule::ReservedExport { .. })
        ),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn wrong_or_missing_export_is_named() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"(module (memory (export "memory") 1) (func (export "f") (param i32) (result i32) (local.get 0)))"#,
    )?;
    assert_eq!(
        p.invoke("f", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::MissingExport {
            export: "f".into(),
            found: Some("a function (i32) -> i32".into())
        }
    );
    assert_eq!(
        p.invoke("memory", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::MissingExport {
            export: "memory".into(),
            found: Some("a memory".into())
        }
    );
    assert_eq!(
        p.invoke("nope", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::MissingExport {
            export: "nope".into(),
            found: None
        }
    );
    assert_serves(&rt)
}

struct PanickingSink;

impl LogSink for PanickingSink {
    fn log(&self, _: &LogRecord<'_>) {
        panic!("sink exploded");
    }
}

#[test]
fn a_panicking_host_function_is_contained() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, LOGGER)?;
    let ctx = ctx().with_log(Arc::new(PanickingSink));
    let out = p.invoke("once", Vec::new(), &ctx);
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::HostPanic {
            message: "sink exploded".into()
        }
    );
    assert_serves(&rt)
}

#[test]
fn non_zero_return_with_set_error_is_a_plugin_error() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "set_error" (func $e (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "bad request: no title")
          (func (export "fail") (result i32)
            (drop (call $e (i32.const 0) (i32.const 21)))
            (i32.const 42))
          (func (export "bare") (result i32) (i32.const -7)))
        "#,
    )?;
    assert_eq!(
        p.invoke("fail", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::PluginError {
            code: 42,
            message: Some("bad request: no title".into())
        }
    );
    assert_eq!(
        p.invoke("bare", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::PluginError {
            code: -7,
            message: None
        }
    );
    assert_serves(&rt)
}

#[test]
fn oversized_input_is_refused_before_running() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, crate::ECHO)?;
    let out = p.invoke(
        "echo",
        vec![0u8; 100],
        &ctx_with(Limits {
            input_bytes: 99,
            ..defaults()
        }),
    );
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::LimitExceeded {
            limit: LimitName::InputBytes,
            value: 99
        }
    );
    Ok(())
}

#[test]
fn every_call_gets_a_fresh_instance() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $calls (mut i32) (i32.const 0))
          (func (export "count") (result i32)
            (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
            ;; memory also starts zeroed every time
            (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
            (i32.store (i32.const 0) (global.get $calls))
            (drop (call $w (i32.const 0) (i32.const 8)))
            (i32.const 0)))
        "#,
    )?;
    for _ in 0..5 {
        let out = p.invoke("count", Vec::new(), &ctx()).result?;
        assert_eq!(out, [1, 0, 0, 0, 1, 0, 0, 0]);
    }
    Ok(())
}

#[test]
fn a_wrongly_typed_initialize_fails_admission() -> Result<()> {
    let rt = runtime();
    let err = rt
        .load(
            &wat::parse_str(r#"(module (func (export "_initialize") (param i32)))"#)?,
            &Grants::core(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        LoadError::InvalidModule(InvalidModule::ExportType {
            name: "_initialize".into(),
            expected: "a function () -> ()".into(),
            found: "a function (i32) -> ()".into(),
        })
    );
    Ok(())
}
