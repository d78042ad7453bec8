//! Shared by the tests that run the reference plugins: their modules,
//! built once per test run by the conformance crate's helper.

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};

/// The directory of the reference plugins' `.wasm` files, built if needed.
pub fn plugins_dir() -> Result<PathBuf> {
    bitvault_conformance::reference::plugins_dir().map_err(anyhow::Error::msg)
}

/// The bytes of the reference plugin `name` (built if needed), checked to be
/// a reasonable size.
pub fn plugin_wasm(name: &str) -> Result<Vec<u8>> {
    let path = plugins_dir()?.join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(wasm.len() < 1 << 20, "{name}.wasm is {} bytes", wasm.len());
    Ok(wasm)
}
