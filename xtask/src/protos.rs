//! `cargo xtask protos`: compiles the extension-point contracts in
//! `crates/extpoints/proto/` with `protox` (a pure-Rust protobuf compiler;
//! no `protoc`) and generates their Rust messages with `prost-build` into
//! `crates/extpoints/src/proto/`. A test checks that the files there are
//! what this generates, so a changed `.proto` cannot land without them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

/// The contracts, relative to the proto root.
pub const FILES: &[&str] = &[
    "bitvault/plugins/common.proto",
    "bitvault/plugins/content_transform.proto",
    "bitvault/plugins/event_handler.proto",
    "bitvault/plugins/storage_provider.proto",
    "bitvault/plugins/auth_provider.proto",
    "bitvault/plugins/policy_hook.proto",
    "bitvault/plugins/search.proto",
];

fn proto_root(root: &Path) -> PathBuf {
    root.join("crates/extpoints/proto")
}

fn out_dir(root: &Path) -> PathBuf {
    root.join("crates/extpoints/src/proto")
}

/// Generates the Rust files into `out` and returns their names, sorted.
fn generate(root: &Path, out: &Path) -> Result<Vec<String>> {
    let includes = [proto_root(root)];
    let files: Vec<PathBuf> = FILES.iter().map(|f| proto_root(root).join(f)).collect();
    let fds = protox::compile(&files, includes).context("compiling the .proto files")?;
    let mut config = prost_build::Config::new();
    config.out_dir(out).btree_map(["."]);
    config
        .compile_fds(fds)
        .context("generating Rust with prost-build")?;
    let mut names: Vec<String> = std::fs::read_dir(out)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bitvault.") && n.ends_with(".rs"))
        .collect();
    names.sort();
    Ok(names)
}

/// Regenerates the checked-in files.
pub fn write(root: &Path) -> Result<()> {
    let names = generate(root, &out_dir(root))?;
    println!("protos: wrote {}", names.join(", "));
    Ok(())
}

/// Checks that the checked-in files are exactly what [`write()`] generates.
pub fn check(root: &Path) -> Result<()> {
    let tmp = std::env::temp_dir().join(format!("bitvault-protos-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = (|| {
        for name in generate(root, &tmp)? {
            let fresh = std::fs::read_to_string(tmp.join(&name))?;
            let kept = std::fs::read_to_string(out_dir(root).join(&name)).unwrap_or_default();
            ensure!(
                fresh == kept,
                "crates/extpoints/src/proto/{name} is out of date; run `cargo xtask protos`"
            );
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_generated_messages_match_the_contracts() {
        if let Err(e) = super::check(&crate::root()) {
            panic!("{e:#}");
        }
    }
}
