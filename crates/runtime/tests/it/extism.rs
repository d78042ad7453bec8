//! Extism compatibility: plugins built with the official Extism Rust PDK
//! (`plugins/extism-suite`, `extism-pdk` 1.4 from crates.io, unmodified)
//! run on the native `extism:host/env` kernel under grants and limits, with
//! the results Extism documents (return codes, error messages, outputs);
//! and hostile WAT modules importing `extism:host/env` get bounded,
//! typed answers: out-of-range offsets read 0 and write nothing, huge
//! allocations meet the memory ceiling, invalid handles fail the call, and
//! ungranted imports are refused at admission by name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use bitvault_abi::{CapabilityKind, Grants, HttpGrant, LimitName, Limits, LogGrant, LogLevel};
use bitvault_runtime::extism::{
    BLOCK_OVERHEAD, DEFAULT_MAX_VAR_BYTES, ExtismFn, HOST_ERROR_TRAP_CODE, MemoryVarStore,
    NAMESPACE, USER_NAMESPACE, VarScope,
};
use bitvault_runtime::{
    CallContext, DeniedImport, DenyReason, InvokeError, LinkedFn, LoadError, Prepared, Resource,
    Runtime, TrapInfo,
};

use crate::{assert_serves, ctx, ctx_logged, ctx_with, defaults, runtime};

const TARGET: &str = "wasm32-unknown-unknown";

/// Builds the PDK plugin `package` of `plugins/` into `target/plugins`
/// (where `cargo xtask build-plugins` puts the reference plugins, so a
/// prior build is reused) and reads its module.
pub(crate) fn build_pdk_plugin(package: &str) -> Result<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target_dir: PathBuf = root.join("target/plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "--target", TARGET])
        .args(["--package", package])
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build do not apply to a wasm target.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .with_context(|| format!("cannot run `{}`", Path::new(&cargo).display()))?;
    if !output.status.success() {
        bail!(
            "building plugins/{package} for {TARGET} failed ({}; is the target installed? \
             `rustup target add {TARGET}`):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))
}

/// The suite, built once per test binary.
fn suite() -> Result<&'static [u8]> {
    static WASM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    match WASM.get_or_init(|| build_pdk_plugin("extism-suite").map_err(|e| format!("{e:#}"))) {
        Ok(wasm) => Ok(wasm),
        Err(e) => bail!("{e}"),
    }
}

/// Every capability the suite imports: the core, `kv` (variables) and
/// `http` (to `origins`, loopback allowed).
fn suite_grants(origins: &[String]) -> Grants {
    Grants {
        kv: true,
        http: Some(HttpGrant {
            allow_private: vec!["127.0.0.0/8".into()],
            ..HttpGrant::to(origins.iter().cloned())
        }),
        ..Grants::core()
    }
}

fn load_suite(rt: &Runtime) -> Result<Prepared> {
    Ok(rt.load(suite()?, &suite_grants(&["https://example.com".into()]))?)
}

fn text(out: Result<Vec<u8>, InvokeError>) -> Result<String> {
    Ok(String::from_utf8(out?)?)
}

/// The trap a call ended with, or why it did not end with one.
pub(crate) fn trap(out: Result<Vec<u8>, InvokeError>) -> Result<TrapInfo> {
    match out {
        Err(InvokeError::Trap(t)) => Ok(t),
        other => bail!("expected a trap, got {other:?}"),
    }
}

pub(crate) fn host_error(out: Result<Vec<u8>, InvokeError>, needle: &str) -> Result<()> {
    let t = trap(out)?;
    assert_eq!(t.code.as_deref(), Some(HOST_ERROR_TRAP_CODE), "{t:?}");
    assert!(
        t.message.contains(needle),
        "{:?} lacks {needle:?}",
        t.message
    );
    Ok(())
}

#[test]
fn a_pdk_plugin_speaks_only_extism_and_links_its_imports() -> Result<()> {
    let rt = runtime();
    let report = rt.inspect(suite()?)?;
    assert_eq!(report.namespaces(), [NAMESPACE]);
    let p = load_suite(&rt)?;
    assert!(!p.linked().is_empty());
    for f in p.linked() {
        let Some(f @ LinkedFn::Extism(e)) = f.host() else {
            bail!("{f} is not an Extism function");
        };
        assert_eq!(f.module(), NAMESPACE);
        assert_eq!(ExtismFn::lookup(NAMESPACE, e.name()), Some(e));
    }
    Ok(())
}

#[test]
fn ungranted_extism_imports_are_refused_at_admission_by_name() -> Result<()> {
    let rt = runtime();
    let err = rt.load(suite()?, &Grants::core()).unwrap_err();
    let LoadError::CapabilityDenied { imports } = &err else {
        bail!("expected capability_denied, got {err:?}");
    };
    let mut denied: Vec<(String, CapabilityKind)> = imports
        .iter()
        .map(|d| match d.reason {
            DenyReason::NotGranted { capability } => Ok((d.name.clone(), capability)),
            ref other => bail!("{d}: {other}"),
        })
        .collect::<Result<_>>()?;
    denied.sort();
    let expected = [
        ("http_headers", CapabilityKind::Http),
        ("http_request", CapabilityKind::Http),
        ("http_status_code", CapabilityKind::Http),
        ("var_get", CapabilityKind::Kv),
        ("var_set", CapabilityKind::Kv),
    ];
    assert_eq!(denied, expected.map(|(n, c)| (n.to_owned(), c)), "{err}");
    assert!(imports.iter().all(|d| d.module == NAMESPACE));
    assert!(
        err.to_string()
            .contains("extism:host/env.var_get (capability `kv` not granted)"),
        "{err}"
    );
    Ok(())
}

#[test]
fn echo_returns_the_input_of_any_size() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    assert_eq!(p.invoke("echo", Vec::new(), &ctx()).result?, b"");
    assert_eq!(
        p.invoke("echo", b"hello".to_vec(), &ctx()).result?,
        b"hello"
    );
    // 1 MiB moves through ~131 000 `input_load_u64` and `store_u64`
    // calls: kernel calls, not host calls, so the default `host_calls`
    // limit (100 000) does not stop it.
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let out = p.invoke("echo", big.clone(), &ctx());
    assert!(out.metrics.host_calls < 10, "{:?}", out.metrics);
    assert_eq!(out.metrics.output_bytes, big.len() as u64);
    assert_eq!(out.result?, big);
    Ok(())
}

