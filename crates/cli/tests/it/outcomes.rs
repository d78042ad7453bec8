//! Every outcome kind through `run --json`: the exit status, the error
//! object with its structured fields, and the plain-mode error line.

use anyhow::Result;
use serde_json::{Value, json};

use crate::{ECHO, Output, Sandbox};

/// One module with an export per way of failing.
const KINDS: &str = r#"
(module $kinds
  (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
  (import "bitvault_v1" "set_error" (func $e (param i32 i32) (result i32)))
  (import "bitvault_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bad request: no title")
  (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "grow") (result i32)
    (loop $l
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
      (br $l))
    (i32.const 0))
  (func (export "flood") (result i32)
    (loop $l (drop (call $w (i32.const 0) (i32.const 65536))) (br $l))
    (i32.const 0))
  (func (export "chatter") (result i32)
    (loop $l (drop (call $log (i32.const 2) (i32.const 0) (i32.const 21))) (br $l))
    (i32.const 0))
  (func (export "fail") (result i32)
    (drop (call $e (i32.const 0) (i32.const 21)))
    (i32.const 42))
  (func (export "bare") (result i32) (i32.const -7))
  (func (export "partial") (result i32)
    (drop (call $w (i32.const 0) (i32.const 11)))
    unreachable)
  (func $r (param i64) (result i64) (call $r (i64.add (local.get 0) (i64.const 1))))
  (func (export "recurse") (result i32) (drop (call $r (i64.const 0))) (i32.const 0))
  (func (export "takes") (param i32) (result i32) (local.get 0)))
"#;

/// Runs an export of [`KINDS`] with `--json` and checks the exit status.
fn kinds(export: &str, flags: &[&str], code: i32) -> Result<(Value, Output)> {
    let sb = Sandbox::with("kinds.wat", KINDS)?;
    let mut args = vec!["run", "kinds.wat", export, "--json"];
    args.extend(flags);
    let out = sb.run(&args)?;
    assert_eq!(out.code, code, "{out:?}");
    let v = out.json()?;
    assert_eq!(v["ok"], false);
    assert_eq!(v["output_base64"], "");
    Ok((v, out))
}

/// The outcome of a module refused before running: no invocation, zero
/// metrics.
fn assert_not_run(v: &Value) {
    assert_eq!(v["ok"], false);
    assert_eq!(v["invocation_id"], 0);
    assert_eq!(v["output_base64"], "");
    assert_eq!(
        v["metrics"],
        json!({
            "fuel_used": 0, "wall_us": 0, "memory_peak_bytes": 0, "input_bytes": 0,
            "output_bytes": 0, "host_calls": 0, "log_lines": 0, "log_bytes": 0,
        })
    );
}

#[test]
fn fuel_exhausted() -> Result<()> {
    let (v, _) = kinds("spin", &["--fuel", "1000000"], 10)?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "fuel_exhausted",
            "message": "fuel exhausted after 1000000 units",
            "limit": 1_000_000,
        })
    );
    assert_eq!(v["metrics"]["fuel_used"], 1_000_000);
    assert_eq!(v["invocation_id"], 1);
    Ok(())
}

#[test]
fn deadline_with_a_huge_fuel_budget() -> Result<()> {
    let (v, out) = kinds(
        "spin",
        &["--timeout-ms", "50", "--fuel", "18446744073709551615"],
        13,
    )?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "deadline",
            "message": "deadline of 50 ms exceeded",
            "deadline_ms": 50,
        })
    );
    let wall = v["metrics"]["wall_us"].as_u64().unwrap_or_default();
    assert!((50_000..5_000_000).contains(&wall), "{wall}");
    // The fuel asked for is over the host's maximum: lowered, with a warning.
    assert_eq!(
        out.stderr,
        "warning: fuel of 18446744073709551615 is over the host maximum of \
         10000000000; using the maximum\n"
    );
    Ok(())
}

#[test]
fn trap_with_code_and_frames() -> Result<()> {
    let sb = Sandbox::with(
        "boom.wat",
        r#"(module $m
             (func $inner unreachable)
             (func (export "boom") (result i32) (call $inner) (i32.const 0)))"#,
    )?;
    let out = sb.run(&["run", "boom.wat", "boom", "--json"])?;
    assert_eq!(out.code, 14);
    let v = out.json()?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "trap",
            "message": "unreachable in m!inner @ 0x26",
            "code": "unreachable_code_reached",
            "frames": [
                { "module": "m", "func_index": 0, "func_name": "inner", "module_offset": 38 },
                { "module": "m", "func_index": 1, "func_name": null, "module_offset": 44 },
            ],
        })
    );
    Ok(())
}

