//! `run --stdio` and WASI command modules: the request on fd 0, the
//! response on fd 1, stderr lines in the log, and `inspect` on WASI imports.

use anyhow::Result;

use crate::Sandbox;

/// A WASI command: `_start` copies fd 0 to fd 1, says so on fd 2, and exits
/// with 100 + the errno if fd 0 cannot be read.
const CAT: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 2048) "copied\n")
  (func (export "_start") (local $n i32) (local $errno i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 1000))
    (block $done
      (loop $copy
        (local.set $errno (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (local.get $errno) (then (call $proc_exit (i32.add (i32.const 100) (local.get $errno)))))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store (i32.const 16) (i32.const 1024))
        (i32.store (i32.const 20) (local.get $n))
        (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
        (br $copy)))
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 7))
    (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 24)))))
"#;

#[test]
fn stdio_mode_serves_the_request_and_response_of_start() -> Result<()> {
    let sb = Sandbox::with("cat.wat", CAT)?;
    let out = sb.run_with_stdin(
        &["run", "cat.wat", "_start", "--stdio", "--input", "-"],
        b"through fd 0 and fd 1\n",
    )?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, b"through fd 0 and fd 1\n");
    assert_eq!(out.stderr, "[warn] copied\n");
    Ok(())
}

#[test]
fn without_stdio_fd_0_is_a_bad_descriptor() -> Result<()> {
    let sb = Sandbox::with("cat.wat", CAT)?;
    let out = sb.run(&["run", "cat.wat", "_start", "--json"])?;
    assert_eq!(out.code, 20);
    let v = out.json()?;
    assert_eq!(v["error"]["kind"], "plugin_error");
    // 100 + EBADF (8)
    assert_eq!(v["error"]["code"], 108);
    Ok(())
}

#[test]
fn stdio_adds_to_a_grant_file() -> Result<()> {
    let sb = Sandbox::with("cat.wat", CAT)?;
    // No `log`: the stderr line is dropped; stdio mode still serves fd 0/1.
    sb.file("grants.toml", "io = false\n")?;
    let out = sb.run_with_stdin(
        &[
            "run",
            "cat.wat",
            "_start",
            "--grant",
            "grants.toml",
            "--stdio",
            "--input",
            "-",
        ],
        b"granted nothing else",
    )?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, b"granted nothing else");
    assert_eq!(out.stderr, "");
    Ok(())
}

#[test]
fn inspect_shows_wasi_imports_linked_and_start_invocable() -> Result<()> {
    let sb = Sandbox::with("cat.wat", CAT)?;
    let out = sb.run(&["inspect", "cat.wat", "--json"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json()?;
    assert_eq!(v["abi"], serde_json::json!(["wasi_snapshot_preview1"]));
    for import in v["imports"].as_array().into_iter().flatten() {
        assert_eq!(import["grantable"], true, "{import}");
        assert_eq!(import["capability"], serde_json::Value::Null, "{import}");
    }
    assert_eq!(v["exports"][1]["name"], "_start");
    assert_eq!(v["exports"][1]["invocable"], true);

    let out = sb.run(&["inspect", "cat.wat"])?;
    let expected = "\
size: 370 bytes
abi: wasi_snapshot_preview1
speaks: wasi-command
needs granted: none
extension points: none
defined functions: 1
start function: no

imports (3):
  MODULE                  NAME       KIND  SIGNATURE                    HOST
  wasi_snapshot_preview1  fd_read    func  (i32, i32, i32, i32) -> i32  linked (wasi shim)
  wasi_snapshot_preview1  fd_write   func  (i32, i32, i32, i32) -> i32  linked (wasi shim)
  wasi_snapshot_preview1  proc_exit  func  (i32) -> ()                  linked (wasi shim)

exports (2):
  NAME    KIND    SIGNATURE
  memory  memory  -
  _start  func    () -> ()   invocable

memories (1):
  INDEX  MIN PAGES  MAX PAGES
  0      1          none

tables: none
";
    assert_eq!(out.stdout()?, expected);
    Ok(())
}
