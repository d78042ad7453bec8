//! A C plugin built from source against `bitvault.h` runs on the raw ABI:
//! `tests/c/reverse.c` is compiled with `zig cc` to wasm32 and invoked
//! through the public API.
//!
//! The compiler is `python3 -m ziglang` (`pip install ziglang==0.17.1`), or
//! the `zig` executable named by `BITVAULT_ZIG`. Without it these tests
//! fail, saying how to install it; they never pass silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use bitvault_abi::{Grants, HostFn, LogLevel};
use bitvault_runtime::{InvokeError, Link, LinkedFn, Prepared};

use crate::{ctx, ctx_logged, defaults, runtime};

/// The size of the plugin's static input buffer (`CAPACITY` in reverse.c).
const CAPACITY: usize = 65_536;

const INSTALL_HINT: &str = "install the compiler with `pip install ziglang==0.17.1`, \
     or set BITVAULT_ZIG to the path of a zig executable";

/// The `zig` invocation: `$BITVAULT_ZIG` if set, else `python3 -m ziglang`.
fn zig() -> (Command, String) {
    match std::env::var_os("BITVAULT_ZIG") {
        Some(path) => {
            let shown = Path::new(&path).display().to_string();
            (Command::new(path), shown)
        }
        None => {
            let mut c = Command::new("python3");
            c.args(["-m", "ziglang"]);
            (c, "python3 -m ziglang".to_owned())
        }
    }
}

fn compile_reverse() -> Result<Vec<u8>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest.join("tests/c/reverse.c");
    let include: PathBuf = manifest.join("../abi/include");
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let out = dir.path().join("reverse.wasm");

    let (mut cmd, shown) = zig();
    cmd.args(["cc", "--target=wasm32-freestanding", "-O2", "-nostdlib"])
        .arg("-Wl,--no-entry")
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&out)
        .arg(&source);
    let result = cmd
        .output()
        .map_err(|e| anyhow!("cannot run `{shown}`: {e}; {INSTALL_HINT}"))?;
    if !result.status.success() {
        bail!(
            "`{shown} cc` failed to build {} ({}):\n{}\n{INSTALL_HINT}",
            source.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))
}

/// The plugin, compiled once per test binary.
fn reverse_wasm() -> Result<&'static [u8]> {
    static WASM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    match WASM.get_or_init(|| compile_reverse().map_err(|e| format!("{e:#}"))) {
        Ok(wasm) => Ok(wasm),
        Err(e) => bail!("{e}"),
    }
}

fn load_reverse() -> Result<Prepared> {
    let wasm = reverse_wasm()?;
    Ok(runtime().load(wasm, &Grants::core())?)
}

#[test]
fn the_c_plugin_links_exactly_the_functions_it_imports() -> Result<()> {
    let p = load_reverse()?;
    let mut linked: Vec<LinkedFn> = p.linked().iter().filter_map(Link::host).collect();
    linked.sort();
    assert_eq!(
        linked,
        [
            HostFn::InputLen,
            HostFn::ReadInput,
            HostFn::WriteOutput,
            HostFn::SetError,
            HostFn::Log
        ]
        .map(LinkedFn::Native)
    );
    Ok(())
}

#[test]
fn reverse_responds_with_the_request_reversed_and_logs_a_line() -> Result<()> {
    let p = load_reverse()?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke("reverse", b"hello, plugin".to_vec(), &ctx);
    assert_eq!(out.result?, b"nigulp ,olleh");
    let logs = sink.take();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].level, LogLevel::Info);
    assert_eq!(logs[0].message, "reversed 13 bytes");
    assert_eq!(logs[0].tenant, "tenant-a");
    assert_eq!(logs[0].plugin, "plugin-x");
    assert_eq!(logs[0].invocation_id, out.invocation_id);
    Ok(())
}

#[test]
fn reverse_handles_empty_and_full_buffers() -> Result<()> {
    let p = load_reverse()?;
    assert_eq!(p.invoke("reverse", Vec::new(), &ctx()).result?, b"");

    let input: Vec<u8> = (0..CAPACITY).map(|i| (i * 31 % 251) as u8).collect();
    let mut expected = input.clone();
    expected.reverse();
    assert_eq!(p.invoke("reverse", input, &ctx()).result?, expected);
    Ok(())
}

#[test]
fn reverse_refuses_an_input_larger_than_its_buffer() -> Result<()> {
    let p = load_reverse()?;
    let out = p.invoke("reverse", vec![b'x'; CAPACITY + 1], &ctx());
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::PluginError {
            code: 1,
            message: Some("input too large: at most 65536 bytes".to_owned()),
        }
    );
    Ok(())
}

#[test]
fn fail_is_a_plugin_error_with_its_message() -> Result<()> {
    let p = load_reverse()?;
    let out = p.invoke("fail", Vec::new(), &ctx());
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::PluginError {
            code: 7,
            message: Some("deliberate failure".to_owned()),
        }
    );
    Ok(())
}