#[test]
fn json_in_json_out() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    let out = p.invoke(
        "greet",
        r#"{"name":"Zoë","times":2}"#.as_bytes().to_vec(),
        &ctx(),
    );
    assert_eq!(
        text(out.result)?,
        r#"{"greeting":"Hello, Zoë! Hello, Zoë!","name_chars":3}"#
    );
    // Input the plugin cannot decode is its error, with serde's message.
    let out = p.invoke("greet", b"not json".to_vec(), &ctx());
    match out.result {
        Err(InvokeError::PluginError {
            code: -1,
            message: Some(m),
        }) => assert!(m.contains("expected ident"), "{m}"),
        other => bail!("expected a plugin error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn config_values_are_the_calls_configuration() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    let ctx = ctx().with_config([("greeting".to_owned(), "bonjour".to_owned())].into());
    let read = |key: &str| {
        text(
            p.invoke("config_read", key.as_bytes().to_vec(), &ctx)
                .result,
        )
    };
    assert_eq!(read("greeting")?, "bonjour");
    assert_eq!(read("missing")?, "<unset>");
    assert_eq!(read("")?, "<unset>");
    Ok(())
}

#[test]
fn config_get_is_refused_without_the_config_grant() -> Result<()> {
    let rt = runtime();
    let grants = Grants {
        config: false,
        ..suite_grants(&["https://example.com".into()])
    };
    let err = rt.load(suite()?, &grants).unwrap_err();
    assert_eq!(
        err,
        LoadError::CapabilityDenied {
            imports: vec![DeniedImport {
                module: NAMESPACE.into(),
                name: "config_get".into(),
                reason: DenyReason::NotGranted {
                    capability: CapabilityKind::Config
                },
            }]
        }
    );
    Ok(())
}

#[test]
fn variables_persist_across_calls_per_tenant_and_plugin() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    let store = Arc::new(MemoryVarStore::new());
    let a = ctx()
        .for_plugin("tenant-a", "counter")
        .with_vars(store.clone(), DEFAULT_MAX_VAR_BYTES);
    // Bound before `for_plugin`: the scope follows the context.
    let b = ctx()
        .with_vars(store.clone(), DEFAULT_MAX_VAR_BYTES)
        .for_plugin("tenant-b", "counter");
    let count = |c: &CallContext| text(p.invoke("count", b"".to_vec(), c).result);
    assert_eq!(count(&a)?, "1");
    assert_eq!(count(&a)?, "2");
    assert_eq!(count(&b)?, "1");
    assert_eq!(count(&a)?, "3");
    assert_eq!(store.bytes(&VarScope::new("tenant-a", "counter")), 6);
    assert_eq!(
        text(p.invoke("count", b"reset".to_vec(), &a).result)?,
        "reset"
    );
    assert_eq!(store.bytes(&VarScope::new("tenant-a", "counter")), 0);
    assert_eq!(count(&a)?, "1");
    // Wasm globals and memory do not survive: a fresh instance each call.
    assert_eq!(count(&b)?, "2");
    Ok(())
}