#[test]
fn memory_limit_with_the_trap_that_followed() -> Result<()> {
    let (v, _) = kinds("grow", &["--memory-mib", "4"], 11)?;
    let e = &v["error"];
    assert_eq!(e["kind"], "memory_limit");
    assert_eq!(
        e["message"],
        "memory limit: 4259840 requested, 4194304 allowed"
    );
    assert_eq!(e["resource"], "memory");
    assert_eq!(e["requested"], (4 << 20) + 65_536);
    assert_eq!(e["allowed"], 4 << 20);
    assert_eq!(e["trap"]["code"], "unreachable_code_reached");
    assert_eq!(e["trap"]["message"], "unreachable");
    assert_eq!(e["trap"]["frames"][0]["module"], "kinds");
    assert_eq!(v["metrics"]["memory_peak_bytes"], 4 << 20);
    Ok(())
}

#[test]
fn declared_memory_over_the_ceiling_is_a_memory_limit_without_a_trap() -> Result<()> {
    let sb = Sandbox::with(
        "big.wat",
        r#"(module (memory (export "memory") 100) (func (export "run") (result i32) (i32.const 0)))"#,
    )?;
    let out = sb.run(&["run", "big.wat", "run", "--memory-mib", "1", "--json"])?;
    assert_eq!(out.code, 11);
    assert_eq!(
        out.json()?["error"],
        json!({
            "kind": "memory_limit",
            "message": "memory limit: 6553600 requested, 1048576 allowed",
            "resource": "memory",
            "requested": 6_553_600,
            "allowed": 1_048_576,
            "trap": null,
        })
    );
    Ok(())
}

#[test]
fn output_limit() -> Result<()> {
    let (v, _) = kinds("flood", &[], 16)?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "output_limit",
            "message": "output limit of 16777216 bytes exceeded (attempted 16842752)",
            "limit": 16 << 20,
            "attempted": (16 << 20) + 65_536,
        })
    );
    assert_eq!(v["metrics"]["output_bytes"], 16 << 20);
    Ok(())
}

#[test]
fn log_flood_is_limit_exceeded() -> Result<()> {
    let (v, out) = kinds("chatter", &[], 12)?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "limit_exceeded",
            "message": "limit `log_lines` of 256 exceeded",
            "limit": "log_lines",
            "value": 256,
        })
    );
    assert_eq!(v["metrics"]["log_lines"], 256);
    assert_eq!(out.stderr, "[info] bad request: no title\n".repeat(256));
    Ok(())
}

#[test]
fn stack_exhausted() -> Result<()> {
    let (v, _) = kinds("recurse", &[], 15)?;
    assert_eq!(
        v["error"],
        json!({ "kind": "stack_exhausted", "message": "call stack exhausted" })
    );
    Ok(())
}

#[test]
fn plugin_error_carries_the_set_error_message() -> Result<()> {
    let (v, _) = kinds("fail", &[], 20)?;
    assert_eq!(
        v["error"],
        json!({ "kind": "plugin_error", "code": 42, "message": "bad request: no title" })
    );
    let (v, _) = kinds("bare", &[], 20)?;
    assert_eq!(
        v["error"],
        json!({ "kind": "plugin_error", "code": -7, "message": null })
    );
    Ok(())
}

#[test]
fn missing_or_mistyped_export() -> Result<()> {
    let (v, _) = kinds("nope", &[], 19)?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "missing_export",
            "message": "missing export `nope`",
            "export": "nope",
            "found": null,
        })
    );
    let (v, _) = kinds("takes", &[], 19)?;
    assert_eq!(
        v["error"],
        json!({
            "kind": "missing_export",
            "message": "export `takes` is a function (i32) -> i32, expected a function () -> i32",
            "export": "takes",
            "found": "a function (i32) -> i32",
        })
    );
    Ok(())
}

#[test]
fn capability_denied_names_every_refused_import() -> Result<()> {
    let sb = Sandbox::with(
        "greedy.wat",
        r#"(module
             (import "env" "open" (func (param i32) (result i32)))
             (import "bitvault_v1" "input_len" (func (param i32) (result i32)))
             (import "bitvault_v1" "log" (memory 1))
             (import "bitvault_v1" "write_output" (func (param i32 i32) (result i32)))
             (func (export "run") (result i32) (i32.const 0)))"#,
    )?;
    let out = sb.run(&["run", "greedy.wat", "run", "--json"])?;
    assert_eq!(out.code, 17);
    let v = out.json()?;
    assert_not_run(&v);
    assert_eq!(
        v["error"],
        json!({
            "kind": "capability_denied",
            "message": "capability denied for env.open (no such host function), \
                        bitvault_v1.input_len (imported as (i32) -> i32, the ABI defines () -> i32), \
                        bitvault_v1.log (imports a memory; the host offers only functions)",
            "imports": [
                { "module": "env", "name": "open", "reason": "unknown" },
                {
                    "module": "bitvault_v1", "name": "input_len", "reason": "wrong_signature",
                    "expected": "() -> i32", "found": "(i32) -> i32",
                },
                { "module": "bitvault_v1", "name": "log", "reason": "not_a_function", "kind": "memory" },
            ],
        })
    );
    Ok(())
}

