//! `--grant FILE` and `--config KEY=VALUE`.

use anyhow::Result;

use crate::Sandbox;

/// Writes the value of config key "greeting", read through the staged
/// result.
const GREETER: &str = r#"
(module
  (import "bitvault_v1" "config_get" (func $get (param i32 i32) (result i32)))
  (import "bitvault_v1" "result_read" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "greeting")
  (func (export "greet") (result i32) (local $n i32)
    (local.set $n (call $get (i32.const 0) (i32.const 8)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $n))))
    (drop (call $read (i32.const 0) (i32.const 64) (local.get $n)))
    (call $write (i32.const 64) (local.get $n))))
"#;

#[test]
fn config_values_reach_the_plugin() -> Result<()> {
    let sb = Sandbox::with("greet.wat", GREETER)?;
    let out = sb.run(&[
        "run",
        "greet.wat",
        "greet",
        "--config",
        "greeting=first",
        "--config",
        "greeting=hello, world",
    ])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, b"hello, world");
    Ok(())
}

#[test]
fn a_missing_config_key_is_the_plugins_error_to_report() -> Result<()> {
    let sb = Sandbox::with("greet.wat", GREETER)?;
    let out = sb.run(&["run", "greet.wat", "greet", "--json"])?;
    assert_eq!(out.code, 20);
    let v = out.json()?;
    assert_eq!(v["error"]["kind"], "plugin_error");
    assert_eq!(v["error"]["code"], -6);
    Ok(())
}

#[test]
fn a_grant_file_withholds_what_it_does_not_name() -> Result<()> {
    let sb = Sandbox::with("greet.wat", GREETER)?;
    sb.file("grants.toml", "io = true\n")?;
    let out = sb.run(&[
        "run",
        "greet.wat",
        "greet",
        "--grant",
        "grants.toml",
        "--json",
    ])?;
    assert_eq!(out.code, 17);
    let v = out.json()?;
    assert_eq!(v["error"]["kind"], "capability_denied");
    assert_eq!(v["error"]["imports"][0]["name"], "config_get");
    assert_eq!(v["error"]["imports"][0]["reason"], "not_granted");
    assert_eq!(v["error"]["imports"][0]["capability"], "config");

    sb.file("grants.toml", "io = true\nconfig = true\n")?;
    let out = sb.run(&[
        "run",
        "greet.wat",
        "greet",
        "--grant",
        "grants.toml",
        "--config",
        "greeting=hi",
    ])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, b"hi");
    Ok(())
}

#[test]
fn a_bad_grant_file_or_config_flag_is_a_host_or_usage_error() -> Result<()> {
    let sb = Sandbox::with("greet.wat", GREETER)?;
    sb.file("grants.toml", "io = true\nnetwork = true\n")?;
    let out = sb.run(&["run", "greet.wat", "greet", "--grant", "grants.toml"])?;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("network"), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let out = sb.run(&["run", "greet.wat", "greet", "--config", "novalue"])?;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("KEY=VALUE"), "{}", out.stderr);
    Ok(())
}

/// Increments the u32 under key "n" in the plugin's namespace and writes it.
const COUNTER: &str = r#"
(module
  (import "bitvault_v1" "result_read" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (import "bitvault_v1" "kv_get" (func $get (param i32 i32) (result i32)))
  (import "bitvault_v1" "kv_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "n")
  (func (export "bump") (result i32) (local $r i32)
    (if (i32.eq (call $get (i32.const 0) (i32.const 1)) (i32.const 4))
      (then (drop (call $read (i32.const 0) (i32.const 16) (i32.const 4)))))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (local.set $r (call $put (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 4)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (call $write (i32.const 16) (i32.const 4))))
"#;

#[test]
fn kv_dir_keeps_a_durable_namespace_per_plugin() -> Result<()> {
    let sb = Sandbox::with("counter.wat", COUNTER)?;
    sb.file("other.wat", COUNTER)?;
    let bump = |module: &str| -> Result<Vec<u8>> {
        let out = sb.run(&["run", module, "bump", "--kv-dir", "state"])?;
        assert_eq!(out.code, 0, "{}", out.stderr);
        Ok(out.stdout)
    };
    assert_eq!(bump("counter.wat")?, 1u32.to_le_bytes());
    assert_eq!(bump("counter.wat")?, 2u32.to_le_bytes());
    // Another plugin name: another namespace.
    assert_eq!(bump("other.wat")?, 1u32.to_le_bytes());
    assert_eq!(bump("counter.wat")?, 3u32.to_le_bytes());

    // Without --kv-dir the kv capability is not granted.
    let out = sb.run(&["run", "counter.wat", "bump", "--json"])?;
    assert_eq!(out.code, 17);
    assert_eq!(out.json()?["error"]["imports"][0]["capability"], "kv");
    Ok(())
}

#[test]
fn events_on_granted_topics_are_reported_on_stderr() -> Result<()> {
    let sb = Sandbox::with(
        "emit.wat",
        r#"
        (module
          (import "bitvault_v1" "emit_event" (func $emit (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "docs.indexed")
          (func (export "run") (result i32)
            (call $emit (i32.const 0) (i32.const 12) (i32.const 0) (i32.const 5))))
        "#,
    )?;
    sb.file("grants.toml", "[events]\ntopics = [\"docs.*\"]\n")?;
    let out = sb.run(&["run", "emit.wat", "run", "--grant", "grants.toml"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "[event] docs.indexed (5 bytes, depth 1)\n");

    sb.file("grants.toml", "[events]\ntopics = [\"audit.*\"]\n")?;
    let out = sb.run(&["run", "emit.wat", "run", "--grant", "grants.toml", "--json"])?;
    assert_eq!(out.code, 20);
    assert_eq!(out.json()?["error"]["code"], -7);
    Ok(())
}