#[test]
fn the_variable_store_is_bounded_and_vars_need_a_binding() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    let store = Arc::new(MemoryVarStore::new());
    let c = ctx()
        .for_plugin("t", "filler")
        .with_vars(store.clone(), 100);
    assert_eq!(
        text(p.invoke("var_fill", vec![1; 97], &c).result)?,
        "stored"
    );
    host_error(
        p.invoke("var_fill", vec![1; 98], &c).result,
        "Variable store is full: 101 bytes needed, 100 allowed",
    )?;
    // The refused write changed nothing.
    assert_eq!(store.bytes(&VarScope::new("t", "filler")), 100);

    // Without a store bound, variables read as missing and cannot be set.
    host_error(
        p.invoke("count", b"".to_vec(), &ctx()).result,
        "var_set: Vars are disabled by this host",
    )?;
    Ok(())
}

#[test]
fn errors_returned_with_err_are_plugin_errors_with_their_message() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    assert_eq!(
        p.invoke("fail", b"because".to_vec(), &ctx()).result,
        Err(InvokeError::PluginError {
            code: -1,
            message: Some("refused: because".into())
        })
    );
    assert_eq!(
        p.invoke("fail_with_code", Vec::new(), &ctx()).result,
        Err(InvokeError::PluginError {
            code: 7,
            message: Some("failed with code 7".into())
        })
    );
    Ok(())
}

#[test]
fn logging_follows_the_granted_level() -> Result<()> {
    let rt = runtime();
    let grants = Grants {
        log: Some(LogGrant {
            min_level: LogLevel::Warn,
        }),
        ..suite_grants(&["https://example.com".into()])
    };
    let p = rt.load(suite()?, &grants)?;
    let (c, sink) = ctx_logged(defaults());
    let out = p.invoke("log_levels", b"hi".to_vec(), &c);
    assert_eq!(text(out.result)?, "logged");
    let got: Vec<(LogLevel, String)> = sink
        .take()
        .into_iter()
        .map(|r| {
            assert_eq!(
                (r.tenant.as_str(), r.plugin.as_str()),
                ("tenant-a", "plugin-x")
            );
            (r.level, r.message)
        })
        .collect();
    // `get_log_level` answers the grant's level, so the PDK does not even
    // send the lines below it.
    assert_eq!(
        got,
        [
            (LogLevel::Warn, "warn: hi".to_owned()),
            (LogLevel::Error, "error: hi".to_owned())
        ]
    );
    assert_eq!(out.metrics.log_lines, 2);
    Ok(())
}

#[test]
fn an_endless_export_meets_its_fuel_or_its_deadline() -> Result<()> {
    let rt = runtime();
    let p = load_suite(&rt)?;
    let out = p.invoke(
        "spin",
        Vec::new(),
        &ctx_with(Limits {
            fuel: 5_000_000,
            ..defaults()
        }),
    );
    assert_eq!(
        out.result,
        Err(InvokeError::FuelExhausted { limit: 5_000_000 })
    );

    let out = p.invoke(
        "spin",
        Vec::new(),
        &ctx_with(Limits {
            fuel: 10_000_000_000,
            deadline_ms: 100,
            ..defaults()
        }),
    );
    assert_eq!(out.result, Err(InvokeError::Deadline { deadline_ms: 100 }));
    assert_serves(&rt)
}