#[test]
fn garbage_bytes_are_an_invalid_module() -> Result<()> {
    let sb = Sandbox::with("garbage.wasm", b"not wasm at all")?;
    let out = sb.run(&["run", "garbage.wasm", "run", "--json"])?;
    assert_eq!(out.code, 18);
    let v = out.json()?;
    assert_not_run(&v);
    assert_eq!(v["error"]["kind"], "invalid_module");
    assert_eq!(v["error"]["reason"], "malformed");
    assert_eq!(v["error"]["offset"], 0);
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("malformed module at byte 0: magic header not detected"),
        "{message}"
    );
    Ok(())
}

#[test]
fn text_that_does_not_parse_is_an_invalid_module() -> Result<()> {
    let sb = Sandbox::with("bad.wat", "(module (func oops))")?;
    let out = sb.run(&["run", "bad.wat", "run", "--json"])?;
    assert_eq!(out.code, 18);
    let v = out.json()?;
    assert_not_run(&v);
    let e = v["error"].as_object().cloned().unwrap_or_default();
    let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["kind", "message", "reason"]);
    assert_eq!(e["reason"], "malformed");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cannot parse the WebAssembly text: unknown operator"),
        "{message}"
    );
    assert!(message.contains("bad.wat:1:15"), "{message}");
    Ok(())
}

#[test]
fn invalid_and_over_limit_modules_are_invalid_modules() -> Result<()> {
    let sb = Sandbox::new()?;
    sb.file("typo.wat", "(module (func (result i32) (i64.const 0)))")?;
    sb.file("huge.wat", "(module (memory 60000))")?;
    let out = sb.run(&["run", "typo.wat", "run", "--json"])?;
    assert_eq!(out.code, 18);
    let v = out.json()?;
    assert_not_run(&v);
    assert_eq!(v["error"]["reason"], "validation");
    assert_eq!(v["error"]["offset"], 26);

    let out = sb.run(&["run", "huge.wat", "run", "--json"])?;
    assert_eq!(out.code, 18);
    assert_eq!(
        out.json()?["error"],
        json!({
            "kind": "invalid_module",
            "message": "memory_min_pages is 60000, over the admission limit of 16384",
            "reason": "admission_limit",
            "limit": "memory_min_pages",
            "value": 60_000,
            "max": 16_384,
        })
    );
    Ok(())
}

#[test]
fn plain_mode_failure_prints_the_error_line_and_no_output() -> Result<()> {
    let sb = Sandbox::with("kinds.wat", KINDS)?;
    let out = sb.run(&["run", "kinds.wat", "fail"])?;
    assert_eq!(out.code, 20);
    assert_eq!(out.stdout, b"");
    assert_eq!(
        out.stderr,
        "error: plugin_error: plugin error 42: bad request: no title\n"
    );

    // Output written before a trap is not printed.
    let out = sb.run(&["run", "kinds.wat", "partial"])?;
    assert_eq!(out.code, 14);
    assert_eq!(out.stdout, b"");
    assert!(
        out.stderr.starts_with("error: trap: unreachable in kinds!"),
        "{}",
        out.stderr
    );

    // Load failures too.
    sb.file("garbage.wasm", b"garbage")?;
    let out = sb.run(&["run", "garbage.wasm", "run"])?;
    assert_eq!(out.code, 18);
    assert_eq!(out.stdout, b"");
    assert!(
        out.stderr
            .starts_with("error: invalid_module: malformed module at byte 0"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn exit_codes_are_the_same_without_json() -> Result<()> {
    let sb = Sandbox::with("kinds.wat", KINDS)?;
    sb.file("echo.wat", ECHO)?;
    for (export, flags, code) in [
        ("spin", &["--fuel", "10000"][..], 10),
        ("grow", &["--memory-mib", "2"][..], 11),
        ("recurse", &[][..], 15),
        ("nope", &[][..], 19),
    ] {
        let mut args = vec!["run", "kinds.wat", export];
        args.extend(flags);
        let plain = sb.run(&args)?;
        args.push("--json");
        let json = sb.run(&args)?;
        assert_eq!((plain.code, json.code), (code, code), "{export}");
        assert!(plain.stderr.starts_with("error: "), "{}", plain.stderr);
    }
    Ok(())
}
