//! The core ABI functions: bounds checks, wrapping pairs, error codes, and
//! data moving in and out.

use anyhow::Result;
use bitvault_abi::ErrorCode;

use crate::{assert_serves, ctx, load, runtime};

/// Calls each host function with a hostile `(ptr, len)` and writes the
/// returned codes (as i32 LE) as the response, proving the guest got a code
/// back and kept running.
const HOSTILE: &str = r#"
(module
  (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (import "bitvault_v1" "set_error" (func $err (param i32 i32) (result i32)))
  (import "bitvault_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $rec (param $i i32) (param $v i32) (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))) (local.get $v)))
  (func (export "hostile") (result i32)
    ;; one byte past the end
    (call $rec (i32.const 0) (call $write (i32.const 65535) (i32.const 2)))
    ;; ptr + len wraps 2^32 to a small value
    (call $rec (i32.const 1) (call $write (i32.const -1) (i32.const 2)))
    (call $rec (i32.const 2) (call $write (i32.const 16) (i32.const -1)))
    ;; read_input into a buffer that leaves memory
    (call $rec (i32.const 3) (call $read (i32.const 0) (i32.const 65530) (i32.const 100)))
    ;; read_input at an offset past the end of the input
    (call $rec (i32.const 4) (call $read (i32.const 1000) (i32.const 0) (i32.const 1)))
    ;; log with an unknown level and with a wrapping pair
    (call $rec (i32.const 5) (call $log (i32.const 9) (i32.const 0) (i32.const 1)))
    (call $rec (i32.const 6) (call $log (i32.const 2) (i32.const -16) (i32.const 32)))
    ;; set_error with invalid UTF-8 (0xff at 2000)
    (i32.store8 (i32.const 2000) (i32.const 255))
    (call $rec (i32.const 7) (call $err (i32.const 2000) (i32.const 1)))
    ;; set_error longer than its bound
    (call $rec (i32.const 8) (call $err (i32.const 0) (i32.const 60000)))
    ;; the in-bounds edge: the last byte of memory
    (call $rec (i32.const 9) (call $read (i32.const 0) (i32.const 65535) (i32.const 1)))
    (drop (call $write (i32.const 1024) (i32.const 40)))
    (i32.const 0)))
"#;

fn codes(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn hostile_pointers_and_lengths_get_error_codes() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, HOSTILE)?;
    let out = p.invoke("hostile", b"abc".to_vec(), &ctx());
    let oob = ErrorCode::OutOfBounds.code();
    assert_eq!(
        codes(&out.result?),
        [
            oob,
            oob,
            oob,
            oob,
            ErrorCode::InvalidArgument.code(),
            ErrorCode::InvalidArgument.code(),
            oob,
            ErrorCode::InvalidUtf8.code(),
            ErrorCode::TooLarge.code(),
            1,
        ]
    );
    assert_serves(&rt)
}

#[test]
fn host_functions_without_an_exported_memory_answer_no_memory() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
          (func (export "run") (result i32) (call $w (i32.const 0) (i32.const 0))))
        "#,
    )?;
    let out = p.invoke("run", Vec::new(), &ctx());
    let err = out.result.unwrap_err();
    assert_eq!(
        err,
        bitvault_runtime::InvokeError::PluginError {
            code: ErrorCode::NoMemory.code(),
            message: None
        }
    );
    Ok(())
}

#[test]
fn input_can_be_read_in_chunks_until_zero() -> Result<()> {
    let rt = runtime();
    // Reads 3 bytes at a time at increasing offsets and writes each chunk.
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
          (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "chunks") (result i32) (local $off i32) (local $n i32)
            (block $done
              (loop $l
                (local.set $n (call $read (local.get $off) (i32.const 0) (i32.const 3)))
                (br_if $done (i32.eqz (local.get $n)))
                (drop (call $write (i32.const 0) (local.get $n)))
                (local.set $off (i32.add (local.get $off) (local.get $n)))
                (br $l)))
            (i32.const 0)))
        "#,
    )?;
    let input: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let out = p.invoke("chunks", input.clone(), &ctx());
    assert_eq!(out.result?, input);
    assert_eq!(out.metrics.host_calls, 2 * 334 + 1);
    Ok(())
}

#[test]
fn a_large_payload_round_trips() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "input_len" (func $len (result i32)))
          (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
          (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
          (memory (export "memory") 17)
          (func (export "echo") (result i32) (local $n i32)
            (local.set $n (call $len))
            (drop (call $read (i32.const 0) (i32.const 0) (local.get $n)))
            (call $write (i32.const 0) (local.get $n))))
        "#,
    )?;
    let input: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i * 7 % 251) as u8).collect();
    let out = p.invoke("echo", input.clone(), &ctx());
    assert_eq!(out.result?, input);
    Ok(())
}

#[test]
fn a_bad_log_pair_gets_a_code_before_any_log_limit() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "log" (func $log (param i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          ;; a length far over the log budget, and out of bounds
          (func (export "run") (result i32) (call $log (i32.const 2) (i32.const 0) (i32.const -1))))
        "#,
    )?;
    let out = p.invoke("run", Vec::new(), &ctx());
    assert_eq!(
        out.result.unwrap_err(),
        bitvault_runtime::InvokeError::PluginError {
            code: ErrorCode::OutOfBounds.code(),
            message: None
        }
    );
    Ok(())
}