#[cfg(feature = "http-client")]
mod http {
    //! `http_request` through the PDK's `http::request`, against a server
    //! on 127.0.0.1 that each test starts.

    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread::{self, JoinHandle};
    use std::time::{Duration, Instant};

    use anyhow::{Result, bail};
    use bitvault_abi::ErrorCode;
    use bitvault_runtime::CallContext;
    use bitvault_runtime::http::{HttpClient, HttpLimits};
    use bitvault_runtime::net::StubResolver;

    use super::{host_error, runtime, suite, suite_grants, text};

    /// Serves one request with `body`, answering what it received (the
    /// request head) when it is joined. Gives up after 10 s.
    fn serve_once(body: &'static str) -> Result<(u16, JoinHandle<Result<String>>)> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let handle = thread::spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(10);
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > give_up {
                            bail!("no request arrived");
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte)? == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-extra: 1\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )?;
            Ok(String::from_utf8(head)?)
        });
        Ok((port, handle))
    }

    fn http_ctx() -> Result<CallContext> {
        Ok(CallContext::new(super::defaults())
            .for_plugin("tenant-a", "fetcher")
            .with_http(
                HttpClient::new(None)?,
                std::sync::Arc::new(StubResolver::new()),
                HttpLimits {
                    timeout: Duration::from_secs(5),
                    ..HttpLimits::standard()
                },
            ))
    }

    #[test]
    fn an_allowlisted_get_answers_status_headers_and_body() -> Result<()> {
        let (port, server) = serve_once("pong")?;
        let origin = format!("http://127.0.0.1:{port}");
        let rt = runtime();
        let p = rt.load(suite()?, &suite_grants(std::slice::from_ref(&origin)))?;
        let out = p.invoke("fetch", format!("{origin}/ping").into_bytes(), &http_ctx()?);
        assert_eq!(
            text(out.result)?,
            r#"{"status":200,"body":"pong","content_type":"text/plain"}"#
        );
        let seen = match server.join() {
            Ok(r) => r?,
            Err(_) => bail!("the server panicked"),
        };
        assert!(seen.starts_with("GET /ping HTTP/1.1\r\n"), "{seen}");
        assert!(seen.contains("x-plugin: extism-suite\r\n"), "{seen}");
        assert_eq!(out.http.len(), 1);
        assert_eq!(out.http[0].status, Some(200));
        Ok(())
    }

    #[test]
    fn a_url_outside_the_grant_fails_the_call_as_extism_does() -> Result<()> {
        let (port, _server) = serve_once("unreached")?;
        let rt = runtime();
        let p = rt.load(
            suite()?,
            &suite_grants(&[format!("http://127.0.0.1:{port}")]),
        )?;
        for url in [
            format!(
                "http://127.0.0.1:{}/other-port",
                port.wrapping_add(1).max(1)
            ),
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "https://example.com/".to_owned(),
        ] {
            let out = p.invoke("fetch", url.clone().into_bytes(), &http_ctx()?);
            host_error(
                out.result,
                &format!("http_request: HTTP request to {url} is not allowed"),
            )?;
            assert_eq!(out.http.len(), 1, "{url}");
            assert_eq!(out.http[0].code, Some(ErrorCode::NotPermitted), "{url}");
        }
        Ok(())
    }

    #[test]
    fn without_a_client_the_request_fails_the_call() -> Result<()> {
        let rt = runtime();
        let p = rt.load(suite()?, &suite_grants(&["http://127.0.0.1:9".into()]))?;
        host_error(
            p.invoke("fetch", b"http://127.0.0.1:9/".to_vec(), &super::ctx())
                .result,
            "no HTTP client is bound to the invocation",
        )
    }
}

// Hostile modules, written in WAT against the kernel's exact signatures.

