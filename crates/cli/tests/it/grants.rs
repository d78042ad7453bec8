//! `--grant FILE` and `--config KEY=VALUE`.

use std::io::Write;

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

/// Sends the request head its input carries (no body) and writes the
/// staged response's bytes, or returns the host's negative code.
const FETCH_HEAD: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $len (result i32)))
  (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "http_request" (func $http (param i32 i32 i32 i32) (result i32)))
  (import "bitvault_v1" "result_read" (func $result (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "run") (result i32) (local $n i32) (local $r i32)
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (i32.const 0) (local.get $n)))
    (local.set $r (call $http (i32.const 0) (local.get $n) (i32.const 0) (i32.const 0)))
    (if (i32.lt_s (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (drop (call $result (i32.const 0) (i32.const 65536) (local.get $r)))
    (call $write (i32.const 65536) (local.get $r))))
"#;

/// A one-request HTTP server on 127.0.0.1; returns its port.
fn one_shot_server(body: &'static str) -> Result<u16> {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        if let Ok((tcp, _)) = listener.accept() {
            let mut reader = BufReader::new(&tcp);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = (&tcp).write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    Ok(port)
}

#[test]
fn http_grants_decide_what_a_plugin_reaches_and_each_request_is_reported() -> Result<()> {
    use bitvault_abi::wire;
    let port = one_shot_server("pong")?;
    let url = format!("http://127.0.0.1:{port}/ping");
    let sb = Sandbox::with("fetch.wat", FETCH_HEAD)?;
    sb.file(
        "head.bin",
        wire::encode_http_request(&wire::HttpRequestHead {
            method: "GET".into(),
            url: url.clone(),
            headers: Vec::new(),
        }),
    )?;
    let run = [
        "run",
        "fetch.wat",
        "run",
        "--input",
        "head.bin",
        "--grant",
        "grants.toml",
    ];

    sb.file(
        "grants.toml",
        format!(
            "io = true\n[http]\norigins = [\"http://127.0.0.1:{port}\"]\nallow_private = [\"127.0.0.1\"]\n"
        ),
    )?;
    let out = sb.run(&run)?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let response = wire::decode_http_response(&out.stdout)?;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"pong"[..])
    );
    assert!(
        out.stderr
            .starts_with(&format!("[http] GET {url} -> 200 (")),
        "{}",
        out.stderr
    );

    // The same origin without `allow_private`: loopback is refused.
    sb.file(
        "grants.toml",
        format!("io = true\n[http]\norigins = [\"http://127.0.0.1:{port}\"]\n"),
    )?;
    let out = sb.run(&run)?;
    assert_eq!(out.code, 20, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("[http] GET {url} refused: not_permitted: ")),
        "{}",
        out.stderr
    );

    // An origin that does not parse refuses the plugin before it runs.
    sb.file(
        "grants.toml",
        "io = true\n[http]\norigins = [\"ftp://x\"]\n",
    )?;
    let mut json = run.to_vec();
    json.push("--json");
    let out = sb.run(&json)?;
    assert_eq!(out.code, 17, "{}", out.stderr);
    let v = out.json()?;
    assert_eq!(v["error"]["kind"], "capability_denied");
    assert_eq!(v["error"]["grant"]["capability"], "http");
    assert_eq!(v["error"]["imports"], serde_json::json!([]));
    Ok(())
}
