//! `run` on success: output, input from a file or stdin, metrics, logs.

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::{ECHO, Sandbox};

#[test]
fn echo_with_input_file_prints_the_output_and_nothing_else() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    sb.file("request.bin", b"hello\0world\n")?;
    let out = sb.run(&["run", "echo.wat", "echo", "--input", "request.bin"])?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, b"hello\0world\n");
    assert_eq!(out.stderr, "");
    Ok(())
}

#[test]
fn echo_with_stdin_input() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    let out = sb.run_with_stdin(&["run", "echo.wat", "echo", "--input", "-"], b"from stdin")?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, b"from stdin");
    Ok(())
}

#[test]
fn no_input_means_an_empty_request() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    let out = sb.run_with_stdin(&["run", "echo.wat", "echo"], b"ignored")?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, b"");
    Ok(())
}

#[test]
fn echo_json_reports_output_and_metrics() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    sb.file("request.bin", b"hello")?;
    let out = sb.run(&[
        "run",
        "echo.wat",
        "echo",
        "--input",
        "request.bin",
        "--json",
    ])?;
    assert_eq!(out.code, 0);
    let v = out.json()?;
    assert_eq!(v["ok"], true);
    assert_eq!(v["error"], json!(null));
    assert_eq!(v["output_base64"], "aGVsbG8=");
    assert_eq!(v["invocation_id"], 1);
    let m = &v["metrics"];
    assert_eq!(m["input_bytes"], 5);
    assert_eq!(m["output_bytes"], 5);
    assert_eq!(m["host_calls"], 3);
    assert_eq!(m["memory_peak_bytes"], 65_536);
    assert_eq!(m["log_lines"], 0);
    assert_eq!(m["log_bytes"], 0);
    assert!(m["fuel_used"].as_u64().is_some_and(|f| f > 0), "{m}");
    assert!(m["wall_us"].is_u64(), "{m}");
    let mut keys: Vec<&str> = v
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["error", "invocation_id", "metrics", "ok", "output_base64"]
    );
    Ok(())
}

#[test]
fn echo_json_from_stdin_round_trips_through_base64() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    let request: Vec<u8> = (0..=255u8).collect();
    let out = sb.run_with_stdin(
        &["run", "echo.wat", "echo", "--input", "-", "--json"],
        &request,
    )?;
    assert_eq!(out.code, 0);
    let v = out.json()?;
    let encoded = v["output_base64"].as_str().unwrap_or_default();
    assert_eq!(STANDARD.decode(encoded)?, request);
    assert_eq!(v["metrics"]["input_bytes"], 256);
    Ok(())
}

#[test]
fn a_binary_module_runs_like_its_text() -> Result<()> {
    let sb = Sandbox::with("echo.wasm", wat::parse_str(ECHO)?)?;
    let out = sb.run_with_stdin(&["run", "echo.wasm", "echo", "--input", "-"], b"binary")?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, b"binary");
    Ok(())
}

const LOGGER: &str = r#"
(module
  (import "bitvault_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from the guest")
  (data (i32.const 32) "careful\nnow")
  (data (i32.const 64) "done")
  (func (export "greet") (result i32)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 20)))
    (drop (call $log (i32.const 3) (i32.const 32) (i32.const 11)))
    (drop (call $log (i32.const 0) (i32.const 0) (i32.const 5)))
    (call $w (i32.const 64) (i32.const 4))))
"#;

#[test]
fn plugin_logs_go_to_stderr_one_line_each() -> Result<()> {
    let sb = Sandbox::with("logger.wat", LOGGER)?;
    let expected = "[info] hello from the guest\n[warn] careful\\nnow\n[trace] hello\n";
    let out = sb.run(&["run", "logger.wat", "greet"])?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, b"done");
    assert_eq!(out.stderr, expected);

    // With --json the log still goes to stderr, and is counted.
    let out = sb.run(&["run", "logger.wat", "greet", "--json"])?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stderr, expected);
    let v = out.json()?;
    assert_eq!(v["metrics"]["log_lines"], 3);
    assert_eq!(v["metrics"]["log_bytes"], 20 + 11 + 5);
    assert_eq!(v["output_base64"], "ZG9uZQ==");
    Ok(())
}