/// The imports of the probes; [`HELPERS`]: `$begin` allocates a results
/// block, `$emit` appends a u64 to it, `$end` makes it the output.
const PRELUDE: &str = r#"
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "free" (func $free (param i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "length_unsafe" (func $length_unsafe (param i64) (result i64)))
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (import "extism:host/env" "memory_bytes" (func $memory_bytes (result i64)))
  (import "extism:host/env" "reset" (func $reset))
"#;

const HELPERS: &str = r#"
  (global $out (mut i64) (i64.const 0))
  (global $n (mut i64) (i64.const 0))
  (func $begin
    (global.set $out (call $alloc (i64.const 256)))
    (global.set $n (i64.const 0)))
  (func $emit (param $v i64)
    (call $store_u64
      (i64.add (global.get $out) (i64.mul (global.get $n) (i64.const 8)))
      (local.get $v))
    (global.set $n (i64.add (global.get $n) (i64.const 1))))
  (func $end (result i32)
    (call $output_set (global.get $out) (i64.mul (global.get $n) (i64.const 8)))
    (i32.const 0))
"#;

/// A module of the prelude and `body`, whose `(import …)` lines go first.
fn probe(body: &str) -> String {
    let (imports, rest): (Vec<&str>, Vec<&str>) = body
        .lines()
        .partition(|l| l.trim_start().starts_with("(import"));
    format!(
        "(module {PRELUDE} {} {HELPERS} {})",
        imports.join("\n"),
        rest.join("\n")
    )
}

fn io() -> Grants {
    Grants {
        io: true,
        ..Grants::none()
    }
}

fn load_probe(rt: &Runtime, body: &str, grants: &Grants) -> Result<Prepared> {
    Ok(rt.load(&wat::parse_str(probe(body))?, grants)?)
}

/// The output as little-endian `u64`s.
fn words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

#[test]
fn accesses_outside_every_block_read_zero_and_write_nothing() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (func (export "bounds") (result i32) (local $b i64)
          (call $begin)
          (local.set $b (call $alloc (i64.const 10)))
          (call $store_u64 (local.get $b) (i64.const 0x0807060504030201))
          (call $store_u8 (i64.add (local.get $b) (i64.const 8)) (i32.const 9))
          (call $store_u8 (i64.add (local.get $b) (i64.const 9)) (i32.const 0x10a))
          ;; one past the end, and a u64 straddling the end: ignored
          (call $store_u8 (i64.add (local.get $b) (i64.const 10)) (i32.const 11))
          (call $store_u64 (i64.add (local.get $b) (i64.const 4)) (i64.const -1))
          ;; offsets that wrap or lie nowhere
          (call $store_u64 (i64.const -4) (i64.const -1))
          (call $store_u8 (i64.const 0) (i32.const 1))
          (call $emit (call $load_u64 (local.get $b)))
          (call $emit (i64.extend_i32_u (call $load_u8 (i64.add (local.get $b) (i64.const 9)))))
          (call $emit (call $load_u64 (i64.add (local.get $b) (i64.const 4))))
          (call $emit (i64.extend_i32_u (call $load_u8 (i64.add (local.get $b) (i64.const 10)))))
          (call $emit (call $load_u64 (i64.const -1)))
          (call $emit (call $load_u64 (i64.const -8)))
          (call $emit (i64.extend_i32_u (call $load_u8 (i64.const 0))))
          (call $emit (call $length (local.get $b)))
          (call $emit (call $length_unsafe (local.get $b)))
          (call $emit (call $length (i64.add (local.get $b) (i64.const 1))))
          (call $emit (call $length_unsafe (i64.const 123456789)))
          (call $emit (call $length (i64.const 0)))
          (call $free (local.get $b))
          (call $emit (call $length (local.get $b)))
          (call $emit (call $load_u64 (local.get $b)))
          (call $free (i64.const 999999))
          (call $free (i64.const -1))
          (call $emit (call $alloc (i64.const 0)))
          (call $end))
        "#,
        &io(),
    )?;
    let out = p.invoke("bounds", Vec::new(), &ctx());
    assert_eq!(
        words(&out.result?),
        [
            0x0807060504030201,
            0x0a, // a byte store keeps the low byte
            0,
            0,
            0,
            0,
            0,
            10,
            10,
            0,
            0,
            0,
            0,
            0,
            0
        ]
    );
    assert_serves(&rt)
}