#[test]
fn an_empty_error_message_clears_an_earlier_one() -> Result<()> {
    let rt = runtime();
    let p = load(
        &rt,
        r#"
        (module
          (import "bitvault_v1" "set_error" (func $e (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "first")
          (func (export "run") (result i32)
            (drop (call $e (i32.const 0) (i32.const 5)))
            (drop (call $e (i32.const 0) (i32.const 0)))
            (i32.const 3)))
        "#,
    )?;
    assert_eq!(
        p.invoke("run", Vec::new(), &ctx()).result.unwrap_err(),
        bitvault_runtime::InvokeError::PluginError {
            code: 3,
            message: None
        }
    );
    Ok(())
}

/// Reads config key "greeting" through the staged-result pattern and echoes
/// the value; reports the codes for a missing key and a read with nothing
/// staged.
const CONFIG: &str = r#"
(module
  (import "bitvault_v1" "config_get" (func $get (param i32 i32) (result i32)))
  (import "bitvault_v1" "result_read" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "greeting")
  (data (i32.const 16) "missing")
  (func (export "staged_before_any_get") (result i32)
    (call $read (i32.const 0) (i32.const 100) (i32.const 10)))
  (func (export "missing") (result i32)
    (call $get (i32.const 16) (i32.const 7)))
  (func (export "greet") (result i32) (local $n i32) (local $off i32) (local $got i32)
    (local.set $n (call $get (i32.const 0) (i32.const 8)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $n))))
    ;; read it back 4 bytes at a time
    (block $done
      (loop $l
        (local.set $got (call $read (local.get $off) (i32.const 1024) (i32.const 4)))
        (br_if $done (i32.eqz (local.get $got)))
        (drop (call $write (i32.const 1024) (local.get $got)))
        (local.set $off (i32.add (local.get $off) (local.get $got)))
        (br $l)))
    (i32.const 0)))
"#;

#[test]
fn config_values_are_read_through_the_staged_result() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, CONFIG)?;
    let mut config = bitvault_runtime::PluginConfig::new();
    config.insert("greeting".into(), "hello from the install".into());
    let ctx = ctx().with_config(config);
    assert_eq!(
        p.invoke("greet", Vec::new(), &ctx).result?,
        b"hello from the install"
    );
    let code_of = |export: &str| match p.invoke(export, Vec::new(), &ctx).result {
        Err(bitvault_runtime::InvokeError::PluginError { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(code_of("missing"), ErrorCode::NotFound.code());
    assert_eq!(code_of("staged_before_any_get"), ErrorCode::NotFound.code());
    Ok(())
}

#[test]
fn config_is_denied_unless_granted() -> Result<()> {
    let rt = runtime();
    let grants = bitvault_abi::Grants {
        config: false,
        ..bitvault_abi::Grants::core()
    };
    let err = rt.load(&wat::parse_str(CONFIG)?, &grants).unwrap_err();
    assert!(err.to_string().contains("bitvault_v1.config_get"), "{err}");
    Ok(())
}

const CLOCK_AND_RANDOM: &str = r#"
(module
  (import "bitvault_v1" "clock_now" (func $now (param i32) (result i64)))
  (import "bitvault_v1" "random_fill" (func $rand (param i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "times") (result i32)
    (i64.store (i32.const 0) (call $now (i32.const 0)))
    (i64.store (i32.const 8) (call $now (i32.const 1)))
    (i64.store (i32.const 16) (call $now (i32.const 7)))
    (call $write (i32.const 0) (i32.const 24)))
  (func (export "random") (result i32) (local $r i32)
    (local.set $r (call $rand (i32.const 0) (i32.const 32)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (call $write (i32.const 0) (i32.const 32)))
  (func (export "random_too_much") (result i32)
    (call $rand (i32.const 0) (i32.const 65537))))
"#;

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn clocks_are_coarse_milliseconds() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, CLOCK_AND_RANDOM)?;
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let out = i64s(&p.invoke("times", Vec::new(), &ctx()).result?);
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    assert!(out[0] >= before.as_millis() as i64 && out[0] <= after.as_millis() as i64);
    assert!(
        (0..1000).contains(&out[1]),
        "monotonic ms since the call began: {}",
        out[1]
    );
    assert_eq!(out[2], i64::from(ErrorCode::InvalidArgument.code()));
    Ok(())
}

#[test]
fn random_bytes_differ_between_calls_and_are_bounded() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, CLOCK_AND_RANDOM)?;
    let a = p.invoke("random", Vec::new(), &ctx()).result?;
    let b = p.invoke("random", Vec::new(), &ctx()).result?;
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
    assert_eq!(
        p.invoke("random_too_much", Vec::new(), &ctx())
            .result
            .unwrap_err(),
        bitvault_runtime::InvokeError::PluginError {
            code: ErrorCode::TooLarge.code(),
            message: None
        }
    );
    Ok(())
}

#[test]
fn withheld_clock_and_randomness_link_but_answer_not_permitted() -> Result<()> {
    let rt = runtime();
    let grants = bitvault_abi::Grants {
        clock: false,
        random: false,
        ..bitvault_abi::Grants::core()
    };
    let p = rt.load(&wat::parse_str(CLOCK_AND_RANDOM)?, &grants)?;
    let out = i64s(&p.invoke("times", Vec::new(), &ctx()).result?);
    let denied = i64::from(ErrorCode::NotPermitted.code());
    assert_eq!(out, [denied, denied, denied]);
    assert_eq!(
        p.invoke("random", Vec::new(), &ctx()).result.unwrap_err(),
        bitvault_runtime::InvokeError::PluginError {
            code: ErrorCode::NotPermitted.code(),
            message: None
        }
    );
    Ok(())
}
