//! `inspect`: imports with their grantability, exports, declarations, ABI.

use anyhow::Result;
use serde_json::json;

use crate::{ECHO, Sandbox};

const MIXED: &str = r#"
(module
  (import "bitvault_v1" "log" (func (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "input_len" (func (param i32) (result i32)))
  (import "env" "open" (func (param i32) (result i32)))
  (memory (export "memory") 1 4)
  (table 2 10 funcref)
  (func $s)
  (start $s)
  (func (export "run") (result i32) (i32.const 0))
  (func (export "_initialize")))
"#;

#[test]
fn human_report_lists_imports_exports_and_abi() -> Result<()> {
    let sb = Sandbox::with("mixed.wat", MIXED)?;
    let out = sb.run(&["inspect", "mixed.wat"])?;
    assert_eq!(out.code, 0);
    assert_eq!(out.stderr, "");
    let expected = "\
size: 167 bytes
abi: bitvault_v1, env
speaks: bitvault_v1
needs granted: log
extension points: none
defined functions: 3
start function: yes

imports (3):
  MODULE       NAME       KIND  SIGNATURE               HOST
  bitvault_v1  log        func  (i32, i32, i32) -> i32  grantable (capability log)
  bitvault_v1  input_len  func  (i32) -> i32            not offered (the ABI defines () -> i32)
  env          open       func  (i32) -> i32            not offered

exports (3):
  NAME         KIND    SIGNATURE
  memory       memory  -
  run          func    () -> i32  invocable
  _initialize  func    () -> ()

memories (1):
  INDEX  MIN PAGES  MAX PAGES
  0      1          4

tables (1):
  INDEX  MIN  MAX
  0      2    10
";
    assert_eq!(out.stdout()?, expected);
    Ok(())
}

#[test]
fn json_report() -> Result<()> {
    let sb = Sandbox::with("mixed.wat", MIXED)?;
    let out = sb.run(&["inspect", "mixed.wat", "--json"])?;
    assert_eq!(out.code, 0);
    assert_eq!(
        out.json()?,
        json!({
            "ok": true,
            "error": null,
            "size": 167,
            "speaks": ["bitvault_v1"],
            "needs": ["log"],
            "extension_points": [],
            "abi": ["bitvault_v1", "env"],
            "imports": [
                { "module": "bitvault_v1", "name": "log", "kind": "func",
                  "signature": "(i32, i32, i32) -> i32", "grantable": true, "capability": "log" },
                { "module": "bitvault_v1", "name": "input_len", "kind": "func",
                  "signature": "(i32) -> i32", "grantable": false, "capability": null },
                { "module": "env", "name": "open", "kind": "func",
                  "signature": "(i32) -> i32", "grantable": false, "capability": null },
            ],
            "exports": [
                { "name": "memory", "kind": "memory", "signature": null, "invocable": false },
                { "name": "run", "kind": "func", "signature": "() -> i32", "invocable": true },
                { "name": "_initialize", "kind": "func", "signature": "() -> ()", "invocable": false },
            ],
            "memories": [{ "min_pages": 1, "max_pages": 4, "shared": false, "memory64": false }],
            "tables": [{ "min": 2, "max": 10 }],
            "functions": 3,
            "has_start": true,
        })
    );
    Ok(())
}

#[test]
fn a_module_without_imports_speaks_no_abi() -> Result<()> {
    let sb = Sandbox::with(
        "pure.wat",
        r#"(module (func (export "run") (result i32) (i32.const 0)))"#,
    )?;
    let out = sb.run(&["inspect", "pure.wat"])?;
    assert_eq!(out.code, 0);
    let text = out.stdout()?;
    assert!(text.contains("\nabi: none (no imports)\n"), "{text}");
    assert!(text.contains("\nimports: none\n"), "{text}");
    assert!(text.contains("\nmemories: none\n"), "{text}");
    let v = sb.run(&["inspect", "pure.wat", "--json"])?.json()?;
    assert_eq!(v["abi"], json!([]));
    assert_eq!(v["imports"], json!([]));
    Ok(())
}

#[test]
fn inspect_marks_the_core_abi_grantable() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    let v = sb.run(&["inspect", "echo.wat", "--json"])?.json()?;
    let hosts: Vec<(&str, bool, &str)> = v["imports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default(),
                i["grantable"].as_bool().unwrap_or_default(),
                i["capability"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        [
            ("input_len", true, "io"),
            ("read_input", true, "io"),
            ("write_output", true, "io"),
        ]
    );
    Ok(())
}

#[test]
fn an_invalid_module_exits_18_with_the_error() -> Result<()> {
    let sb = Sandbox::with("garbage.wasm", b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f")?;
    let out = sb.run(&["inspect", "garbage.wasm", "--json"])?;
    assert_eq!(out.code, 18);
    let v = out.json()?;
    assert_eq!(v["ok"], false);
    assert_eq!(v["invocation_id"], 0);
    assert_eq!(v["error"]["kind"], "invalid_module");
    assert_eq!(v["error"]["reason"], "malformed");

    let out = sb.run(&["inspect", "garbage.wasm"])?;
    assert_eq!(out.code, 18);
    assert_eq!(out.stdout, b"");
    assert!(
        out.stderr
            .starts_with("error: invalid_module: malformed module at byte "),
        "{}",
        out.stderr
    );
    Ok(())
}

const EXTISM: &str = r#"
(module
  (import "extism:host/env" "input_length" (func (result i64)))
  (import "extism:host/env" "output_set" (func (param i64 i64)))
  (import "extism:host/env" "var_get" (func (param i64) (result i64)))
  (import "extism:host/env" "http_request" (func (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "count") (result i32) (i32.const 0)))
"#;

#[test]
fn inspect_tells_what_a_module_speaks_and_needs() -> Result<()> {
    let sb = Sandbox::with("ext.wat", EXTISM)?;
    let v = sb.run(&["inspect", "ext.wat", "--json"])?.json()?;
    assert_eq!(v["speaks"], json!(["extism"]));
    assert_eq!(v["needs"], json!(["io", "kv", "http"]));
    assert_eq!(v["extension_points"], json!([]));
    assert_eq!(v["imports"][2]["capability"], "kv");

    let search = r#"
(module
  (import "bitvault_v1" "input_len" (func (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "search_v1_analyze") (result i32) (i32.const 0))
  (func (export "search_v1_preview") (result i32) (i32.const 0)))
"#;
    let sb = Sandbox::with("search.wat", search)?;
    let v = sb.run(&["inspect", "search.wat", "--json"])?.json()?;
    assert_eq!(v["speaks"], json!(["bitvault_v1", "wasi-reactor"]));
    assert_eq!(v["needs"], json!(["io"]));
    assert_eq!(v["extension_points"], json!(["search"]));
    Ok(())
}