#[test]
fn the_input_is_a_block_and_reads_past_it_answer_zero() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (func (export "input") (result i32) (local $len i64)
          (call $begin)
          (local.set $len (call $input_length))
          (call $emit (local.get $len))
          (call $emit (call $length (call $input_offset)))
          (call $emit (i64.extend_i32_u (call $input_load_u8 (i64.const 0))))
          (call $emit (i64.extend_i32_u (call $input_load_u8 (local.get $len))))
          (call $emit (call $input_load_u64 (i64.sub (local.get $len) (i64.const 4))))
          (call $emit (call $input_load_u64 (i64.const 0)))
          (call $emit (call $input_load_u64 (i64.const -1)))
          (call $emit (call $load_u64 (call $input_offset)))
          ;; freeing the input block empties the input, as in the kernel
          (call $free (call $input_offset))
          (call $emit (call $input_length))
          (call $emit (i64.extend_i32_u (call $input_load_u8 (i64.const 0))))
          (call $end))
        "#,
        &io(),
    )?;
    let out = p.invoke("input", b"ABCDEFGHIJ".to_vec(), &ctx());
    let abcdefgh = u64::from_le_bytes(*b"ABCDEFGH");
    assert_eq!(
        words(&out.result?),
        [10, 10, u64::from(b'A'), 0, 0, abcdefgh, 0, abcdefgh, 0, 0]
    );
    // No input: no block at all.
    let out = p.invoke("input", Vec::new(), &ctx());
    assert_eq!(words(&out.result?)[..2], [0, 0]);
    Ok(())
}

#[test]
fn huge_allocations_meet_the_memory_ceiling() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (func (export "huge") (result i32)
          (drop (call $alloc (i64.const 1099511627776)))
          (i32.const 0))
        (func (export "max") (result i32)
          (drop (call $alloc (i64.const -1)))
          (i32.const 0))
        (func (export "fill") (result i32)
          (loop $again
            (drop (call $alloc (i64.const 1048576)))
            (br $again))
          (i32.const 0))
        "#,
        &io(),
    )?;
    let limits = Limits {
        memory_bytes: 4 << 20,
        ..defaults()
    };
    for export in ["huge", "max", "fill"] {
        let out = p.invoke(export, Vec::new(), &ctx_with(limits));
        match out.result {
            Err(InvokeError::MemoryLimit {
                resource: Resource::Memory,
                allowed,
                trap: None,
                ..
            }) => assert_eq!(allowed, 4 << 20, "{export}"),
            other => bail!("{export}: expected memory_limit, got {other:?}"),
        }
        assert!(out.metrics.memory_peak_bytes <= 4 << 20, "{export}");
    }
    assert_serves(&rt)
}

#[test]
fn linear_memory_and_the_arena_share_one_ceiling() -> Result<()> {
    let rt = runtime();
    // 3 MiB of arena, then linear memory may grow by less than 1 MiB more.
    let p = load_probe(
        &rt,
        r#"
        (memory (export "memory") 1)
        (func (export "both") (result i32)
          (drop (call $alloc (i64.const 3145728)))
          (if (i32.ne (memory.grow (i32.const 15)) (i32.const -1)) (then (return (i32.const 1))))
          (if (i32.eq (memory.grow (i32.const 14)) (i32.const -1)) (then (return (i32.const 2))))
          (i32.const 0))
        "#,
        &io(),
    )?;
    let limits = Limits {
        memory_bytes: 4 << 20,
        ..defaults()
    };
    let out = p.invoke("both", Vec::new(), &ctx_with(limits));
    assert_eq!(out.result?, b"");
    assert!(out.metrics.memory_peak_bytes <= 4 << 20);
    assert!(out.metrics.memory_peak_bytes >= (3 << 20) + (15 << 16));
    Ok(())
}

#[test]
fn freed_blocks_give_their_memory_back() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (func (export "churn") (result i32) (local $i i32) (local $b i64)
          (call $begin)
          (loop $again
            (local.set $b (call $alloc (i64.const 65536)))
            (call $free (local.get $b))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
          (call $emit (local.get $b))
          (call $emit (call $memory_bytes))
          (call $end))
        "#,
        &io(),
    )?;
    let limits = Limits {
        memory_bytes: 1 << 20,
        ..defaults()
    };
    let out = p.invoke("churn", Vec::new(), &ctx_with(limits));
    let w = words(&out.result?);
    // The same offsets every time; only the results block remains.
    assert!(w[0] < 1024, "{w:?}");
    assert_eq!(w[1], 256 + BLOCK_OVERHEAD);
    Ok(())
}

