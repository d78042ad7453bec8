//! Shared by the tests that run the reference plugins: building them once
//! per test run and reading their modules.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Builds the reference plugins once per test run (as `cargo xtask
/// build-plugins` does) and returns the directory of the `.wasm` files.
pub fn plugins_dir() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = root().join("target/plugins");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
                .arg("--manifest-path")
                .arg(root().join("plugins/Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "building the reference plugins failed (is the target installed? \
                     `rustup target add wasm32-unknown-unknown`, or run `cargo xtask build-plugins`):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(target.join("wasm32-unknown-unknown/release"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The bytes of the reference plugin `name` (built if needed), checked to be
/// a reasonable size.
pub fn plugin_wasm(name: &str) -> Result<Vec<u8>> {
    let path = plugins_dir()?.join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(wasm.len() < 1 << 20, "{name}.wasm is {} bytes", wasm.len());
    Ok(wasm)
}