#[test]
fn an_error_message_fails_the_call_even_with_return_code_zero() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (func $message (result i64) (local $m i64)
          (local.set $m (call $alloc (i64.const 4)))
          (call $store_u8 (local.get $m) (i32.const 0x6f))
          (call $store_u8 (i64.add (local.get $m) (i64.const 1)) (i32.const 0x6f))
          (call $store_u8 (i64.add (local.get $m) (i64.const 2)) (i32.const 0x70))
          (call $store_u8 (i64.add (local.get $m) (i64.const 3)) (i32.const 0x73))
          (local.get $m))
        (func (export "rc0") (result i32)
          (call $error_set (call $message))
          (i32.const 0))
        (func (export "rc3") (result i32)
          (call $error_set (call $message))
          (i32.const 3))
        (func (export "cleared") (result i32)
          (call $error_set (call $message))
          (call $error_set (i64.const 0))
          (i32.const 0))
        (func (export "not_a_block") (result i32)
          (call $error_set (i64.const 424242))
          (i32.const 0))
        (func (export "code_only") (result i32)
          (i32.const 5))
        (func (export "reset") (result i32)
          (call $begin)
          (call $emit (i64.const 1))
          (drop (call $end))
          (call $error_set (call $message))
          (call $reset)
          (call $emit (call $memory_bytes))
          (i32.const 0))
        "#,
        &io(),
    )?;
    let err = |code, message: Option<&str>| {
        Err(InvokeError::PluginError {
            code,
            message: message.map(str::to_owned),
        })
    };
    assert_eq!(
        p.invoke("rc0", Vec::new(), &ctx()).result,
        err(0, Some("oops"))
    );
    assert_eq!(
        p.invoke("rc3", Vec::new(), &ctx()).result,
        err(3, Some("oops"))
    );
    assert_eq!(p.invoke("cleared", Vec::new(), &ctx()).result?, b"");
    assert_eq!(p.invoke("not_a_block", Vec::new(), &ctx()).result?, b"");
    assert_eq!(
        p.invoke("code_only", Vec::new(), &ctx()).result,
        err(5, None)
    );
    // `reset` drops the output, the error and every block.
    assert_eq!(p.invoke("reset", Vec::new(), &ctx()).result?, b"");
    Ok(())
}

#[test]
fn output_set_is_bounded_by_the_output_limit() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (func (export "big") (result i32)
          (call $output_set (call $alloc (i64.const 2048)) (i64.const 2048))
          (i32.const 0))
        (func (export "nowhere") (result i32)
          (call $output_set (i64.const 4242) (i64.const 16))
          (i32.const 0))
        "#,
        &io(),
    )?;
    let limits = Limits {
        output_bytes: 1024,
        ..defaults()
    };
    assert_eq!(
        p.invoke("big", Vec::new(), &ctx_with(limits)).result,
        Err(InvokeError::OutputLimit {
            limit: 1024,
            attempted: 2048
        })
    );
    assert_eq!(p.invoke("big", Vec::new(), &ctx()).result?, vec![0; 2048]);
    assert_eq!(p.invoke("nowhere", Vec::new(), &ctx()).result?, b"");
    Ok(())
}

#[test]
fn invalid_handles_given_to_host_functions_fail_the_call() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
        (import "extism:host/env" "log_info" (func $log_info (param i64)))
        (func (export "config") (result i32)
          (drop (call $config_get (i64.const 12345)))
          (i32.const 0))
        (func (export "log") (result i32)
          (call $log_info (i64.const -1))
          (i32.const 0))
        "#,
        &Grants::core(),
    )?;
    host_error(
        p.invoke("config", Vec::new(), &ctx()).result,
        "extism:host/env.config_get: invalid handle offset for config key: 12345",
    )?;
    host_error(
        p.invoke("log", Vec::new(), &ctx()).result,
        "log_info: invalid handle offset for log message: 18446744073709551615",
    )?;
    assert_serves(&rt)
}

#[test]
fn log_lines_count_against_the_log_limits() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (import "extism:host/env" "log_error" (func $log_error (param i64)))
        (func (export "spam") (result i32) (local $m i64)
          (loop $again
            (local.set $m (call $alloc (i64.const 8)))
            (call $store_u64 (local.get $m) (i64.const 0x2121212121212121))
            (call $log_error (local.get $m))
            (br $again))
          (i32.const 0))
        "#,
        &Grants::core(),
    )?;
    let (c, sink) = ctx_logged(Limits {
        log_lines: 3,
        ..defaults()
    });
    assert_eq!(
        p.invoke("spam", Vec::new(), &c).result,
        Err(InvokeError::LimitExceeded {
            limit: LimitName::LogLines,
            value: 3
        })
    );
    assert_eq!(sink.take().len(), 3);
    Ok(())
}

#[test]
fn admission_refuses_ungranted_mistyped_unknown_and_user_imports() -> Result<()> {
    let rt = runtime();
    let wasm = wat::parse_str(
        r#"
        (module
          (import "extism:host/env" "http_request" (func (param i64 i64) (result i64)))
          (import "extism:host/env" "alloc" (func (param i32) (result i32)))
          (import "extism:host/env" "kernel_secret" (func (param i64)))
          (import "extism:host/env" "memory" (memory 1))
          (import "extism:host/user" "lookup" (func (param i64) (result i64))))
        "#,
    )?;
    let err = rt.load(&wasm, &Grants::core()).unwrap_err();
    let deny = |module: &str, name: &str, reason| DeniedImport {
        module: module.into(),
        name: name.into(),
        reason,
    };
    assert_eq!(
        err,
        LoadError::CapabilityDenied {
            imports: vec![
                deny(
                    NAMESPACE,
                    "http_request",
                    DenyReason::NotGranted {
                        capability: CapabilityKind::Http
                    }
                ),
                deny(
                    NAMESPACE,
                    "alloc",
                    DenyReason::WrongSignature {
                        expected: "(i64) -> i64".into(),
                        found: "(i32) -> i32".into()
                    }
                ),
                deny(NAMESPACE, "kernel_secret", DenyReason::Unknown),
                deny(NAMESPACE, "memory", DenyReason::Unknown),
                deny(USER_NAMESPACE, "lookup", DenyReason::Unknown),
            ]
        }
    );
    // The kernel alone needs `io`.
    let kernel = wat::parse_str(
        r#"(module (import "extism:host/env" "alloc" (func (param i64) (result i64))))"#,
    )?;
    assert_eq!(
        rt.load(&kernel, &Grants::none()).unwrap_err(),
        LoadError::CapabilityDenied {
            imports: vec![deny(
                NAMESPACE,
                "alloc",
                DenyReason::NotGranted {
                    capability: CapabilityKind::Io
                }
            )]
        }
    );
    assert!(rt.load(&kernel, &io()).is_ok());
    Ok(())
}

#[test]
fn every_extism_function_links_when_everything_is_granted() -> Result<()> {
    let rt = runtime();
    let mut wat = crate::imports_wat(
        NAMESPACE,
        ExtismFn::ALL.iter().map(|f| (f.name(), f.signature())),
    );
    wat.push_str("  (func (export \"run\") (result i32) (i32.const 0)))\n");
    let p = rt.load(
        &wat::parse_str(&wat)?,
        &suite_grants(&["https://example.com".into()]),
    )?;
    assert_eq!(p.linked().len(), ExtismFn::ALL.len());
    // Instantiation checks each host function's type against the import.
    assert_eq!(p.invoke("run", Vec::new(), &ctx()).result?, b"");
    Ok(())
}

#[test]
fn the_input_block_is_charged_against_the_ceiling() -> Result<()> {
    let rt = runtime();
    let p = load_probe(
        &rt,
        r#"
        (memory (export "memory") 2)
        (func (export "len") (result i32)
          (call $begin)
          (call $emit (call $input_length))
          (call $end))
        "#,
        &io(),
    )?;
    let limits = Limits {
        memory_bytes: 256 << 10,
        ..defaults()
    };
    let out = p.invoke("len", vec![7; 100 << 10], &ctx_with(limits));
    assert_eq!(words(&out.result?), [100 << 10]);
    // The input alone is over the ceiling: refused before instantiation.
    let out = p.invoke("len", vec![7; 256 << 10], &ctx_with(limits));
    assert!(
        matches!(
            out.result,
            Err(InvokeError::MemoryLimit {
                resource: Resource::Memory,
                trap: None,
                ..
            })
        ),
        "{:?}",
        out.result
    );
    // The input fits, but not with the module's two pages of memory.
    let out = p.invoke("len", vec![7; 200 << 10], &ctx_with(limits));
    assert!(
        matches!(
            out.result,
            Err(InvokeError::MemoryLimit {
                resource: Resource::Memory,
                ..
            })
        ),
        "{:?}",
        out.result
    );
    assert_serves(&rt)
}
